"""Job accounting as the controller runs it: the rendered slurmdbd.conf and the controller step's own SQL,
under a real MariaDB, slurmdbd, slurmctld and slurmd on loopback. Marked `slurm`; runs under CI."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.bootstrap import SecretRef, SlurmWiring, render_support
from provisioner.bootstrap.slurm import (
    dynamic_node_conf,
    node_health_script,
    nodeset_of,
    render_slurm_configs,
    slurm_config,
)
from provisioner.plan import ClusterPlan
from tests.slurm.daemons import ACCOUNTING_BINARIES, BINARIES, SlurmLab, missing_binaries, wait_until
from tests.slurm.test_slurm_daemons import example_plan

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]

NODE = "gpu-acct-1"
ARN = "arn:aws:secretsmanager:us-east-1:1:secret:"
WIRING = SlurmWiring(
    controller_addr="127.0.0.1",
    munge_key=SecretRef("aws-secretsmanager", f"{ARN}m-AbC", "us-east-1"),
    db_password=SecretRef("aws-secretsmanager", f"{ARN}d-AbC", "us-east-1"),
)


def controller_sql(plan: ClusterPlan, password: str) -> str:
    """The statements the controller's boot step gives MariaDB, with the password it read from the store."""
    step = next(
        f.content
        for f in render_support(plan, "controller", (), WIRING).files
        if f.path.endswith("/slurm-controller.sh")
    )
    found = re.search(r"mysql --user=root <<SQL\n(.*?)\nSQL\n", step, re.DOTALL)
    assert found is not None, "the controller step no longer creates the accounting database"
    return found.group(1).replace("${password}", password)


@pytest.fixture(scope="module")
def lab() -> Iterator[SlurmLab]:
    missing = missing_binaries(BINARIES + ACCOUNTING_BINARIES)
    if missing or os.geteuid() != 0:
        why = f"missing {missing}" if missing else "not root"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the accounting test must run under CI: {why}; .ci/run installs them")
        pytest.skip(f"real slurmdbd and MariaDB unavailable: {why}")
    plan = example_plan()
    assert plan.scheduler is not None and plan.scheduler.accounting
    root = Path(tempfile.mkdtemp(prefix="provisioner-slurmdbd-"))
    root.chmod(0o755)
    lab = SlurmLab(root)
    config = slurm_config(plan, controller_addr="127.0.0.1", controller_host="localhost", layout=lab.layout)
    files = render_slurm_configs(config)
    health = node_health_script(plan, plan.pools[0], lab.layout, scontrol=shutil.which("scontrol") or "")
    password = secrets.token_urlsafe(24)
    try:
        lab.start_munge()
        lab.prepare({k: v for k, v in files.items() if k != "slurmdbd.conf"}, health)
        lab.start_database()
        done = lab.sql(controller_sql(plan, password))
        assert done.returncode == 0, done.stderr
        lab.start_dbd(files["slurmdbd.conf"], password)
        lab.run("sacctmgr", "-i", "add", "cluster", plan.scheduler.cluster_name)
        lab.make_gpus(8)
        lab.start_controller()
        lab.start_dynamic_node(NODE, dynamic_node_conf(nodeset_of(plan, "gpu"), 1000))
        try:
            wait_until("the dynamic node to be idle", lambda: "State=IDLE" in lab.node(NODE), timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{lab.logs()}") from None
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_cluster_is_registered_with_slurmdbd(lab: SlurmLab) -> None:
    clusters = lab.run("sacctmgr", "-n", "-P", "list", "cluster", "format=cluster").stdout.split()
    assert clusters == ["slurm_train"]


def test_a_gpu_job_is_accounted_with_its_gpus(lab: SlurmLab) -> None:
    lab.run("srun", "-N1", "--mem=100", "--gres=gpu:h100:2", "true", timeout=60)

    def accounted() -> bool:
        rows = lab.run("sacct", "-n", "-X", "-P", "-o", "State,AllocTRES", check=False).stdout
        return any(r.startswith("COMPLETED|") and "gres/gpu=2" in r for r in rows.splitlines())

    wait_until("sacct to show the job with its 2 GPUs", accounted, timeout=60)


def test_the_database_password_is_only_in_the_root_only_slurmdbd_conf(lab: SlurmLab) -> None:
    conf = Path(lab.layout.conf_dir) / "slurmdbd.conf"
    assert oct(conf.stat().st_mode & 0o777) == "0o600"
    password = conf.read_text().split("StoragePass=")[1].strip()
    for name in ("slurm.conf", "gres.conf", "cgroup.conf", "plugstack.conf"):
        assert password not in (Path(lab.layout.conf_dir) / name).read_text()
    for log in (lab.root / "var/log").rglob("*"):  # every daemon's whole log
        if log.is_file():
            assert password not in log.read_text(errors="replace"), log
