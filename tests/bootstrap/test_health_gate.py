"""The health gate: GPU count, fabric manager on NVSwitch shapes, Xid errors, DCGM diagnostics; writes
health.json and exits non-zero when the node must not take work."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from harness import Node, make_plan

from provisioner.bootstrap.templates import environment


def p5(tmp_path: Path) -> Node:
    """An 8 x H100 node on NVSwitch, healthy: driver loaded, fabric manager active."""
    node = Node(tmp_path, make_plan())
    node.provide("nvidia-smi")
    node.set_gpus(8)
    node.activate("nvidia-fabricmanager")
    return node


def checks(node: Node) -> dict[str, dict[str, str]]:
    report = node.health()
    found = report["checks"]
    assert isinstance(found, list)
    return {check["name"]: check for check in found}


def test_passes_with_all_gpus_and_fabric_manager_and_writes_health_json(tmp_path: Path) -> None:
    node = p5(tmp_path)
    result = node.run_health()
    assert result.returncode == 0, result.stdout + result.stderr
    report = node.health()
    assert report["healthy"] is True
    assert report["expected_gpus"] == 8
    assert report["pool"] == "gpu" and report["cluster"] == "test"
    assert {name: c["status"] for name, c in checks(node).items()} == {
        "gpu-count": "ok",
        "fabric-manager": "ok",
        "xid": "ok",
    }
    assert checks(node)["gpu-count"]["detail"] == "8 of 8 GPUs"


def test_fails_with_a_missing_gpu(tmp_path: Path) -> None:
    node = p5(tmp_path)
    node.set_gpus(7)
    result = node.run_health()
    assert result.returncode != 0
    assert node.health()["healthy"] is False
    assert checks(node)["gpu-count"] == {
        "name": "gpu-count",
        "status": "fail",
        "detail": "7 of 8 GPUs visible",
    }
    assert "gpu-count FAILED" in result.stdout


def test_fails_on_an_xid_in_the_kernel_log(tmp_path: Path) -> None:
    node = p5(tmp_path)
    node.kernel_log("[  812.345678] NVRM: Xid (PCI:0000:53:00): 79, pid=1234, GPU has fallen off the bus.")
    assert node.run_health().returncode != 0
    assert checks(node)["xid"]["status"] == "fail"
    assert checks(node)["gpu-count"]["status"] == "ok"


def test_other_kernel_lines_are_no_xid(tmp_path: Path) -> None:
    node = p5(tmp_path)
    node.kernel_log("[    3.0] NVRM: loading NVIDIA UNIX Open Kernel Module for x86_64  580.105.08")
    assert node.run_health().returncode == 0


def test_fails_when_fabric_manager_is_inactive_on_an_nvswitch_shape(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan())
    node.provide("nvidia-smi")
    result = node.run_health()
    assert result.returncode != 0
    assert checks(node)["fabric-manager"]["status"] == "fail"
    assert "NVSwitch" in checks(node)["fabric-manager"]["detail"]


def test_no_fabric_manager_check_without_nvswitch(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    node.provide("nvidia-smi")
    assert node.run_health().returncode == 0
    assert "fabric-manager" not in checks(node)
    assert checks(node)["gpu-count"]["detail"] == "1 of 1 GPUs"


def test_fails_when_no_gpu_answers(tmp_path: Path) -> None:
    """nvidia-smi prints 'No devices were found' on stdout: that line is not a GPU."""
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    node.provide("nvidia-smi")
    node.set_gpus(0)
    assert node.run_health().returncode != 0
    assert checks(node)["gpu-count"]["detail"] == "0 of 1 GPUs visible"


def test_fails_without_a_driver(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    assert node.run_health().returncode != 0
    assert checks(node)["gpu-count"]["status"] == "fail"


@pytest.mark.parametrize("diag_passes", [True, False])
def test_dcgm_diagnostics_when_dcgm_is_there(tmp_path: Path, diag_passes: bool) -> None:
    node = p5(tmp_path)
    node.provide("dcgmi")
    if not diag_passes:
        node.fail("dcgmi")
    result = node.run_health()
    assert (result.returncode == 0) is diag_passes
    assert checks(node)["dcgm-diag"]["status"] == ("ok" if diag_passes else "fail")
    assert ["dcgmi", "diag", "-r", "1"] in node.calls("dcgmi")


def test_no_dcgm_check_without_dcgm(tmp_path: Path) -> None:
    node = p5(tmp_path)
    assert node.run_health().returncode == 0
    assert "dcgm-diag" not in checks(node)
    assert node.calls("dcgmi") == []


def test_health_check_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(__file__).parents[2] / ".venv/bin/shellcheck")
    if not Path(shellcheck).exists():
        pytest.skip("shellcheck is not installed")
    paths = []
    for i, plan in enumerate((make_plan(), make_plan("L4", "g6.xlarge"))):
        node = Node(tmp_path / str(i), plan)
        paths.append(str(node.root / "opt/provisioner/health-check.sh"))
        # the AMD flavour (rocm-smi), rendered from the same context
        amd = (
            environment()
            .get_template("node/health-check.sh.j2")
            .render(ctx=replace(node.ctx, gpu_vendor="amd"))
        )
        assert "rocm-smi" in amd
        (tmp_path / f"amd-{i}.sh").write_text(amd)
        paths.append(str(tmp_path / f"amd-{i}.sh"))
    result = subprocess.run([shellcheck, "-s", "bash", *paths], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
