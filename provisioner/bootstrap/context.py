"""NodeContext: everything the templates need to know about one pool's nodes, as typed, resolved values.

Templates never receive the plan or a dict: a provider difference arrives here as a field, never as a
template fork.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from provisioner.bootstrap.mounts import HostFirewall, LustreMount, NfsMount, VolumeMount
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

GIB_PLUGIN_IMAGE = "us-docker.pkg.dev/gce-ai-infra/gpudirect-gib/nccl-plugin-gib:v1.1.1"
"""Google's NCCL gIB plugin installer for GPUDirect-RDMA (A3 Ultra, A4): software.md §8,
container-engine-accelerators gpudirect-rdma/nccl-rdma-installer.yaml."""
TCPXO_RXDM_IMAGE = "us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo/tcpgpudmarxd-dev:v1.0.21"
TCPXO_PLUGIN_IMAGE = "us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo/nccl-plugin-gpudirecttcpx-dev:v1.0.15"
"""GPUDirect-TCPXO (A3 Mega): RxDM and NCCL FasTrak plugin, software.md §8 (gpudirect-tcpxo/nccl-test.yaml).
"""
TCPX_RXDM_IMAGE = "us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpx/tcpgpudmarxd-dev:v2.0.9"
TCPX_PLUGIN_IMAGE = "us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpx/nccl-plugin-gpudirecttcpx-dev:v3.1.9"
"""GPUDirect-TCPX (A3 High): RxDM and NCCL plugin, software.md §8 (gpudirect-tcpx/nccl-test.yaml)."""

_METADATA_IPV4 = {"aws": "169.254.169.254", "gcp": "169.254.169.254"}
_METADATA_IPV6 = {"aws": "fd00:ec2::254"}
"""The instance metadata service of a provider: EC2's IMDS (IPv4 and IPv6); Compute Engine's metadata server
answers dual-stack VMs over IPv4 only (Compute Engine "Configure IPv6 for instances": VMs reach the metadata
server only over 169.254.169.254). IPv6-only GCE instances (Preview) are not covered."""
_LUSTRE_CLIENT_REPO = {"aws": "fsx", "gcp": "gcp"}

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
class GpuDirectStack:
    """Google's GPUDirect host software for one fabric: the NCCL plugin, installed from its container image
    into `plugin_dir`, and the receive data path manager (RxDM) that TCPX/TCPXO need running on the host."""

    fabric: str
    plugin_image: str
    plugin_dir: str
    """Host folder the plugin image installs into (its libraries in `<plugin_dir>/lib64`)."""
    plugin_mount: str
    """Where the host's `plugin_dir` (or the folder holding it) is mounted in the installer container."""
    rxdm_image: str = ""
    """'' = no RxDM (GPUDirect-RDMA: the NICs do it)."""
    rxdm_args: tuple[str, ...] = ()
    rxdm_entrypoint: str = ""


def gpudirect_stack(fabric: Interconnect) -> GpuDirectStack | None:
    """The GPUDirect stack of a Google Cloud fabric, None for every other fabric."""
    if fabric is Interconnect.GPUDIRECT_RDMA:
        # the installer writes to /var/lib/gib in the container (nccl-rdma-installer.yaml); on VMs Google
        # installs to /usr/local/gib and jobs source /usr/local/gib/scripts/set_nccl_env.sh (software.md §8)
        return GpuDirectStack(fabric.value, GIB_PLUGIN_IMAGE, "/usr/local/gib", "/var/lib/gib")
    if fabric is Interconnect.GPUDIRECT_TCPXO:
        # the plugin installs to /var/lib/tcpxo/lib64 from a /var/lib mount (nccl-tcpxo-installer.yaml);
        # RxDM flags as in gpudirect-tcpxo/nccl-test.yaml (there run by /fts/entrypoint_rxdm_container.sh,
        # which public VM scripts reach as the image's entrypoint)
        return GpuDirectStack(
            fabric.value,
            TCPXO_PLUGIN_IMAGE,
            "/var/lib/tcpxo",
            "/var/lib",
            TCPXO_RXDM_IMAGE,
            ("--num_hops=2", "--num_nics=8", "--uid=", "--alsologtostderr"),
        )
    if fabric is Interconnect.GPUDIRECT_TCPX:
        # RxDM command line of gpudirect-tcpx/nccl-test.yaml (preset a3vm, unix socket folder /run/tcpx)
        return GpuDirectStack(
            fabric.value,
            TCPX_PLUGIN_IMAGE,
            "/var/lib/tcpx",
            "/var/lib",
            TCPX_RXDM_IMAGE,
            (
                "--gpu_nic_preset",
                "a3vm",
                "--gpu_shmem_type",
                "fd",
                "--uds_path",
                "/run/tcpx",
                "--setup_param",
                "--verbose 128 2 0 ",
            ),
            "/tcpgpudmarxd/build/app/tcpgpudmarxd",
        )
    return None


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
    """'fsx' when the Lustre client comes from AWS's FSx client repository, 'gcp' from Google's Managed Lustre
    client repository (Artifact Registry lustre-client-binaries), '' for the distro's packages."""
    role: str = "gpu"
    """'gpu' (a pool's node), or a scheduler's CPU support node: 'controller', 'login'."""
    slurm: SlurmNodeContext | None = None
    """The node's part in a Slurm cluster; None without Slurm."""
    nfs: tuple[NfsMount, ...] = ()
    """NFS shares to mount (Filestore, EFS, ...): known only after deploy, so the emitter passes them in."""
    gpudirect: GpuDirectStack | None = None
    """Google's GPUDirect plugin and RxDM of the node's fabric (TCPX, TCPXO, RDMA); None elsewhere."""
    metadata_ipv4: str = ""
    """The instance metadata service's IPv4 address ('' = no metadata guard for this provider)."""
    metadata_ipv6: str = ""
    """Its IPv6 address, where the provider has one ('' = none)."""
    volumes: tuple[VolumeMount, ...] = ()
    """Cloud volumes to mount (a Lambda filesystem, a Crusoe shared disk)."""
    host_firewall: HostFirewall | None = None
    """Inbound filtering on the node, where no cloud firewall of ours guards its public address."""

    @property
    def nvidia(self) -> bool:
        return self.gpu_vendor == GpuVendor.NVIDIA.value

    @property
    def amd(self) -> bool:
        return self.gpu_vendor == GpuVendor.AMD.value


