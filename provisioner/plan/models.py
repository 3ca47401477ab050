"""A plan: everything resolved, pure frozen data, serializable to JSON with a schema version."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner.spec import (
    CapacityKind,
    ContainerRuntime,
    GpuVendor,
    Interconnect,
    Network,
    OperatingSystem,
    ProviderName,
    Storage,
)
from provisioner.spec.options import ProviderOptions
from provisioner.validate.findings import Finding

SCHEMA_VERSION = 1
HOURS_PER_MONTH = 730.0


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SoftwarePlan(_Frozen):
    os: OperatingSystem
    image: Annotated[str | None, Field(description="Custom image id, or None for the provider's GPU image.")]
    image_lookup: Annotated[str | None, Field(description="How the default image is found (e.g. SSM path).")]
    nvidia_driver: Annotated[str | None, Field(description="Driver to install; None = keep the image's.")]
    image_driver: Annotated[str | None, Field(description="Driver the default image is known to carry.")]
    cuda: str | None
    rocm: str | None
    container_runtime: ContainerRuntime
    apptainer: bool
    enroot: bool
    extra_user_data: Annotated[str | None, Field(description="The user's own first-boot part, if any.")]
    dcgm: Annotated[bool, Field(description="DCGM is installed (NVIDIA nodes only).")]
    fabric_manager: Annotated[bool, Field(description="nvidia-fabricmanager must run (NVSwitch baseboard).")]
    open_kernel_modules: Annotated[bool, Field(description="NVIDIA open kernel modules are required.")]


class PoolPlan(_Frozen):
    name: str
    gpu: str
    gpu_vendor: GpuVendor
    instance_type: str
    nodes: int
    gpus_per_node: int
    total_gpus: int
    vcpus_per_node: int
    memory_gib_per_node: float
    local_nvme_gb_per_node: int
    interconnect: Annotated[Interconnect, Field(description="Resolved fabric ('none' = TCP only).")]
    fabric_interfaces: Annotated[
        int, Field(description="Fabric interfaces per node (EFA: one per network card).")
    ]
    network_gbps: float
    placement: Annotated[
        str | None,
        Field(
            description="'cluster' = create a cluster placement group (multi-node fabric pools that are not "
            "on a reservation and name no existing group), else None."
        ),
    ]
    placement_group: Annotated[str | None, Field(description="Existing placement group to launch into.")]
    capacity: CapacityKind
    reservation_id: str | None
    zone: Annotated[
        str | None, Field(description="The pool's zone: declared, or the catalog's first on zonal providers.")
    ]
    attached_accelerator: Annotated[
        str | None,
        Field(description="Accelerator attached to a general-purpose shape (GCP N1 + T4); None = built in."),
    ] = None
    root_volume_gib: int
    local_scratch: Annotated[str | None, Field(description="Mount point of striped local NVMe, if any.")]
    price_per_node_hour: Annotated[
        float | None, Field(description="List price per node-hour; None = unknown.")
    ]
    price_as_of: str | None
    price_source: str | None
    labels: dict[str, str]
    software: SoftwarePlan

    @property
    def price_per_hour(self) -> float | None:
        return None if self.price_per_node_hour is None else self.price_per_node_hour * self.nodes


class SupportNodePlan(_Frozen):
    """CPU nodes a scheduler needs besides the GPU pools (the Slurm controller, login nodes)."""

    role: Annotated[str, Field(description="'controller' or 'login'.")]
    instance_type: str
    count: int
    vcpus: Annotated[int | None, Field(description="vCPUs per node; None = a shape the catalog lacks.")]
    memory_gib: float | None
    root_volume_gib: int
    price_per_node_hour: Annotated[float | None, Field(description="List price; None = unknown.")]
    price_as_of: str | None
    price_source: str | None

    @property
    def price_per_hour(self) -> float | None:
        return None if self.price_per_node_hour is None else self.price_per_node_hour * self.count


class SlurmNodeSetPlan(_Frozen):
    """How one GPU pool's nodes register as Slurm dynamic nodes (`slurmd -Z --conf ...`)."""

    pool: str
    nodeset: Annotated[str, Field(description="Nodeset name in slurm.conf, selected by `feature`.")]
    feature: Annotated[str, Field(description="The feature every node of the pool has: 'pool-<name>'.")]
    features: Annotated[list[str], Field(description="All features: pool, GPU model, vendor, fabric.")]
    gres_type: Annotated[str, Field(description="GRES type, the GPU model in lower case: 'h100'.")]
    gres: Annotated[str, Field(description="The node's GRES: 'gpu:h100:8'.")]
    gpus_per_node: int
    gpu_vendor: GpuVendor
    cpus: int
    real_memory_mb: Annotated[
        int, Field(description="Memory Slurm may hand out (the rest is kept for the OS and daemons).")
    ]
    nodes: int


