"""Google Cloud decisions as frozen data: what `resources.py` and its siblings create. Pure: no Pulumi.

Facts used, recalled unless a page is named (the session that wrote this had no Google Cloud account):
- Resource names: lowercase letters, digits and hyphens, starting with a letter, at most 63 characters;
  service account ids 6 to 30 characters; labels: keys and values of lowercase letters, digits, `_` and `-`,
  at most 63 characters, keys starting with a letter, at most 64 labels a resource.
- Boot disks: A3 Mega, A3 Ultra and A4 boot only from Hyperdisk (hyperdisk-balanced); the others take
  pd-balanced.
- Filestore and Managed Lustre minimum capacities: see `limits.py`.
- Identity-Aware Proxy's TCP forwarding comes from 35.235.240.0/20.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.errors import ProvisionerError
from provisioner.providers.gcp.compute_plan import TemplateSpec
from provisioner.providers.gcp.network_plan import FabricLayout, VpcSpec

IAP_RANGE = "35.235.240.0/20"
FABRIC_RANGE = "192.168.0.0/16"
"""Where the fabric subnets (GPU NIC and RDMA networks) are carved from, one /24 each."""
GKE_PODS_RANGE = ("pods", "172.16.0.0/14")
GKE_SERVICES_RANGE = ("services", "172.20.0.0/20")
PRIVATE_SERVICES_RANGE = "172.24.0.0/16"
"""Private services access (Managed Lustre's servers live in it)."""
RESERVED_RANGES = {
    "the fabric networks": FABRIC_RANGE,
    "GKE pods": GKE_PODS_RANGE[1],
    "GKE services": GKE_SERVICES_RANGE[1],
    "private services access": PRIVATE_SERVICES_RANGE,
}
"""Ranges the adapter uses besides the host network: `network.cidr` must not overlap them."""
HYPERDISK_BOOT = ("a3-megagpu-", "a3-ultragpu-", "a4-highgpu-", "a4x-")
LUSTRE_PORTS = ((988, 988),)
"""Lustre's LNet port (recalled from Google's Managed Lustre networking page)."""
BUCKET_ROLE = "roles/storage.objectUser"
"""What the nodes may do in the cluster's buckets: read, write and delete objects; never change the bucket."""


class GcpPlanError(ProvisionerError):
    """A declaration the Google Cloud adapter cannot lay out (a validation rule is missing upstream)."""


@dataclass(frozen=True, slots=True)
class FirewallSpec:
    key: str
    """Suffix of its resource name."""
    network: str
    """Key of the VPC it applies to ('host', 'gpu-0', ...)."""
    source_ranges: tuple[str, ...]
    protocols: tuple[tuple[str, tuple[str, ...]], ...]
    """(protocol, ports) pairs; no ports = every port of the protocol."""
    description: str
    priority: int = 1000


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    existing_network: str | None
    """Self link or name of the declared network (network.vpc_id); None = create the host network."""
    existing_subnet: str | None
    host_cidr: str
    host_mtu: int
    fabric_vpcs: tuple[VpcSpec, ...]
    """Every fabric network the pools need, once (pools of one fabric share them)."""
    firewall: tuple[FirewallSpec, ...]
    nat: bool
    """Cloud Router and Cloud NAT for egress: nodes have no external address."""
    secondary_ranges: tuple[tuple[str, str], ...]
    """(name, cidr) on the host subnet: GKE's pods and services."""
    private_services_range: str | None
    """The range given to private services access (Managed Lustre); None = not needed."""
    rdma_zone: str | None
    """Zone of the RoCE network profile, when a pool uses GPUDirect-RDMA."""


@dataclass(frozen=True, slots=True)
class IdentitySpec:
    account_id: str
    display_name: str
    project_roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DiskSpec:
    image: str
    """Image self link or family path ('projects/P/global/images/family/F')."""
    size_gib: int
    disk_type: str
    kms_key: str | None


@dataclass(frozen=True, slots=True)
class AcceleratorSpec:
    type: str
    count: int


@dataclass(frozen=True)
class PoolSpec:
    name: str
    """The pool's name in the declaration."""
    resource: str
    """Resource name stem: '{cluster}-{pool}'."""
    zone: str
    template: TemplateSpec
    layout: FabricLayout
    disk: DiskSpec
    accelerator: AcceleratorSpec | None
    """Attached GPUs (N1); None where the machine type bundles them (A2, A3, A4, G2)."""
    labels: dict[str, str]
    network_tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FilestoreSpec:
    key: str
    name: str
    tier: str
    capacity_gib: int
    share: str
    location: str
    """A zone (BASIC_*, ZONAL) or the region (REGIONAL)."""
    mount_point: str
    protect: bool


@dataclass(frozen=True, slots=True)
class LustreSpec:
    key: str
    instance_id: str
    filesystem: str
    capacity_gib: int
    throughput_mb_per_tib: int
    zone: str
    mount_point: str
    protect: bool
    gke_support: bool


@dataclass(frozen=True, slots=True)
class BucketSpec:
    key: str
    name_prefix: str
    location: str
    versioning: bool
    kms_key: str | None
    protect: bool


@dataclass(frozen=True)
class GcpPlan:
    name: str
    project: str | None
    """None = the stack's `gcp:project`."""
    region: str
    zone: str
    """The cluster's zone: the first pool's (support nodes and zonal storage go there)."""
    labels: dict[str, str]
    network: NetworkSpec
    identity: IdentitySpec
    pools: tuple[PoolSpec, ...]
    filestores: tuple[FilestoreSpec, ...] = ()
    lustres: tuple[LustreSpec, ...] = ()
    buckets: tuple[BucketSpec, ...] = ()
    kms_key: str | None = None
    public_ips: bool = False

    def pool(self, name: str) -> PoolSpec:
        return next(p for p in self.pools if p.name == name)
