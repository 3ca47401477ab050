"""GPU model, count, shape, fabric and capacity of every pool."""

from collections.abc import Iterator

from provisioner.catalog.select import Selection
from provisioner.providers.base import provider_info
from provisioner.spec import CapacityKind, Interconnect, ProviderName
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error, warning

_NEEDS_ID = (CapacityKind.RESERVATION, CapacityKind.CAPACITY_BLOCK)


def known_gpu(ctx: RuleContext) -> Iterator[Finding]:
    for path, pool in ctx.pools():
        if ctx.gpu_of(pool) is None:
            close = ctx.catalog.close_gpu_names(pool.gpu)
            hint = f"did you mean {', '.join(close)}?" if close else "no close match"
            known = ", ".join(sorted(g.name for g in ctx.catalog.gpus))
            yield error(
                "gpu-unknown",
                f"{path}.gpu",
                f"{pool.gpu!r} is not a GPU model in the catalog ({hint})",
                f'use a canonical name such as gpu="{close[0] if close else "H100"}"; known: {known}',
            )


def shape(ctx: RuleContext) -> Iterator[Finding]:
    for path, pool in ctx.pools():
        chosen = ctx.selection(pool)
        if chosen is None:  # unknown GPU: known_gpu reports it
            continue
        if not isinstance(chosen, Selection):
            yield error(chosen.code, f"{path}.{chosen.field}", chosen.message, chosen.fix)
            continue
        yield from _region(ctx, path, chosen)
        yield from _fabric(path, pool.interconnect, chosen, _fabric_shapes(ctx))


def _region(ctx: RuleContext, path: str, chosen: Selection) -> Iterator[Finding]:
    offer = chosen.offer
    region = ctx.cluster.region
    if offer.regions and region not in offer.regions:
        yield error(
            "shape-not-in-region",
            "region",
            f"{offer.instance_type} (for {path}) is not offered in {region!r}",
            f"use a region where it is offered: {', '.join(sorted(offer.regions))}",
        )


def _fabric_shapes(ctx: RuleContext) -> list[str]:
    """The provider's shapes that have a multi-node fabric, by name."""
    provider = ctx.cluster.provider.value
    return sorted(o.instance_type for o in ctx.catalog.offers if o.provider == provider and o.has_fabric)


def _fabric(path: str, asked: Interconnect, chosen: Selection, fabric_shapes: list[str]) -> Iterator[Finding]:
    offer = chosen.offer
    if asked not in (Interconnect.AUTO, Interconnect.NONE) and offer.fabric is not asked:
        capable = "no high-speed fabric" if not offer.has_fabric else f"{offer.fabric.value}"
        yield error(
            "interconnect-unavailable",
            f"{path}.interconnect",
            f"{asked.value!r} was asked for but {offer.instance_type} has {capable}",
            'use interconnect="auto", or an instance_type that has it',
        )
        return
    effective = offer.fabric if asked is Interconnect.AUTO else asked
    if chosen.nodes > 1 and effective is Interconnect.NONE:
        bandwidth = f"{offer.network_gbps:g} Gbps" if offer.network_gbps else "bandwidth not recorded"
        instead = (
            f"use a shape with a fabric ({', '.join(fabric_shapes[:4])})"
            if fabric_shapes
            else "no shape of this provider has a multi-node fabric in the catalog; choose a provider with "
            "EFA, InfiniBand or GPUDirect"
        )
        yield warning(
            "multi-node-without-fabric",
            f"{path}.interconnect",
            f"{chosen.nodes} nodes of {offer.instance_type} talk over plain TCP "
            f"({bandwidth}, no RDMA fabric): multi-node training will be network-bound",
            f"{instead} for multi-node jobs, or suppress 'multi-node-without-fabric' for independent "
            "(e.g. inference) nodes",
        )


def _zone_example(ctx: RuleContext, letter: str = "a") -> str:
    """A zone name of the region as the provider spells them: us-east-1a on AWS, us-central1-a on GCP."""
    separator = "-" if ctx.cluster.provider is ProviderName.GCP else ""
    return f"{ctx.cluster.region}{separator}{letter}"


def capacity(ctx: RuleContext) -> Iterator[Finding]:
    info = provider_info(ctx.cluster.provider.value)
    if info is not None and info.reservations_by_match:
        return  # the cloud places a VM in a matching reservation by itself: no id, no zone to name
    for path, pool in ctx.pools():
        if pool.capacity in _NEEDS_ID and not pool.reservation_id:
            yield error(
                "reservation-id-missing",
                f"{path}.reservation_id",
                f"capacity={pool.capacity.value!r} needs the id of the reservation to launch into",
                'set reservation_id="cr-..." (the id AWS gave the reservation or capacity block)',
            )
        if pool.reservation_id and pool.capacity not in _NEEDS_ID:
            yield error(
                "reservation-id-unused",
                f"{path}.reservation_id",
                f"reservation_id is set but capacity={pool.capacity.value!r} does not use it",
                'set capacity="reservation" (or "capacity-block"), or drop reservation_id',
            )
        if pool.capacity in _NEEDS_ID and pool.zone is None and ctx.cluster.network.vpc_id is None:
            yield error(
                "reservation-zone-missing",
                f"{path}.zone",
                f"capacity={pool.capacity.value!r} launches only in the zone its reservation lives in, "
                "and the network created for the cluster has to be put there",
                f'set zone= to the reservation\'s zone (e.g. zone="{_zone_example(ctx, "b")}")',
            )
        if pool.zone is not None and not pool.zone.startswith(ctx.cluster.region):
            yield error(
                "zone-not-in-region",
                f"{path}.zone",
                f"zone {pool.zone!r} is not in region {ctx.cluster.region!r}",
                f"use a zone of {ctx.cluster.region} (e.g. {_zone_example(ctx)}), or drop zone=",
            )


RULES = (known_gpu, shape, capacity)
