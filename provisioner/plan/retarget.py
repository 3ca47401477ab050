"""The same declaration on another cloud: what `provisioner plan --provider P --region R` plans.

Intent stays (GPU model and count, storage, software versions, scheduler, tags); choices that only make sense
on the original cloud are dropped so that the target's planner picks its own: shapes, zones, reservations,
placement groups, a named fabric (AUTO picks the target shape's), existing network ids, custom images, support
node shapes and provider options. A Lustre filesystem the target cannot make at the declared size and
throughput tier is fitted to the target's smallest one that holds as much at least as fast. Each dropped or
fitted choice is listed, so the reader sees what was not carried over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provisioner.providers.base import Capability, provider_info
from provisioner.providers.gcp.limits import LUSTRE_MIN_GIB as GCP_LUSTRE_MIN_GIB
from provisioner.spec import CapacityKind, Cluster, Interconnect, Kubernetes, Lustre, Nfs, ProviderName, Slurm
from provisioner.spec.storage import Storage

_RESERVED = (CapacityKind.RESERVATION, CapacityKind.CAPACITY_BLOCK)
Drop = Callable[[str, object], None]


@dataclass(frozen=True, slots=True)
class Retargeted:
    cluster: Cluster
    dropped: tuple[str, ...]
    """'pools[0].instance_type=p5.48xlarge', ...: what the original declared and the target does not get."""


def retarget(cluster: Cluster, provider: ProviderName, region: str) -> Retargeted:
    if cluster.provider is provider and cluster.region == region:
        return Retargeted(cluster, ())
    dropped: list[str] = []

    def drop(path: str, value: object) -> None:
        dropped.append(f"{path}={value}")

    pools = []
    for i, pool in enumerate(cluster.pools):
        changes: dict[str, object] = {}
        for field in ("instance_type", "zone", "reservation_id", "placement_group"):
            value = getattr(pool, field)
            if value is not None:
                drop(f"pools[{i}].{field}", value)
                changes[field] = None
        if pool.capacity in _RESERVED:
            drop(f"pools[{i}].capacity", pool.capacity.value)
            changes["capacity"] = CapacityKind.ON_DEMAND
        if pool.interconnect not in (Interconnect.AUTO, Interconnect.NONE):
            drop(f"pools[{i}].interconnect", pool.interconnect.value)
            changes["interconnect"] = Interconnect.AUTO
        if pool.software is not None and pool.software.image is not None:
            drop(f"pools[{i}].software.image", pool.software.image)
            changes["software"] = pool.software.model_copy(update={"image": None})
        pools.append(pool.model_copy(update=changes))
    storage = [_fit_storage(item, i, provider, drop) for i, item in enumerate(cluster.storage)]
    update: dict[str, object] = {"provider": provider, "region": region, "pools": pools, "storage": storage}
    if cluster.options is not None:
        drop("options.provider", cluster.options.provider)
        update["options"] = None
    if cluster.software.image is not None:
        drop("software.image", cluster.software.image)
        update["software"] = cluster.software.model_copy(update={"image": None})
    network = cluster.network
    if network.vpc_id is not None or network.subnet_ids:
        drop("network.vpc_id", network.vpc_id)
        update["network"] = network.model_copy(update={"vpc_id": None, "subnet_ids": []})
    scheduler = _scheduler(cluster.scheduler, drop)
    if scheduler is not cluster.scheduler:
        update["scheduler"] = scheduler
    moved = cluster.model_copy(update=update)
    # model_copy skips validation: validate the result as a fresh declaration
    return Retargeted(Cluster.model_validate(moved.model_dump(mode="json")), tuple(dropped))


def _supports(provider: ProviderName, capability: Capability) -> bool:
    info = provider_info(provider.value)
    return info is not None and info.unsupported(capability) is None


def _fit_storage(item: Storage, index: int, provider: ProviderName, drop: Drop) -> Storage:
    """A shared filesystem the target makes: Lustre fitted to its sizes; an Nfs share becomes Lustre where the
    target has no NFS but Lustre (AWS), and Lustre becomes an Nfs share where the target has only NFS (Lambda,
    Crusoe). Same name, mount point and protection."""
    has_nfs, has_lustre = _supports(provider, Capability.NFS), _supports(provider, Capability.LUSTRE)
    if isinstance(item, Nfs) and not has_nfs and has_lustre:
        drop(f"storage[{index}]", f"nfs (no NFS on {provider.value}: a Lustre filesystem instead)")
        item = Lustre(name=item.name, mount_point=item.mount_point, capacity_gib=1, protect=item.protect)
    elif isinstance(item, Lustre) and not has_lustre and has_nfs:
        drop(f"storage[{index}]", f"lustre (no Lustre on {provider.value}: an NFS share instead)")
        return Nfs(
            name=item.name, mount_point=item.mount_point, capacity_gib=item.capacity_gib, protect=item.protect
        )
    return _fit_lustre(item, index, provider, drop) if isinstance(item, Lustre) else item


AWS_LUSTRE_TIERS = (125, 250, 500, 1000)
"""FSx for Lustre PERSISTENT_2 throughput tiers (MB/s per TiB); sizes 1200, 2400, then multiples of 2400."""


def _fit_lustre(item: Lustre, index: int, provider: ProviderName, drop: Drop) -> Lustre:
    size, tier = item.capacity_gib, item.throughput_mib_per_tib
    if provider is ProviderName.GCP:
        faster = [t for t in sorted(GCP_LUSTRE_MIN_GIB) if t >= tier] or [max(GCP_LUSTRE_MIN_GIB)]
        fits = [t for t in faster if size >= GCP_LUSTRE_MIN_GIB[t]]
        new_tier = fits[0] if fits else faster[-1]
        step = GCP_LUSTRE_MIN_GIB[new_tier]  # the minimum is also the step size
        new_size = max(step, -(-size // step) * step)
    elif provider is ProviderName.AWS:
        new_tier = next((t for t in AWS_LUSTRE_TIERS if t >= tier), AWS_LUSTRE_TIERS[-1])
        new_size = size if size in (1200, 2400) else max(1200, -(-size // 2400) * 2400)
        if size < 1200:
            new_size = 1200
    else:
        return item
    if (new_size, new_tier) == (size, tier):
        return item
    drop(f"storage[{index}]", f"{size} GiB at {tier} MB/s/TiB (fitted: {new_size} GiB at {new_tier})")
    return item.model_copy(update={"capacity_gib": new_size, "throughput_mib_per_tib": new_tier})


def _scheduler(scheduler: Slurm | Kubernetes | None, drop: Drop) -> Slurm | Kubernetes | None:
    """The scheduler without its support nodes' shapes (the target's defaults take over)."""
    if isinstance(scheduler, Slurm):
        update: dict[str, object] = {}
        if scheduler.controller.instance_type is not None:
            drop("scheduler.controller.instance_type", scheduler.controller.instance_type)
            update["controller"] = scheduler.controller.model_copy(update={"instance_type": None})
        if scheduler.login is not None and scheduler.login.instance_type is not None:
            drop("scheduler.login.instance_type", scheduler.login.instance_type)
            update["login"] = scheduler.login.model_copy(update={"instance_type": None})
        return scheduler.model_copy(update=update) if update else scheduler
    if isinstance(scheduler, Kubernetes) and scheduler.system_pool.instance_type is not None:
        drop("scheduler.system_pool.instance_type", scheduler.system_pool.instance_type)
        system = scheduler.system_pool.model_copy(update={"instance_type": None})
        return scheduler.model_copy(update={"system_pool": system})
    return scheduler
