"""Slurm: the declaration's `Slurm(...)` + the resolved pools -> SlurmPlan. Pure and deterministic."""

from __future__ import annotations

from collections.abc import Sequence

from provisioner.catalog import Catalog
from provisioner.plan.models import (
    PoolPlan,
    SlurmNodeSetPlan,
    SlurmPartitionPlan,
    SlurmPlan,
    SupportNodePlan,
)
from provisioner.providers.base import provider_info
from provisioner.spec import Cluster, Interconnect, Lustre, Nfs, Slurm

MEMORY_RESERVE_FRACTION = 0.05
"""Memory kept from Slurm for the OS, the page cache of the daemons and the GPU driver."""
MEMORY_RESERVE_MIN_MB = 2048


def gres_type(gpu: str) -> str:
    """The GRES type of a GPU model: 'H100' -> 'h100', 'A100-80GB' -> 'a100-80gb'."""
    return gpu.lower()


def real_memory_mb(memory_gib: float) -> int:
    """Nominal memory less the reserve. Nodes compute the same from /proc/meminfo at boot, which is what
    counts: a RealMemory above what the kernel sees would keep the node out of service."""
    total = int(memory_gib * 1024)
    return max(total - max(int(total * MEMORY_RESERVE_FRACTION), MEMORY_RESERVE_MIN_MB), 1)


def support_node(
    cluster: Cluster, catalog: Catalog, role: str, instance_type: str | None, count: int, disk: int
) -> SupportNodePlan:
    info = provider_info(cluster.provider.value)
    chosen = instance_type or (info.support_shapes.get(role) if info else None) or "unknown"
    shape = catalog.cpu_shape(cluster.provider.value, chosen)
    price = shape.price if shape else None
    return SupportNodePlan(
        role=role,
        instance_type=chosen,
        count=count,
        vcpus=shape.vcpus if shape else None,
        memory_gib=shape.memory_gib if shape else None,
        root_volume_gib=disk,
        price_per_node_hour=price.per_hour if price else None,
        price_as_of=price.as_of.isoformat() if price else None,
        price_source=f"{price.source}, {price.region}" if price else None,
    )


def nodeset_name(pool: str) -> str:
    return f"ns-{pool}"


def nodeset(pool: PoolPlan) -> SlurmNodeSetPlan:
    kind = gres_type(pool.gpu)
    feature = f"pool-{pool.name}"
    features = [feature, kind, pool.gpu_vendor.value]
    if pool.interconnect is not Interconnect.NONE:
        features.append(pool.interconnect.value)
    return SlurmNodeSetPlan(
        pool=pool.name,
        nodeset=nodeset_name(pool.name),
        feature=feature,
        features=features,
        gres_type=kind,
        gres=f"gpu:{kind}:{pool.gpus_per_node}",
        gpus_per_node=pool.gpus_per_node,
        gpu_vendor=pool.gpu_vendor,
        cpus=pool.vcpus_per_node,
        real_memory_mb=real_memory_mb(pool.memory_gib_per_node),
        nodes=pool.nodes,
    )


def partitions(slurm: Slurm, pools: Sequence[PoolPlan]) -> list[SlurmPartitionPlan]:
    """The declared partitions over the pools that were planned, else one per pool (the first default)."""
    planned = {p.name for p in pools}
    if not slurm.partitions:
        return [
            SlurmPartitionPlan(
                name=p.name,
                pools=[p.name],
                nodesets=[nodeset_name(p.name)],
                default=i == 0,
                max_time="INFINITE",
                default_time=None,
                exclusive=False,
            )
            for i, p in enumerate(pools)
        ]
    declared = [
        SlurmPartitionPlan(
            name=part.name,
            pools=[name for name in part.pools if name in planned],
            nodesets=[nodeset_name(name) for name in part.pools if name in planned],
            default=part.default,
            max_time=part.max_time,
            default_time=part.default_time,
            exclusive=part.exclusive,
        )
        for part in slurm.partitions
    ]
    if declared and not any(p.default for p in declared):
        declared[0] = declared[0].model_copy(update={"default": True})
    return [p for p in declared if p.pools]


def shared_home(cluster: Cluster, slurm: Slurm) -> str | None:
    if not slurm.shared_home:
        return None
    shared = next((s for s in cluster.storage if isinstance(s, Lustre | Nfs)), None)
    return None if shared is None else f"{shared.mount_point.rstrip('/')}/home"


def slurm_cluster_name(cluster: Cluster, slurm: Slurm) -> str:
    """ClusterName: lower case, '_' for '-' (slurmdbd makes table names of it)."""
    return slurm.cluster_name or cluster.name.lower().replace("-", "_")


def plan_slurm(cluster: Cluster, pools: Sequence[PoolPlan], catalog: Catalog) -> SlurmPlan | None:
    slurm = cluster.scheduler
    if not isinstance(slurm, Slurm):
        return None
    login, controller = slurm.login, slurm.controller
    return SlurmPlan(
        version=slurm.version,
        cluster_name=slurm_cluster_name(cluster, slurm),
        controller=support_node(
            cluster, catalog, "controller", controller.instance_type, 1, controller.root_volume_gib
        ),
        login=None
        if login is None
        else support_node(cluster, catalog, "login", login.instance_type, login.count, login.root_volume_gib),
        nodesets=[nodeset(p) for p in pools],
        partitions=partitions(slurm, pools),
        accounting=slurm.accounting,
        pyxis=slurm.pyxis if slurm.pyxis is not None else any(p.software.enroot for p in pools),
        health_check_interval=slurm.health_check_interval,
        shared_home=shared_home(cluster, slurm),
        max_nodes=slurm.max_nodes,
        controller_ip=None if controller.private_ip is None else str(controller.private_ip),
        controller_protect=controller.protect,
        metadata_root_only=slurm.metadata_root_only,
    )
