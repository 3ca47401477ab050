"""The boot steps of a node, in order: one template per concern, each included only where it applies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provisioner.bootstrap.context import NodeContext


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    applies: Callable[[NodeContext], bool]

    @property
    def template(self) -> str:
        return f"steps/{self.name}.sh.j2"


STEPS: tuple[Step, ...] = (
    Step("prepare", lambda c: True),
    # first: a node with a public address is filtered before anything listens on it
    Step("host-firewall", lambda c: c.host_firewall is not None),
    # OFED first: the NVIDIA driver must be built against it for nvidia-peermem (GPUDirect RDMA)
    # (Google's GPUDirect-RDMA NICs come with Google's GPU images' RDMA stack; the gpudirect step adds gIB)
    Step(
        "infiniband",
        lambda c: (
            c.fabric in ("infiniband", "roce") or (c.fabric == "gpudirect-rdma" and c.gpudirect is None)
        ),
    ),
    Step("nvidia-driver", lambda c: c.nvidia),
    Step("fabric-manager", lambda c: c.nvidia and c.fabric_manager),
    Step("cuda", lambda c: c.nvidia and bool(c.cuda)),
    Step("rocm", lambda c: c.amd),
    Step("efa", lambda c: c.fabric == "efa"),
    Step("nccl", lambda c: c.role == "gpu"),
    # storage before what keeps its data there (container images, enroot's caches on scratch)
    Step("scratch", lambda c: bool(c.scratch_mount)),
    Step("lustre", lambda c: bool(c.lustre)),
    Step("nfs", lambda c: bool(c.nfs)),
    Step("volumes", lambda c: bool(c.volumes)),
    Step(
        "shared-home",
        lambda c: c.slurm is not None and bool(c.slurm.shared_home) and bool(c.lustre or c.nfs or c.volumes),
    ),
    Step("container-toolkit", lambda c: c.nvidia and bool(c.container_runtime)),
    # Google's GPUDirect plugin and RxDM come as container images: after the runtime and the NVIDIA toolkit
    Step("gpudirect", lambda c: c.nvidia and c.gpudirect is not None),
    Step("dcgm", lambda c: c.nvidia and c.dcgm),
    Step("apptainer", lambda c: c.apptainer),
    Step("enroot", lambda c: c.enroot),
    # Slurm last: a compute node joins only after the health gate passes (join.sh, run by bootstrap.sh)
    Step("munge", lambda c: c.slurm is not None),
    Step("slurm", lambda c: c.slurm is not None),
    Step("pyxis", lambda c: c.slurm is not None and c.slurm.pyxis and c.role != "controller"),
    Step("slurm-controller", lambda c: c.slurm is not None and c.role == "controller"),
    Step("slurm-login", lambda c: c.slurm is not None and c.role == "login"),
    Step("slurm-compute", lambda c: c.slurm is not None and c.role == "gpu"),
)


def steps_for(ctx: NodeContext) -> list[Step]:
    return [step for step in STEPS if step.applies(ctx)]
