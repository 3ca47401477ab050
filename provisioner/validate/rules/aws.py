"""Limits only AWS has. Each mirrors a check the AWS adapter's pure plan would otherwise refuse to emit."""

from collections.abc import Iterator

from provisioner.catalog.select import Selection
from provisioner.providers.aws import MAX_TAGS_PER_RESOURCE as AWS_MAX_TAGS
from provisioner.spec import Interconnect, NodePool, ProviderName
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error

# tags the AWS adapter adds to every node: cluster, managed-by, Name, pool, gpu, fabric, gpu-vendor
_ADDED_NODE_TAGS = 7
_SMALLEST_VPC_PREFIX = 26


def _on_aws(ctx: RuleContext) -> bool:
    return ctx.cluster.provider is ProviderName.AWS


def one_zone(ctx: RuleContext) -> Iterator[Finding]:
    if not _on_aws(ctx) or ctx.cluster.network.vpc_id is not None:
        return
    zones = sorted({pool.zone for pool in ctx.cluster.pools if pool.zone})
    if len(zones) > 1:
        yield error(
            "aws-zones-differ",
            "pools",
            f"pools ask for zones {zones}, but the network created for the cluster has one private "
            "subnet in one zone (the fabric and the shared filesystem live there)",
            "give every pool the same zone (or none), or bring your own vpc_id/subnet_ids",
        )


def vpc_size(ctx: RuleContext) -> Iterator[Finding]:
    network = ctx.cluster.network
    if _on_aws(ctx) and network.vpc_id is None and network.cidr.prefixlen > _SMALLEST_VPC_PREFIX:
        yield error(
            "aws-vpc-too-small",
            "network.cidr",
            f"{network.cidr} is too small for a private and a public subnet "
            f"(at most /{_SMALLEST_VPC_PREFIX})",
            'use a larger block, e.g. cidr="10.0.0.0/16"',
        )


def tag_count(ctx: RuleContext) -> Iterator[Finding]:
    if not _on_aws(ctx):
        return
    for path, pool in ctx.pools():
        count = len({**ctx.cluster.tags, **pool.labels}) + _ADDED_NODE_TAGS
        if count > AWS_MAX_TAGS:
            yield error(
                "aws-too-many-tags",
                f"{path}.labels",
                f"nodes of pool {pool.name!r} would carry {count} tags ({_ADDED_NODE_TAGS} of them ours); "
                f"AWS accepts at most {AWS_MAX_TAGS} per resource",
                f"drop {count - AWS_MAX_TAGS} of the cluster tags or pool labels",
            )


def public_ips(ctx: RuleContext) -> Iterator[Finding]:
    network = ctx.cluster.network
    if not _on_aws(ctx) or not network.public_ips:
        return
    if network.vpc_id is None:
        yield error(
            "aws-public-ips-private-subnet",
            "network.public_ips",
            "the network created for the cluster puts nodes in a private subnet behind NAT, where a "
            "public IP has no route to the internet",
            "reach nodes with SSM Session Manager (default), or bring a public subnet with vpc_id/subnet_ids",
        )
    for path, pool in ctx.pools():
        interfaces = _efa_interfaces(ctx, pool)
        if interfaces > 1:
            yield error(
                "aws-public-ips-multi-interface",
                "network.public_ips",
                f"pool {pool.name!r} launches with {interfaces} EFA interfaces, and EC2 assigns no public IP "
                "to an instance launched with several interfaces",
                f'set public_ips=False (use SSM or a bastion), or interconnect="none" on {path}',
            )


def _efa_interfaces(ctx: RuleContext, pool: NodePool) -> int:
    gpu = ctx.gpu_of(pool)
    if gpu is None or pool.interconnect not in (Interconnect.AUTO, Interconnect.EFA):
        return 0
    chosen = ctx.selection(pool)
    if not isinstance(chosen, Selection) or chosen.offer.fabric is not Interconnect.EFA:
        return 0
    return chosen.offer.fabric_interfaces


_TAG_KEY_MAX = 128
_TAG_VALUE_MAX = 256


def _tag_problem(key: str, value: str) -> str | None:
    if not key.strip():
        return "an empty key"
    if key.lower().startswith("aws:"):
        return f"key {key!r} starts with 'aws:', which AWS reserves for itself"
    if len(key) > _TAG_KEY_MAX:
        return f"key {key[:20]!r}... has {len(key)} characters (at most {_TAG_KEY_MAX})"
    if len(value) > _TAG_VALUE_MAX:
        return f"the value of {key!r} has {len(value)} characters (at most {_TAG_VALUE_MAX})"
    return None


def tag_values(ctx: RuleContext) -> Iterator[Finding]:
    if not _on_aws(ctx):
        return
    sources = [("tags", ctx.cluster.tags)] + [(f"{path}.labels", pool.labels) for path, pool in ctx.pools()]
    for path, tags in sources:
        for key, value in tags.items():
            problem = _tag_problem(key, value)
            if problem:
                yield error(
                    "aws-tag-invalid",
                    f"{path}[{key!r}]",
                    f"AWS rejects this tag: {problem}",
                    "rename or shorten it (keys up to 128 characters, values up to 256, no 'aws:' prefix)",
                )


RULES = (one_zone, vpc_size, tag_count, tag_values, public_ips)
