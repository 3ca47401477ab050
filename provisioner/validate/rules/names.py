"""Names become cloud resource names and host names: DNS-safe, short, unique."""

import re
from collections.abc import Iterator

from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error

DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
CLUSTER_NAME_MAX = 32
POOL_NAME_MAX = 24


def _check_name(path: str, value: str, limit: int, what: str) -> Iterator[Finding]:
    if not DNS_LABEL.fullmatch(value):  # fullmatch: `$` alone lets a trailing newline through
        suggestion = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-") or "a-name"
        if not suggestion[0].isalpha():
            suggestion = f"x-{suggestion}"
        yield error(
            "name-not-dns-safe",
            path,
            f"{value!r} is not a DNS-safe {what} name: use lower-case letters, digits and '-', "
            "starting with a letter and not ending with '-'",
            f'name="{suggestion[:limit].rstrip("-")}"',
        )
    if len(value) > limit:
        yield error(
            "name-too-long",
            path,
            f"{value!r} has {len(value)} characters; a {what} name has at most {limit} "
            "(cloud resource names are built from it)",
            f'name="{value[:limit].rstrip("-")}"',
        )


def cluster_name(ctx: RuleContext) -> Iterator[Finding]:
    yield from _check_name("name", ctx.cluster.name, CLUSTER_NAME_MAX, "cluster")


def pool_names(ctx: RuleContext) -> Iterator[Finding]:
    seen: dict[str, str] = {}
    for path, pool in ctx.pools():
        yield from _check_name(f"{path}.name", pool.name, POOL_NAME_MAX, "pool")
        if pool.name in seen:
            yield error(
                "duplicate-pool-name",
                f"{path}.name",
                f"{pool.name!r} is already the name of {seen[pool.name]}; pool names must be unique",
                "rename one of the pools",
            )
        else:
            seen[pool.name] = path


def storage_names(ctx: RuleContext) -> Iterator[Finding]:
    seen: dict[str, str] = {}
    for i, item in enumerate(ctx.cluster.storage):
        path = f"storage[{i}].name"
        yield from _check_name(path, item.name, POOL_NAME_MAX, "storage")
        if item.name in seen:
            yield error(
                "duplicate-storage-name",
                path,
                f"{item.name!r} is already the name of {seen[item.name]}",
                "give each storage item its own name",
            )
        else:
            seen[item.name] = f"storage[{i}]"


def component_name_findings(name: str) -> list[Finding]:
    """The GpuCluster's own name prefixes every cloud resource name, so it obeys the cluster-name rules."""
    return list(_check_name("GpuCluster(name)", name, CLUSTER_NAME_MAX, "component"))


RULES = (cluster_name, pool_names, storage_names)
