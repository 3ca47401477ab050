"""Workload schedulers a cluster declares: Slurm(...) or Kubernetes(...), told apart by `kind`."""

from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from provisioner.spec._base import SpecModel

SLURM_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,39}$"
"""Partition names: letters, digits, '_' and '-', starting with a letter (safe in slurm.conf and shells)."""
TIME_LIMIT = (
    r"^(INFINITE|UNLIMITED|[0-9]+|[0-9]+-[0-9]{1,2}(:[0-9]{2}(:[0-9]{2})?)?|[0-9]+:[0-9]{2}(:[0-9]{2})?)$"
)
"""Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or INFINITE."""


def _text_or_address(value: object) -> object:
    """Addresses are written as text ('10.0.0.10'): pydantic would read 5 as 0.0.0.5."""
    if value is None or isinstance(value, str | IPv4Address):  # None: the documented default
        return value
    raise ValueError(f"give an IPv4 address as text like '10.0.0.10', not {type(value).__name__}")


class SlurmPartition(SpecModel):
    """A Slurm partition over one or more GPU pools. Without any, each pool gets a partition of its name."""

    name: Annotated[str, Field(pattern=SLURM_NAME, description="Partition name, e.g. 'gpu' or 'debug'.")]
    pools: Annotated[
        list[str], Field(min_length=1, description="Names of the pools whose nodes are in the partition.")
    ]
    default: Annotated[bool, Field(description="Jobs that name no partition go here (at most one).")] = False
    max_time: Annotated[
        str,
        Field(
            pattern=TIME_LIMIT, description="Longest run time of a job: '2-00:00:00', '90', or 'INFINITE'."
        ),
    ] = "INFINITE"
    default_time: Annotated[
        str | None,
        Field(pattern=TIME_LIMIT, description="Run time of a job that asks for none; None = max_time."),
    ] = None
    exclusive: Annotated[
        bool, Field(description="Whole nodes per job (OverSubscribe=EXCLUSIVE), usual for training.")
    ] = False


class SlurmController(SpecModel):
    """The head node: slurmctld (and slurmdbd with accounting) on a small CPU shape, at a fixed address."""

    instance_type: Annotated[
        str | None, Field(description="Shape of the controller; None = the provider's default CPU shape.")
    ] = None
    root_volume_gib: Annotated[
        int, Field(ge=30, le=16384, description="Root disk in GiB (holds Slurm state and the database).")
    ] = 100
    private_ip: Annotated[
        IPv4Address | None,
        BeforeValidator(_text_or_address),
        Field(
            description="Private address of the controller, in the nodes' subnet; None = its 10th address "
            "(give one when that address is taken in an existing subnet)."
        ),
    ] = None
    protect: Annotated[
        bool,
        Field(
            description="Refuse to delete the controller with the cluster (Pulumi protect): its disk holds "
            "Slurm's job state and the accounting database."
        ),
    ] = True


class SlurmLogin(SpecModel):
    """Login nodes: where users ssh or connect with Session Manager to submit jobs."""

    count: Annotated[int, Field(ge=1, le=16, description="Number of login nodes (one group).")] = 1
    instance_type: Annotated[
        str | None, Field(description="Shape of a login node; None = the provider's default CPU shape.")
    ] = None
    root_volume_gib: Annotated[int, Field(ge=30, le=16384, description="Root disk in GiB.")] = 100


class Slurm(SpecModel):
    """A Slurm cluster: the controller, optional login nodes, and every GPU pool as dynamic compute nodes.

    Compute nodes join with `slurmd -Z` (dynamic nodes) and fetch the configuration from the controller
    (configless), so a pool of any size needs no per-node configuration and no controller restart."""

    kind: Annotated[Literal["slurm"], Field(description="Discriminator.")] = "slurm"
    version: Annotated[
        str,
        Field(
            pattern=r"^[0-9]{2}\.[0-9]{2}\.[0-9]{1,2}$",
            description="Slurm release built on every node, e.g. '25.11.4' (23.11 or newer: login nodes "
            "use sackd).",
        ),
    ] = "25.11.4"
    cluster_name: Annotated[
        str | None,
        Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="ClusterName; None = the cluster's name."),
    ] = None
    controller: Annotated[SlurmController, Field(description="The head node.")] = Field(
        default_factory=SlurmController
    )
    login: Annotated[
        SlurmLogin | None, Field(description="Login nodes; None = none (submit from the controller).")
    ] = None
    partitions: Annotated[
        list[SlurmPartition],
        Field(description="Partitions; empty = one per pool, named after it, the first one default."),
    ] = Field(default_factory=list)
    accounting: Annotated[
        bool,
        Field(description="Job accounting: slurmdbd with a MariaDB database on the controller (sacct)."),
    ] = False
    pyxis: Annotated[
        bool | None,
        Field(
            description="Pyxis (srun --container-image) with Enroot; None = on when the pools install "
            "Enroot (software.enroot)."
        ),
    ] = None
    health_check_interval: Annotated[
        int,
        Field(
            ge=30,
            le=86400,
            description="Seconds between two runs of the GPU health check on idle nodes "
            "(HealthCheckProgram); it also runs after every job (epilog).",
        ),
    ] = 300
    shared_home: Annotated[
        bool,
        Field(
            description="Put /home on the cluster's shared filesystem (its 'home' folder), so every node "
            "sees the same home directories. Needs a Lustre or NFS storage entry."
        ),
    ] = True
    metadata_root_only: Annotated[
        bool,
        Field(
            description="Only root may reach the instance metadata service on the cluster's nodes. The "
            "nodes' role reads the munge key: a user or job with the role's credentials could impersonate "
            "anyone on the cluster. Jobs then get no instance credentials (give them their own for buckets)."
        ),
    ] = True
    max_nodes: Annotated[
        int,
        Field(
            ge=1,
            le=65536,
            description="Most compute nodes that may be registered at once (MaxNodeCount); "
            "at least the pools' total.",
        ),
    ] = 1024


CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Control-plane log streams a managed Kubernetes can send to the provider's log service (EKS names)."""
ControlPlaneLog = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]


def _all_control_plane_logs() -> list[ControlPlaneLog]:
    return ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def _text_or_network(value: object) -> object:
    if isinstance(value, str | IPv4Network):
        return value
    raise ValueError(f"give an IPv4 range as text like '203.0.113.0/24', not {type(value).__name__}")


class KubernetesSystemPool(SpecModel):
    """CPU nodes for the cluster's own software (CoreDNS, the GPU operator's controller, metrics), so the
    GPU nodes run only GPU work."""

    instance_type: Annotated[
        str | None, Field(description="Shape of a system node; None = the provider's default CPU shape.")
    ] = None
    nodes: Annotated[int, Field(ge=1, le=50, description="Number of system nodes (2 survive one loss).")] = 2
    root_volume_gib: Annotated[int, Field(ge=20, le=16384, description="Root disk in GiB.")] = 50


class Kubernetes(SpecModel):
    """A managed Kubernetes cluster (EKS on AWS): every GPU pool is a node group whose nodes advertise
    `nvidia.com/gpu` (or `amd.com/gpu`), with the GPU software installed in the cluster by Helm."""

    kind: Annotated[Literal["kubernetes"], Field(description="Discriminator.")] = "kubernetes"
    version: Annotated[
        str | None,
        Field(
            pattern=r"^1\.[0-9]{2}$",
            description="Kubernetes minor version, e.g. '1.35'; None = the newest one in provisioner's data.",
        ),
    ] = None
    api_public_cidrs: Annotated[
        list[Annotated[IPv4Network, BeforeValidator(_text_or_network)]],
        Field(
            description="Ranges that may reach the API server over the internet; empty = a private endpoint "
            "only (reachable from the cluster's network: run `pulumi up` from there, e.g. a CI runner or a "
            "VPN, since Pulumi installs the in-cluster software through it)."
        ),
    ] = Field(default_factory=list)
    api_private_cidrs: Annotated[
        list[Annotated[IPv4Network, BeforeValidator(_text_or_network)]],
        Field(
            description="Ranges that may reach the private API endpoint on port 443 from inside the network "
            "or through it (a VPN, a peered network, a CI runner's subnet); the cluster's nodes always can."
        ),
    ] = Field(default_factory=list)
    extended_support: Annotated[
        bool,
        Field(
            description="When the version leaves standard support, stay on it under the provider's paid "
            "extended support (EKS: $0.60/hour instead of $0.10); False = the provider upgrades the control "
            "plane itself at the end of standard support."
        ),
    ] = False
    device_plugin: Annotated[
        Literal["gpu-operator", "device-plugin"],
        Field(
            description="NVIDIA pools: 'gpu-operator' (device plugin, GPU feature discovery, DCGM exporter, "
            "validation; the node image's driver and toolkit are kept) or 'device-plugin' (only NVIDIA's "
            "device plugin). AMD pools always get AMD's device plugin."
        ),
    ] = "gpu-operator"
    dcgm_exporter: Annotated[
        bool, Field(description="GPU metrics on :9400 from every NVIDIA node (with the GPU operator).")
    ] = True
    gpu_taint: Annotated[
        bool,
        Field(
            description="Taint GPU nodes `<vendor>.com/gpu=present:NoSchedule`, so only pods that tolerate "
            "it (GPU jobs) land there."
        ),
    ] = True
    control_plane_logs: Annotated[
        list[ControlPlaneLog],
        Field(description="Control-plane logs sent to the provider's log service (CloudWatch on AWS)."),
    ] = Field(default_factory=_all_control_plane_logs)
    system_pool: Annotated[KubernetesSystemPool, Field(description="CPU nodes for cluster software.")] = (
        Field(default_factory=KubernetesSystemPool)
    )
    admins: Annotated[
        list[str],
        Field(
            description="Provider principals given cluster admin (AWS: IAM role or user ARNs) besides the "
            "identity that creates the cluster."
        ),
    ] = Field(default_factory=list)
    protect: Annotated[
        bool,
        Field(
            description="Refuse to delete the cluster (the provider's deletion protection): its API holds "
            "every workload's state. Turn off, `pulumi up`, then destroy."
        ),
    ] = True


Scheduler = Annotated[Slurm | Kubernetes, Field(discriminator="kind")]
"""The schedulers, told apart by `kind`."""
