"""AWS decisions derived from a ClusterPlan. Pure: no Pulumi, no SDK, no network.

Everything `resources.py` (and its sibling modules) needs to know about *what* to create lives here as
frozen data: resource names, the subnet layout, security group rules, the EFA interface layout per pool, tags,
IAM policy documents (JSON-able dicts), FSx and S3 settings. The emit side only translates it into pulumi_aws
calls, so these decisions are unit-tested without a Pulumi runtime.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from provisioner.plan import ClusterPlan, PoolPlan
from provisioner.providers.aws.specs import (
    ASG_WAIT_FOR_CAPACITY,
    ASG_WAIT_FOR_CAPACITY_BLOCK,
    AUTOSCALING_ROLE_PATH,
    BUCKET_PREFIX_MAX,
    EBS_KEY_GRANT_OPERATIONS,
    LUSTRE_PORTS,
    MANAGED_TAG_KEYS,
    MAX_TAGS,
    ROOT_DEVICE,
    SSM_CORE_POLICY,
    AwsPlan,
    AwsPlanError,
    BucketSpec,
    CapacitySpec,
    Direction,
    IdentitySpec,
    InterfaceSpec,
    KeyGrantSpec,
    LustreSpec,
    MetadataSpec,
    NetworkSpec,
    PoolSpec,
    RootVolumeSpec,
    SgRule,
)
from provisioner.spec import AwsOptions, Bucket, CapacityKind, Interconnect, Lustre

__all__ = [
    "ASG_WAIT_FOR_CAPACITY",
    "ASG_WAIT_FOR_CAPACITY_BLOCK",
    "AUTOSCALING_ROLE_PATH",
    "BUCKET_PREFIX_MAX",
    "EBS_KEY_GRANT_OPERATIONS",
    "LUSTRE_PORTS",
    "MANAGED_TAG_KEYS",
    "MAX_TAGS",
    "ROOT_DEVICE",
    "SSM_CORE_POLICY",
    "AwsPlan",
    "AwsPlanError",
    "BucketSpec",
    "CapacitySpec",
    "Direction",
    "IdentitySpec",
    "InterfaceSpec",
    "KeyGrantSpec",
    "LustreSpec",
    "MetadataSpec",
    "NetworkSpec",
    "PoolSpec",
    "RootVolumeSpec",
    "SgRule",
    "assume_role_policy",
    "autoscaling_role_arn",
    "aws_options",
    "aws_plan",
    "bucket_prefix",
    "bucket_spec",
    "capacity_spec",
    "check_tags",
    "child",
    "cidr_ingress_rule",
    "cluster_sg_rules",
    "identity_spec",
    "instance_tags",
    "key_grant_spec",
    "kms_statement",
    "lustre_spec",
    "network_interfaces",
    "network_spec",
    "node_policy",
    "partition_of",
    "pick_zone",
    "pool_spec",
    "root_device",
    "slug",
    "subnet_cidrs",
    "tls_only_bucket_policy",
    "wait_for_capacity_timeout",
    "zone_of",
]


def child(name: str, *parts: str) -> str:
    """Name of a child resource: `{name}-part-part`."""
    return "-".join((name, *parts))


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def aws_options(plan: ClusterPlan) -> AwsOptions:
    return plan.options if isinstance(plan.options, AwsOptions) else AwsOptions()


def slug(text: str) -> str:
    """A resource-name-safe rendering of a CIDR, ARN tail or label."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def check_tags(tags: dict[str, str], what: str) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise AwsPlanError(
            f"{what} would carry {len(tags)} tags; AWS accepts at most {MAX_TAGS}: drop some tags"
        )
    return tags


# --- network ------------------------------------------------------------------------------------------------


def zone_of(plan: ClusterPlan) -> str | None:
    """The single AZ of a created network: the zone the pools declare, else None = look it up at deploy time.

    Never a guessed letter: GPU shapes are offered in some zones only, and letters name different zones in
    different accounts."""
    zones = sorted({p.zone for p in plan.pools if p.zone})
    if len(zones) > 1:
        raise AwsPlanError(
            f"pools of cluster {plan.name!r} ask for zones {zones}; a created network has one zone: "
            "give every pool the same zone (or none)"
        )
    return zones[0] if zones else None


