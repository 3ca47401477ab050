"""Frozen data of the AWS layout (what `plan.py` decides and the emit modules create). Pure: no Pulumi."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from provisioner.errors import ProvisionerError
from provisioner.providers.aws import MAX_TAGS_PER_RESOURCE

if TYPE_CHECKING:  # a type only: validation imports this module while `provisioner.plan` is loading
    from provisioner.plan import PoolPlan
    from provisioner.providers.aws.eks_plan import EksSpec

SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"
"""Managed policy that lets Session Manager reach the nodes (instead of SSH)."""

ROOT_DEVICE = "/dev/sda1"
"""Root device of the Ubuntu Deep Learning AMIs of the catalog. Any other image (software.image, or
options.ami_ssm_parameter) has its root device looked up at deploy time: a mapping for a device the image does
not boot from would add a second, unused volume and leave the real root volume unencrypted."""

LUSTRE_PORTS: tuple[tuple[int, int], ...] = ((988, 988), (1018, 1023))
"""TCP ports FSx for Lustre servers and clients talk on."""

MAX_TAGS = MAX_TAGS_PER_RESOURCE
"""EC2, ASG, FSx and S3 accept at most 50 user tags per resource."""

BUCKET_PREFIX_MAX = 37
"""S3 bucket names are at most 63 characters; a generated name appends a 26-character unique suffix."""

ASG_WAIT_FOR_CAPACITY = "20m"
"""How long `pulumi up` waits for a node group to reach its size.

