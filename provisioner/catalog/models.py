"""Frozen catalog records: GPU models and provider offers (shapes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from provisioner.spec.enums import GpuVendor, Interconnect


def parse_version(text: str) -> tuple[int, ...]:
    """'570.133.20' -> (570, 133, 20). Only digits and dots are accepted."""
    return tuple(int(part) for part in text.split("."))


@dataclass(frozen=True, slots=True)
class GpuModel:
    name: str
    aliases: tuple[str, ...]
    vendor: GpuVendor
    architecture: str
    memory_gb: int
    form_factor: str
    fabric_manager: bool
    open_kernel_required: bool
    min_driver: str | None
    cuda_floor: str | None
    rocm_floor: str | None
    source: str
    verified: bool


@dataclass(frozen=True, slots=True)
class Price:
    per_hour: float
    as_of: date
    region: str
    source: str


@dataclass(frozen=True, slots=True)
class StoragePrice:
    """What one kind of storage costs on one provider (data/storage.csv)."""

    provider: str
    kind: str
    """The declaration's storage kind: lustre, nfs, bucket."""
    variant: str
    """What the price depends on besides size (AWS Lustre: MB/s per TiB; GCP NFS: the Filestore tier)."""
    region: str
    """A region, or '*' for every region."""
    per_gib_month: float
    billing: str
    """'provisioned' (the size set up is billed) or 'used' (what is stored: unknown before use)."""
    min_gib: int
    """The smallest size billed (a provisioned service's minimum); 0 = none."""
    as_of: date
    source: str


@dataclass(frozen=True, slots=True)
class Offer:
    """One shape of one provider: what a single node is."""

    provider: str
    instance_type: str
    gpu: str | None
    accelerator: str | None
    gpu_count: int
    vcpus: int
    memory_gib: float
    local_nvme_gb: int
    fabric: Interconnect
    fabric_interfaces: int
    network_gbps: float
    nvswitch: bool
    price: Price | None
    regions: frozenset[str] = field(default_factory=frozenset)
    zones: frozenset[str] = field(default_factory=frozenset)
    """Zones where the shape is offered (empty = not recorded: any zone of its regions)."""
    attached_accelerator: str | None = None
    """The accelerator type attached to a general-purpose machine type (Google Cloud's N1 + nvidia-tesla-t4);
    None = the GPUs come with the shape."""

    def zones_in(self, region: str) -> list[str]:
        """The recorded zones of one region, sorted."""
        return sorted(z for z in self.zones if z.rsplit("-", 1)[0] == region)

    @property
    def is_gpu(self) -> bool:
        return self.gpu is not None

    @property
    def has_fabric(self) -> bool:
        return self.fabric is not Interconnect.NONE


@dataclass(frozen=True, slots=True)
class ImageDefault:
    provider: str
    os: str
    lookup: str | None
    """How the image is found at deploy time: an SSM public parameter (AWS), an image family (GCP)."""
    nvidia_driver: str | None
    description: str


@dataclass(frozen=True, slots=True)
class CpuShape:
    """A CPU-only shape for support nodes (a scheduler's controller and login nodes)."""

    provider: str
    instance_type: str
    vcpus: int
    memory_gib: float
    price: Price | None


@dataclass(frozen=True, slots=True)
class KubernetesVersion:
    minor: str
    released: date
    end_of_standard_support: date


@dataclass(frozen=True, slots=True)
class ManagedKubernetes:
    """A provider's managed Kubernetes: its versions, control-plane fee and node images."""

    provider: str
    service: str
    default_version: str
    versions: tuple[KubernetesVersion, ...]
    price: Price | None
    extended_support_price: Price | None
    images: dict[str, str]
    """Node image per kind ('nvidia', 'nvidia-arm64', 'standard'): the provider's image type name."""
    image_ships_driver: bool
    root_device: str | None
    manages_device_plugin: bool = False
    """The service installs the GPU driver and device plugin itself (GKE): no device-plugin chart."""

    def version(self, minor: str) -> KubernetesVersion | None:
        return next((v for v in self.versions if v.minor == minor), None)


@dataclass(frozen=True, slots=True)
class HelmChart:
    """A chart provisioner installs, pinned."""

    key: str
    repository: str
    chart: str
    version: str
    namespace: str
    daemonset_selector: str
    """Label selector of the device plugin daemonset the chart runs (how `verify` finds it)."""
    source: str
    daemonset_name: str | None = None
    """Its name, where the chart runs other daemonsets with the same labels."""
    fabric: str | None = None
    """The fabric ('efa') whose device plugin the chart is; None = not a fabric's."""
    resource: str | None = None
    """The extended resource a fabric's device plugin advertises ('vpc.amazonaws.com/efa')."""
