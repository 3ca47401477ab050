"""The Slurm boot steps of a compute node, run for real in the sandbox (tests/bootstrap/harness.py): the munge
key from the secret store and the dynamic node's slurmd command line."""

from __future__ import annotations

import base64
import dataclasses
import subprocess
from pathlib import Path

import pytest
from harness import Node

from provisioner.bootstrap import SecretRef, SlurmWiring
from provisioner.catalog import shipped_catalog
from provisioner.plan import plan_cluster
from provisioner.spec import Cluster, NodePool, Slurm

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:c-munge-key-AbCdEf"
WIRING = SlurmWiring("10.0.0.10", SecretRef("aws-secretsmanager", SECRET_ARN, "us-east-1"))
KEY = bytes(range(128))


def _node(tmp_path: Path) -> Node:
    cluster = Cluster(
        name="c",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=2)],
        scheduler=Slurm(),
    )
    return Node(tmp_path, plan_cluster(cluster, shipped_catalog()), slurm=WIRING)


def _shim(node: Node, name: str, body: str) -> None:
    path = node.bin / name
    if path.is_symlink() or path.exists():
        path.unlink()
    path.write_text(f"#!/bin/bash\nprintf '%s\\n' \"$*\" >>{node.tmp}/{name}.calls\n{body}\n")
    path.chmod(0o755)


def _calls(node: Node, name: str) -> list[str]:
    path = node.tmp / f"{name}.calls"
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def munge_node(tmp_path: Path) -> Node:
    node = _node(tmp_path)
    _shim(node, "aws", f"printf '%s\\n' '{base64.b64encode(KEY).decode()}'")
    _shim(node, "chown", "exit 0")
    _shim(node, "iptables", '[ "$1" != -C ]')  # -C: the rule is not there yet
    return node


def test_the_munge_key_comes_from_the_secret_store_and_is_root_only(munge_node: Node) -> None:
    done = munge_node.run_step("munge")
    assert done.returncode == 0, done.stderr
    key = munge_node.root / "etc/munge/munge.key"
    assert key.read_bytes() == KEY
    assert oct(key.stat().st_mode & 0o777) == "0o400"
    assert _calls(munge_node, "aws") == [
        f"secretsmanager get-secret-value --region us-east-1 --secret-id {SECRET_ARN} "
        "--query SecretString --output text"
    ]
    assert ["systemctl", "restart", "munge"] in munge_node.calls("systemctl")
    assert "munge" in munge_node.installed()


def test_the_munge_key_is_never_logged(munge_node: Node) -> None:
    done = munge_node.run_step("munge")
    assert done.returncode == 0, done.stderr
    encoded = base64.b64encode(KEY).decode()
    logs = done.stdout + done.stderr
    for folder in (munge_node.root / "var/log", munge_node.root / "var/lib/provisioner"):
        for path in folder.rglob("*") if folder.exists() else ():
            if path.is_file():
                logs += path.read_text(errors="replace")
    assert encoded not in logs and encoded[:24] not in logs


def test_a_second_run_keeps_munge_running_without_a_restart(munge_node: Node) -> None:
    assert munge_node.run_step("munge").returncode == 0
    munge_node.reset_calls()
    again = munge_node.run_step("munge")
    assert again.returncode == 0, again.stderr
    assert "munge key unchanged" in again.stdout
    assert ["systemctl", "restart", "munge"] not in munge_node.calls("systemctl")
    assert munge_node.installs() == []


def test_only_root_reaches_the_metadata_service(munge_node: Node) -> None:
    done = munge_node.run_step("munge")
    assert done.returncode == 0, done.stderr
    rule = "-d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT"
    assert f"-I OUTPUT 1 {rule}" in _calls(munge_node, "iptables")
    unit = munge_node.root / "etc/systemd/system/provisioner-metadata-root-only.service"
    assert "Before=network-pre.target" in unit.read_text()  # again at every boot, before the network
    assert ["systemctl", "enable", "provisioner-metadata-root-only.service"] in munge_node.calls("systemctl")


