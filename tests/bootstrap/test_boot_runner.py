"""The boot runner (bootstrap.sh): steps in order, status.json, at most one reboot, then the health gate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from harness import PLAIN_IMAGE, Node, make_plan, shellcheck

from provisioner.bootstrap import node_context, node_files, node_metadata

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
    # the health gate runs after the reboot only: before it, no check ran and no health.json was written
    assert not node.exists("/var/lib/provisioner/health.json")
    assert "health:" not in first.stdout
    assert not [c for c in node.calls("nvidia-smi") if "--query-gpu=persistence_mode" in c]
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
    node = Node(tmp_path, make_plan())
    scripts = [
        str(node.root / "opt/provisioner" / name) for name in ("bootstrap.sh", "lib.sh", "health-check.sh")
    ]
    command = [shellcheck(), "-s", "bash", *scripts]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_shellcheck_tests_fail_instead_of_skipping_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(Path, "exists", lambda self: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        shellcheck()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        shellcheck()


# --- lib.sh helpers -----------------------------------------------------------------------------------------


def lib(node: Node, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in bash after sourcing the node's lib.sh, with the sandbox's PATH and `env` on top."""
    return subprocess.run(
        ["/bin/bash", "-c", f'set -euo pipefail; . "$PROVISIONER_ROOT/opt/provisioner/lib.sh"; {script}'],
        env={**node.env(), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_write_if_changed_writes_only_a_change(tmp_path: Path) -> None:
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    target = node.root / "etc/example.d/sub/example.conf"
    first = lib(node, f'write_if_changed "{target}" "a=1"; echo "rc=$?"')
    assert first.stdout.strip() == "rc=0" and target.read_text() == "a=1\n"
    again = lib(node, f'if write_if_changed "{target}" "a=1"; then echo wrote; else echo unchanged; fi')
    assert again.stdout.strip() == "unchanged"
    target.write_text("a=1\n\n")  # not exactly the content: rewritten
    assert lib(node, f'write_if_changed "{target}" "a=1" && echo wrote').stdout.strip() == "wrote"
    assert target.read_text() == "a=1\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["example.conf"]  # no temporary left


def test_loaded_driver_lives_in_lib_only() -> None:
    """One loaded_driver (lib.sh of NVIDIA nodes), used by the steps that need it; none of their own."""
    plan = make_plan(image=PLAIN_IMAGE)
    pool = plan.pools[0]
    files = {f.path: f.content for f in node_files(node_context(plan, pool), node_metadata(plan, pool))}
    assert files["/opt/provisioner/lib.sh"].count("loaded_driver() {") == 1
    for step in ("nvidia-driver", "fabric-manager", "dcgm"):
        script = files[f"/opt/provisioner/steps/{step}.sh"]
        assert "loaded_driver() {" not in script and "$(loaded_driver)" in script, step


def test_retry_backs_off_for_longer_in_production(tmp_path: Path) -> None:
    """Tests set RETRY_DELAY=0; on a node, the back-off starts at 10 s (then 20 s, ...)."""
    node = Node(tmp_path, make_plan("L4", "g6.xlarge"))
    sleep = node.bin / "sleep"
    sleep.write_text(f'#!/bin/sh\necho "$@" >>"{tmp_path}/slept"\n')
    sleep.chmod(0o755)
    env = {k: v for k, v in node.env().items() if k != "RETRY_DELAY"}
    result = subprocess.run(
        ["/bin/bash", "-c", '. "$PROVISIONER_ROOT/opt/provisioner/lib.sh"; retry 3 false'],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert (tmp_path / "slept").read_text().split() == ["10", "20"]
