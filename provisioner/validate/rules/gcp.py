"""Mistakes only Google Cloud has. Each finding stops a declaration the GCP adapter would otherwise refuse
at plan time, or that Google would refuse half-way through a deploy."""

from collections.abc import Iterator

from provisioner.catalog import Offer
from provisioner.catalog.select import Selection
from provisioner.providers.gcp.limits import COMPACT_PLACEMENT_MAX_VMS, WORKLOAD_POLICY_SHAPES
from provisioner.spec import CapacityKind, Interconnect, NodePool, ProviderName
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error

_RESERVED = (CapacityKind.RESERVATION, CapacityKind.CAPACITY_BLOCK)


def _on_gcp(ctx: RuleContext) -> bool:
    return ctx.cluster.provider is ProviderName.GCP


def _selections(ctx: RuleContext) -> Iterator[tuple[str, NodePool, Selection]]:
    for path, pool in ctx.pools():
        selection = ctx.selection(pool)
        if isinstance(selection, Selection):
            yield path, pool, selection


def _offers(ctx: RuleContext) -> Iterator[tuple[str, NodePool, Offer]]:
    for path, pool, selection in _selections(ctx):
        yield path, pool, selection.offer


def zone_has_shape(ctx: RuleContext) -> Iterator[Finding]:
    """A declared zone must offer the shape; an undeclared one must be known, since a pool is zonal. (A region
    without the shape at all is the region rule's finding.)"""
    if not _on_gcp(ctx):
        return
    region = ctx.cluster.region
    for path, pool, offer in _offers(ctx):
        zones = offer.zones_in(region)
        if pool.zone is not None and pool.zone.startswith(f"{region}-"):
            if offer.zones and pool.zone not in offer.zones:
                where = f"zones of {region} that have it: {', '.join(zones)}" if zones else "none in our data"
                yield error(
                    "gcp-zone-lacks-shape",
                    f"{path}.zone",
                    f"{pool.zone} has no {offer.instance_type} in our data ({where})",
                    f'use one of them (zone="{zones[0]}")' if zones else "choose another region or shape",
                )
        elif pool.zone is None and not zones and (not offer.regions or region in offer.regions):
            yield error(
                "gcp-zone-unknown",
                f"{path}.zone",
                f"no zone of {region} is known to offer {offer.instance_type}, and the pool names none "
                "(a Google Cloud pool lives in one zone)",
                f'set zone= to a zone of {region} that has {offer.instance_type} (e.g. zone="{region}-a")',
            )


def compact_placement_size(ctx: RuleContext) -> Iterator[Finding]:
    if not _on_gcp(ctx):
        return
    for path, pool, selection in _selections(ctx):
        offer, nodes = selection.offer, selection.nodes
        compact = offer.instance_type not in WORKLOAD_POLICY_SHAPES and offer.attached_accelerator is None
        if compact and pool.capacity not in _RESERVED and nodes > COMPACT_PLACEMENT_MAX_VMS:
            yield error(
                "gcp-compact-placement-too-large",
                f"{path}.nodes",
                f"{nodes} {offer.instance_type} nodes in one compact placement policy; Google Cloud "
                f"places at most {COMPACT_PLACEMENT_MAX_VMS} VMs in one",
                f"split the pool into pools of at most {COMPACT_PLACEMENT_MAX_VMS} nodes, or use an "
                "A3/A4 shape (placed by a workload policy)",
            )


def gpudirect_shape(ctx: RuleContext) -> Iterator[Finding]:
    """GPUDirect asked for on a shape that has another fabric, or none: say which shapes have it."""
    if not _on_gcp(ctx):
        return
    gpudirect = (Interconnect.GPUDIRECT_TCPX, Interconnect.GPUDIRECT_TCPXO, Interconnect.GPUDIRECT_RDMA)
    for path, pool in ctx.pools():
        if pool.interconnect not in gpudirect or pool.instance_type is None:
            continue
        offer = ctx.catalog.offer("gcp", pool.instance_type)
        if offer is None or offer.fabric is pool.interconnect:
            continue
        offers = ctx.catalog.find_offers(provider="gcp")
        having = sorted(o.instance_type for o in offers if o.fabric is pool.interconnect)
        yield error(
            "gcp-gpudirect-unsupported",
            f"{path}.interconnect",
            f"{pool.instance_type} has {offer.fabric.value!r}, not {pool.interconnect.value!r}",
            f"use a shape with it ({', '.join(having)}), or interconnect='auto'",
        )


def rdma_one_zone(ctx: RuleContext) -> Iterator[Finding]:
    """The RDMA network (its RoCE network profile) is zonal: every GPUDirect-RDMA pool shares one zone."""
    if not _on_gcp(ctx):
        return
    zones: dict[str, str] = {}
    for _path, pool, offer in _offers(ctx):
        if offer.fabric is Interconnect.GPUDIRECT_RDMA and pool.interconnect is not Interconnect.NONE:
            zone = pool.zone or next(iter(offer.zones_in(ctx.cluster.region)), None)
            if zone is not None:
                zones[pool.name] = zone
    if len(set(zones.values())) > 1:
        where = ", ".join(f"{pool}: {zone}" for pool, zone in zones.items())
        yield error(
            "gcp-rdma-zones-differ",
            "pools",
            f"GPUDirect-RDMA pools are in different zones ({where}); "
            "the cluster's RDMA network is bound to one zone's RoCE network profile",
            "give every GPUDirect-RDMA pool the same zone",
        )


RULES = (zone_has_shape, compact_placement_size, gpudirect_shape, rdma_one_zone)
