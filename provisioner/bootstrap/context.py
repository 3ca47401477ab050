"""NodeContext: everything the templates need to know about one pool's nodes, as typed, resolved values.

Templates never receive the plan or a dict: a provider difference arrives here as a field, never as a
template fork.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from provisioner.bootstrap.mounts import LustreMount
from provisioner.bootstrap.slurm import SlurmNodeContext
from provisioner.plan import ClusterPlan, PoolPlan
from provisioner.spec import ContainerRuntime, GpuVendor, Interconnect, OperatingSystem

DEFAULT_DRIVER_BRANCH = "580"
"""Installed on plain OS images when no branch is declared: R580, the current long-term-support branch
(software.md §2; the DLAMI of 2026-01 ships 580.105.08)."""
OPEN_MODULES_DEFAULT_FROM = 560
"""Since R560 the open kernel modules are NVIDIA's default and recommended flavour (software.md §3)."""
CONTAINER_TOOLKIT_VERSION = "1.20.0"
"""NVIDIA Container Toolkit pinned by the GPU Operator v26.7.0 (software.md §6, §11)."""
AWS_OFI_NCCL_VERSION = "1.21.1"
EFA_INSTALLER_VERSION = "1.50.0"
"""What the DLAMI of 2026-10 carries (software.md §7); installed on plain images."""

_REPO_PATH = {
    OperatingSystem.UBUNTU_22_04: "ubuntu2204",
    OperatingSystem.UBUNTU_24_04: "ubuntu2404",
    OperatingSystem.ROCKY_9: "rhel9",
}
_CODENAME = {OperatingSystem.UBUNTU_22_04: "jammy", OperatingSystem.UBUNTU_24_04: "noble"}


@dataclass(frozen=True, slots=True)
class NcclSetting:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class NodeContext:
    cluster: str
    provider: str
    pool: str
    os: str
    os_family: str
    """'debian' (apt) or 'rhel' (dnf)."""
    nvidia_repo: str
    """Path segment of NVIDIA's package repositories for this OS, e.g. 'ubuntu2204', 'rhel9'."""
    codename: str
    gpu: str
    gpu_vendor: str
    gpus_per_node: int
    gpu_ready_image: bool
    """The provider's GPU image (driver, toolkit, fabric stack preinstalled): detect and skip."""
    nvidia_driver_branch: str
    nvidia_driver_version: str
    """Exact version when declared as such, else '' (the branch's newest)."""
    keep_image_driver: bool
    """On a GPU image with no declared driver: never touch the driver."""
    open_kernel_modules: bool
    cuda: str
    cuda_package: str
    fabric_manager: bool
    container_runtime: str
    container_toolkit_version: str
    rocm: str
    fabric: str
    fabric_interfaces: int
    efa_installer_version: str
    aws_ofi_nccl_version: str
    nccl: tuple[NcclSetting, ...]
    dcgm: bool
    apptainer: bool
    enroot: bool
    scratch_mount: str
    lustre: tuple[LustreMount, ...]
    lustre_client_repo: str
    """'fsx' when the Lustre client comes from AWS's FSx client repository, '' for the distro's packages."""
    role: str = "gpu"
    """'gpu' (a pool's node), or a scheduler's CPU support node: 'controller', 'login'."""
    slurm: SlurmNodeContext | None = None
    """The node's part in a Slurm cluster; None without Slurm."""

    @property
    def nvidia(self) -> bool:
        return self.gpu_vendor == GpuVendor.NVIDIA.value

    @property
    def amd(self) -> bool:
        return self.gpu_vendor == GpuVendor.AMD.value


def nccl_settings(fabric: Interconnect) -> tuple[NcclSetting, ...]:
    """NCCL (or RCCL) settings per fabric: written to /etc/nccl.conf on the nodes, and to the `nccl-<pool>`
    ConfigMap of a Kubernetes cluster (provisioner.k8s.render), so that the node image and the pods agree."""
    if fabric is Interconnect.EFA:
        # aws-ofi-nccl maps NCCL onto libfabric's EFA provider (software.md §7)
        return (
            NcclSetting("NCCL_NET", "ofi"),
            NcclSetting("FI_PROVIDER", "efa"),
            NcclSetting("NCCL_SOCKET_IFNAME", "^lo,docker,veth"),
            NcclSetting("NCCL_DEBUG", "WARN"),
        )
    if fabric in (Interconnect.INFINIBAND, Interconnect.ROCE, Interconnect.GPUDIRECT_RDMA):
        return (
            NcclSetting("NCCL_NET", "IB"),
            NcclSetting("NCCL_IB_HCA", "^mlx5_bond"),
            NcclSetting("NCCL_SOCKET_IFNAME", "^lo,docker,veth"),
            NcclSetting("NCCL_DEBUG", "WARN"),
        )
    return (
        NcclSetting("NCCL_NET", "Socket"),
        NcclSetting("NCCL_SOCKET_IFNAME", "^lo,docker,veth"),
        NcclSetting("NCCL_DEBUG", "WARN"),
    )


