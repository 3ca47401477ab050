"""The Slurm configuration of an example cluster, run under real Slurm daemons on loopback.

Marked `slurm` (`pytest -m slurm`). Under CI (CI=true) a missing Slurm or munge is a failure, not a skip:
.ci/run installs Debian's slurm-wlm and munge.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.bootstrap.slurm import (
    dynamic_node_conf,
    node_health_script,
    nodeset_of,
    prune_script,
    render_slurm_configs,
    slurm_config,
)
from provisioner.catalog import shipped_catalog
from provisioner.plan import ClusterPlan, plan_cluster
from tests.slurm.daemons import SlurmLab, missing_binaries, wait_until

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(240)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "h100_slurm.py"
NODE = "gpu-test-1"
MEMORY_MB = 1000


def example_plan() -> ClusterPlan:
    """The example's plan, as `provisioner plan` makes it."""
    namespace: dict[str, object] = {}
    exec(compile(EXAMPLE.read_text(), str(EXAMPLE), "exec"), namespace)
    plan = plan_cluster(namespace["cluster"], shipped_catalog())  # type: ignore[arg-type]
    assert plan.ok, [f.render() for f in plan.findings]
    return plan


def _plan_without_accounting() -> ClusterPlan:
    """The example without accounting (test_slurm_accounting.py runs slurmdbd with a database)."""
    plan = example_plan()
    assert plan.scheduler is not None
    return plan.model_copy(update={"scheduler": plan.scheduler.model_copy(update={"accounting": False})})


