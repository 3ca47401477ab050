"""Choose the shape (offer) and node count of a pool. Pure: used by validation and by the planner."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.catalog.catalog import Catalog
from provisioner.catalog.models import Offer
from provisioner.spec.enums import Interconnect
from provisioner.spec.pool import NodePool


@dataclass(frozen=True, slots=True)
class Selection:
    offer: Offer
    nodes: int


@dataclass(frozen=True, slots=True)
class SelectionProblem:
    code: str
    field: str
    message: str
    fix: str


def _price_key(offer: Offer, region: str | None = None) -> tuple[bool, float, int, str]:
    """Shapes offered in the region first, then the cheapest (unknown price last), then the smallest."""
    elsewhere = region is not None and bool(offer.regions) and region not in offer.regions
    price = offer.price.per_hour if offer.price else float("inf")
    return (elsewhere, price, offer.vcpus, offer.instance_type)


def _counts(offers: list[Offer]) -> list[int]:
    return sorted({o.gpu_count for o in offers})


def _single_gpu_hint(offers: list[Offer], region: str | None) -> str:
    single = sorted((o for o in offers if o.gpu_count == 1), key=lambda o: _price_key(o, region))
    return f', or instance_type="{single[0].instance_type}" for single-GPU nodes' if single else ""


def select_offer(
    catalog: Catalog,
    provider: str,
    gpu: str,
    gpus: int | None,
    nodes: int | None,
    instance_type: str | None,
    *,
    region: str | None = None,
    fabric: Interconnect | None = None,
) -> Selection | SelectionProblem:
    """Pick the shape of a pool.

    - `instance_type` given: that shape, which must carry `gpu`.
    - `nodes` given: whole nodes of the largest shape (most GPUs per node, then cheapest).
    - `gpus` given: whole nodes of the largest shape; below one such node, the cheapest shape with exactly
      that many GPUs. Anything else is a problem whose fix names the counts that work.
    - Among shapes with the same GPU count, one offered in `region` wins (e.g. H200 in sa-east-1 is
      p5e.48xlarge, not the cheaper p5en.48xlarge that is not offered there).
    - A `fabric` asked for by name narrows the choice to shapes that have it, when any do (T4 with EFA is
      g4dn.8xlarge, not g4dn.xlarge).
    """
    offers = catalog.find_offers(provider=provider, gpu=gpu)
    with_fabric = [o for o in offers if fabric is not None and o.fabric is fabric]
    if with_fabric:
        offers = with_fabric
    if instance_type is not None:
        return _explicit(catalog, provider, gpu, gpus, nodes, instance_type)
    if not offers:
        return _not_offered(catalog, provider, gpu)
    largest = max(o.gpu_count for o in offers)
    full = sorted((o for o in offers if o.gpu_count == largest), key=lambda o: _price_key(o, region))[0]
    if nodes is not None:
        return Selection(full, nodes)
    wanted = gpus if gpus is not None else largest
    if wanted % largest == 0:
        return Selection(full, wanted // largest)
    exact = sorted((o for o in offers if o.gpu_count == wanted), key=lambda o: _price_key(o, region))
    if exact:
        return Selection(exact[0], 1)
    return _not_a_multiple(provider, gpu, wanted, full, offers, region)


def _not_offered(catalog: Catalog, provider: str, gpu: str) -> SelectionProblem:
    others = catalog.providers_with_gpu(gpu)
    if not others:
        return SelectionProblem(
            code="gpu-not-offered",
            field="gpu",
            message=f"{gpu} is not offered on {provider}, nor by any other provider in the catalog",
            fix=f"choose a GPU that {provider} offers (see `provisioner catalog --provider {provider}`)",
        )
    where = ", ".join(others)
    return SelectionProblem(
        code="gpu-not-offered",
        field="gpu",
        message=f"{gpu} is not offered on {provider}; in the catalog it is on: {where}",
        fix=f"choose provider= one of [{where}], or a GPU that {provider} offers "
        f"(see `provisioner catalog --provider {provider}`)",
    )


def _not_a_multiple(
    provider: str, gpu: str, wanted: int, full: Offer, offers: list[Offer], region: str | None
) -> SelectionProblem:
    largest = full.gpu_count
    return SelectionProblem(
        code="gpu-count-not-multiple",
        field="gpus",
        message=(
            f"{wanted}: {gpu} on {provider} comes as {full.instance_type} with {largest} GPUs per node "
            f"(shapes with {', '.join(map(str, _counts(offers)))} GPUs exist)"
        ),
        fix=f"use a multiple of {largest}{_single_gpu_hint(offers, region)}",
    )


def select_for_pool(
    catalog: Catalog, provider: str, region: str, pool: NodePool
) -> Selection | SelectionProblem | None:
    """The shape of a declared pool; None when its GPU is not in the catalog (a finding of its own)."""
    gpu = catalog.resolve_gpu(pool.gpu)
    if gpu is None:
        return None
    named = pool.interconnect not in (Interconnect.AUTO, Interconnect.NONE)
    return select_offer(
        catalog,
        provider,
        gpu.name,
        pool.gpus,
        pool.nodes,
        pool.instance_type,
        region=region,
        fabric=pool.interconnect if named else None,
    )


def _explicit(
    catalog: Catalog, provider: str, gpu: str, gpus: int | None, nodes: int | None, instance_type: str
) -> Selection | SelectionProblem:
    offer = catalog.offer(provider, instance_type)
    if offer is None:
        known = sorted(o.instance_type for o in catalog.find_offers(provider=provider, gpu=gpu))
        return SelectionProblem(
            code="instance-type-unknown",
            field="instance_type",
            message=f"{instance_type!r} is not a {provider} GPU shape in the catalog",
            fix=f"use one of {known}" if known else f"see `provisioner catalog --provider {provider}`",
        )
    if offer.gpu != gpu:
        carries = offer.gpu or offer.accelerator or "no GPU"
        return SelectionProblem(
            code="instance-type-gpu-mismatch",
            field="instance_type",
            message=f"{instance_type} carries {offer.gpu_count} x {carries}, not {gpu}",
            fix=f'set gpu="{offer.gpu}" or pick a {gpu} shape' if offer.gpu else f"pick a {gpu} shape",
        )
    if nodes is not None:
        return Selection(offer, nodes)
    wanted = gpus if gpus is not None else offer.gpu_count
    if wanted % offer.gpu_count != 0:
        return SelectionProblem(
            code="gpu-count-not-multiple",
            field="gpus",
            message=f"{wanted}: {instance_type} has {offer.gpu_count} GPUs per node",
            fix=f"use a multiple of {offer.gpu_count}, or give nodes= instead of gpus=",
        )
    return Selection(offer, wanted // offer.gpu_count)
