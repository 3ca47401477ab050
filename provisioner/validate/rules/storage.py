"""Storage declarations: unique mount points, sizes the services accept, scratch that exists."""

from collections.abc import Iterator

from provisioner.catalog.select import Selection
from provisioner.providers.gcp.limits import FILESTORE_MIN_GIB, LUSTRE_MIN_GIB
from provisioner.spec import GcpOptions, Lustre, Nfs, ProviderName
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error, warning

_RESERVED_MOUNTS = ("/", "/boot", "/etc", "/usr", "/var", "/proc", "/sys", "/dev", "/tmp", "/run")
_LUSTRE_THROUGHPUT = (125, 250, 500, 1000)


def mount_points(ctx: RuleContext) -> Iterator[Finding]:
    seen: dict[str, str] = {}
    for i, item in enumerate(ctx.cluster.storage):
        mount = getattr(item, "mount_point", None)
        if mount is None:
            continue
        path = f"storage[{i}].mount_point"
        normalized = mount.rstrip("/") or "/"
        if normalized in _RESERVED_MOUNTS:
            yield error(
                "mount-point-reserved",
                path,
                f"{mount!r} is a system directory; mounting over it breaks the node",
                'use a path of its own, e.g. "/fsx", "/shared" or "/scratch"',
            )
        if normalized in seen:
            yield error(
                "duplicate-mount-point",
                path,
                f"{mount!r} is already the mount point of {seen[normalized]}",
                "give each filesystem its own mount point",
            )
        else:
            seen[normalized] = f"storage[{i}]"


def lustre_size(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.cluster.provider is ProviderName.GCP:
        yield from managed_lustre_size(ctx)
        return
    for i, item in enumerate(ctx.cluster.storage):
        if not isinstance(item, Lustre):
            continue
        size = item.capacity_gib
        if size not in (1200, 2400) and size % 2400 != 0:
            lower = max(1200, size // 2400 * 2400)
            yield error(
                "lustre-capacity-invalid",
                f"storage[{i}].capacity_gib",
                f"{size} GiB: a persistent Lustre filesystem comes in 1200, 2400, then multiples of 2400 GiB",
                f"use capacity_gib={lower} or {(size // 2400 + 1) * 2400}",
            )
        if item.throughput_mib_per_tib not in _LUSTRE_THROUGHPUT:
            yield error(
                "lustre-throughput-invalid",
                f"storage[{i}].throughput_mib_per_tib",
                f"{item.throughput_mib_per_tib}: allowed throughput per TiB is {list(_LUSTRE_THROUGHPUT)}",
                "use one of the allowed values",
            )


def managed_lustre_size(ctx: RuleContext) -> Iterator[Finding]:
    """Google Cloud Managed Lustre: a throughput tier, and at least that tier's minimum capacity."""
    for i, item in enumerate(ctx.cluster.storage):
        if not isinstance(item, Lustre):
            continue
        tier = item.throughput_mib_per_tib
        if tier not in LUSTRE_MIN_GIB:
            yield error(
                "lustre-throughput-invalid",
                f"storage[{i}].throughput_mib_per_tib",
                f"{tier}: Managed Lustre's throughput tiers are {list(LUSTRE_MIN_GIB)} MB/s per TiB",
                "use one of the tiers",
            )
            continue
        minimum = LUSTRE_MIN_GIB[tier]
        if item.capacity_gib >= minimum and item.capacity_gib % minimum:
            up = -(-item.capacity_gib // minimum) * minimum
            yield error(
                "lustre-capacity-invalid",
                f"storage[{i}].capacity_gib",
                f"{item.capacity_gib} GiB: Managed Lustre at {tier} MB/s per TiB grows by {minimum} GiB",
                f"use capacity_gib={up - minimum} or {up}",
            )
        if item.capacity_gib < minimum:
            yield error(
                "lustre-capacity-invalid",
                f"storage[{i}].capacity_gib",
                f"{item.capacity_gib} GiB: Managed Lustre at {tier} MB/s per TiB starts at {minimum} GiB",
                f"use capacity_gib={minimum} or more, or a faster tier with a smaller minimum "
                f"(1000 MB/s per TiB from {LUSTRE_MIN_GIB[1000]} GiB)",
            )


def nfs_size(ctx: RuleContext) -> Iterator[Finding]:
    """Filestore is provisioned: at least its tier's minimum capacity."""
    if ctx.cluster.provider is not ProviderName.GCP:
        return
    options = ctx.cluster.options
    tier = options.filestore_tier if isinstance(options, GcpOptions) else GcpOptions().filestore_tier
    minimum = FILESTORE_MIN_GIB[tier]
    for i, item in enumerate(ctx.cluster.storage):
        if isinstance(item, Nfs) and item.capacity_gib is not None and item.capacity_gib < minimum:
            yield error(
                "nfs-capacity-invalid",
                f"storage[{i}].capacity_gib",
                f"{item.capacity_gib} GiB: Filestore {tier} starts at {minimum} GiB",
                f"use capacity_gib={minimum} or more, or leave it out for the minimum",
            )


def scratch_has_disks(ctx: RuleContext) -> Iterator[Finding]:
    if not any(item.kind == "scratch" for item in ctx.cluster.storage):
        return
    for path, pool in ctx.pools():
        gpu = ctx.gpu_of(pool)
        if gpu is None:
            continue
        chosen = ctx.selection(pool)
        if isinstance(chosen, Selection) and chosen.offer.local_nvme_gb == 0:
            yield warning(
                "scratch-without-nvme",
                path,
                f"local scratch is declared but {chosen.offer.instance_type} has no instance-local NVMe; "
                "this pool gets no scratch mount",
                "pick a shape with local NVMe for this pool, or ignore if scratch is not needed there",
            )


RULES = (mount_points, lustre_size, nfs_size, scratch_has_disks)