Not "0" (do not wait): when EC2 has no capacity for the shape (InsufficientInstanceCapacity, an expired
capacity block, a spot shortage), waiting is what turns it into a failed `pulumi up` instead of a green
deploy with no GPU node. 20 minutes leaves room for large GPU shapes, which take minutes to launch and pass
their status checks."""

ASG_WAIT_FOR_CAPACITY_BLOCK = "0"
"""Capacity-block pools do not wait: a block is bought ahead for a future start time, so `pulumi up` often
runs before it begins and no node can launch yet. The group keeps retrying its launches and the nodes come up
when the block starts; waiting would fail (or hold) the deploy for capacity that is not due yet."""

AUTOSCALING_ROLE_PATH = "aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
"""The default service-linked role EC2 Auto Scaling launches instances with (the groups set no other)."""

EBS_KEY_GRANT_OPERATIONS: tuple[str, ...] = (
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "DescribeKey",
    "CreateGrant",
)
"""What Auto Scaling needs on a customer managed key to launch instances with volumes encrypted by it."""

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
    """The one availability zone of the created subnets (a cluster placement group spans one AZ): the zone the
    pools declare. None with a created network = look it up at deploy time (the first zone that offers every
    instance type in `zone_instance_types`); None with an existing network, whose subnet decides."""
    vpc_id: str | None
    subnet_id: str | None
    vpc_cidr: str | None
    """CIDRs of the created VPC and subnets; None with an existing network."""
    private_cidr: str | None
    public_cidr: str | None
    s3_service: str
    """Service name of the S3 gateway endpoint."""
    cluster_sg_rules: tuple[SgRule, ...]
    zone_instance_types: tuple[str, ...] = ()
    """Instance types the looked-up zone must offer (all pools'); empty unless the zone is looked up."""
    control_plane_cidrs: tuple[str, ...] = ()
    """With Kubernetes: two private subnets in two zones EKS supports, for the control plane's interfaces."""
    control_plane_subnet_ids: tuple[str, ...] = ()
    """With Kubernetes on an existing network: network.subnet_ids[:2] (two zones)."""

    @property
    def zone_lookup(self) -> bool:
        """True: the zone of the created subnets is chosen at deploy time."""
        return self.create and self.zone is None


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
    device_name: str | None
    """The image's root device; None = look it up from the image at deploy time (any image but the
    catalog's)."""
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
    """"cluster" = create a cluster placement group for the pool; None = create none."""
    placement_group: str | None
    """Name of an existing placement group to launch into (never together with `placement_strategy`)."""
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


@dataclass(frozen=True, slots=True)
class KeyGrantSpec:
    """A KMS grant that lets the Auto Scaling service-linked role use the customer key of the root volumes
    (without it every launch fails with Client.InternalError)."""

    resource_name: str
    key_id: str
    """options.kms_key_id as declared: key id, key ARN, alias name or alias ARN."""
    resolve_alias: bool
    """True: `key_id` names an alias, which CreateGrant does not accept; resolve it to the key's ARN first."""
    grantee_role_path: str
    """Path and name of the grantee role; its ARN is arn:{partition}:iam::{account}:role/{path}."""
    operations: tuple[str, ...] = EBS_KEY_GRANT_OPERATIONS


@dataclass(frozen=True)
class IdentitySpec:
    resource_name: str
    assume_role_policy: dict[str, Any]
    managed_policy_arns: dict[str, str]
    """Resource-name suffix -> policy ARN (SSM core + options.extra_policy_arns)."""
    ebs_key_grant: KeyGrantSpec | None = None
    """Set when options.kms_key_id encrypts the root volumes."""


# --- Slurm --------------------------------------------------------------------------------------------------

SECRET_STORE = "aws-secretsmanager"
"""How the nodes' boot scripts name AWS Secrets Manager (bootstrap.SecretRef.store)."""

SECRET_RECOVERY_DAYS = 7
"""A deleted secret can be restored for 7 days (the shortest window AWS allows); its name stays taken for
that long, which is why the secrets are named from a prefix."""

CONTROLLER_IP_OFFSET = 10
"""The controller's private address is the 10th of the nodes' subnet: AWS reserves the first four, and a
fixed address lets every node's user data name the controller before it exists (no dependency on it)."""

DB_PASSWORD_LENGTH = 32
"""Letters and digits only (special=False): the password goes into slurmdbd.conf and a SQL statement."""


@dataclass(frozen=True, slots=True)
class SecretSpec:
    """A Secrets Manager secret whose value Pulumi generates (pulumi_random) and the nodes read at boot."""

    key: str
    """'munge-key' or 'db-password': the suffix of the resource names."""
    resource_name: str
    """`{name}-slurm-{key}` (the secret); `-random` is its generator, `-value` its version."""
    name_prefix: str
    """`{cluster}-{key}-`: AWS appends a unique suffix, so a re-created cluster never waits for the recovery
    window of its predecessor's secret."""
    description: str
    kms_key_id: str | None
    """options.kms_key_id; None = the account's `aws/secretsmanager` key."""
    recovery_window_in_days: int = SECRET_RECOVERY_DAYS


@dataclass(frozen=True)
class RoleSpec:
    """The controller's own IAM role and instance profile (the GPU and login nodes keep the node role)."""

    role_name: str
    profile_name: str
    policy_name: str
    """Resource name of the inline policy (its document: slurm_plan.controller_policy)."""
    assume_role_policy: dict[str, Any]
    managed_policy_arns: dict[str, str]
    """Resource name of the attachment -> policy ARN (Session Manager)."""


@dataclass(frozen=True)
class ControllerSpec:
    """The Slurm controller: one EC2 instance (not a group) at a fixed private address."""

    resource_name: str
    instance_type: str
    private_ip: str | None
    """The 10th address of the created private subnet; None = that of the existing subnet, whose CIDR is
    looked up at deploy time (slurm_plan.controller_private_ip applies to it)."""
    root_volume: RootVolumeSpec
    """No device name: an instance's root block device is the image's own, whatever it is called."""
    associate_public_ip: bool
    instance_tags: dict[str, str]
    key_name: str | None
    metadata: MetadataSpec = field(default_factory=MetadataSpec)
    protect: bool = True
    """Pulumi-protected: its disk holds Slurm's job state and the accounting database."""


@dataclass(frozen=True)
class LoginSpec:
    """Login nodes: one launch template and one auto scaling group, like a GPU pool."""

    resource_name: str
    instance_type: str
    count: int
    root_volume: RootVolumeSpec
    """Named after the image pool's root device (None = look it up from the image, as for the pool)."""
    interfaces: tuple[InterfaceSpec, ...]
    instance_tags: dict[str, str]
    key_name: str | None
    metadata: MetadataSpec = field(default_factory=MetadataSpec)
    wait_for_capacity_timeout: str = ASG_WAIT_FOR_CAPACITY


@dataclass(frozen=True)
class SlurmSpec:
    """The AWS side of a Slurm scheduler: the controller, the login group, the secrets and their IAM."""

    resource_name: str
    """`{name}-slurm`: the Scheduler component; every child is named `{name}-slurm-...`."""
    image_pool: str
    """The pool whose image (and root device) the controller and login nodes boot: the first pool's, which
    is also the OS the bootstrap renders their user data for."""
    controller: ControllerSpec
    login: LoginSpec | None
    munge_key: SecretSpec
    db_password: SecretSpec | None
    """Set with accounting (slurmdbd's MariaDB password)."""
    controller_identity: RoleSpec
    node_policy_name: str
    """Resource name of the inline policy added to the node role: read the munge key (and nothing else)."""
    munge_key_bytes: int
    config_path: str
    """SSM parameter path of the configuration the controller serves: `{path}/slurm.conf`, ..."""
    config_resource_prefix: str
    """Resource name prefix of those parameters: `{name}-slurm-config-<file>`."""
    db_password_length: int = DB_PASSWORD_LENGTH
    secret_store: str = SECRET_STORE
    config_store: str = "aws-ssm"


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
    slurm: SlurmSpec | None = None
    """The Slurm controller, login nodes and secrets; None without a scheduler."""
    eks: EksSpec | None = None
    """The EKS cluster, its node groups and in-cluster software; None without Kubernetes."""
