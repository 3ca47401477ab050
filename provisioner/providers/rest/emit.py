"""The emit side shared by the REST clouds: a RestClusterSpec -> dynamic resources under the GpuCluster.

Per shared volume a `provisioner:<provider>:SharedFilesystem` component holding one RestVolume (protected
unless the declaration says otherwise); per pool a `provisioner:<provider>:NodePool` component holding one
RestPool, which waits for the volumes it mounts. Names are `{name}-{key}` so URNs stay stable; the cloud
names inside the props are the spec's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from provisioner.plan import ClusterPlan
from provisioner.providers.rest.dynamic import RestPool
from provisioner.providers.rest.spec import RestClusterSpec, RestPoolSpec, RestVolumeSpec
from provisioner.providers.rest.volume import RestVolume

POOL_TIMEOUT = "60m"
"""An 8-GPU VM can take many minutes to boot; the pool resource's own bounded waits end sooner."""


@dataclass(frozen=True, slots=True)
class RestFactories:
    pool: str
    volume: str
    volume_extra: Callable[[RestClusterSpec], dict[str, Any]] = lambda spec: {}
    """Props every volume of the cluster also needs (Crusoe: its project)."""


class SharedFilesystem(pulumi.ComponentResource):
    def __init__(
        self, name: str, spec: RestClusterSpec, volume: RestVolumeSpec, factories: RestFactories, parent: Any
    ) -> None:
        super().__init__(
            f"provisioner:{spec.provider}:SharedFilesystem",
            f"{name}-{volume.key}",
            None,
            pulumi.ResourceOptions(parent=parent),
        )
        self.volume = RestVolume(
            f"{name}-{volume.key}-volume",
            factories.volume,
            volume.props(spec.provider, factories.volume_extra(spec)),
            pulumi.ResourceOptions(parent=self, protect=volume.protect),
        )
        self.register_outputs({"volume_id": self.volume.volume_id})


class NodePool(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        spec: RestClusterSpec,
        pool: RestPoolSpec,
        volumes: dict[str, SharedFilesystem],
        factories: RestFactories,
        parent: Any,
    ) -> None:
        super().__init__(
            f"provisioner:{spec.provider}:NodePool",
            f"{name}-{pool.key}",
            None,
            pulumi.ResourceOptions(parent=parent),
        )
        props: dict[str, Any] = dict(pool.props)
        if pool.disk_keys:
            props["disks"] = [volumes[key].volume.volume_id for key in pool.disk_keys]
        self.pool = RestPool(
            f"{name}-{pool.key}-instances",
            factories.pool,
            props,
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[v.volume for v in volumes.values()],
                # members are found by name: the old pool goes before a new one takes its names
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create=POOL_TIMEOUT, update=POOL_TIMEOUT),
            ),
        )
        self.register_outputs({"instances": self.pool.instances, "region": self.pool.region})


DEFAULT_ORGANIZATION = "organization"
"""What Pulumi calls the organization of a stack that has none (self-managed backends): also ours when the
engine does not say, so an engine upgrade does not rename (and so replace) every pool."""


def stack_owner() -> str:
    """`org/project/stack` of the Pulumi program running now: who owns the cloud resources it makes."""
    try:
        organization = pulumi.get_organization() or DEFAULT_ORGANIZATION
    except Exception:  # an SDK or engine that does not say: the project and stack still tell stacks apart
        organization = DEFAULT_ORGANIZATION
    return f"{organization}/{pulumi.get_project()}/{pulumi.get_stack()}"


def _addresses(instances: list[dict[str, Any]] | None, key: str = "address") -> list[str | None]:
    """The members' public (or private) addresses, in member order (what users SSH to)."""
    return [i.get(key) for i in instances or []]


def _private_addresses(instances: list[dict[str, Any]] | None) -> list[str | None]:
    return _addresses(instances, "private_address")


def emit_rest(
    name: str, plan: ClusterPlan, parent: Any, spec: RestClusterSpec, factories: RestFactories
) -> dict[str, Any]:
    """The cluster's volumes and pools; its outputs: each pool's instances, region, public and private
    addresses, each volume's id."""
    del plan  # the spec holds every decision
    volumes = {v.key: SharedFilesystem(name, spec, v, factories, parent) for v in spec.volumes}
    pools = {p.key: NodePool(name, spec, p, volumes, factories, parent) for p in spec.pools}
    return {
        "pools": {key: p.pool.instances for key, p in pools.items()},
        "regions": {key: p.pool.region for key, p in pools.items()},
        "addresses": {key: p.pool.instances.apply(_addresses) for key, p in pools.items()},
        "private_addresses": {key: p.pool.instances.apply(_private_addresses) for key, p in pools.items()},
        "volumes": {key: v.volume.volume_id for key, v in volumes.items()},
    }