@pytest.fixture(scope="module")
def lab() -> Iterator[SlurmLab]:
    missing = missing_binaries()
    if missing or os.geteuid() != 0:
        why = f"missing {missing}" if missing else "not root (mknod and the daemons need it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Slurm test must run under CI: {why}; .ci/run installs slurm-wlm and munge")
        pytest.skip(f"real Slurm daemons unavailable: {why}")
    # not pytest's tmp_path: its folders are private to root, and slurmctld runs as the slurm user
    root = Path(tempfile.mkdtemp(prefix="provisioner-slurm-"))
    root.chmod(0o755)
    lab = SlurmLab(root)
    plan = _plan_without_accounting()
    config = slurm_config(plan, controller_addr="127.0.0.1", controller_host="localhost", layout=lab.layout)
    health = node_health_script(plan, plan.pools[0], lab.layout, scontrol=shutil.which("scontrol") or "")
    try:
        lab.start_munge()
        lab.prepare(render_slurm_configs(config), health)
        lab.make_gpus(plan.pools[0].gpus_per_node)
        lab.start_controller()
        lab.start_dynamic_node(NODE, dynamic_node_conf(nodeset_of(plan, "gpu"), MEMORY_MB))
        try:
            wait_until("the dynamic node to be idle", lambda: "State=IDLE" in lab.node(NODE), timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{lab.logs()}") from None
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_sinfo_shows_the_node_idle_with_eight_h100(lab: SlurmLab) -> None:
    out = lab.run("sinfo", "-N", "-h", "-o", "%N|%T|%G|%P").stdout.split()
    assert f"{NODE}|idle|gpu:h100:8|gpu*" in out, out


def test_the_node_joined_as_a_dynamic_node_in_its_pools_nodeset(lab: SlurmLab) -> None:
    node = lab.node(NODE)
    assert "DYNAMIC" in node, node
    assert "AvailableFeatures=pool-gpu,h100,nvidia,efa" in node, node
    assert "Gres=gpu:h100:8" in node, node
    # no static node was configured: the controller learned the node from its registration
    assert "NodeName" not in (Path(lab.layout.conf_dir) / "slurm.conf").read_text()


def test_a_job_sees_exactly_the_two_gpus_it_asked_for(lab: SlurmLab) -> None:
    out = lab.run("srun", "-N1", "--mem=100", "--gres=gpu:h100:2", "env", timeout=60).stdout
    visible = re.search(r"^CUDA_VISIBLE_DEVICES=(.*)$", out, re.MULTILINE)
    assert visible is not None, out
    assert len(visible.group(1).split(",")) == 2, visible.group(0)


def test_asking_for_nine_gpus_is_refused(lab: SlurmLab) -> None:
    done = lab.run("srun", "-N1", "--mem=100", "--gres=gpu:h100:9", "true", timeout=60, check=False)
    assert done.returncode != 0
    assert "Requested node configuration is not available" in done.stderr, done.stderr


def test_a_missing_gpu_drains_the_node_and_its_return_resumes_it(lab: SlurmLab) -> None:
    wait_until("earlier jobs to finish", lambda: "State=IDLE+DYNAMIC" in lab.node(NODE), timeout=60)
    lab.remove_gpu(7)
    try:
        done = lab.run("srun", "-N1", "--mem=100", "true", timeout=60, check=False)
        assert done.returncode == 0, f"{done.stderr}\n{lab.run('squeue').stdout}\n{lab.node(NODE)}"
        # the epilog (after the job) finds 7 GPUs: it fails, and Slurm drains the node
        wait_until("the epilog to drain the node", lambda: "DRAIN" in lab.node(NODE), timeout=60)
        assert "Reason=Epilog error" in lab.node(NODE)
        # the health check (HealthCheckProgram, run here as slurmd runs it) names the cause
        lab.run(lab.layout.health_program, timeout=30)
        node = lab.node(NODE)
        assert "Reason=provisioner health: 7 of 8 GPU devices present" in node, node
        states = lab.run("sinfo", "-N", "-h", "-o", "%N|%T").stdout.split()
        assert any(s.startswith(f"{NODE}|drain") for s in states), states
    finally:
        lab.make_gpus(8)
    # GPUs back: the next health check gives back the node it drained
    lab.run(lab.layout.health_program, timeout=30)
    wait_until("the node to resume", lambda: "DRAIN" not in lab.node(NODE), timeout=30)


def test_every_daemon_listens_on_loopback_only_ports_we_chose(lab: SlurmLab) -> None:
    for port in (lab.layout.slurmctld_port, lab.layout.slurmd_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass


def test_a_failed_boot_health_gate_drains_the_node(lab: SlurmLab) -> None:
    """The gate of the boot (or an on-demand run of it) wrote healthy=false: the next check drains the node,
    naming the checks that failed; a healthy gate gives the node back."""
    wait_until("earlier jobs to finish", lambda: "State=IDLE+DYNAMIC" in lab.node(NODE), timeout=60)
    health = Path(lab.layout.path("/var/lib/provisioner/health.json"))
    health.parent.mkdir(parents=True, exist_ok=True)
    failed = [
        {"name": "gpu-count", "status": "ok", "detail": "8 of 8 GPUs"},
        {"name": "xid", "status": "fail", "detail": "2 Xid error line(s) in the kernel log"},
        {"name": "dcgm-diag", "status": "fail", "detail": "dcgmi diag -r 1 failed"},
    ]
    health.write_text(json.dumps({"healthy": False, "checks": failed}))
    try:
        lab.run(lab.layout.health_program, timeout=30)
        wait_until("the node to drain", lambda: "DRAIN" in lab.node(NODE), timeout=30)
        assert "Reason=provisioner health: GPU health gate failed (xid,dcgm-diag)" in lab.node(NODE)
    finally:
        health.write_text(json.dumps({"healthy": True, "checks": failed[:1]}))
    lab.run(lab.layout.health_program, timeout=30)
    wait_until("the node to resume", lambda: "DRAIN" not in lab.node(NODE), timeout=30)


def test_a_drain_by_an_admin_is_left_alone(lab: SlurmLab) -> None:
    wait_until("earlier jobs to finish", lambda: "State=IDLE+DYNAMIC" in lab.node(NODE), timeout=60)
    lab.run("scontrol", "update", f"NodeName={NODE}", "State=DRAIN", "Reason=maintenance")
    try:
        lab.run(lab.layout.health_program, timeout=30)
        assert "Reason=maintenance" in lab.node(NODE)
    finally:
        lab.run("scontrol", "update", f"NodeName={NODE}", "State=RESUME")


def test_zz_a_node_that_is_gone_is_forgotten_by_the_controller(lab: SlurmLab) -> None:
    """Runs last: it takes the node away. Its auto scaling group terminated it: slurmd stops answering and
    slurmctld marks it DOWN "Not responding"; the controller's prune timer then deletes the dynamic node."""
    prune = Path(lab.layout.path("/opt/provisioner/slurm/prune-nodes.sh"))
    prune.parent.mkdir(parents=True, exist_ok=True)
    prune.write_text(prune_script(scontrol=shutil.which("scontrol") or ""))
    prune.chmod(0o755)
    lab.run("scontrol", "update", f"NodeName={NODE}", "State=DOWN", "Reason=maintenance")
    assert lab.run(str(prune), "0").stdout == ""  # an admin's DOWN stays
    lab.stop_node()
    # what slurmctld sets after SlurmdTimeout (300 s in the rendered slurm.conf, too long to wait for here)
    lab.run("scontrol", "update", f"NodeName={NODE}", "State=DOWN", "Reason=Not responding")
    assert lab.run(str(prune)).stdout == ""  # within the grace period: kept (it may be rebooting)
    assert lab.run(str(prune), "0").stdout == f"removed {NODE}\n"
    assert "not found" in lab.node(NODE)
    assert lab.run("sinfo", "-h", "-N").stdout.strip() == ""
