"""The `provisioner` command: exit codes, formats, and no traceback for a user's mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from provisioner import __version__
from provisioner.cli import app

REPO = Path(__file__).resolve().parents[1]
GOOD = """
from provisioner import Cluster, NodePool
cluster = Cluster(name="demo", provider="aws", region="us-east-1",
                  pools=[NodePool(name="gpu", gpu="H100", nodes=2)])
"""
BAD = GOOD.replace("nodes=2", "gpus=12")

runner = CliRunner()


class _Emitter:
    def emit(self, name: str, plan: Any, parent: Any) -> dict[str, Any]:
        import pulumi

        pulumi.CustomResource(
            "aws:autoscaling/group:Group",
            f"{name}-gpu-asg",
            {"desiredCapacity": 2},
            pulumi.ResourceOptions(parent=parent),
        )
        return {}


class _Info:
    def load_emitter(self) -> _Emitter:
        return _Emitter()


@pytest.fixture(autouse=True)
def fake_emitter(monkeypatch: pytest.MonkeyPatch) -> None:
    import provisioner.component

    monkeypatch.setattr(provisioner.component, "provider_info", lambda name: _Info())


def _file(tmp_path: Path, source: str, name: str = "cluster.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"provisioner {__version__}"


def test_catalog_filters_by_gpu_alias_and_provider() -> None:
    result = runner.invoke(app, ["catalog", "--gpu", "h100", "--provider", "aws", "--format", "json"])
    assert result.exit_code == 0
    offers = json.loads(result.stdout)["offers"]
    assert offers and {(o["gpu"], o["provider"]) for o in offers} == {("H100", "aws")}
    assert {"instance_type", "count", "vcpus", "memory_gib", "fabric", "fabric_interfaces", "price"} <= set(
        offers[0]
    )


def test_catalog_table_marks_accelerators_and_unknown_prices() -> None:
    result = runner.invoke(app, ["catalog", "--provider", "aws"])
    assert result.exit_code == 0
    assert "(not a GPU)" in result.stdout and "unknown" in result.stdout and "$0.00" not in result.stdout


@pytest.mark.parametrize(("option", "value"), [("--gpu", "H1000"), ("--provider", "moon")])
def test_catalog_refuses_unknown_names(option: str, value: str) -> None:
    result = runner.invoke(app, ["catalog", option, value])
    assert result.exit_code == 2
    assert value in result.stderr and "Traceback" not in result.output


def test_validate_a_good_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_file(tmp_path, GOOD))])
    assert result.exit_code == 0, result.output
    assert "no errors" in result.stdout


def test_validate_a_bad_file_exits_2_without_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_file(tmp_path, BAD))])
    assert result.exit_code == 2
    assert "pools[0].gpus" in result.stdout and "Traceback" not in result.output


def test_validate_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_file(tmp_path, BAD)), "--format", "json"])
    data = json.loads(result.stdout)
    assert result.exit_code == 2 and data["ok"] is False
    assert any(f["path"] == "pools[0].gpus" for f in data["clusters"][0]["findings"])


def test_plan_json_has_the_documented_keys(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", str(_file(tmp_path, GOOD)), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema_version"] == 2
    (cluster,) = data["clusters"]
    assert {"name", "provider", "region", "pools", "resources", "cost", "findings"} <= set(cluster)
    assert {"name", "instance_type", "nodes", "gpus_per_node"} <= set(cluster["pools"][0])
    assert {"type", "name", "parent", "inputs"} <= set(cluster["resources"][0])
    assert {"per_hour", "per_month"} <= set(cluster["cost"])


def test_plan_table_and_out_file(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["plan", str(_file(tmp_path, GOOD)), "-f", "json", "--out", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text())["clusters"][0]["name"] == "demo"
    table = runner.invoke(app, ["plan", str(_file(tmp_path, GOOD))])
    assert table.exit_code == 0 and "p5.48xlarge" in table.stdout and "demo-gpu-asg" in table.stdout


def test_a_syntax_error_is_one_clean_line(tmp_path: Path) -> None:
    path = _file(tmp_path, "x = (\n", "broken.py")
    result = runner.invoke(app, ["plan", str(path)])
    assert result.exit_code == 2
    assert f"{path}:1: SyntaxError" in result.stdout and "Traceback" not in result.output
    debug = runner.invoke(app, ["plan", str(path), "--debug"])
    assert "Traceback" in debug.stderr


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", str(tmp_path / "nope.py")])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_help_imports_no_pulumi_and_starts_fast() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import sys, provisioner.cli; print(sorted({m.split('.')[0] for m in sys.modules} & HEAVY))"
    code = code.replace("HEAVY", "{'pulumi', 'pulumi_aws'}")
    imported = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "[]"
    started = time.perf_counter()
    shown = subprocess.run(
        [sys.executable, "-m", "provisioner.cli", "--help"], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    assert shown.returncode == 0 and "plan" in shown.stdout
    assert elapsed < 3.0  # generous: the benchmark measures the real figure (target < 0.5 s)


def test_a_file_without_clusters_is_a_finding(tmp_path: Path) -> None:
    path = _file(tmp_path, "cluster = 42\n", "empty.py")
    result = runner.invoke(app, ["plan", str(path)])
    assert result.exit_code == 2
    assert "no-clusters" in result.stdout


def test_an_unwritable_out_file_is_a_clear_error(tmp_path: Path) -> None:
    path = _file(tmp_path, GOOD)
    result = runner.invoke(
        app, ["plan", str(path), "--format", "json", "-o", str(tmp_path / "no" / "x.json")]
    )
    assert result.exit_code == 2
    assert "cannot write the plan" in result.stderr and "Traceback" not in result.output


def test_plan_on_another_cloud_moves_every_cluster_and_says_so(tmp_path: Path) -> None:
    path = _file(tmp_path, GOOD)
    result = runner.invoke(
        app, ["plan", str(path), "--format", "json", "--provider", "gcp", "--region", "us-central1"]
    )
    assert result.exit_code == 0, result.output
    (cluster,) = json.loads(result.output)["clusters"]
    assert (cluster["provider"], cluster["region"]) == ("gcp", "us-central1")
    assert cluster["pools"][0]["instance_type"].startswith("a3-")
    assert any(f["code"] == "retargeted" for f in cluster["findings"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "gcp"], "--provider and --region go together"),
        (["--region", "us-central1"], "--provider and --region go together"),
        (["--provider", "gpc", "--region", "us-central1"], "unknown provider 'gpc'"),
    ],
)
def test_plan_on_another_cloud_needs_a_known_provider_and_a_region(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["plan", str(_file(tmp_path, GOOD)), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
