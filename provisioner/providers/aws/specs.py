"""Frozen data of the AWS layout (what `plan.py` decides and the emit modules create). Pure: no Pulumi."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from provisioner.errors import ProvisionerError
from provisioner.plan import PoolPlan

SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"
"""Managed policy that lets Session Manager reach the nodes (instead of SSH)."""

ROOT_DEVICE = "/dev/sda1"
"""Root device of the Ubuntu Deep Learning AMIs (a custom AMI with another root device needs its own)."""

LUSTRE_PORTS: tuple[tuple[int, int], ...] = ((988, 988), (1018, 1023))
"""TCP ports FSx for Lustre servers and clients talk on."""

MAX_TAGS = 50
"""EC2, ASG, FSx and S3 accept at most 50 user tags per resource."""

BUCKET_PREFIX_MAX = 37
"""S3 bucket names are at most 63 characters; a generated name appends a 26-character unique suffix."""

ASG_WAIT_FOR_CAPACITY = "20m"
"""How long `pulumi up` waits for a node group to reach its size.

Not "0" (do not wait): when EC2 has no capacity for the shape (InsufficientInstanceCapacity, an expired
capacity block, a spot shortage), waiting is what turns it into a failed `pulumi up` instead of a green
deploy with no GPU node. 20 minutes leaves room for large GPU shapes, which take minutes to launch and pass
their status checks."""

MANAGED_TAG_KEYS = ("provisioner:cluster", "managed-by")

Direction = Literal["ingress", "egress"]


class AwsPlanError(ProvisionerError):
    """A declaration that passed validation but cannot be laid out on AWS (a rule is missing upstream)."""


@dataclass(frozen=True, slots=True)
class SgRule:
    """One security group rule. `peer` names another security group of the plan ("self" = the rule's own)."""

    key: str
    """Stable suffix of the rule's resource name (never an index, so reordering changes no URN)."""
    direction: Direction
    protocol: str
    """"-1" (all), "tcp", "udp"."""
    description: str
    from_port: int | None = None
    to_port: int | None = None
    peer: str | None = None
    cidr_ipv4: str | None = None
    cidr_ipv6: str | None = None


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    create: bool
    """True = create a VPC with a private and a public subnet; False = use `vpc_id`/`subnet_id`."""
    zone: str | None
    """The one availability zone of the created subnets (a cluster placement group spans one AZ); None with
    an existing network, whose subnet decides."""
    vpc_id: str | None
    subnet_id: str | None
    vpc_cidr: str | None
    """CIDRs of the created VPC and subnets; None with an existing network."""
    private_cidr: str | None
    public_cidr: str | None
    s3_service: str
    """Service name of the S3 gateway endpoint."""
    cluster_sg_rules: tuple[SgRule, ...]


@dataclass(frozen=True, slots=True)
class InterfaceSpec:
    network_card_index: int
    device_index: int
    interface_type: str | None
    """"efa" (EFA with ENA), "efa-only" (RDMA only, no IP address) or None (a plain ENA interface)."""
    associate_public_ip: bool | None
    """Set on the primary interface only; EC2 cannot give public IPs to several interfaces at launch."""


@dataclass(frozen=True, slots=True)
class CapacitySpec:
    market_type: str | None
    """None (on-demand), "spot" or "capacity-block"."""
    reservation_id: str | None


@dataclass(frozen=True, slots=True)
class RootVolumeSpec:
    device_name: str
    size_gib: int
    volume_type: str
    kms_key_id: str | None
    encrypted: bool = True
    delete_on_termination: bool = True


@dataclass(frozen=True, slots=True)
class MetadataSpec:
    """Instance metadata service: IMDSv2 only, not reachable from containers one hop away."""

    http_endpoint: str = "enabled"
    http_tokens: str = "required"
    http_put_response_hop_limit: int = 1


@dataclass(frozen=True)
class PoolSpec:
    name: str
    resource_name: str
    source: PoolPlan
    instance_type: str
    nodes: int
    placement_strategy: str | None
    image_id: str | None
    """A custom AMI id; None = resolve `image_parameter` (an SSM public parameter) at deploy time."""
    image_parameter: str | None
    root_volume: RootVolumeSpec
    interfaces: tuple[InterfaceSpec, ...]
    capacity: CapacitySpec
    instance_tags: dict[str, str]
    key_name: str | None
    metadata: MetadataSpec = field(default_factory=MetadataSpec)
    suspended_processes: tuple[str, ...] = ("AZRebalance",)
    wait_for_capacity_timeout: str = ASG_WAIT_FOR_CAPACITY


@dataclass(frozen=True)
class LustreSpec:
    name: str
    resource_name: str
    mount_point: str
    storage_capacity: int
    per_unit_storage_throughput: int
    kms_key_id: str | None
    protect: bool
    sg_rules: tuple[SgRule, ...]
    """Rules of the filesystem's own security group (peers: "self" and "cluster")."""
    client_rules: tuple[SgRule, ...]
    """Rules added to the cluster security group so that nodes accept the servers' connections."""
    sg_key: str
    """How `client_rules` name the filesystem's security group (their `peer`)."""
    deployment_type: str = "PERSISTENT_2"
    data_compression_type: str = "LZ4"
    file_system_type_version: str = "2.15"


@dataclass(frozen=True)
class BucketSpec:
    name: str
    resource_name: str
    bucket_prefix: str
    versioning: bool
    sse_algorithm: str
    kms_key_id: str | None
    protect: bool


@dataclass(frozen=True)
class IdentitySpec:
    resource_name: str
    assume_role_policy: dict[str, Any]
    managed_policy_arns: dict[str, str]
    """Resource-name suffix -> policy ARN (SSM core + options.extra_policy_arns)."""


@dataclass(frozen=True)
class AwsPlan:
    name: str
    """Component name: every resource name starts with it."""
    cluster: str
    region: str
    partition: str
    tags: dict[str, str]
    kms_key_id: str | None
    network: NetworkSpec
    identity: IdentitySpec
    pools: tuple[PoolSpec, ...]
    lustre: tuple[LustreSpec, ...]
    buckets: tuple[BucketSpec, ...]
