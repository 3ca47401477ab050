"""EKS decisions derived from a ClusterPlan with a Kubernetes scheduler. Pure: no Pulumi, no SDK, no network.

The GPU pools become EKS managed node groups, each backed by its own launch template (EFA interfaces, the
pool's placement group, an encrypted root volume, IMDSv2) with the EKS accelerated AMI chosen by `ami_type`;
the layout of the interfaces, capacity and tags is the one the bare pools use (`plan.pool_spec`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Network
from typing import Any

from provisioner.k8s.nodeconfig import node_user_data
from provisioner.plan import ClusterPlan, KubeNodeGroupPlan, KubernetesPlan
from provisioner.providers.aws.plan import (
    aws_options,
    child,
    cidr_ingress_rule,
    instance_tags,
    partition_of,
    pool_spec,
    slug,
)
from provisioner.providers.aws.specs import AwsPlanError, MetadataSpec, PoolSpec, RootVolumeSpec, SgRule
from provisioner.spec import CapacityKind

CLUSTER_POLICY = "AmazonEKSClusterPolicy"
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy")
"""What a managed node group's role needs: join the cluster, pull images from ECR, run the VPC CNI."""
ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
EKS_ROOT_DEVICE = "/dev/xvda"
"""Root device of the EKS AL2023 AMIs."""
NODE_GROUP_NAME_MAX = 63
CAPACITY_TYPE = {
    CapacityKind.ON_DEMAND: "ON_DEMAND",
    CapacityKind.RESERVATION: "ON_DEMAND",
    CapacityKind.SPOT: "SPOT",
    CapacityKind.CAPACITY_BLOCK: "CAPACITY_BLOCK",
}
LOG_RETENTION_DAYS = 90
"""Control-plane logs are kept 90 days (EKS's own log group would keep them forever, billed)."""
NODE_GROUP_CREATE_TIMEOUT = "60m"
"""GPU node groups wait for their nodes to join: large shapes take minutes to launch and boot."""
HELM_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class EksNodeGroupSpec:
    name: str
    """The pool's name, or 'system'."""
    resource_name: str
    node_group_name: str
    """Name of the node group in EKS (at most 63 characters)."""
    pool: PoolSpec
    """Shape, interfaces, placement, capacity, root volume and tags of the nodes (the bare pools' layout)."""
    ami_type: str
    capacity_type: str
    labels: dict[str, str]
    taints: tuple[tuple[str, str, str], ...]
    """(key, value, EKS effect: 'NO_SCHEDULE')."""
    user_data: str | None
    """Base64-free MIME user data the node group merges with its own (nodeadm configuration), or None."""
    market_type: str | None
    """'capacity-block' in the launch template for capacity blocks; EKS sets spot itself (capacity_type)."""
    follows_cluster_version: bool = True
    """False for capacity blocks: AWS asks to scale them to 0 before an upgrade, so they upgrade by hand."""
    update_strategy: str = "DEFAULT"
    """'MINIMAL' for GPU groups: an update replaces nodes in place instead of launching extra GPU nodes first
    (scarce or reserved capacity would stall it)."""


@dataclass(frozen=True)
class EksSpec:
    resource_name: str
    cluster_name: str
    version: str
    endpoint_public_access: bool
    public_access_cidrs: tuple[str, ...]
    log_types: tuple[str, ...]
    deletion_protection: bool
    cluster_role_policy: dict[str, Any]
    cluster_policy_arn: str
    node_policy_arns: dict[str, str]
    admin_policy_arn: str
    admins: dict[str, str]
    """Resource-name key -> principal ARN given cluster admin through an access entry."""
    secrets_key_arn: str | None
    """options.kms_key_id when it is a key ARN: envelope encryption of Kubernetes secrets with it."""
    api_rules: tuple[SgRule, ...]
    """Ingress on 443 to the control plane's interfaces from `api_private_cidrs`."""
    support_type: str
    """'STANDARD' (EKS upgrades the control plane at the end of standard support) or 'EXTENDED'."""
    log_group_name: str
    log_retention_days: int
    system: EksNodeGroupSpec
    node_groups: tuple[EksNodeGroupSpec, ...]
    helm_timeout: int = HELM_TIMEOUT_SECONDS


def eks_assume_role_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }


def node_group_name(cluster: str, pool: str) -> str:
    name = f"{cluster}-{pool}"
    if len(name) > NODE_GROUP_NAME_MAX:
        raise AwsPlanError(
            f"node group name {name!r} is longer than {NODE_GROUP_NAME_MAX} characters: shorten the cluster "
            "or pool name"
        )
    return name


