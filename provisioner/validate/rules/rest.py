"""Mistakes only the REST clouds (Lambda, Crusoe) have: what their APIs require, what a regional volume
does to failover, and the public address every node gets."""

import re
from collections.abc import Iterator

from provisioner.catalog.select import Selection
from provisioner.spec import CapacityKind, CrusoeOptions, LambdaOptions, Nfs, ProviderName
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error, warning

_REST = (ProviderName.LAMBDA, ProviderName.CRUSOE)
CRUSOE_RESERVED_ONLY = frozenset({"h100-80gb-sxm-ib.8x", "a100-80gb-sxm-ib.8x"})
"""Crusoe lists H100 SXM and A100 SXM as reserved-only ("GPU Quota vs Capacity", support.crusoecloud.com)."""


def _fallbacks(ctx: RuleContext) -> tuple[str, list[str]]:
    options = ctx.cluster.options
    if isinstance(options, LambdaOptions):
        return "options.fallback_regions", list(options.fallback_regions)
    if isinstance(options, CrusoeOptions):
        return "options.fallback_locations", list(options.fallback_locations)
    return "", []


def required_options(ctx: RuleContext) -> Iterator[Finding]:
    provider = ctx.cluster.provider
    options = ctx.cluster.options
    if provider is ProviderName.LAMBDA:
        if not isinstance(options, LambdaOptions) or options.ssh_key_name is None:
            yield error(
                "lambda-ssh-key-missing",
                "options.ssh_key_name",
                "Lambda launches every instance with exactly one SSH key of the account, and none is named",
                'set options=LambdaOptions(ssh_key_name="<a key in your Lambda account>")',
            )
    elif provider is ProviderName.CRUSOE:
        crusoe = options if isinstance(options, CrusoeOptions) else CrusoeOptions()
        if crusoe.project_id is None:
            yield error(
                "crusoe-project-missing",
                "options.project_id",
                "Crusoe VMs are created in a project, and none is named",
                'set options=CrusoeOptions(project_id="<project UUID>", ...) (`crusoe projects list`)',
            )
        if crusoe.ssh_public_key is None:
            yield error(
                "crusoe-ssh-key-missing",
                "options.ssh_public_key",
                "Crusoe creates every VM with an SSH public key, and none is given",
                'set options=CrusoeOptions(ssh_public_key="ssh-ed25519 AAAA... you@host", ...)',
            )


def one_lambda_filesystem(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.cluster.provider is not ProviderName.LAMBDA:
        return
    shares = [i for i, s in enumerate(ctx.cluster.storage) if isinstance(s, Nfs)]
    if len(shares) > 1:
        yield error(
            "lambda-one-filesystem",
            f"storage[{shares[1]}]",
            f"{len(shares)} Nfs shares, but Lambda attaches at most one filesystem to an instance",
            "keep one Nfs and use folders in it",
        )


def failover_and_storage(ctx: RuleContext) -> Iterator[Finding]:
    """Declared fallbacks are ignored when a volume pins the pools, and should be regions the shape has."""
    if ctx.cluster.provider not in _REST:
        return
    path, fallbacks = _fallbacks(ctx)
    if not fallbacks:
        return
    if any(isinstance(s, Nfs) for s in ctx.cluster.storage):
        yield warning(
            "rest-failover-pinned",
            path,
            f"the shared filesystem lives in {ctx.cluster.region}, so pools stay there: the fallbacks "
            f"{fallbacks} are not used",
            "drop the fallbacks, or the shared storage if the pools may move",
        )
        return
    for pool_path, pool in ctx.pools():
        chosen = ctx.selection(pool)
        if not isinstance(chosen, Selection) or not chosen.offer.regions:
            continue
        unknown = [r for r in fallbacks if r not in chosen.offer.regions]
        if unknown:
            yield warning(
                "rest-fallback-region-unknown",
                path,
                f"{pool_path}: {chosen.offer.instance_type} is not recorded in {unknown} "
                f"(the catalog has it in {', '.join(sorted(chosen.offer.regions))}); launches there will "
                "fail and move on",
                "list regions that have the shape, or keep them if you know the catalog is behind",
            )


def crusoe_reserved_only(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.cluster.provider is not ProviderName.CRUSOE:
        return
    for path, pool in ctx.pools():
        chosen = ctx.selection(pool)
        shape = chosen.offer.instance_type if isinstance(chosen, Selection) else pool.instance_type
        if shape in CRUSOE_RESERVED_ONLY and pool.capacity is CapacityKind.ON_DEMAND:
            yield warning(
                "crusoe-reserved-only",
                f"{path}.capacity",
                f"Crusoe lists {shape} as reserved-only: on-demand launches are likely to fail out of stock",
                "set capacity='reservation' if you have a reserved instance agreement (VMs join a matching "
                "reservation by themselves), or choose l40s-48gb.8x / a100-80gb.1x for on-demand",
            )


LAMBDA_TAG_KEY = re.compile(r"^[a-z][a-z0-9-:]+$")
"""Lambda's tag keys (Lambda Cloud API OpenAPI 1.8.3: at most 55 characters; values at most 128)."""


def lambda_tags(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.cluster.provider is not ProviderName.LAMBDA:
        return
    for key, value in ctx.cluster.tags.items():
        if not LAMBDA_TAG_KEY.fullmatch(key) or len(key) > 55 or len(value) > 128:
            yield error(
                "lambda-tag-invalid",
                f"tags.{key}",
                f"Lambda refuses the tag {key!r}={value!r}: keys are lowercase letters, digits, '-' and ':', "
                "starting with a letter, at most 55 characters; values at most 128",
                f"rename it, e.g. {re.sub(r'[^a-z0-9:-]+', '-', key.lower()).strip('-')[:55] or 'team'!r}",
            )


def public_nodes(ctx: RuleContext) -> Iterator[Finding]:
    """Nodes on these clouds have public addresses: with no SSH range declared, nobody can log in."""
    if ctx.cluster.provider not in _REST or ctx.cluster.network.ssh_cidrs:
        return
    yield warning(
        "rest-ssh-closed",
        "network.ssh_cidrs",
        f"{ctx.cluster.provider.value} nodes get public addresses and each node filters its own inbound "
        "traffic: with no SSH range declared, SSH is open only to private ranges, so you cannot log in from "
        "outside",
        'declare where you log in from: network=Network(ssh_cidrs=["203.0.113.0/24"]) (never 0.0.0.0/0)',
    )


RULES = (
    required_options,
    one_lambda_filesystem,
    failover_and_storage,
    crusoe_reserved_only,
    lambda_tags,
    public_nodes,
)
