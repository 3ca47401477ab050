"""A Slurm compute node joins the scheduler only after its health gate passes (bootstrap.sh + join.sh).

The rendered runner and lib.sh run for real under a sandbox root; the steps and the gate are replaced by stubs
that succeed or fail, and join.sh by one that records that it ran."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from provisioner.bootstrap import SecretRef, SlurmWiring, render_pool
from provisioner.catalog import shipped_catalog
from provisioner.plan import plan_cluster
from provisioner.spec import Cluster, Lustre, NodePool, Slurm

WIRING = SlurmWiring(
    controller_addr="10.0.0.10",
    munge_key=SecretRef("aws-secretsmanager", "arn:aws:secretsmanager:us-east-1:1:secret:m-AbC", "us-east-1"),
)


def _sandbox(tmp_path: Path, gate_passes: bool, join_passes: bool = True) -> Path:
    cluster = Cluster(
        name="c",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=2)],
        storage=[Lustre()],
        scheduler=Slurm(),
    )
    plan = plan_cluster(cluster, shipped_catalog())
    root = tmp_path / "root"
    for item in render_pool(plan, plan.pools[0], (), WIRING).files:
        target = root / item.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if "/steps/" in item.path:
            target.write_text("#!/usr/bin/env bash\nexit 0\n")
        elif item.path.endswith("/health-check.sh"):
            target.write_text(f"#!/usr/bin/env bash\nexit {0 if gate_passes else 1}\n")
        elif item.path.endswith("/join.sh"):
            marker = root / "joined"
            target.write_text(f"#!/usr/bin/env bash\ntouch {marker}\nexit {0 if join_passes else 1}\n")
        else:
            target.write_text(item.content)
        target.chmod(int(item.mode, 8))
    return root


def _boot(root: Path) -> subprocess.CompletedProcess[str]:
    env = {"PROVISIONER_ROOT": str(root), "PROVISIONER_IN_CLOUD_INIT": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        ["/bin/bash", str(root / "opt/provisioner/bootstrap.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _status(root: Path) -> dict[str, str]:
    status: dict[str, str] = json.loads((root / "var/lib/provisioner/status.json").read_text())
    return status


def test_a_healthy_node_joins(tmp_path: Path) -> None:
    root = _sandbox(tmp_path, gate_passes=True)
    done = _boot(root)
    assert done.returncode == 0, done.stderr
    assert (root / "joined").exists()
    assert _status(root)["state"] == "joined"


def test_an_unhealthy_node_never_joins(tmp_path: Path) -> None:
    root = _sandbox(tmp_path, gate_passes=False)
    done = _boot(root)
    assert done.returncode != 0
    assert not (root / "joined").exists()
    assert _status(root) | {"time": ""} == {"state": "unhealthy", "step": "health", "time": ""}


def test_a_failed_join_is_reported(tmp_path: Path) -> None:
    root = _sandbox(tmp_path, gate_passes=True, join_passes=False)
    done = _boot(root)
    assert done.returncode != 0
    assert _status(root)["state"] == "failed" and _status(root)["step"] == "join"


@pytest.mark.parametrize("role", ["controller", "login"])
def test_support_nodes_have_no_join_and_no_gpu_steps(role: str) -> None:
    from provisioner.bootstrap import render_support

    cluster = Cluster(
        name="c",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=2)],
        scheduler=Slurm(),
    )
    plan = plan_cluster(cluster, shipped_catalog())
    paths = {f.path for f in render_support(plan, role, (), WIRING).files}
    steps = {Path(p).stem for p in paths if "/steps/" in p}
    assert "/opt/provisioner/join.sh" not in paths
    assert not steps & {"nvidia-driver", "fabric-manager", "efa", "nccl", "dcgm", "container-toolkit"}
    assert {"munge", "slurm", f"slurm-{role}"} <= steps
