"""`plan --format markdown` and `--format json` of every example, pinned as golden files (rerun with
PROVISIONER_UPDATE_GOLDEN=1 after an intended change and review the diff), and every Mermaid diagram checked
by the real Mermaid parser (node + mermaid, installed by .ci/run: `npm ci` in tests/tools)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from provisioner import Cluster, Lustre, Network, Nfs, NodePool, load_catalog, plan_cluster
from provisioner.program.runner import run_program
from provisioner.review.markdown import MARKER, cell, plan_markdown
from provisioner.review.mermaid import cluster_mermaid, label
from provisioner.review.report import report_json

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
TOOLS = ROOT / "tests" / "tools"
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
UPDATE = os.environ.get("PROVISIONER_UPDATE_GOLDEN") == "1"
FENCE = re.compile(r"```mermaid\n(.*?)```", re.DOTALL)


def rendered(path: Path) -> tuple[str, str]:
    result = run_program(path, None, display=f"examples/{path.name}")
    return plan_markdown(result), report_json(result)


def check_golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden {golden.name}: run with PROVISIONER_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8"), (
        f"{name} changed: rerun with PROVISIONER_UPDATE_GOLDEN=1"
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_markdown_and_json_of_each_example_are_pinned(path: Path) -> None:
    markdown, report = rendered(path)
    assert markdown == rendered(path)[0], "the same program gives the same comment"
    assert markdown.startswith(MARKER + "\n") and "```mermaid" in markdown
    check_golden(f"{path.stem}.md", markdown)
    check_golden(f"{path.stem}.json", report)


def test_the_comment_leads_with_nodes_gpus_and_cost() -> None:
    markdown, _ = rendered(ROOT / "examples/h100_training.py")
    summary = markdown.splitlines()[3]
    assert "1 cluster · 8 nodes · 64 GPUs · $441.70/h, $322,441.58/month" in summary
    assert "billed by use: llm-train/checkpoints (bucket)" in summary
    assert "| shared | lustre | /fsx | 4,800 GiB | $1,008.00/month | protected |" in markdown
    assert "<details>" in markdown and "`aws:fsx/lustreFileSystem:LustreFileSystem`" in markdown


def test_unknown_costs_are_unknown_never_zero() -> None:
    markdown, _ = rendered(ROOT / "examples/a100_lustre.py")  # FSx in us-west-2: no catalog price
    assert "unknown" in markdown and "storage data (lustre)" in markdown
    assert "$0.00" not in markdown


def ten_pools() -> Cluster:
    shapes = ["H100", "A100", "L40S", "L4", "A10G"]
    pools = [NodePool(name=f"pool-{i}", gpu=shapes[i % len(shapes)], nodes=1 + i % 3) for i in range(10)]
    return Cluster(
        name="big",
        provider="aws",
        region="us-east-1",
        pools=pools,
        storage=[Lustre(name="shared"), Nfs(name="home")],
        network=Network(ssh_cidrs=["203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24", "2001:db8::/32"]),
        suppress=["multi-node-without-fabric"],
    )


def test_a_ten_pool_cluster_stays_one_row_and_one_box_per_pool() -> None:
    plan = plan_cluster(ten_pools(), load_catalog())
    diagram = cluster_mermaid(plan)
    assert len(re.findall(r'^    c0p\d+\["pool ', diagram, re.MULTILINE)) == len(plan.pools)
    assert "SSH from<br/>203.0.113.0/24, 198.51.100.0/24, 192.0.2.0/24 +1" in diagram


def test_labels_and_cells_cannot_break_out() -> None:
    assert label('a "quoted" <b>') == '"a #quot;quoted#quot; #lt;b#gt;"'
    assert cell("a | b\nc") == "a \\| b<br>c"


def mermaid_checker() -> list[str] | None:
    node = shutil.which("node")
    ready = node is not None and (TOOLS / "node_modules" / "mermaid").is_dir()
    if not ready:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true needs node and `npm ci` in tests/tools (.ci/run does it)")
        return None
    return [str(node), str(TOOLS / "mermaid-check.mjs")]


def test_every_diagram_parses_with_the_real_mermaid(tmp_path: Path) -> None:
    checker = mermaid_checker()
    if checker is None:
        pytest.skip("node and tests/tools/node_modules (npm ci) are needed")
    diagrams = {p.stem: FENCE.findall(rendered(p)[0]) for p in EXAMPLES}
    diagrams["ten-pools"] = [cluster_mermaid(plan_cluster(ten_pools(), load_catalog()))]
    files = []
    for name, found in diagrams.items():
        assert found, f"{name}: no diagram"
        for i, text in enumerate(found):
            files.append(tmp_path / f"{name}-{i}.mmd")
            files[-1].write_text(text, encoding="utf-8")
    broken = tmp_path / "broken.mmd"
    broken.write_text('flowchart LR\n  a["unclosed --- b\n', encoding="utf-8")
    done = subprocess.run(
        [*checker, *map(str, files)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok ") == len(files)
    bad = subprocess.run([*checker, str(broken)], capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 1 and "error" in bad.stdout, "the parser is not a rubber stamp"