def test_a_short_munge_key_stops_the_boot(tmp_path: Path) -> None:
    node = _node(tmp_path)
    _shim(node, "iptables", "exit 0")
    _shim(node, "aws", "printf '%s\\n' 'c2hvcnQ='")  # "short"
    _shim(node, "chown", "exit 0")
    done = node.run_step("munge")
    assert done.returncode != 0
    assert "shorter than 32 bytes" in done.stderr
    assert not (node.root / "etc/munge/munge.key").exists()


def test_a_compute_node_gets_its_dynamic_node_command_line(tmp_path: Path) -> None:
    node = _node(tmp_path)
    _shim(node, "ip", "echo '10.0.0.10 via 10.0.1.1 dev ens5 src 10.0.1.23 uid 0'")
    meminfo = node.root / "proc/meminfo"
    meminfo.parent.mkdir(parents=True, exist_ok=True)
    meminfo.write_text("MemTotal:       2097152000 kB\nMemFree:        2000000000 kB\n")
    done = node.run_step("slurm-compute")
    assert done.returncode == 0, done.stderr
    assert (node.root / "etc/provisioner/slurm-node-name").read_text() == "gpu-10-0-1-23\n"
    total_mb = 2097152000 // 1024
    unit = (node.root / "etc/systemd/system/slurmd.service.d/provisioner.conf").read_text()
    assert (
        "ExecStart=/usr/sbin/slurmd --systemd -Z --conf-server 10.0.0.10:6817 -N gpu-10-0-1-23 --conf "
        f'"RealMemory={total_mb - total_mb // 20} NodeAddr=10.0.1.23 '
        'Feature=pool-gpu,h100,nvidia,efa Gres=gpu:h100:8"'
    ) in unit
    # slurmd starts in join.sh, after the health gate: this step must not start it
    assert not [c for c in node.calls("systemctl") if "slurmd" in c and c[1] in ("start", "restart")]
    node.reset_calls()
    assert node.run_step("slurm-compute").returncode == 0
    assert ["systemctl", "daemon-reload"] not in node.calls("systemctl")


def test_no_route_to_the_controller_stops_the_boot(tmp_path: Path) -> None:
    node = _node(tmp_path)
    _shim(node, "ip", "exit 2")
    done = node.run_step("slurm-compute")
    assert done.returncode != 0
    assert "no route to the Slurm controller 10.0.0.10" in done.stderr


# --- the controller's configuration -------------------------------------------------------------------------

CONFIG_PATH = "/provisioner/c/slurm"
STORE_WIRING = dataclasses.replace(
    WIRING,
    db_password=SecretRef("aws-secretsmanager", SECRET_ARN.replace("munge", "db"), "us-east-1"),
    config_store="aws-ssm",
    config_path=CONFIG_PATH,
)


def _controller(tmp_path: Path, parameters: dict[str, str]) -> Node:
    cluster = Cluster(
        name="c",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=2)],
        scheduler=Slurm(accounting=True),
    )
    node = Node(tmp_path, plan_cluster(cluster, shipped_catalog()), slurm=STORE_WIRING, role="controller")
    store = tmp_path / "ssm"
    store.mkdir(exist_ok=True)
    for name, text in parameters.items():
        (store / name).write_text(text)
    # `aws ssm get-parameter --name PATH/FILE ...` answers from the folder; a missing one fails as SSM does
    _shim(
        node,
        "aws",
        f'name=""; prev=""; for a in "$@"; do [ "$prev" = --name ] && name=$a; prev=$a; done\n'
        f'file={store}/"${{name##*/}}"; [ -f "$file" ] || {{ echo ParameterNotFound >&2; exit 254; }}\n'
        'cat "$file"',
    )
    _shim(node, "chown", "exit 0")
    _shim(node, "scontrol", "exit 0")
    return node


def _sync(node: Node) -> subprocess.CompletedProcess[str]:
    return node._bash(node.root / "opt/provisioner/slurm/sync-config.sh")