def _driver(pool: PoolPlan) -> tuple[str, str, bool]:
    """(branch, exact version or '', keep the image's driver)."""
    declared = pool.software.nvidia_driver
    gpu_image = pool.software.image is None and pool.software.image_lookup is not None
    if declared is None:
        image = pool.software.image_driver
        branch = image.split(".")[0] if gpu_image and image else DEFAULT_DRIVER_BRANCH
        return branch, "", gpu_image
    branch = declared.split(".")[0]
    return branch, declared if "." in declared else "", False


def node_context(
    plan: ClusterPlan,
    pool: PoolPlan,
    lustre: tuple[LustreMount, ...] = (),
    slurm: SlurmNodeContext | None = None,
) -> NodeContext:
    software = pool.software
    branch, exact, keep = _driver(pool)
    # packages and install folders are per major.minor (cuda-toolkit-12-8, /usr/local/cuda-12.8)
    cuda = ".".join((software.cuda or "").split(".")[:2])
    return NodeContext(
        cluster=plan.name,
        provider=plan.provider.value,
        pool=pool.name,
        os=software.os.value,
        os_family="rhel" if software.os is OperatingSystem.ROCKY_9 else "debian",
        nvidia_repo=_REPO_PATH[software.os],
        codename=_CODENAME.get(software.os, ""),
        gpu=pool.gpu,
        gpu_vendor=pool.gpu_vendor.value,
        gpus_per_node=pool.gpus_per_node,
        gpu_ready_image=software.image is None and software.image_lookup is not None,
        nvidia_driver_branch=branch,
        nvidia_driver_version=exact,
        keep_image_driver=keep,
        open_kernel_modules=software.open_kernel_modules or int(branch) >= OPEN_MODULES_DEFAULT_FROM,
        cuda=cuda,
        cuda_package=f"cuda-toolkit-{cuda.replace('.', '-')}" if cuda else "",
        lustre_client_repo="fsx" if plan.provider.value == "aws" else "",
        fabric_manager=software.fabric_manager,
        container_runtime=software.container_runtime.value
        if software.container_runtime is not ContainerRuntime.NONE
        else "",
        container_toolkit_version=CONTAINER_TOOLKIT_VERSION,
        rocm=software.rocm or "",
        fabric=pool.interconnect.value if pool.interconnect is not Interconnect.NONE else "",
        fabric_interfaces=pool.fabric_interfaces,
        efa_installer_version=EFA_INSTALLER_VERSION,
        aws_ofi_nccl_version=AWS_OFI_NCCL_VERSION,
        nccl=nccl_settings(pool.interconnect),
        dcgm=software.dcgm,
        apptainer=software.apptainer,
        enroot=software.enroot,
        scratch_mount=pool.local_scratch or "",
        lustre=lustre,
        slurm=slurm,
    )


def support_context(
    plan: ClusterPlan, role: str, lustre: tuple[LustreMount, ...], slurm: SlurmNodeContext
) -> NodeContext:
    """A CPU node of the scheduler (controller, login): the OS and image of the cluster's first pool, no GPU
    software, the shared filesystems, and its Slurm role."""
    base = node_context(plan, plan.pools[0], lustre, slurm)
    return replace(
        base,
        pool=role,
        gpu="none",
        gpu_vendor="",
        gpus_per_node=0,
        keep_image_driver=True,
        cuda="",
        cuda_package="",
        fabric_manager=False,
        container_runtime="",
        rocm="",
        fabric="",
        fabric_interfaces=0,
        nccl=(),
        dcgm=False,
        apptainer=False,
        enroot=False,
        scratch_mount="",
        role=role,
    )
