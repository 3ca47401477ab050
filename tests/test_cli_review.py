"""The review commands end to end through the CLI: `plan --format markdown`, `diff` (exit 0 for no change,
3 for changes, so CI can branch on it) and `quote` (exit 0 when some provider hosts every cluster)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from provisioner.cli import app
from provisioner.review.markdown import MARKER

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples/h100_training.py"
runner = CliRunner()


def test_plan_markdown_is_a_pr_comment(tmp_path: Path) -> None:
    out = tmp_path / "comment.md"
    done = runner.invoke(app, ["plan", str(EXAMPLE), "--format", "markdown", "--out", str(out)])
    assert done.exit_code == 0, done.output
    text = out.read_text()
    assert text.startswith(MARKER) and "```mermaid" in text and "| Pool | GPU | Shape |" in text


def test_diff_exits_0_without_changes_and_3_with_them(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    assert runner.invoke(app, ["plan", str(EXAMPLE), "-f", "json", "-o", str(base)]).exit_code == 0
    same = runner.invoke(app, ["diff", str(base), str(EXAMPLE)])
    assert same.exit_code == 0, same.output
    half = tmp_path / "half.py"
    half.write_text(EXAMPLE.read_text().replace("gpus=64", "gpus=32"))
    changed = runner.invoke(app, ["diff", str(base), str(half), "--format", "json"])
    assert changed.exit_code == 3, changed.output
    report = json.loads(changed.stdout)
    assert report["schema_version"] >= 1
    markdown = runner.invoke(app, ["diff", str(base), str(half), "--format", "markdown"])
    assert markdown.exit_code == 3 and "-$220.16/h" in markdown.stdout
    assert "`desiredCapacity`" in markdown.stdout


def test_diff_of_a_file_that_is_not_a_plan_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    done = runner.invoke(app, ["diff", str(bad), str(EXAMPLE)])
    assert done.exit_code == 2 and "Traceback" not in done.output


MULTI_NODE_H100 = """
from provisioner import Cluster, NodePool
cluster = Cluster(name="train", provider="aws", region="us-east-1",
                  pools=[NodePool(name="gpu", gpu="H100", nodes=4)])
"""


def test_quote_lists_the_providers_with_h100_and_the_fabric(tmp_path: Path) -> None:
    program = tmp_path / "train.py"
    program.write_text(MULTI_NODE_H100)
    done = runner.invoke(app, ["quote", str(program), "--format", "json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    [quote] = data["quotes"]
    options = quote["options"]
    hostable = [o["provider"] for o in options if o["standing"] != "impossible"]
    assert set(hostable) == {"aws", "gcp", "crusoe"}, hostable
    impossible = {o["provider"]: o for o in options if o["standing"] == "impossible"}
    assert "lambda" in impossible and all(o["reasons"] for o in impossible.values())
    prices = [o["per_hour"] for o in options if o["standing"] == "priced"]
    assert prices == sorted(prices), "cheapest first"
    markdown = runner.invoke(app, ["quote", str(program), "--format", "markdown"])
    assert markdown.exit_code == 0 and "Cannot host it" in markdown.stdout


def test_diff_of_a_plan_that_failed_is_never_a_safe_0(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text('raise RuntimeError("boom")\n')
    done = runner.invoke(app, ["diff", str(broken), str(broken), "--format", "markdown"])
    assert done.exit_code == 2, done.output
    assert "Incomplete" in done.stdout and "No changes" not in done.stdout


def test_quote_keeps_the_declared_region_and_names_what_is_billed_by_use() -> None:
    done = runner.invoke(app, ["quote", str(REPO / "examples/a100_lustre.py"), "--format", "json"])
    [quote] = json.loads(done.stdout)["quotes"]
    [declared] = [o for o in quote["options"] if o["declared"]]
    assert declared["region"] == "us-west-2", "an unknown storage price there is no reason to move"
    training = runner.invoke(app, ["quote", str(EXAMPLE), "--format", "json"])
    [aws] = [o for o in json.loads(training.stdout)["quotes"][0]["options"] if o["provider"] == "aws"]
    assert aws["usage_billed"] == ["checkpoints (bucket)"]
