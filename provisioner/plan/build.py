"""spec + catalog -> ClusterPlan. Pure and deterministic."""

from __future__ import annotations

from collections.abc import Sequence

from provisioner.catalog import Catalog, GpuModel, Offer
from provisioner.catalog.select import Selection, select_for_pool
from provisioner.plan.kubernetes import plan_kubernetes
from provisioner.plan.models import (
    HOURS_PER_MONTH,
    ClusterPlan,
    Cost,
    KubernetesPlan,
    PoolPlan,
    ServiceFeePlan,
    SoftwarePlan,
    StorageCostPlan,
    SupportNodePlan,
)
from provisioner.plan.slurm import plan_slurm
from provisioner.plan.storage_cost import storage_costs
from provisioner.providers.base import provider_info
from provisioner.spec import CapacityKind, Cluster, GpuVendor, Interconnect, NodePool
from provisioner.validate import validate

MANAGED_BY = "provisioner"


def cluster_tags(cluster: Cluster) -> dict[str, str]:
    """Tags put on every resource: the user's, then ours (ours win, since tools depend on them)."""
    return {**cluster.tags, "provisioner:cluster": cluster.name, "managed-by": MANAGED_BY}


def _software(
    cluster: Cluster, pool: NodePool, gpu: GpuModel, selection: Selection, catalog: Catalog
) -> SoftwarePlan:
    software = cluster.software_for(pool)
    image = catalog.image(cluster.provider.value, software.os.value) if software.image is None else None
    return SoftwarePlan(
        os=software.os,
        image=software.image,
        image_lookup=image.lookup if image else None,
        nvidia_driver=software.nvidia_driver,
        image_driver=image.nvidia_driver if image else None,
        cuda=software.cuda,
        rocm=software.rocm,
        container_runtime=software.container_runtime,
        apptainer=software.apptainer,
        enroot=software.enroot,
        extra_user_data=software.extra_user_data,
        dcgm=software.dcgm and gpu.vendor is GpuVendor.NVIDIA,
        fabric_manager=selection.offer.nvswitch,
        open_kernel_modules=gpu.open_kernel_required,
    )


def _placement(pool: NodePool, nodes: int, interconnect: Interconnect) -> str | None:
    """A new cluster placement group only where it helps and cannot hurt: a reservation or capacity block
    is placed by AWS (launching it into a new group would miss its capacity), and a named group is reused."""
    reserved = pool.capacity in (CapacityKind.RESERVATION, CapacityKind.CAPACITY_BLOCK)
    if nodes < 2 or interconnect is Interconnect.NONE or reserved or pool.placement_group:
        return None
    return "cluster"


def _zone(cluster: Cluster, pool: NodePool, offer: Offer) -> str | None:
    if pool.zone is not None:
        return pool.zone
    info = provider_info(cluster.provider.value)
    zones = offer.zones_in(cluster.region) if info is not None and info.zonal_pools else []
    return zones[0] if zones else None


def _pool(cluster: Cluster, pool: NodePool, catalog: Catalog) -> PoolPlan | None:
    gpu = catalog.resolve_gpu(pool.gpu)
    if gpu is None:
        return None
    selection = select_for_pool(catalog, cluster.provider.value, cluster.region, pool)
    if not isinstance(selection, Selection):
        return None
    offer = selection.offer
    interconnect = offer.fabric if pool.interconnect is Interconnect.AUTO else pool.interconnect
    if interconnect is not Interconnect.NONE and offer.fabric is not interconnect:
        return None
    scratch = next((s.mount_point for s in cluster.storage if s.kind == "scratch"), None)
    return PoolPlan(
        name=pool.name,
        gpu=gpu.name,
        gpu_vendor=gpu.vendor,
        instance_type=offer.instance_type,
        nodes=selection.nodes,
        gpus_per_node=offer.gpu_count,
        total_gpus=offer.gpu_count * selection.nodes,
        vcpus_per_node=offer.vcpus,
        memory_gib_per_node=offer.memory_gib,
        local_nvme_gb_per_node=offer.local_nvme_gb,
        interconnect=interconnect,
        fabric_interfaces=offer.fabric_interfaces if interconnect is not Interconnect.NONE else 0,
        network_gbps=offer.network_gbps,
        placement=_placement(pool, selection.nodes, interconnect),
        placement_group=pool.placement_group,
        capacity=pool.capacity,
        reservation_id=pool.reservation_id,
        zone=_zone(cluster, pool, offer),
        attached_accelerator=offer.attached_accelerator,
        root_volume_gib=pool.root_volume_gib,
        local_scratch=scratch if offer.local_nvme_gb > 0 else None,
        price_per_node_hour=offer.price.per_hour if offer.price else None,
        price_as_of=offer.price.as_of.isoformat() if offer.price else None,
        price_source=f"{offer.price.source}, {offer.price.region}" if offer.price else None,
        labels={
            **pool.labels,
            "provisioner:pool": pool.name,
            "provisioner:gpu": gpu.name,
            "provisioner:fabric": interconnect.value,
            "provisioner:gpu-vendor": GpuVendor(gpu.vendor).value,
        },
        software=_software(cluster, pool, gpu, selection, catalog),
    )