def pick_zone(
    region: str, instance_types: Iterable[str], locations: Sequence[str], offered: Sequence[str]
) -> str:
    """The alphabetically first zone of `region` that offers every one of `instance_types`.

    `locations` and `offered` are the parallel lists of an instance type offerings lookup (zone, instance
    type). Local and Wavelength zones (`us-east-1-bos-1a`) are skipped: a cluster network needs a full AZ."""
    wanted = sorted(set(instance_types))
    zone_name = re.compile(rf"{re.escape(region)}[a-z]")
    by_type: dict[str, set[str]] = {kind: set() for kind in wanted}
    for zone, kind in zip(locations, offered, strict=True):
        if kind in by_type and zone_name.fullmatch(zone):
            by_type[kind].add(zone)
    common = set.intersection(*by_type.values()) if by_type else set()
    if not common:
        where = "; ".join(f"{kind}: {', '.join(sorted(z)) or 'none'}" for kind, z in by_type.items())
        raise AwsPlanError(
            f"no availability zone of {region} offers all of {wanted} ({where}); set zone= on the pools, "
            "or put the instance types no common zone offers in another cluster"
        )
    return min(common)


def subnet_cidrs(vpc: IPv4Network) -> tuple[str, str]:
    """(private, public): the first half of the VPC for the nodes, a small block of the second for NAT."""
    if vpc.prefixlen > 26:
        raise AwsPlanError(f"network.cidr {vpc} is too small: use a /26 or larger (e.g. 10.0.0.0/16)")
    private, rest = vpc.subnets(prefixlen_diff=1)
    public_prefix = min(max(vpc.prefixlen + 4, 24), 28)
    public = next(rest.subnets(new_prefix=max(public_prefix, rest.prefixlen)))
    return str(private), str(public)


def cidr_ingress_rule(key: str, cidr: IPv4Network | IPv6Network, port: int, what: str, field: str) -> SgRule:
    """TCP `port` from a declared range (`field`), keyed `{key}-{cidr}`."""
    v4 = isinstance(cidr, IPv4Network)
    return SgRule(
        key=f"{key}-{slug(str(cidr))}",
        direction="ingress",
        protocol="tcp",
        from_port=port,
        to_port=port,
        description=f"{what} from {cidr} ({field})",
        cidr_ipv4=str(cidr) if v4 else None,
        cidr_ipv6=None if v4 else str(cidr),
    )


def _ssh_rule(cidr: IPv4Network | IPv6Network) -> SgRule:
    if cidr.prefixlen == 0:  # validation reports it as an error; never emit it, whatever happens upstream
        raise AwsPlanError(f"refusing to open SSH to {cidr}: use a narrower range or Session Manager")
    return cidr_ingress_rule("ssh", cidr, 22, "SSH", "network.ssh_cidrs")


def cluster_sg_rules(plan: ClusterPlan) -> tuple[SgRule, ...]:
    """All traffic between the nodes both ways (EFA needs it), egress to anywhere, SSH only from ssh_cidrs."""
    rules = [
        SgRule(
            "self-in", "ingress", "-1", "all traffic between the cluster's nodes (EFA, NCCL)", peer="self"
        ),
        SgRule(
            "self-out",
            "egress",
            "-1",
            "all traffic between the cluster's nodes (EFA needs egress)",
            peer="self",
        ),
        SgRule(
            "all-out",
            "egress",
            "-1",
            "outbound: package mirrors, SSM, S3, container registries",
            cidr_ipv4="0.0.0.0/0",
        ),
    ]
    rules += [_ssh_rule(cidr) for cidr in plan.network.ssh_cidrs]
    return tuple(rules)