def _settings(*pairs: tuple[str, str]) -> tuple[NcclSetting, ...]:
    return tuple(NcclSetting(name, value) for name, value in pairs)


_GPUDIRECT_NCCL: dict[Interconnect, tuple[NcclSetting, ...]] = {
    # gIB (A3 Ultra, A4). The gVNICs: cluster-toolkit examples/machine-learning/a3-ultragpu-8g/nccl-tests/
    # run-nccl-tests.sh (NCCL_NET=gIB, NCCL_SOCKET_IFNAME=enp0s19,enp192s20, Ubuntu's names); the rest as
    # Google's gib diagnostic image sets them from set_nccl_env.sh (seen in public Dockerfiles built on
    # nccl-plugin-gib-diagnostic; not read from the script itself). The machine's tuner and guest-config
    # files come from set_nccl_env.sh, which jobs source.
    Interconnect.GPUDIRECT_RDMA: _settings(
        ("NCCL_NET", "gIB"),
        ("NCCL_SOCKET_IFNAME", "enp0s19,enp192s20"),
        ("NCCL_CROSS_NIC", "0"),
        ("NCCL_NET_GDR_LEVEL", "PIX"),
        ("NCCL_P2P_NET_CHUNKSIZE", "131072"),
        ("NCCL_NVLS_CHUNKSIZE", "524288"),
        ("NCCL_IB_ADAPTIVE_ROUTING", "1"),
        ("NCCL_IB_QPS_PER_CONNECTION", "4"),
        ("NCCL_IB_TC", "52"),
        ("NCCL_IB_FIFO_TC", "84"),
        ("NCCL_DEBUG", "WARN"),
    ),
    # FasTrak (A3 Mega), the plugin in /var/lib/tcpxo/lib64: values of Google's nccl-env-profile.sh as
    # cluster-toolkit's a3-megagpu-8g NeMo README and Slurm scripts set them, with Ubuntu's interface names
    # (enp0s12 the host NIC, 8 GPU NICs)
    Interconnect.GPUDIRECT_TCPXO: _settings(
        ("NCCL_FASTRAK_CTRL_DEV", "enp0s12"),
        ("NCCL_FASTRAK_IFNAME", "enp6s0,enp7s0,enp13s0,enp14s0,enp134s0,enp135s0,enp141s0,enp142s0"),
        ("NCCL_SOCKET_IFNAME", "enp0s12"),
        ("NCCL_CROSS_NIC", "0"),
        ("NCCL_ALGO", "Ring,Tree"),
        ("NCCL_PROTO", "Simple"),
        ("NCCL_MIN_NCHANNELS", "4"),
        ("NCCL_P2P_NET_CHUNKSIZE", "524288"),
        ("NCCL_P2P_PCI_CHUNKSIZE", "524288"),
        ("NCCL_P2P_NVL_CHUNKSIZE", "1048576"),
        ("NCCL_FASTRAK_NUM_FLOWS", "2"),
        ("NCCL_FASTRAK_ENABLE_CONTROL_CHANNEL", "0"),
        ("NCCL_BUFFSIZE", "8388608"),
        ("NCCL_FASTRAK_USE_SNAP", "1"),
        ("NCCL_FASTRAK_USE_LLCM", "1"),
        ("NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY", "/dev/aperture_devices"),
        ("NCCL_NET_GDR_LEVEL", "PIX"),
        ("NCCL_FASTRAK_ENABLE_HOTPATH_LOGGING", "0"),
        ("NCCL_FASTRAK_PLUGIN_ACCEPT_TIMEOUT_MS", "600000"),
        ("NCCL_TUNER_PLUGIN", "libnccl-tuner.so"),
        ("NCCL_TUNER_CONFIG_PATH", "/var/lib/tcpxo/lib64/a3plus_tuner_config.textproto"),
        (
            "NCCL_SHIMNET_GUEST_CONFIG_CHECKER_CONFIG_FILE",
            "/var/lib/tcpxo/lib64/a3plus_guest_config.textproto",
        ),
        ("NCCL_NVLS_ENABLE", "0"),
        ("NCCL_DEBUG", "WARN"),
    ),
    # GPUDirect-TCPX (A3 High): container-engine-accelerators gpudirect-tcpx/nccl-config-latest.yaml, with
    # Ubuntu's interface names for eth0..eth4 (enp0s12; enp6s0, enp12s0, enp134s0, enp140s0: cluster-toolkit's
    # a3-highgpu-8g Slurm examples) and the RxDM's socket folder /run/tcpx
    Interconnect.GPUDIRECT_TCPX: _settings(
        ("NCCL_SOCKET_IFNAME", "enp0s12"),
        ("NCCL_GPUDIRECTTCPX_CTRL_DEV", "enp0s12"),
        ("NCCL_GPUDIRECTTCPX_SOCKET_IFNAME", "enp6s0,enp12s0,enp134s0,enp140s0"),
        (
            "NCCL_GPUDIRECTTCPX_TX_BINDINGS",
            "enp6s0:8-21,112-125;enp12s0:8-21,112-125;enp134s0:60-73,164-177;enp140s0:60-73,164-177",
        ),
        (
            "NCCL_GPUDIRECTTCPX_RX_BINDINGS",
            "enp6s0:22-35,124-139;enp12s0:22-35,124-139;enp134s0:74-87,178-191;enp140s0:74-87,178-191",
        ),
        ("NCCL_GPUDIRECTTCPX_UNIX_CLIENT_PREFIX", "/run/tcpx"),
        ("NCCL_GPUDIRECTTCPX_PROGRAM_FLOW_STEERING_WAIT_MICROS", "1000000"),
        ("NCCL_GPUDIRECTTCPX_FORCE_ACK", "0"),
        ("NCCL_GPUDIRECTTCPX_TX_COMPLETION_NANOSLEEP", "1000"),
        ("NCCL_CROSS_NIC", "0"),
        ("NCCL_ALGO", "Ring"),
        ("NCCL_PROTO", "Simple"),
        ("NCCL_NSOCKS_PERTHREAD", "4"),
        ("NCCL_SOCKET_NTHREADS", "1"),
        ("NCCL_MAX_NCHANNELS", "8"),
        ("NCCL_MIN_NCHANNELS", "8"),
        ("NCCL_DYNAMIC_CHUNK_SIZE", "524288"),
        ("NCCL_P2P_NET_CHUNKSIZE", "524288"),
        ("NCCL_P2P_PCI_CHUNKSIZE", "524288"),
        ("NCCL_P2P_NVL_CHUNKSIZE", "1048576"),
        ("NCCL_NET_GDR_LEVEL", "PIX"),
        ("NCCL_P2P_PXN_LEVEL", "0"),
        ("NCCL_DEBUG", "WARN"),
    ),
}
"""NCCL settings of Google's GPUDirect fabrics. Interface names are those of Google's Ubuntu images on the
A3/A4 machine types (the GKE manifests name the same NICs eth0..ethN)."""


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
    if fabric in _GPUDIRECT_NCCL:
        return _GPUDIRECT_NCCL[fabric]
    if fabric in (Interconnect.INFINIBAND, Interconnect.ROCE):
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
    nfs: tuple[NfsMount, ...] = (),
    volumes: tuple[VolumeMount, ...] = (),
    host_firewall: HostFirewall | None = None,
) -> NodeContext:
    software = pool.software
    provider = plan.provider.value
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
        lustre_client_repo=_LUSTRE_CLIENT_REPO.get(provider, ""),
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
        nfs=nfs,
        gpudirect=gpudirect_stack(pool.interconnect) if provider == "gcp" else None,
        metadata_ipv4=_METADATA_IPV4.get(provider, ""),
        metadata_ipv6=_METADATA_IPV6.get(provider, ""),
        volumes=volumes,
        host_firewall=host_firewall,
    )


def support_context(
    plan: ClusterPlan,
    role: str,
    lustre: tuple[LustreMount, ...],
    slurm: SlurmNodeContext,
    nfs: tuple[NfsMount, ...] = (),
) -> NodeContext:
    """A CPU node of the scheduler (controller, login): the OS and image of the cluster's first pool, no GPU
    software, the shared filesystems, and its Slurm role."""
    base = node_context(plan, plan.pools[0], lustre, slurm, nfs)
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
        gpudirect=None,
        role=role,
    )