class SlurmPartitionPlan(_Frozen):
    name: str
    pools: list[str]
    nodesets: list[str]
    default: bool
    max_time: str
    default_time: str | None
    exclusive: bool


class SlurmPlan(_Frozen):
    kind: Literal["slurm"] = "slurm"
    version: str
    cluster_name: str
    controller: SupportNodePlan
    login: SupportNodePlan | None
    nodesets: list[SlurmNodeSetPlan]
    partitions: list[SlurmPartitionPlan]
    accounting: bool
    pyxis: bool
    health_check_interval: int
    shared_home: Annotated[
        str | None, Field(description="Folder of the shared filesystem bound on /home; None = local homes.")
    ]
    max_nodes: int
    controller_ip: Annotated[
        str | None, Field(description="Declared address of the controller; None = the provider's choice.")
    ] = None
    controller_protect: Annotated[bool, Field(description="The controller is Pulumi-protected.")] = True
    metadata_root_only: Annotated[
        bool, Field(description="Only root may reach the instance metadata service on the nodes.")
    ] = True

    @property
    def support_nodes(self) -> list[SupportNodePlan]:
        return [self.controller, *([self.login] if self.login else [])]


class TaintPlan(_Frozen):
    key: str
    value: str
    effect: Annotated[str, Field(description="Kubernetes effect: 'NoSchedule'.")] = "NoSchedule"


class KubeNodeGroupPlan(_Frozen):
    """One GPU pool as a Kubernetes node group: its labels, taints and what each node must advertise."""

    pool: str
    nodes: int
    gpu_resource: Annotated[str, Field(description="Extended resource of the GPUs: 'nvidia.com/gpu'.")]
    gpus_per_node: int
    fabric_resource: Annotated[
        str | None, Field(description="Extended resource of the fabric devices ('vpc.amazonaws.com/efa').")
    ]
    fabric_devices_per_node: int
    labels: dict[str, str]
    taints: list[TaintPlan]
    image: Annotated[str, Field(description="The provider's GPU node image (EKS: an AMI type).")]

    @property
    def selector(self) -> str:
        """Label selector of the pool's nodes."""
        return f"{POOL_LABEL}={self.pool}"


POOL_LABEL = "provisioner.dev/pool"
"""Node label naming a node's pool (Kubernetes label keys take no ':', so not the tag key)."""


class HelmReleasePlan(_Frozen):
    """A Helm release provisioner installs, pinned; its values are rendered from templates/kubernetes/."""

    name: str
    chart: str
    repository: str
    version: str
    namespace: str
    purpose: str
    device_plugin_selector: Annotated[
        str | None,
        Field(description="Label selector of the device plugin daemonset it runs (checked by `verify`)."),
    ] = None
    resource: Annotated[
        str | None, Field(description="Extended resource its device plugin advertises ('nvidia.com/gpu').")
    ] = None
    device_plugin_daemonset: Annotated[
        str | None,
        Field(description="Name of that daemonset, where the chart runs others with the same labels."),
    ] = None


class ServiceFeePlan(_Frozen):
    """An hourly fee that is not a node: a managed control plane."""

    name: str
    price_per_hour: float | None
    price_as_of: str | None
    price_source: str | None