def network_spec(plan: ClusterPlan) -> NetworkSpec:
    net = plan.network
    existing = net.vpc_id is not None
    private, public = (None, None) if existing else subnet_cidrs(net.cidr)
    if existing and not net.subnet_ids:
        raise AwsPlanError(
            f"network.vpc_id={net.vpc_id!r} needs subnet_ids (the private subnet of the nodes)"
        )
    zone = None if existing else zone_of(plan)
    lookup = not existing and zone is None
    cp_cidrs: tuple[str, ...] = ()
    cp_subnets: tuple[str, ...] = ()
    if plan.kubernetes is not None:
        # imported here: eks_plan builds on this module
        from provisioner.providers.aws.eks_plan import control_plane_cidrs

        if existing:
            if len(net.subnet_ids) < 2:
                raise AwsPlanError("EKS needs network.subnet_ids in two availability zones")
            cp_subnets = tuple(net.subnet_ids[:2])
        else:
            cp_cidrs = control_plane_cidrs(net.cidr, IPv4Network(str(public)))
    return NetworkSpec(
        create=not existing,
        zone=zone,
        vpc_id=net.vpc_id,
        subnet_id=net.subnet_ids[0] if existing else None,
        vpc_cidr=None if existing else str(net.cidr),
        private_cidr=private,
        public_cidr=public,
        s3_service=f"com.amazonaws.{plan.region}.s3",
        cluster_sg_rules=cluster_sg_rules(plan),
        zone_instance_types=tuple(sorted(_zone_instance_types(plan))) if lookup else (),
        control_plane_cidrs=cp_cidrs,
        control_plane_subnet_ids=cp_subnets,
    )


def _zone_instance_types(plan: ClusterPlan) -> set[str]:
    """Every shape launched into the subnet: the pools', and the scheduler's controller and login nodes."""
    kinds = {p.instance_type for p in plan.pools}
    if plan.scheduler is not None:
        kinds |= {node.instance_type for node in plan.scheduler.support_nodes}
    return kinds


# --- identity -----------------------------------------------------------------------------------------------


def assume_role_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def _policy_key(arn: str, taken: set[str]) -> str:
    key = slug(arn.rsplit("/", 1)[-1])
    if key in taken:
        key = f"{key}-{hashlib.sha256(arn.encode()).hexdigest()[:8]}"
    taken.add(key)
    return key


def autoscaling_role_arn(partition: str, account_id: str) -> str:
    """ARN of the Auto Scaling service-linked role of an account (the role the groups launch nodes with)."""
    return f"arn:{partition}:iam::{account_id}:role/{AUTOSCALING_ROLE_PATH}"


def key_grant_spec(name: str, kms_key_id: str | None) -> KeyGrantSpec | None:
    """With a customer key on the root volumes, Auto Scaling must be allowed to use it, or launches fail."""
    if not kms_key_id:
        return None
    alias = kms_key_id.startswith("alias/") or (kms_key_id.startswith("arn:") and ":alias/" in kms_key_id)
    return KeyGrantSpec(
        resource_name=child(name, "ebs-key-grant"),
        key_id=kms_key_id,
        resolve_alias=alias,
        grantee_role_path=AUTOSCALING_ROLE_PATH,
        operations=EBS_KEY_GRANT_OPERATIONS,
    )


def identity_spec(name: str, plan: ClusterPlan) -> IdentitySpec:
    partition = partition_of(plan.region)
    options = aws_options(plan)
    arns = [f"arn:{partition}:iam::aws:policy/{SSM_CORE_POLICY}", *options.extra_policy_arns]
    if plan.kubernetes is not None:
        from provisioner.providers.aws.eks_plan import NODE_POLICIES

        arns += [f"arn:{partition}:iam::aws:policy/{policy}" for policy in NODE_POLICIES]
    taken: set[str] = set()
    managed = {_policy_key(arn, taken): arn for arn in dict.fromkeys(arns)}
    return IdentitySpec(
        resource_name=child(name, "identity"),
        assume_role_policy=assume_role_policy(),
        managed_policy_arns=managed,
        ebs_key_grant=key_grant_spec(name, options.kms_key_id),
    )