CONFIGS = {"slurm.conf": "ClusterName=c\n", "gres.conf": "AutoDetect=nvml\n", "cgroup.conf": "X=1\n"}


def test_the_controller_installs_its_configuration_from_the_parameter_store(tmp_path: Path) -> None:
    node = _controller(tmp_path, {**CONFIGS, "slurmdbd.conf": "DbdPort=6819\n"})
    assert "/opt/provisioner/slurm/etc/slurm.conf" not in node.files  # not in its user data
    done = _sync(node)
    assert done.returncode == 0, done.stderr
    for name, text in CONFIGS.items():
        assert (node.root / "etc/slurm" / name).read_text() == text
    assert f"--name {CONFIG_PATH}/slurm.conf" in " ".join(_calls(node, "aws"))
    # slurmctld was not running yet: nothing to reconfigure
    assert _calls(node, "scontrol") == []


def test_a_changed_parameter_reaches_the_running_controller(tmp_path: Path) -> None:
    node = _controller(tmp_path, {**CONFIGS, "slurmdbd.conf": "DbdPort=6819\n"})
    assert _sync(node).returncode == 0
    node.activate("slurmctld")
    assert _sync(node).returncode == 0
    assert _calls(node, "scontrol") == []  # unchanged: no reconfigure
    (tmp_path / "ssm" / "slurm.conf").write_text("ClusterName=c\nNodeset=ns-new Feature=pool-new\n")
    done = _sync(node)
    assert done.returncode == 0, done.stderr
    assert "Nodeset=ns-new" in (node.root / "etc/slurm/slurm.conf").read_text()
    assert _calls(node, "scontrol") == ["reconfigure"]
    assert "Slurm configuration changed: slurm.conf" in done.stdout


def test_the_database_password_survives_a_configuration_change(tmp_path: Path) -> None:
    node = _controller(tmp_path, {**CONFIGS, "slurmdbd.conf": "DbdPort=6819\n"})
    assert _sync(node).returncode == 0
    dbd = node.root / "etc/slurm/slurmdbd.conf"
    dbd.write_text(dbd.read_text() + "StoragePass=from-the-secret-store\n")  # what the controller step adds
    assert _sync(node).returncode == 0
    assert dbd.read_text() == "DbdPort=6819\nStoragePass=from-the-secret-store\n"  # unchanged
    (tmp_path / "ssm" / "slurmdbd.conf").write_text("DbdPort=7000\n")
    assert _sync(node).returncode == 0
    assert dbd.read_text() == "DbdPort=7000\nStoragePass=from-the-secret-store\n"
    assert oct(dbd.stat().st_mode & 0o777) == "0o600"


def test_a_missing_parameter_changes_nothing_and_fails(tmp_path: Path) -> None:
    node = _controller(tmp_path, {**CONFIGS})  # no slurmdbd.conf, which sorts last
    done = _sync(node)
    assert done.returncode != 0
    assert not (node.root / "etc/slurm/cgroup.conf").exists()  # fetched, but not installed alone


def test_jobs_users_are_looked_up_through_slurm_after_the_local_files(tmp_path: Path) -> None:
    node = _node(tmp_path)
    _shim(node, "ip", "echo '10.0.0.10 via 10.0.1.1 dev ens5 src 10.0.1.23 uid 0'")
    (node.root / "proc").mkdir(parents=True, exist_ok=True)
    (node.root / "proc/meminfo").write_text("MemTotal:       2097152000 kB\n")
    nsswitch = node.root / "etc/nsswitch.conf"
    nsswitch.parent.mkdir(parents=True, exist_ok=True)
    nsswitch.write_text("passwd:   files systemd\ngroup:    files systemd\nshadow:   files\n")
    for _ in range(2):  # the second run changes nothing
        assert node.run_step("slurm-compute").returncode == 0
        expected = "passwd:   files slurm systemd\ngroup:    files slurm systemd\nshadow:   files\n"
        assert nsswitch.read_text() == expected