class KubernetesPlan(_Frozen):
    kind: Literal["kubernetes"] = "kubernetes"
    service: Annotated[str, Field(description="The managed Kubernetes service: 'EKS'.")]
    version: str
    end_of_standard_support: Annotated[
        str | None, Field(description="Date the version leaves standard support; None = not in our data.")
    ]
    api_public_cidrs: Annotated[
        list[str], Field(description="Ranges allowed to the public API endpoint; empty = private only.")
    ]
    api_private_cidrs: Annotated[
        list[str], Field(description="Ranges allowed to the private endpoint (besides the nodes).")
    ] = Field(default_factory=list)
    extended_support: Annotated[
        bool, Field(description="Stay on the version under paid extended support after standard support.")
    ] = False
    control_plane_logs: list[str]
    system: Annotated[SupportNodePlan, Field(description="The CPU node group for cluster software.")]
    system_image: str
    node_groups: list[KubeNodeGroupPlan]
    releases: list[HelmReleasePlan]
    device_plugin: str
    dcgm_exporter: bool
    gpu_taint: bool
    admins: list[str]
    protect: bool
    image_ships_driver: Annotated[
        bool, Field(description="The GPU node image carries the driver and container toolkit.")
    ]
    control_plane: ServiceFeePlan

    @property
    def support_nodes(self) -> list[SupportNodePlan]:
        return [self.system]

    def release(self, name: str) -> HelmReleasePlan | None:
        return next((r for r in self.releases if r.name == name), None)


class StorageCostPlan(_Frozen):
    """What one declared storage item costs: priced from the catalog by its size, or billed for what is
    stored (a bucket, an elastic share: no size to price before use), or unknown (no catalog price)."""

    name: str
    kind: str
    billing: Annotated[
        Literal["provisioned", "used", "unknown"],
        Field(description="provisioned: its size is billed; used: what is stored; unknown: no price known."),
    ]
    size_gib: Annotated[int | None, Field(description="The size billed; None where use decides.")]
    price_per_gib_month: Annotated[float | None, Field(description="List price; None = unknown.")]
    price_as_of: str | None
    price_source: str | None

    @property
    def per_month(self) -> float | None:
        if self.billing != "provisioned" or self.size_gib is None or self.price_per_gib_month is None:
            return None
        return round(self.size_gib * self.price_per_gib_month, 2)

    @property
    def price_per_hour(self) -> float | None:
        month = self.per_month
        return None if month is None else round(month / HOURS_PER_MONTH, 4)


class Cost(_Frozen):
    per_hour: Annotated[
        float | None, Field(description="Total list price per hour; None when a pool is unpriced.")
    ]
    per_month: Annotated[float | None, Field(description=f"per_hour x {HOURS_PER_MONTH:g} hours.")]
    known_per_hour: Annotated[float, Field(description="Sum over the pools whose price is known.")]
    unpriced_pools: Annotated[
        list[str], Field(description="Pools, support nodes and fees whose price is unknown.")
    ]
    note: str
    usage_billed: Annotated[
        list[str],
        Field(description="Storage billed for what it holds (buckets, elastic shares): not in the total."),
    ] = Field(default_factory=list)


class ClusterPlan(_Frozen):
    schema_version: int = SCHEMA_VERSION
    name: str
    provider: ProviderName
    region: str
    pools: list[PoolPlan]
    storage: list[Storage]
    network: Network
    tags: dict[str, str]
    options: ProviderOptions | None
    findings: list[Finding]
    cost: Cost
    storage_costs: Annotated[
        list[StorageCostPlan], Field(description="The cost of each declared storage item, in order.")
    ] = Field(default_factory=list)
    scheduler: Annotated[
        SlurmPlan | KubernetesPlan | None,
        Field(discriminator="kind", description="The scheduler, resolved; None = none."),
    ] = None

    @property
    def ok(self) -> bool:
        return not any(f.severity.value == "error" for f in self.findings)

    def pool_named(self, name: str) -> PoolPlan | None:
        return next((p for p in self.pools if p.name == name), None)

    @property
    def slurm(self) -> SlurmPlan | None:
        return self.scheduler if isinstance(self.scheduler, SlurmPlan) else None

    @property
    def kubernetes(self) -> KubernetesPlan | None:
        return self.scheduler if isinstance(self.scheduler, KubernetesPlan) else None
