"""The health gate: GPU count (NVIDIA and AMD), persistence mode, fabric manager on NVSwitch shapes, the
fabric (every EFA device; an RDMA device and nvidia-peermem on InfiniBand), Xid errors, DCGM diagnostics;
writes health.json and exits non-zero when the node must not take work."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from harness import Node, make_plan, shellcheck

from provisioner.bootstrap.templates import environment


def p5(tmp_path: Path) -> Node:
    """An 8 x H100 node on NVSwitch, healthy: driver loaded, persistence mode on, fabric manager active, its
    32 EFA devices visible."""
    node = Node(tmp_path, make_plan())
    node.provide("nvidia-smi")
    node.set_gpus(8)
    node.set_persistence(True)
    node.activate("nvidia-fabricmanager")
    return node


def g6(tmp_path: Path) -> Node:
    """One L4, no fabric, healthy."""
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    node.provide("nvidia-smi")
    node.set_persistence(True)
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
        "persistence-mode": "ok",
        "fabric": "ok",
        "xid": "ok",
    }
    assert checks(node)["gpu-count"]["detail"] == "8 of 8 GPUs"
    assert checks(node)["persistence-mode"]["detail"] == "8 of 8 GPUs in persistence mode"
    assert checks(node)["fabric"]["detail"] == "32 of 32 EFA devices"


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
    node = g6(tmp_path)
    assert node.run_health().returncode == 0
    assert "fabric-manager" not in checks(node)
    assert "fabric" not in checks(node)  # no fabric on g6
    assert checks(node)["gpu-count"]["detail"] == "1 of 1 GPUs"


def test_fails_when_no_gpu_answers(tmp_path: Path) -> None:
    """nvidia-smi prints 'No devices were found' on stdout: that line is not a GPU."""
    node = g6(tmp_path)
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


# --- persistence mode ----------------------------------------------------------------------------------


def test_fails_when_persistence_mode_is_off(tmp_path: Path) -> None:
    """nvidia-persistenced enabled but run with --no-persistence-mode (Ubuntu's unit) leaves it off."""
    node = p5(tmp_path)
    node.set_persistence(False)
    result = node.run_health()
    assert result.returncode != 0
    assert checks(node)["persistence-mode"] == {
        "name": "persistence-mode",
        "status": "fail",
        "detail": "0 of 8 GPUs in persistence mode",
    }
    assert ["nvidia-smi", "--query-gpu=persistence_mode", "--format=csv,noheader"] in node.calls("nvidia-smi")


def test_persistence_mode_fails_without_a_driver(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    assert node.run_health().returncode != 0
    assert checks(node)["persistence-mode"]["status"] == "fail"


# --- AMD GPUs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("gpus", "healthy"), [(8, True), (7, False)])
def test_amd_gpus_are_counted_once_each(tmp_path: Path, gpus: int, healthy: bool) -> None:
    """`rocm-smi --showid` prints five lines per GPU: the gate counts GPU indices, not lines."""
    node = Node(tmp_path, make_plan("MI300X", "test-mi300x.48xlarge"))
    node.provide("rocm-smi")
    node.set_gpus(gpus)
    result = node.run_health()
    assert (result.returncode == 0) is healthy, result.stdout + result.stderr
    expected = "8 of 8 GPUs" if healthy else "7 of 8 GPUs visible"
    assert checks(node)["gpu-count"]["detail"] == expected
    assert "persistence-mode" not in checks(node)  # an NVIDIA check


# --- the fabric -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("devices", "healthy"), [(32, True), (31, False), (0, False)])
def test_efa_needs_every_device(tmp_path: Path, devices: int, healthy: bool) -> None:
    node = p5(tmp_path)
    assert node.ctx.fabric == "efa" and node.ctx.fabric_interfaces == 32
    node.set_fabric_devices(devices)
    result = node.run_health()
    assert (result.returncode == 0) is healthy
    fabric = checks(node)["fabric"]
    assert fabric["status"] == ("ok" if healthy else "fail")
    assert fabric["detail"].startswith(f"{devices} of 32 EFA devices")


def test_efa_devices_of_the_older_naming_count_and_other_rdma_devices_do_not(tmp_path: Path) -> None:
    node = p5(tmp_path)
    node.set_fabric_devices(0)
    folder = node.root / "sys/class/infiniband"
    for i in range(32):
        (folder / f"efa_{i}").mkdir()
    (folder / "mlx5_0").mkdir()  # not an EFA device
    assert node.run_health().returncode == 0
    assert checks(node)["fabric"]["detail"] == "32 of 32 EFA devices"


def ib_node(tmp_path: Path, gpu: str = "H100") -> Node:
    """8 InfiniBand HCAs; nvidia-peermem loaded."""
    if gpu == "H100":
        node = Node(tmp_path, make_plan("H100", "test-h100-ib.48xlarge"))
        node.provide("nvidia-smi")
        node.set_persistence(True)
        node.activate("nvidia-fabricmanager")
        (node.root / "sys/module/nvidia_peermem").mkdir(parents=True)
    else:
        node = Node(tmp_path, make_plan("MI300X", "test-mi300x-ib.48xlarge"))
        node.provide("rocm-smi")
    node.set_gpus(8)
    assert node.ctx.fabric == "infiniband"
    return node


def test_infiniband_passes_with_devices_and_peermem(tmp_path: Path) -> None:
    node = ib_node(tmp_path)
    result = node.run_health()
    assert result.returncode == 0, result.stdout
    assert checks(node)["fabric"] == {
        "name": "fabric",
        "status": "ok",
        "detail": "8 infiniband RDMA device(s)",
    }
    assert checks(node)["nvidia-peermem"]["status"] == "ok"


def test_infiniband_fails_without_peermem(tmp_path: Path) -> None:
    node = ib_node(tmp_path)
    (node.root / "sys/module/nvidia_peermem").rmdir()
    assert node.run_health().returncode != 0
    assert checks(node)["nvidia-peermem"]["status"] == "fail"
    assert checks(node)["fabric"]["status"] == "ok"


def test_infiniband_fails_without_a_device(tmp_path: Path) -> None:
    node = ib_node(tmp_path)
    node.set_fabric_devices(0)
    assert node.run_health().returncode != 0
    assert checks(node)["fabric"]["status"] == "fail"


def test_infiniband_on_amd_checks_the_devices_and_no_peermem(tmp_path: Path) -> None:
    node = ib_node(tmp_path, gpu="MI300X")
    assert node.run_health().returncode == 0
    assert checks(node)["fabric"]["status"] == "ok"
    assert "nvidia-peermem" not in checks(node)
    node.set_fabric_devices(0)
    assert node.run_health().returncode != 0


def test_health_check_passes_shellcheck(tmp_path: Path) -> None:
    paths = []
    plans = (make_plan(), make_plan("L4", "g6.xlarge"), make_plan("H100", "test-h100-ib.48xlarge"))
    for i, plan in enumerate(plans):
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
    result = subprocess.run([shellcheck(), "-s", "bash", *paths], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
