"""The boot runner (bootstrap.sh): steps in order, status.json, at most one reboot, then the health gate."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from harness import PLAIN_IMAGE, Node, make_plan

PREPARE = ("ca-certificates", "curl", "gnupg", "pciutils", "mdadm", "xfsprogs", "jq")


def plain_g6(tmp_path: Path) -> Node:
    """One L4, no fabric, a plain Ubuntu image: the boot installs the driver and reboots once."""
    return Node(tmp_path, make_plan("L4", "g6.xlarge", image=PLAIN_IMAGE))


def test_steps_run_in_order(tmp_path: Path) -> None:
    node = plain_g6(tmp_path)
    result = node.run()
    assert result.returncode == 0, result.stderr
    started = [
        line.split("step ")[1].split(":")[0] for line in result.stdout.splitlines() if ": start" in line
    ]
    assert started == ["prepare", "nvidia-driver", "nccl", "container-toolkit", "dcgm"]
    for step in started:
        assert node.exists(f"/var/log/provisioner/{step}.log")


def test_one_reboot_after_a_driver_install_and_none_after_it(tmp_path: Path) -> None:
    node = plain_g6(tmp_path)
    first = node.run()
    assert first.returncode == 0, first.stderr
    assert node.calls("reboot") == [["reboot"]]
    assert node.status()["state"] == "rebooting"
    assert node.calls("nvidia-smi") == [] or not node.exists("/var/lib/provisioner/health.json")
    assert node.exists("/var/lib/provisioner/rebooted")
    assert not node.exists("/var/lib/provisioner/reboot-required")

    node.reset_calls()
    second = node.run()
    assert second.returncode == 0, second.stderr
    assert node.calls("reboot") == []
    assert node.installs() == []
    assert node.status()["state"] == "ready"
    assert node.health()["healthy"] is True
    assert "node ready" in second.stdout


def test_never_a_second_reboot(tmp_path: Path) -> None:
    """The driver does not load after the reboot (say, its DKMS build failed): no reboot loop; the health gate
    keeps the node out."""
    node = plain_g6(tmp_path)
    node.hold_driver()
    assert node.run().returncode == 0
    assert node.calls("reboot") == [["reboot"]]
    node.reset_calls()
    second = node.run()
    assert node.calls("reboot") == []
    assert "reboots at most once" in second.stdout
    assert second.returncode != 0
    assert "health gate failed" in second.stderr
    assert node.status()["state"] == "unhealthy"
    assert node.health()["healthy"] is False


def test_gpu_image_boots_without_a_reboot(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    node.preinstall(*PREPARE)
    for command in ("nvidia-smi", "nvidia-ctk", "dcgmi", "containerd"):
        node.provide(command)
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert node.calls("reboot") == []
    assert node.installs() == []
    assert node.status()["state"] == "ready"


def test_a_failing_step_is_named_and_stops_the_boot(tmp_path: Path) -> None:
    node = plain_g6(tmp_path)
    node.preinstall(*PREPARE)
    node.fail("apt-get")
    result = node.run()
    assert result.returncode != 0
    assert "step 'nvidia-driver' failed" in result.stderr
    assert "/var/log/provisioner/nvidia-driver.log" in result.stderr
    status = node.status()
    assert (status["state"], status["step"]) == ("failed", "nvidia-driver")
    assert not node.exists("/var/log/provisioner/container-toolkit.log")
    assert "gave up after 3 attempts" in node.file("/var/log/provisioner/nvidia-driver.log")


def test_an_unhealthy_node_is_marked_and_fails(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    node.preinstall(*PREPARE)
    for command in ("nvidia-smi", "nvidia-ctk", "dcgmi", "containerd"):
        node.provide(command)
    node.kernel_log("NVRM: Xid (PCI:0000:38:00): 48, pid=0, An uncorrectable double bit error")
    result = node.run()
    assert result.returncode != 0
    assert node.status()["state"] == "unhealthy"
    assert node.status()["step"] == "health"


def test_node_scripts_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(__file__).parents[2] / ".venv/bin/shellcheck")
    if not Path(shellcheck).exists():
        pytest.skip("shellcheck is not installed")
    node = Node(tmp_path, make_plan())
    scripts = [
        str(node.root / "opt/provisioner" / name) for name in ("bootstrap.sh", "lib.sh", "health-check.sh")
    ]
    result = subprocess.run([shellcheck, "-s", "bash", *scripts], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
