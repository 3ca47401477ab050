"""Crusoe decisions derived from a ClusterPlan. Pure: no Pulumi, no network.

Each pool is one RestPool of `nodes` VMs named `<cluster>-<pool>-<stack digest>-<i>`, created with the
declared SSH public key, the shape's curated image and the boot as a startup script (Crusoe runs a
script, not cloud-init). An InfiniBand pool gets its own IB partition (made and removed by the pool
resource, per location). Shared storage is a Crusoe shared disk per Nfs, attached read-write to every VM
and mounted over virtiofs; a disk lives in one location, so with one every pool stays in the cluster's
location."""

from __future__ import annotations

from provisioner.bootstrap import VolumeMount, render_pool
from provisioner.bootstrap.script import startup_script
from provisioner.plan import ClusterPlan, PoolPlan
from provisioner.providers.base import provider_info
from provisioner.providers.rest.spec import (
    RestClusterSpec,
    RestPlanError,
    RestPoolSpec,
    RestVolumeSpec,
    host_firewall,
    owned_name,
    pool_props,
    pool_regions,
)
from provisioner.spec import CrusoeOptions, GpuVendor, Interconnect, Nfs

PROVIDER = "crusoe"
POOL_FACTORY = "provisioner.providers.crusoe.api:pool_api"
VOLUME_FACTORY = "provisioner.providers.crusoe.api:volume_api"
SXM_IMAGE = "ubuntu22.04-nvidia-sxm-docker:latest"
PCIE_IMAGE = "ubuntu22.04-nvidia-pcie-docker:latest"
"""Crusoe's curated image for PCIe GPUs (recalled, unverified; the SXM one is in Crusoe's examples)."""
PLAIN_IMAGE = "ubuntu22.04:latest"
"""Crusoe's plain Ubuntu image: AMD GPUs get ROCm installed at boot."""
SHARED_DISK_DEFAULT_GIB = 1024
"""Size of a shared disk whose Nfs names no capacity (Crusoe's minimum is not in what we read)."""


def crusoe_options(plan: ClusterPlan) -> CrusoeOptions:
    return plan.options if isinstance(plan.options, CrusoeOptions) else CrusoeOptions()


def image_for(pool: PoolPlan, options: CrusoeOptions) -> str:
    if pool.software.image is not None:
        return pool.software.image
    if options.image is not None:
        return options.image
    if pool.gpu_vendor is GpuVendor.AMD:
        return PLAIN_IMAGE
    sxm = pool.software.fabric_manager or pool.interconnect is Interconnect.INFINIBAND
    return SXM_IMAGE if sxm else PCIE_IMAGE


def shared_disks(name: str, plan: ClusterPlan, owner: str) -> tuple[RestVolumeSpec, ...]:
    found = []
    for storage in plan.storage:
        if isinstance(storage, Nfs):
            cloud = owned_name(owner, name, storage.name)
            mount = VolumeMount(cloud, "virtiofs", storage.mount_point, f"Crusoe shared disk {cloud}")
            size = storage.capacity_gib or SHARED_DISK_DEFAULT_GIB
            kind = "shared-volume"
            found.append(RestVolumeSpec(storage.name, cloud, plan.region, size, kind, mount, storage.protect))
    return tuple(found)


def boot_script(plan: ClusterPlan, pool: PoolPlan, volumes: tuple[RestVolumeSpec, ...]) -> str:
    info = provider_info(PROVIDER)
    rendered = render_pool(
        plan, pool, (), volumes=[v.mount for v in volumes], host_firewall=host_firewall(plan)
    )
    limit = info.user_data_limit if info is not None else None
    return startup_script(rendered.files, plan.name, pool.name, pool.software.extra_user_data, limit)


def crusoe_plan(name: str, plan: ClusterPlan, owner: str) -> RestClusterSpec:
    """`owner`: the Pulumi stack (`org/project/stack`) the cluster belongs to."""
    options = crusoe_options(plan)
    if options.project_id is None or options.ssh_public_key is None:
        raise RestPlanError("options.project_id and options.ssh_public_key must be set on Crusoe")
    volumes = shared_disks(name, plan, owner)
    regions = pool_regions(plan, options.fallback_locations, pinned=bool(volumes))
    pools = []
    for pool in plan.pools:
        cloud = owned_name(owner, name, pool.name)
        boot = boot_script(plan, pool, volumes)
        props = pool_props(plan, pool, cloud, regions, options.ssh_public_key, boot, owner)
        props["project_id"] = options.project_id
        props["image"] = image_for(pool, options)
        # every InfiniBand pool has its partition, whatever its size: a resize never flips it (a replacement)
        props["ib_partition"] = pool.interconnect is Interconnect.INFINIBAND
        keys = tuple(v.key for v in volumes)
        pools.append(RestPoolSpec(pool.name, cloud, pool, regions, props, keys))
    return RestClusterSpec(name, PROVIDER, plan.region, tuple(pools), volumes, dict(plan.tags), owner)