def kms_statement(
    kms_key_id: str,
    region: str,
    partition: str,
    service: str = "s3",
    actions: Sequence[str] = ("kms:Decrypt", "kms:GenerateDataKey"),
    sid: str = "UseClusterKeyThroughS3",
) -> dict[str, Any]:
    """Let a role use the cluster's KMS key, and only through `service` (S3: SSE-KMS objects; Secrets
    Manager: the secrets it encrypts)."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Condition": {"StringEquals": {"kms:ViaService": f"{service}.{region}.amazonaws.com"}},
    }
    if kms_key_id.startswith("arn:"):
        statement["Resource"] = kms_key_id
    elif kms_key_id.startswith("alias/"):
        statement["Resource"] = f"arn:{partition}:kms:{region}:*:key/*"
        statement["Condition"]["ForAnyValue:StringEquals"] = {"kms:ResourceAliases": kms_key_id}
    else:
        statement["Resource"] = f"arn:{partition}:kms:{region}:*:key/{kms_key_id}"
    return statement


def node_policy(bucket_arns: Sequence[str], kms_key_id: str | None, region: str) -> dict[str, Any] | None:
    """Least privilege for what the cluster declares: its own buckets' objects. None = nothing to grant."""
    if not bucket_arns:
        return None
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListClusterBuckets",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": list(bucket_arns),
        },
        {
            "Sid": "ReadWriteClusterObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            "Resource": [f"{arn}/*" for arn in bucket_arns],
        },
    ]
    if kms_key_id:
        statements.append(kms_statement(kms_key_id, region, partition_of(region)))
    return {"Version": "2012-10-17", "Statement": statements}


# --- pools --------------------------------------------------------------------------------------------------


def network_interfaces(pool: PoolPlan, public_ips: bool) -> tuple[InterfaceSpec, ...]:
    """One interface per EFA network card, else a single ENA interface.

    Card 0, device 0 is the primary interface: an EFA with ENA ("efa"; the primary can't be "efa-only").
    Cards 1..N-1, device 0 are "efa-only": RDMA only, so they take no IP address from the subnet."""
    if pool.interconnect is not Interconnect.EFA or pool.fabric_interfaces < 1:
        return (InterfaceSpec(0, 0, None, public_ips),)
    primary = InterfaceSpec(0, 0, "efa", public_ips)
    extra = tuple(InterfaceSpec(card, 0, "efa-only", None) for card in range(1, pool.fabric_interfaces))
    return (primary, *extra)


def capacity_spec(pool: PoolPlan) -> CapacitySpec:
    needs_id = pool.capacity in (CapacityKind.RESERVATION, CapacityKind.CAPACITY_BLOCK)
    if needs_id and not pool.reservation_id:
        raise AwsPlanError(f"pool {pool.name!r}: capacity={pool.capacity.value!r} needs reservation_id")
    market = {CapacityKind.SPOT: "spot", CapacityKind.CAPACITY_BLOCK: "capacity-block"}.get(pool.capacity)
    return CapacitySpec(market_type=market, reservation_id=pool.reservation_id if needs_id else None)


def wait_for_capacity_timeout(pool: PoolPlan) -> str:
    """How long `pulumi up` waits for the pool's nodes (see ASG_WAIT_FOR_CAPACITY and ..._BLOCK)."""
    if pool.capacity is CapacityKind.CAPACITY_BLOCK:
        return ASG_WAIT_FOR_CAPACITY_BLOCK
    return ASG_WAIT_FOR_CAPACITY


def root_device(pool: PoolPlan, ssm_parameter_override: str | None) -> str | None:
    """The root device of the catalog's Ubuntu GPU image; None (look it up) for any other image."""
    if pool.software.image is not None or ssm_parameter_override:
        return None
    return ROOT_DEVICE


def instance_tags(plan: ClusterPlan, pool: PoolPlan) -> dict[str, str]:
    """Cluster tags, the pool's labels and a Name; the keys tools rely on always keep our values."""
    tags = {**plan.tags, **pool.labels, "Name": f"{plan.name}-{pool.name}"}
    tags.update({k: plan.tags[k] for k in MANAGED_TAG_KEYS if k in plan.tags})
    return check_tags(tags, f"pool {pool.name!r}")


def pool_spec(name: str, plan: ClusterPlan, pool: PoolPlan) -> PoolSpec:
    options = aws_options(plan)
    parameter = options.ami_ssm_parameter or pool.software.image_lookup
    if pool.software.image is None and parameter is None:
        raise AwsPlanError(f"pool {pool.name!r}: no image: set software.image to an AMI id")
    return PoolSpec(
        name=pool.name,
        resource_name=child(name, pool.name),
        source=pool,
        instance_type=pool.instance_type,
        nodes=pool.nodes,
        # A new cluster placement group only where the plan asks for one; a named group is launched into as
        # is. Reserved capacity (reservations, capacity blocks) gets neither unless it names a group: AWS
        # places it, and a new group could miss it.
        placement_strategy="cluster" if pool.placement == "cluster" and not pool.placement_group else None,
        placement_group=pool.placement_group,
        image_id=pool.software.image,
        image_parameter=None if pool.software.image else parameter,
        root_volume=RootVolumeSpec(
            root_device(pool, options.ami_ssm_parameter), pool.root_volume_gib, "gp3", options.kms_key_id
        ),
        interfaces=network_interfaces(pool, plan.network.public_ips),
        capacity=capacity_spec(pool),
        instance_tags=instance_tags(plan, pool),
        key_name=options.key_name,
        wait_for_capacity_timeout=wait_for_capacity_timeout(pool),
    )


# --- storage ------------------------------------------------------------------------------------------------


def _port_rules(direction: Direction, peer: str, what: str, key: str | None = None) -> list[SgRule]:
    word = "from" if direction == "ingress" else "to"
    way = "in" if direction == "ingress" else "out"
    return [
        SgRule(
            key=f"{key or peer}-{way}-{low}",
            direction=direction,
            protocol="tcp",
            from_port=low,
            to_port=high,
            description=f"Lustre {low}-{high} {word} {what}",
            peer=peer,
        )
        for low, high in LUSTRE_PORTS
    ]


def lustre_spec(name: str, plan: ClusterPlan, item: Lustre) -> LustreSpec:
    fs_sg = f"lustre-{item.name}"
    return LustreSpec(
        name=item.name,
        resource_name=child(name, item.name),
        mount_point=item.mount_point,
        storage_capacity=item.capacity_gib,
        per_unit_storage_throughput=item.throughput_mib_per_tib,
        kms_key_id=aws_options(plan).kms_key_id,
        protect=item.protect,
        sg_rules=tuple(
            _port_rules("ingress", "self", "the filesystem's servers")
            + _port_rules("ingress", "cluster", "the cluster's nodes")
            + _port_rules("egress", "self", "the filesystem's servers")
            + _port_rules("egress", "cluster", "the cluster's nodes")
        ),
        client_rules=tuple(_port_rules("ingress", fs_sg, f"filesystem {item.name}", key="nodes")),
        sg_key=fs_sg,
    )


def tls_only_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """Refuse every request to the bucket that does not come over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def bucket_prefix(cluster: str, item: str) -> str:
    base = f"{cluster}-{item}".lower()[: BUCKET_PREFIX_MAX - 1].rstrip("-")
    return f"{base}-"


def bucket_spec(name: str, plan: ClusterPlan, item: Bucket) -> BucketSpec:
    kms = aws_options(plan).kms_key_id
    return BucketSpec(
        name=item.name,
        resource_name=child(name, item.name),
        bucket_prefix=bucket_prefix(plan.name, item.name),
        versioning=item.versioning,
        sse_algorithm="aws:kms" if kms else "AES256",
        kms_key_id=kms,
        protect=item.protect,
    )


# --- everything ---------------------------------------------------------------------------------------------


def aws_plan(name: str, plan: ClusterPlan) -> AwsPlan:
    """The AWS layout of a cluster whose component is called `name`."""
    # slurm_plan builds on this module's helpers, so it is imported once they exist
    from provisioner.providers.aws.eks_plan import eks_spec
    from provisioner.providers.aws.slurm_plan import slurm_spec

    network = network_spec(plan)
    pools = tuple(pool_spec(name, plan, pool) for pool in plan.pools)
    return AwsPlan(
        name=name,
        cluster=plan.name,
        region=plan.region,
        partition=partition_of(plan.region),
        tags=check_tags(dict(plan.tags), f"cluster {plan.name!r}"),
        kms_key_id=aws_options(plan).kms_key_id,
        network=network,
        identity=identity_spec(name, plan),
        pools=pools,
        lustre=tuple(lustre_spec(name, plan, s) for s in plan.storage if isinstance(s, Lustre)),
        buckets=tuple(bucket_spec(name, plan, s) for s in plan.storage if isinstance(s, Bucket)),
        slurm=None if plan.slurm is None else slurm_spec(name, plan, pools[0], network),
        eks=None if plan.kubernetes is None else eks_spec(name, plan),
    )
