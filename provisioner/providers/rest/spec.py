"""What a REST cloud's emitter creates, decided from a ClusterPlan. Pure: no Pulumi, no network.

A cluster on a REST cloud (Lambda, Crusoe) is its pools, each one dynamic resource that owns its instances,
and its shared volumes, each one dynamic resource. Every input those resources send is decided here, as
frozen data, so that names, regions, user data and the props a provider's API factory reads are unit-tested
without a Pulumi runtime; the emitter only wires the volumes' ids (known after deploy) into the pools."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioner.bootstrap import HostFirewall, RenderedPool, VolumeMount, render_pool, render_user_data
from provisioner.plan import ClusterPlan, PoolPlan
from provisioner.providers.base import provider_info

NAME_MAX = 48
"""Longest cloud name we give a pool or volume: members add `-<i>`, and both clouds cap names near 64
(Lambda's and Crusoe's exact limits are not in what we read)."""


class RestPlanError(ValueError):
    """A plan the adapter cannot emit (validation reports these first, as findings)."""


def cloud_name(*parts: str, limit: int = NAME_MAX) -> str:
    """`cluster-pool` in lowercase letters, digits and hyphens; a long one is cut and keeps a digest of the
    whole, so that two long names never collide."""
    text = "-".join(parts)
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


OWNER_DIGEST_LENGTH = 6
OWNER_MAX = 128
"""Longest owner we send (Lambda's tag values stop at 128 characters)."""


def owner_digest(owner: str) -> str:
    """Six hex digits naming the stack: in every cloud name, so two stacks that declare the same cluster in
    one account never meet (neither adopts nor deletes the other's instances, partitions or volumes)."""
    return hashlib.sha256(owner.encode()).hexdigest()[:OWNER_DIGEST_LENGTH]


def owned_name(owner: str, *parts: str) -> str:
    """`cluster-pool-<stack digest>` (see cloud_name and owner_digest)."""
    return f"{cloud_name(*parts, limit=NAME_MAX - OWNER_DIGEST_LENGTH - 1)}-{owner_digest(owner)}"


def fit_owner(owner: str) -> str:
    """`org/project/stack` as sent in a tag: cut with a digest of the whole when longer than OWNER_MAX."""
    if len(owner) <= OWNER_MAX:
        return owner
    return f"{owner[: OWNER_MAX - 9]}-{hashlib.sha256(owner.encode()).hexdigest()[:8]}"


def host_firewall(plan: ClusterPlan) -> HostFirewall:
    return HostFirewall(tuple(str(cidr) for cidr in plan.network.ssh_cidrs))


def pool_regions(plan: ClusterPlan, fallbacks: Sequence[str], pinned: bool) -> tuple[str, ...]:
    """The regions a pool may go to, in order: the cluster's, then the declared fallbacks; only the cluster's
    when a volume pins the pool there (a filesystem or shared disk lives in one region)."""
    if pinned:
        return (plan.region,)
    ordered = [plan.region]
    ordered += [r for r in fallbacks if r not in ordered]
    return tuple(ordered)


@dataclass(frozen=True, slots=True)
class RestVolumeSpec:
    key: str
    """The storage's name in the declaration."""
    name: str
    """Its name in the cloud."""
    region: str
    size_gib: int | None
    kind: str
    mount: VolumeMount
    protect: bool

    def props(self, provider: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "region": self.region,
            "size_gib": self.size_gib,
            "kind": self.kind,
            "provider": provider,
            **(extra or {}),
        }


@dataclass(frozen=True, slots=True)
class RestPoolSpec:
    key: str
    """The pool's name in the declaration."""
    name: str
    """The prefix of its members' names in the cloud (`name-0`, `name-1`, ...)."""
    pool: PoolPlan
    regions: tuple[str, ...]
    props: Mapping[str, Any]
    """Everything the pool resource sends, but the volumes' ids."""
    disk_keys: tuple[str, ...] = ()
    """Volumes whose cloud ids the emitter adds to the props as `disks` (known after deploy)."""


@dataclass(frozen=True, slots=True)
class RestClusterSpec:
    name: str
    provider: str
    region: str
    pools: tuple[RestPoolSpec, ...]
    volumes: tuple[RestVolumeSpec, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""
    """The Pulumi stack that owns the cluster (`org/project/stack`); its digest is in every cloud name."""

    def volume(self, key: str) -> RestVolumeSpec:
        return next(v for v in self.volumes if v.key == key)


def pool_props(
    plan: ClusterPlan,
    pool: PoolPlan,
    cloud: str,
    regions: Sequence[str],
    ssh_key: str,
    boot: str,
    owner: str,
) -> dict[str, Any]:
    """The inputs every REST pool sends, whatever the cloud: who it is and which stack owns it, how many,
    where, what, the key, the boot, the tags (sorted, so equal plans give equal inputs)."""
    return {
        "provider": plan.provider.value,
        "owner": fit_owner(owner),
        "pool": cloud,
        "count": pool.nodes,
        "regions": list(regions),
        "instance_type": pool.instance_type,
        "ssh_key": ssh_key,
        "user_data": boot,
        "tags": dict(sorted(plan.tags.items())),
    }


def user_data(plan: ClusterPlan, pool: PoolPlan, volumes: Sequence[RestVolumeSpec]) -> str:
    """The pool's boot: the shared templates, its volumes mounted, the node's own inbound filter; checked
    against the provider's user-data limit."""
    info = provider_info(plan.provider.value)
    limit = info.user_data_limit if info is not None else None
    return render_user_data(
        plan,
        pool,
        (),
        limit,
        volumes=[v.mount for v in volumes],
        host_firewall=host_firewall(plan),
    )


@dataclass(frozen=True, slots=True)
class RestBoot:
    """What one pool's nodes boot with, for `provisioner render`: the files and cloud-config the templates
    make, and the text the pool resource sends (the user data, or Crusoe's startup script)."""

    pool: str
    rendered: RenderedPool
    sent: str


def rest_boots(plan: ClusterPlan, spec: RestClusterSpec) -> list[RestBoot]:
    """Each pool's boot as its adapter decided it: its volumes mounted, the node's own filter."""
    mounts = [v.mount for v in spec.volumes]
    firewall = host_firewall(plan)
    return [
        RestBoot(
            p.key,
            render_pool(plan, p.pool, (), volumes=mounts, host_firewall=firewall),
            str(p.props["user_data"]),
        )
        for p in spec.pools
    ]
