"""`provisioner render`: each pool's cloud-config and node files written for review, offline, with the size
against the provider's limit; clusters with errors are not rendered (exit 2)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from provisioner.cli import app
from provisioner.program.sanitize import summarize

REPO = Path(__file__).resolve().parents[1]
CLOUD_INIT = "/usr/bin/cloud-init"

GOOD = """
from provisioner import Cluster, NodePool
cluster = Cluster(name="demo", provider="aws", region="us-east-1",
                  pools=[NodePool(name="gpu", gpu="H100", nodes=2)])
"""
BAD = """
from provisioner import Cluster, NodePool
broken = Cluster(name="broken", provider="aws", region="us-east-1",
                 pools=[NodePool(name="gpu", gpu="H100", gpus=12)])
"""

runner = CliRunner()


def _file(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "cluster.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def _written(pool_dir: Path) -> dict[str, Path]:
    files = pool_dir / "files"
    return {"/" + str(p.relative_to(files)): p for p in files.rglob("*") if p.is_file()}


def test_render_the_h100_example(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(REPO / "examples/h100_training.py"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    pool_dir = out / "llm-train" / "gpu"
    text = (pool_dir / "user-data.yaml").read_text()
    assert text.startswith("#cloud-config\n")
    document = yaml.safe_load(text)
    written = _written(pool_dir)
    # every file the cloud-config writes is there, byte for byte, with its mode
    assert sorted(written) == sorted(item["path"] for item in document["write_files"])
    for item in document["write_files"]:
        assert written[item["path"]].read_text() == item["content"]
        assert written[item["path"]].stat().st_mode & 0o777 == int(item["permissions"], 8)
    steps = {p.stem for p in (pool_dir / "files/opt/provisioner/steps").iterdir()}
    assert {"prepare", "nvidia-driver", "efa", "nccl", "scratch", "lustre"} <= steps
    # the filesystem's address is unknown offline: a placeholder naming the filesystem
    lustre = (pool_dir / "files/opt/provisioner/steps/lustre.sh").read_text()
    assert "<fsx-dns-name of shared>@tcp:/<mount-name> $mount_point lustre" in lustre
    assert 'mount_point="/fsx"' in lustre
    # the summary: files, sizes and the provider's limit
    size = len(text.encode())
    assert f"llm-train/gpu: {len(written)} files, user data {size:,} bytes" in result.stdout
    assert "aws limit 16,384: fits" in result.stdout
    assert "llm-train/gpu" in (out / "README.md").read_text()


def test_rendered_user_data_passes_cloud_init_schema(tmp_path: Path) -> None:
    if not Path(CLOUD_INIT).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CLOUD_INIT} is missing, and CI=true: install cloud-init")
        pytest.skip(f"{CLOUD_INIT} not installed (apt-get install cloud-init); required when CI=true")
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(REPO / "examples/inference_l40s.py"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rendered = sorted(out.glob("*/*/user-data.yaml"))
    assert [p.parent.name for p in rendered] == ["l4", "l40s"]
    for path in rendered:
        checked = subprocess.run(
            [CLOUD_INIT, "schema", "-c", str(path)], capture_output=True, text=True, check=False, timeout=120
        )
        assert checked.returncode == 0 and "Valid cloud-config" in checked.stdout, (
            checked.stdout + checked.stderr
        )


def test_a_cluster_with_errors_is_not_rendered(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(_file(tmp_path, GOOD + BAD)), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "broken: not rendered (1 error(s))" in result.stderr
    assert "pools[0].gpus" in result.stderr and "Traceback" not in result.output
    assert (out / "demo/gpu/user-data.yaml").is_file()
    assert not (out / "broken").exists()


def test_only_errors_renders_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(_file(tmp_path, BAD)), "--out", str(out)])
    assert result.exit_code == 2
    assert not out.exists()


def test_a_second_render_drops_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    program = str(_file(tmp_path, GOOD))
    assert runner.invoke(app, ["render", program, "--out", str(out)]).exit_code == 0
    stale = out / "demo/gpu/files/opt/provisioner/steps/gone.sh"
    stale.write_text("#!/bin/sh\n")
    assert runner.invoke(app, ["render", program, "--out", str(out)]).exit_code == 0
    assert not stale.exists()
    assert (out / "demo/gpu/files/opt/provisioner/steps/prepare.sh").is_file()


def test_user_data_over_the_limit_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import provisioner.providers.base as base

    real = base.provider_info("aws")
    assert real is not None
    monkeypatch.setattr(base, "provider_info", lambda name: dataclasses.replace(real, user_data_limit=1000))
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(_file(tmp_path, GOOD)), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "TOO LARGE for the aws limit of 1,000" in result.stdout
    assert "the provider accepts at most 1000" in result.stderr
    assert (out / "demo/gpu/user-data.yaml").is_file()  # still written, for review


def test_a_stack_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    stack = REPO / "stacks/aws-h100-training"
    result = runner.invoke(app, ["render", str(stack), "--stack", "dev", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert list(out.glob("*/*/user-data.yaml"))


def test_not_a_program_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", str(tmp_path / "missing.py"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_out_is_required(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", str(_file(tmp_path, GOOD))])
    assert result.exit_code == 2
    assert "--out" in result.output


def _sent_boot(example: str) -> str:
    """The boot the offline run's pool resource was given (as recorded: its length and digest), what
    `pulumi up` would send."""
    from provisioner.program.runner import run_program

    result = run_program(REPO / example, None)
    [pool] = [r for run in result.clusters for r in run.resources if "user_data" in r.inputs]
    return str(pool.inputs["user_data"])


def test_render_shows_the_lambda_boot_that_is_sent(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(REPO / "examples/lambda_h100.py"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    pool_dir = out / "lambda-h100" / "gpu"
    assert summarize((pool_dir / "user-data.yaml").read_text()) == _sent_boot("examples/lambda_h100.py")
    written = _written(pool_dir)
    assert {"/opt/provisioner/steps/host-firewall.sh", "/opt/provisioner/steps/volumes.sh"} <= set(written)
    volumes = written["/opt/provisioner/steps/volumes.sh"].read_text()
    assert "/lambda/nfs/lambda-h100-" in volumes, "the filesystem's cloud name, with the stack's digest"


def test_render_shows_crusoes_startup_script_not_a_cloud_config(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(REPO / "examples/crusoe_h100_ib.py"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    pool_dir = out / "crusoe-train" / "gpu"
    script = pool_dir / "startup-script.sh"
    assert summarize(script.read_text()) == _sent_boot("examples/crusoe_h100_ib.py")
    assert script.stat().st_mode & 0o111 and not (pool_dir / "user-data.yaml").exists()
    assert {"/opt/provisioner/steps/host-firewall.sh", "/opt/provisioner/steps/infiniband.sh"} <= set(
        _written(pool_dir)
    )
    assert "startup script" in result.stdout and "crusoe limit 65,536: fits" in result.stdout