def eks_taints(group: KubeNodeGroupPlan) -> tuple[tuple[str, str, str], ...]:
    effects = {
        "NoSchedule": "NO_SCHEDULE",
        "NoExecute": "NO_EXECUTE",
        "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    }
    return tuple((t.key, t.value, effects[t.effect]) for t in group.taints)


def _eks_pool(pool: PoolSpec) -> PoolSpec:
    """The bare pool's layout on the EKS AMI: its root device, no custom image (EKS picks it by ami_type)."""
    root = pool.root_volume
    return replace(
        pool,
        image_id=None,
        image_parameter=None,
        root_volume=RootVolumeSpec(EKS_ROOT_DEVICE, root.size_gib, root.volume_type, root.kms_key_id),
        metadata=MetadataSpec(),
    )


def gpu_node_group(name: str, plan: ClusterPlan, group: KubeNodeGroupPlan) -> EksNodeGroupSpec:
    source = plan.pool_named(group.pool)
    if source is None:
        raise AwsPlanError(f"node group {group.pool!r} has no pool in the plan of {plan.name!r}")
    pool = _eks_pool(pool_spec(name, plan, source))
    return EksNodeGroupSpec(
        name=group.pool,
        resource_name=pool.resource_name,
        node_group_name=node_group_name(plan.name, group.pool),
        pool=pool,
        ami_type=group.image,
        capacity_type=CAPACITY_TYPE[source.capacity],
        labels=dict(group.labels),
        taints=eks_taints(group),
        user_data=node_user_data(plan, source),
        market_type="capacity-block" if source.capacity is CapacityKind.CAPACITY_BLOCK else None,
        follows_cluster_version=source.capacity is not CapacityKind.CAPACITY_BLOCK,
        update_strategy="MINIMAL",
    )


def system_node_group(name: str, plan: ClusterPlan, k8s: KubernetesPlan) -> EksNodeGroupSpec:
    """Small CPU nodes for CoreDNS and the operators' controllers, in the nodes' subnet, untainted."""
    first = plan.pools[0]
    base = pool_spec(name, plan, first)
    system = k8s.system
    tags = {**instance_tags(plan, first), "Name": f"{plan.name}-system"}
    tags = {k: v for k, v in tags.items() if not k.startswith("provisioner:") or k == "provisioner:cluster"}
    tags["provisioner:pool"] = "system"
    pool = replace(
        _eks_pool(base),
        name="system",
        resource_name=child(name, "system"),
        source=first,
        instance_type=system.instance_type,
        nodes=system.count,
        placement_strategy=None,
        placement_group=None,
        root_volume=RootVolumeSpec(
            EKS_ROOT_DEVICE, system.root_volume_gib, "gp3", aws_options(plan).kms_key_id
        ),
        interfaces=(replace(base.interfaces[0], interface_type=None),),
        capacity=replace(base.capacity, market_type=None, reservation_id=None),
        instance_tags=tags,
    )
    return EksNodeGroupSpec(
        name="system",
        resource_name=child(name, "system"),
        node_group_name=node_group_name(plan.name, "system"),
        pool=pool,
        ami_type=k8s.system_image,
        capacity_type="ON_DEMAND",
        labels={"provisioner.dev/pool": "system", "provisioner.dev/role": "system"},
        taints=(),
        user_data=None,
        market_type=None,
    )


def eks_spec(name: str, plan: ClusterPlan) -> EksSpec:
    k8s = plan.kubernetes
    if k8s is None:
        raise AwsPlanError(f"cluster {plan.name!r} declares no Kubernetes scheduler")
    if not plan.pools:
        raise AwsPlanError(f"cluster {plan.name!r} has no planned pool")
    partition = partition_of(plan.region)
    managed = f"arn:{partition}:iam::aws:policy"
    kms = aws_options(plan).kms_key_id
    admins: dict[str, str] = {}
    for arn in k8s.admins:
        key = slug(arn.rsplit("/", 1)[-1])
        while key in admins:
            key = f"{key}-x"
        admins[key] = arn
    for cidr in [*k8s.api_public_cidrs, *k8s.api_private_cidrs]:
        if IPv4Network(cidr).prefixlen == 0:  # validation reports it as an error; never emit it
            raise AwsPlanError(f"refusing to open the API server to {cidr}")
    api_rules = tuple(
        cidr_ingress_rule("api", IPv4Network(cidr), 443, "Kubernetes API", "api_private_cidrs")
        for cidr in k8s.api_private_cidrs
    )
    return EksSpec(
        resource_name=child(name, "eks"),
        cluster_name=plan.name,
        version=k8s.version,
        endpoint_public_access=bool(k8s.api_public_cidrs),
        public_access_cidrs=tuple(k8s.api_public_cidrs),
        log_types=tuple(k8s.control_plane_logs),
        deletion_protection=k8s.protect,
        cluster_role_policy=eks_assume_role_policy(),
        cluster_policy_arn=f"{managed}/{CLUSTER_POLICY}",
        node_policy_arns={p.lower().replace("_", "-"): f"{managed}/{p}" for p in NODE_POLICIES},
        admin_policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/{ADMIN_POLICY}",
        admins=admins,
        secrets_key_arn=kms if kms and kms.startswith("arn:") and ":key/" in kms else None,
        api_rules=api_rules,
        support_type="EXTENDED" if k8s.extended_support else "STANDARD",
        log_group_name=f"/aws/eks/{plan.name}/cluster",
        log_retention_days=LOG_RETENTION_DAYS,
        system=system_node_group(name, plan, k8s),
        node_groups=tuple(gpu_node_group(name, plan, g) for g in k8s.node_groups),
    )


EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")
"""Zones whose subnets EKS refuses for a cluster (EKS user guide, network requirements); zone letters map to
different ids in each account, so they are excluded by id when the zones are looked up."""


def control_plane_zones(names: list[str]) -> tuple[str, str]:
    """Two zones for the control plane's subnets (EKS needs two), the alphabetically first available."""
    zones = sorted(names)
    if len(zones) < 2:
        raise AwsPlanError(f"EKS needs two availability zones it supports; the region offers {zones}")
    return zones[0], zones[1]


def control_plane_cidrs(vpc: IPv4Network, public: IPv4Network) -> tuple[str, str]:
    """The two blocks of the VPC's second half after the public subnet, of its size, for the control plane's
    interfaces in two zones (no node runs there: the nodes keep their one zone)."""
    size = public.num_addresses
    blocks = tuple(IPv4Network((int(public.network_address) + size * k, public.prefixlen)) for k in (1, 2))
    if not all(block.subnet_of(vpc) for block in blocks):
        raise AwsPlanError(
            f"network.cidr {vpc} has no room for the control plane's subnets: use a /24 or larger"
        )
    return str(blocks[0]), str(blocks[1])
