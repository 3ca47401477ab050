"""Is the provider there, and does it support what the declaration asks for?"""

from collections.abc import Iterator

from provisioner.providers.base import Capability, implemented, provider_info
from provisioner.spec import CapacityKind, Interconnect, OperatingSystem
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error

_FABRIC_CAPABILITY = {
    Interconnect.EFA: Capability.EFA,
    Interconnect.INFINIBAND: Capability.INFINIBAND,
    Interconnect.ROCE: Capability.ROCE,
    Interconnect.GPUDIRECT_TCPX: Capability.GPUDIRECT_TCPX,
    Interconnect.GPUDIRECT_TCPXO: Capability.GPUDIRECT_TCPXO,
    Interconnect.GPUDIRECT_RDMA: Capability.GPUDIRECT_RDMA,
}
_CAPACITY_CAPABILITY = {
    CapacityKind.SPOT: Capability.SPOT,
    CapacityKind.RESERVATION: Capability.RESERVATION,
    CapacityKind.CAPACITY_BLOCK: Capability.CAPACITY_BLOCK,
}
_STORAGE_CAPABILITY = {
    "lustre": Capability.LUSTRE,
    "nfs": Capability.NFS,
    "bucket": Capability.BUCKET,
    "scratch": Capability.LOCAL_SCRATCH,
}


def provider_implemented(ctx: RuleContext) -> Iterator[Finding]:
    name = ctx.cluster.provider.value
    info = provider_info(name)
    if info is None or info.emitter is None:
        yield error(
            "provider-not-implemented",
            "provider",
            f"{name!r} has no adapter in this release; implemented providers: {', '.join(implemented())}",
            "use one of the implemented providers, or plan this cluster again when its adapter lands",
        )
    options = ctx.cluster.options
    if options is not None and options.provider != name:
        yield error(
            "options-provider-mismatch",
            "options.provider",
            f"options are for {options.provider!r} but the cluster's provider is {name!r}",
            f"use the options class of {name}, or drop options=",
        )


def unsupported_features(ctx: RuleContext) -> Iterator[Finding]:
    info = provider_info(ctx.cluster.provider.value)
    if info is None or info.emitter is None:
        return
    wanted: list[tuple[str, Capability, str]] = []
    for path, pool in ctx.pools():
        if pool.interconnect in _FABRIC_CAPABILITY:
            wanted.append((f"{path}.interconnect", _FABRIC_CAPABILITY[pool.interconnect], pool.interconnect))
        if pool.capacity in _CAPACITY_CAPABILITY:
            wanted.append((f"{path}.capacity", _CAPACITY_CAPABILITY[pool.capacity], pool.capacity))
        software = ctx.cluster.software_for(pool)
        if software.os is OperatingSystem.ROCKY_9:
            where = f"{path}.software.os" if pool.software else "software.os"
            wanted.append((where, Capability.ROCKY_LINUX, software.os))
    for i, item in enumerate(ctx.cluster.storage):
        wanted.append((f"storage[{i}]", _STORAGE_CAPABILITY[item.kind], item.kind))
    if ctx.cluster.network.vpc_id is not None:
        wanted.append(("network.vpc_id", Capability.EXISTING_NETWORK, "an existing network"))
    seen: set[tuple[str, Capability]] = set()
    for path, capability, value in wanted:
        reason = info.unsupported(capability)
        if reason is not None and (path, capability) not in seen:
            seen.add((path, capability))
            yield error(
                "provider-unsupported",
                path,
                f"{value!s} is not supported on {info.title}: {reason}",
                "remove it or choose a provider that supports it (see `provisioner quote` when it lands)",
            )


RULES = (provider_implemented, unsupported_features)
