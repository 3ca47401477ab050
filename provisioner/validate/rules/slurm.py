"""The Slurm declaration: the provider runs it, partitions cover real pools, limits and versions hold."""

import math
import re
from collections.abc import Iterator

from provisioner.catalog.select import Selection
from provisioner.providers.base import Capability, provider_info
from provisioner.spec import GpuVendor, Lustre, Nfs, Slurm
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error, warning
from provisioner.validate.rules.support import unknown_support_shape

MIN_VERSION = (23, 11)
"""Oldest Slurm release we build: login nodes run sackd, compute nodes are dynamic and configless."""
_INFINITE = ("INFINITE", "UNLIMITED")
_DAYS = re.compile(r"^([0-9]+)-([0-9]{1,2})(?::([0-9]{2}))?(?::([0-9]{2}))?$")
_CLOCK = re.compile(r"^([0-9]+)(?::([0-9]{2}))?(?::([0-9]{2}))?$")


def slurm_time_seconds(text: str) -> float:
    """Seconds of a Slurm time limit; math.inf for INFINITE or UNLIMITED.

    Formats: 'M', 'M:SS', 'H:MM:SS', 'D-H', 'D-H:MM', 'D-H:MM:SS' (as slurm.conf and sbatch --time read
    them). Anything else raises ValueError."""
    value = text.strip()
    if value.upper() in _INFINITE:
        return math.inf
    days = _DAYS.match(value)
    if days:
        d, h, m, s = (int(part) if part else 0 for part in days.groups())
        return float(((d * 24 + h) * 60 + m) * 60 + s)
    clock = _CLOCK.match(value)
    if clock:
        parts = [int(part) for part in clock.groups() if part is not None]
        if len(parts) == 1:
            return float(parts[0] * 60)
        if len(parts) == 2:
            return float(parts[0] * 60 + parts[1])
        return float((parts[0] * 60 + parts[1]) * 60 + parts[2])
    raise ValueError(f"{text!r} is not a Slurm time limit")


def _slurm(ctx: RuleContext) -> Slurm | None:
    scheduler = ctx.cluster.scheduler
    return scheduler if isinstance(scheduler, Slurm) else None


def provider_runs_slurm(ctx: RuleContext) -> Iterator[Finding]:
    info = provider_info(ctx.cluster.provider.value)
    if _slurm(ctx) is None or info is None:  # an unknown provider is reported by the provider rules
        return
    reason = info.unsupported(Capability.SLURM)
    if reason is not None:
        yield error(
            "slurm-unsupported",
            "scheduler",
            f"{ctx.cluster.provider.value!r}: {reason}; Slurm is supported on "
            "the providers that list the 'slurm' capability",
            "set scheduler=None (bare GPU nodes), or use a provider with Slurm support (e.g. aws)",
        )


def partition_pools(ctx: RuleContext) -> Iterator[Finding]:
    slurm = _slurm(ctx)
    if slurm is None:
        return
    declared = [pool.name for pool in ctx.cluster.pools]
    for i, part in enumerate(slurm.partitions):
        for j, name in enumerate(part.pools):
            if name not in declared:
                yield error(
                    "slurm-partition-unknown-pool",
                    f"scheduler.partitions[{i}].pools[{j}]",
                    f"{name!r} is not a pool of this cluster; allowed: {', '.join(map(repr, declared))}",
                    "name a declared pool (pool names are case-sensitive), or declare the pool",
                )


def partition_names(ctx: RuleContext) -> Iterator[Finding]:
    slurm = _slurm(ctx)
    if slurm is None:
        return
    seen: dict[str, int] = {}
    first_default: int | None = None
    for i, part in enumerate(slurm.partitions):
        key = part.name.lower()
        if key in seen:
            yield error(
                "slurm-partition-duplicate",
                f"scheduler.partitions[{i}].name",
                f"{part.name!r} is already the name of scheduler.partitions[{seen[key]}] "
                "(Slurm partition names are compared without case); allowed: one partition per name",
                "rename this partition, or merge its pools into the other one",
            )
        else:
            seen[key] = i
        if not part.default:
            continue
        if first_default is None:
            first_default = i
        else:
            yield error(
                "slurm-partition-default-many",
                f"scheduler.partitions[{i}].default",
                f"{part.name!r} is default but so is scheduler.partitions[{first_default}] "
                f"({slurm.partitions[first_default].name!r}); allowed: at most one default partition",
                "keep default=True on one partition only",
            )


def pools_in_partitions(ctx: RuleContext) -> Iterator[Finding]:
    slurm = _slurm(ctx)
    if slurm is None or not slurm.partitions:
        return
    covered = {name for part in slurm.partitions for name in part.pools}
    for path, pool in ctx.pools():
        if pool.name not in covered:
            yield warning(
                "slurm-pool-without-partition",
                path,
                f"{pool.name!r} is in no partition: its nodes join Slurm but no job can ever reach them; "
                f"partitions: {', '.join(repr(p.name) for p in slurm.partitions)}",
                f'add "{pool.name}" to the pools of a partition, or remove the pool',
            )


