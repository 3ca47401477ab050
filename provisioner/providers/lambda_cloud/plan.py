"""Lambda decisions derived from a ClusterPlan. Pure: no Pulumi, no network.

Each pool is one RestPool of `nodes` instances named `<cluster>-<pool>-<stack digest>-<i>`, launched with
the account's SSH key, the cluster's filesystem (Lambda attaches at most one per launch) and the boot as
cloud-init user data. A Lambda filesystem is regional: with one, every pool stays in the cluster's
region; without, a pool that meets no capacity moves to the declared fallback regions, in order."""

from __future__ import annotations

from provisioner.bootstrap import VolumeMount
from provisioner.plan import ClusterPlan
from provisioner.providers.rest.spec import (
    RestClusterSpec,
    RestPlanError,
    RestPoolSpec,
    RestVolumeSpec,
    owned_name,
    pool_props,
    pool_regions,
    user_data,
)
from provisioner.spec import LambdaOptions, Nfs

PROVIDER = "lambda"
POOL_FACTORY = "provisioner.providers.lambda_cloud.api:pool_api"
VOLUME_FACTORY = "provisioner.providers.lambda_cloud.filesystems:volume_api"
FILESYSTEM_ROOT = "/lambda/nfs"
"""Where Lambda mounts a filesystem attached at launch: /lambda/nfs/<name> (Lambda's filesystem docs, as
recalled; unverified)."""


def lambda_options(plan: ClusterPlan) -> LambdaOptions:
    return plan.options if isinstance(plan.options, LambdaOptions) else LambdaOptions()


def filesystems(name: str, plan: ClusterPlan, owner: str) -> tuple[RestVolumeSpec, ...]:
    found = []
    for storage in plan.storage:
        if isinstance(storage, Nfs):
            cloud = owned_name(owner, name, storage.name)
            mount = VolumeMount(
                f"{FILESYSTEM_ROOT}/{cloud}", "bind", storage.mount_point, f"Lambda filesystem {cloud}"
            )
            found.append(
                RestVolumeSpec(storage.name, cloud, plan.region, None, "filesystem", mount, storage.protect)
            )
    return tuple(found)


def lambda_plan(name: str, plan: ClusterPlan, owner: str) -> RestClusterSpec:
    """`owner`: the Pulumi stack (`org/project/stack`) the cluster belongs to."""
    options = lambda_options(plan)
    if options.ssh_key_name is None:
        raise RestPlanError("options.ssh_key_name is not set: Lambda launches need the name of an SSH key")
    volumes = filesystems(name, plan, owner)
    if len(volumes) > 1:
        raise RestPlanError(f"Lambda attaches one filesystem per instance; the plan has {len(volumes)}")
    regions = pool_regions(plan, options.fallback_regions, pinned=bool(volumes))
    pools = []
    for pool in plan.pools:
        cloud = owned_name(owner, name, pool.name)
        boot = user_data(plan, pool, volumes)
        props = pool_props(plan, pool, cloud, regions, options.ssh_key_name, boot, owner)
        props["file_systems"] = [v.name for v in volumes]
        pools.append(RestPoolSpec(pool.name, cloud, pool, regions, props))
    return RestClusterSpec(name, PROVIDER, plan.region, tuple(pools), volumes, dict(plan.tags), owner)