def cost_of(
    pools: list[PoolPlan],
    unresolved: Sequence[str] = (),
    support: Sequence[SupportNodePlan] = (),
    fees: Sequence[ServiceFeePlan] = (),
    scheduler: str = "slurm",
    storage: Sequence[StorageCostPlan] = (),
) -> Cost:
    """Cost of the resolved pools, the scheduler's support nodes, its fees (a managed control plane) and
    the storage set up. A pool, support node, fee or storage without a price, or `unresolved` (declared but
    not planned, so its shape is unknown), makes the total unknown (None), never a silently smaller number.
    Storage billed for what it holds is listed apart (`usage_billed`): it has no price before use."""
    sized = [s for s in storage if s.billing != "used"]
    priced: list[PoolPlan | SupportNodePlan | ServiceFeePlan | StorageCostPlan] = [
        *pools,
        *support,
        *fees,
        *sized,
    ]
    known = sum(p.price_per_hour or 0.0 for p in priced)
    unpriced = [p.name for p in pools if p.price_per_hour is None] + list(unresolved)
    unpriced += [f"{scheduler} {s.role} ({s.instance_type})" for s in support if s.price_per_hour is None]
    unpriced += [fee.name for fee in fees if fee.price_per_hour is None]
    unpriced += [f"storage {s.name} ({s.kind})" for s in sized if s.price_per_hour is None]
    per_hour = None if unpriced else round(known, 4)
    dated = sorted({p.price_as_of for p in priced if p.price_as_of})
    note = "on-demand list prices" + (f" as of {', '.join(dated)}" if dated else "")
    if any(p.capacity.value != "on-demand" for p in pools):
        note += "; spot/reserved capacity is billed differently"
    return Cost(
        per_hour=per_hour,
        per_month=None if per_hour is None else round(per_hour * HOURS_PER_MONTH, 2),
        known_per_hour=round(known, 4),
        unpriced_pools=unpriced,
        note=note,
        usage_billed=[f"{s.name} ({s.kind})" for s in storage if s.billing == "used"],
    )


def plan_cluster(cluster: Cluster, catalog: Catalog) -> ClusterPlan:
    """Validate and resolve. The plan carries every finding; `plan.ok` is False when one is an error."""
    findings = validate(cluster, catalog)
    resolved = [(pool, _pool(cluster, pool, catalog)) for pool in cluster.pools]
    pools = [planned for _, planned in resolved if planned is not None]
    unresolved = [pool.name for pool, planned in resolved if planned is None]
    scheduler = plan_slurm(cluster, pools, catalog) or plan_kubernetes(cluster, pools, catalog)
    support = [] if scheduler is None else scheduler.support_nodes
    fees = [scheduler.control_plane] if isinstance(scheduler, KubernetesPlan) else []
    storage = storage_costs(cluster, catalog)
    return ClusterPlan(
        name=cluster.name,
        provider=cluster.provider,
        region=cluster.region,
        pools=pools,
        storage=list(cluster.storage),
        network=cluster.network,
        tags=cluster_tags(cluster),
        options=cluster.options,
        findings=findings,
        cost=cost_of(pools, unresolved, support, fees, scheduler.kind if scheduler else "slurm", storage),
        storage_costs=storage,
        scheduler=scheduler,
    )