def max_nodes_covers_pools(ctx: RuleContext) -> Iterator[Finding]:
    slurm = _slurm(ctx)
    if slurm is None:
        return
    total = 0
    for _, pool in ctx.pools():
        chosen = ctx.selection(pool)
        if isinstance(chosen, Selection):
            total += chosen.nodes
    if slurm.max_nodes < total:
        yield error(
            "slurm-max-nodes-too-small",
            "scheduler.max_nodes",
            f"{slurm.max_nodes!r}: the pools have {total} nodes in all; allowed: at least {total} "
            "(MaxNodeCount caps the dynamic nodes that may register)",
            f"raise max_nodes to at least {total}, or make the pools smaller",
        )


def pyxis_has_enroot(ctx: RuleContext) -> Iterator[Finding]:
    slurm = _slurm(ctx)
    if slurm is None or slurm.pyxis is not True:
        return
    if not any(ctx.cluster.software_for(pool).enroot for pool in ctx.cluster.pools):
        yield error(
            "slurm-pyxis-without-enroot",
            "scheduler.pyxis",
            f"{slurm.pyxis!r}: Pyxis runs jobs in Enroot containers, but no pool installs Enroot; "
            "allowed: pyxis=True with software.enroot=True on a pool",
            "set software.enroot=True, or pyxis=None (on when Enroot is installed) or pyxis=False",
        )


def shared_home_has_filesystem(ctx: RuleContext) -> Iterator[Finding]:
    slurm = _slurm(ctx)
    if slurm is None or not slurm.shared_home:
        return
    if not any(isinstance(item, Lustre | Nfs) for item in ctx.cluster.storage):
        yield warning(
            "slurm-shared-home-without-filesystem",
            "scheduler.shared_home",
            f"{slurm.shared_home!r} but the cluster declares no Lustre or NFS storage: /home stays local "
            "to each node, so a job's submit directory and files are not on the compute nodes",
            'add Lustre(...) storage (e.g. {"kind": "lustre", "name": "shared", "mount_point": "/fsx"}), '
            "or set shared_home=False",
        )


def support_shapes_known(ctx: RuleContext) -> Iterator[Finding]:
    slurm = _slurm(ctx)
    if slurm is None:
        return
    roles = [("controller", slurm.controller.instance_type)]
    if slurm.login is not None:
        roles.append(("login", slurm.login.instance_type))
    for role, shape in roles:
        path = f"scheduler.{role}.instance_type"
        finding = unknown_support_shape(ctx, "slurm-controller-shape-unknown", path, role, shape)
        if finding is not None:
            yield finding


def partition_times(ctx: RuleContext) -> Iterator[Finding]:
    slurm = _slurm(ctx)
    if slurm is None:
        return
    for i, part in enumerate(slurm.partitions):
        if part.default_time is None:
            continue
        if slurm_time_seconds(part.default_time) > slurm_time_seconds(part.max_time):
            yield error(
                "slurm-default-time-over-max",
                f"scheduler.partitions[{i}].default_time",
                f"{part.default_time!r} is longer than max_time={part.max_time!r}; "
                "allowed: default_time at most max_time",
                f'lower default_time to at most "{part.max_time}", raise max_time, or drop default_time',
            )


def version_supported(ctx: RuleContext) -> Iterator[Finding]:
    slurm = _slurm(ctx)
    if slurm is None:
        return
    release = tuple(int(part) for part in slurm.version.split(".")[:2])
    if release < MIN_VERSION:
        floor = ".".join(map(str, MIN_VERSION))
        default = Slurm.model_fields["version"].default
        yield error(
            "slurm-version-too-old",
            "scheduler.version",
            f"{slurm.version!r} is older than Slurm {floor}; allowed: {floor} or newer (login nodes use "
            "sackd, compute nodes are dynamic and configless)",
            f'set version="{default}" (the default) or another {floor}+ release',
        )


def gpu_vendors_mixed(ctx: RuleContext) -> Iterator[Finding]:
    if _slurm(ctx) is None:
        return
    by_vendor: dict[GpuVendor, list[str]] = {}
    for _, pool in ctx.pools():
        gpu = ctx.gpu_of(pool)
        if gpu is not None:
            by_vendor.setdefault(gpu.vendor, []).append(pool.name)
    if GpuVendor.NVIDIA in by_vendor and GpuVendor.AMD in by_vendor:
        nvidia = ", ".join(map(repr, by_vendor[GpuVendor.NVIDIA]))
        amd = ", ".join(map(repr, by_vendor[GpuVendor.AMD]))
        yield warning(
            "slurm-mixed-gpu-vendors",
            "pools",
            f"NVIDIA pools ({nvidia}) and AMD pools ({amd}) in one Slurm cluster: gres.conf AutoDetect is "
            "turned off and explicit device files are used; allowed, but jobs must ask for the GRES type",
            "keep one GPU vendor per Slurm cluster, or request GPUs by type (--gres=gpu:<type>:N)",
        )


RULES = (
    provider_runs_slurm,
    partition_pools,
    partition_names,
    pools_in_partitions,
    max_nodes_covers_pools,
    pyxis_has_enroot,
    shared_home_has_filesystem,
    support_shapes_known,
    partition_times,
    version_supported,
    gpu_vendors_mixed,
)
