"""`provisioner quote`: one declaration priced on every provider, cheapest first, and why not for the rest.

The quote asks the planner, never a second opinion: each provider gets the declaration moved there with
`retarget` (intent kept, the original cloud's choices dropped), planned with `plan_cluster` in each region
where the catalog offers the pools' GPUs, and the cheapest plan that can host the cluster is kept. What
cannot host it says why in the planner's own findings (code and message), so the quote and `plan` never
disagree.

Two readings of the planner's findings are the quote's own, because a price comparison needs them:
- Errors about `options.*` (a Crusoe project, a Lambda SSH key) are account settings that a move cannot
  carry over (`retarget` drops provider options). They do not make a provider unable to host the cluster;
  they are listed as what the move `needs`.
- A multi-node pool that would talk over plain TCP is only a warning in `plan` (inference nodes are fine on
  TCP), but a quote compares clouds for the same job: unless the pool declares `interconnect="none"` or the
  cluster suppresses the warning, that provider cannot host the pool.

Pure: no Pulumi, no network. Rendering lives in `quote_view`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from provisioner.catalog import Catalog
from provisioner.plan import ClusterPlan, PoolPlan, ServiceFeePlan, SupportNodePlan, plan_cluster
from provisioner.plan.retarget import retarget
from provisioner.spec import Cluster, Interconnect, ProviderName, Severity
from provisioner.validate import Finding, error, findings_from_validation_error, warning

NO_FABRIC = "multi-node-without-fabric"
"""The planner's warning for a multi-node pool on plain TCP: a quote counts it as cannot-host."""
_POOL_PATH = re.compile(r"^pools\[(\d+)\]")
_PROVIDER_ORDER = {provider: index for index, provider in enumerate(ProviderName)}


class Standing(StrEnum):
    """Where a provider sorts: priced options first (cheapest first), then unpriced ones, then the rest."""

    PRICED = "priced"
    UNPRICED = "unpriced"
    IMPOSSIBLE = "impossible"


@dataclass(frozen=True, slots=True)
class QuotedPool:
    """One pool as the provider would run it: the shape of each node and how many."""

    name: str
    gpu: str
    instance_type: str
    nodes: int
    gpus_per_node: int
    total_gpus: int
    fabric: Interconnect
    fabric_interfaces: int
    price_per_node_hour: float | None
    """List price of one node; None = unknown (never 0)."""
    price_as_of: str | None

    @classmethod
    def of(cls, pool: PoolPlan) -> QuotedPool:
        return cls(
            name=pool.name,
            gpu=pool.gpu,
            instance_type=pool.instance_type,
            nodes=pool.nodes,
            gpus_per_node=pool.gpus_per_node,
            total_gpus=pool.total_gpus,
            fabric=pool.interconnect,
            fabric_interfaces=pool.fabric_interfaces,
            price_per_node_hour=pool.price_per_node_hour,
            price_as_of=pool.price_as_of,
        )


@dataclass(frozen=True, slots=True)
class ProviderQuote:
    """One provider's answer: a priced (or unpriced) way to host the cluster, or why it cannot."""

    provider: ProviderName
    declared: bool
    """The provider the declaration names (its region is tried first, as declared)."""
    standing: Standing
    region: str | None
    """The region of the kept plan; for an impossible provider the region its reasons were found in (None
    for a provider with no offer in the catalog: no region of its is known)."""
    pools: tuple[QuotedPool, ...]
    per_hour: float | None
    """The whole cluster (pools, scheduler support nodes, fees) per hour; None = unknown, never 0."""
    per_month: float | None
    known_per_hour: float
    """What is priced, when `per_hour` is unknown."""
    unpriced: tuple[str, ...]
    """Pools, support nodes and fees without a price."""
    price_dates: tuple[str, ...]
    """Dates of the catalog prices used (ISO), sorted."""
    reasons: tuple[Finding, ...]
    """Why the provider cannot host the cluster (empty unless impossible)."""
    needs: tuple[Finding, ...]
    """Account settings the move needs (errors on `options.*`: a project, an SSH key)."""
    warnings: tuple[Finding, ...]
    not_carried: tuple[str, ...]
    """What the declaration chose that this provider does not get (`retarget`'s dropped list)."""
    regions_tried: tuple[str, ...]
    usage_billed: tuple[str, ...] = ()
    """Storage billed for what it holds (buckets, elastic shares): not in `per_hour`."""


@dataclass(frozen=True, slots=True)
class Quote:
    """Every provider of `ProviderName`, sorted: priced cheapest first, unpriced, then impossible."""

    cluster: str
    declared_provider: ProviderName
    declared_region: str
    options: tuple[ProviderQuote, ...]

    @property
    def hostable(self) -> tuple[ProviderQuote, ...]:
        return tuple(o for o in self.options if o.standing is not Standing.IMPOSSIBLE)

    @property
    def impossible(self) -> tuple[ProviderQuote, ...]:
        return tuple(o for o in self.options if o.standing is Standing.IMPOSSIBLE)

    def option(self, provider: ProviderName | str) -> ProviderQuote:
        return next(o for o in self.options if o.provider == provider)


@dataclass(frozen=True, slots=True)
class _Attempt:
    region: str
    plan: ClusterPlan | None
    blockers: tuple[Finding, ...]
    needs: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    dropped: tuple[str, ...]

    @property
    def sort_key(self) -> tuple[bool, float]:
        """Hostable and cheapest first; an unknown price after every known one."""
        cost = self.plan.cost.per_hour if self.plan is not None else None
        return (cost is None, cost or 0.0)


def quote_program(declarations: Iterable[Cluster], catalog: Catalog) -> tuple[Quote, ...]:
    """The CLI's entry point: a quote per declared cluster, in the program's order. Pass the declarations
    as the program wrote them (not moved with `--provider`): each quote moves them itself."""
    return tuple(quote_cluster(cluster, catalog) for cluster in declarations)


def quote_cluster(cluster: Cluster, catalog: Catalog) -> Quote:
    """Price `cluster` on every provider the spec knows (adapter or not), in the regions that offer it."""
    declared_plan = plan_cluster(cluster, catalog)
    declared_gpus = {pool.name: pool.total_gpus for pool in declared_plan.pools}
    options = [_quote_provider(cluster, provider, catalog, declared_gpus) for provider in ProviderName]
    options.sort(key=_option_key)
    return Quote(cluster.name, cluster.provider, cluster.region, tuple(options))


def _option_key(option: ProviderQuote) -> tuple[int, float, int]:
    rank = list(Standing).index(option.standing)
    return (rank, option.per_hour or 0.0, _PROVIDER_ORDER[option.provider])


def _quote_provider(
    cluster: Cluster, provider: ProviderName, catalog: Catalog, declared_gpus: dict[str, int]
) -> ProviderQuote:
    regions = candidate_regions(cluster, provider, catalog)
    attempts = [_attempt(cluster, provider, region, catalog, declared_gpus) for region in regions]
    hostable = [a for a in attempts if a.plan is not None and not a.blockers]
    if hostable:
        declared = [a for a in hostable if provider is cluster.provider and a.region == cluster.region]
        # the declared provider stays in the declared region when it can: another region is shown only
        # where the declared one cannot host it (a catalog price unknown there is no reason to move)
        chosen = declared[0] if declared else min(hostable, key=lambda a: a.sort_key)
        return _hostable(cluster, provider, chosen, regions)
    best = min(attempts, key=lambda a: len(a.blockers))
    in_catalog = bool(catalog.find_offers(provider=provider.value))
    return ProviderQuote(
        provider=provider,
        declared=provider is cluster.provider,
        standing=Standing.IMPOSSIBLE,
        region=best.region if in_catalog or provider is cluster.provider else None,
        pools=(),
        per_hour=None,
        per_month=None,
        known_per_hour=0.0,
        unpriced=(),
        price_dates=(),
        reasons=_first_reason(best.blockers),
        needs=(),
        warnings=(),
        not_carried=best.dropped,
        regions_tried=tuple(regions),
    )


NO_ADAPTER = "provider-not-implemented"


def _first_reason(blockers: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """A provider without an adapter: that alone (what else the planner says of it follows from it)."""
    missing = tuple(f for f in blockers if f.code == NO_ADAPTER)
    return missing or blockers


def _hostable(cluster: Cluster, provider: ProviderName, best: _Attempt, regions: list[str]) -> ProviderQuote:
    plan = best.plan
    assert plan is not None  # only attempts with a plan are hostable
    cost = plan.cost
    support = plan.scheduler.support_nodes if plan.scheduler is not None else []
    fees = [plan.kubernetes.control_plane] if plan.kubernetes is not None else []
    priced: list[PoolPlan | SupportNodePlan | ServiceFeePlan] = [*plan.pools, *support, *fees]
    dated = {p.price_as_of for p in priced if p.price_as_of}
    dated |= {s.price_as_of for s in plan.storage_costs if s.price_as_of}
    return ProviderQuote(
        provider=provider,
        declared=provider is cluster.provider,
        standing=Standing.PRICED if cost.per_hour is not None else Standing.UNPRICED,
        region=best.region,
        pools=tuple(QuotedPool.of(pool) for pool in plan.pools),
        per_hour=cost.per_hour,
        per_month=cost.per_month,
        known_per_hour=cost.known_per_hour,
        unpriced=tuple(cost.unpriced_pools),
        price_dates=tuple(sorted(dated)),
        reasons=(),
        needs=best.needs,
        warnings=best.warnings,
        not_carried=best.dropped,
        regions_tried=tuple(regions),
        usage_billed=tuple(cost.usage_billed),
    )


def candidate_regions(cluster: Cluster, provider: ProviderName, catalog: Catalog) -> list[str]:
    """Regions worth planning in: where the provider offers every pool's GPU (a pool whose GPU it does not
    offer restricts nothing: the planner says why). Ordered for ties, since the catalog has one price per
    shape: the declared region, then the regions the prices were recorded in, then by name. With no such
    region, one region is still planned so that the planner can say what is missing."""
    offered: list[set[str]] = []
    price_regions: set[str] = set()
    for pool in cluster.pools:
        gpu = catalog.resolve_gpu(pool.gpu)
        offers = catalog.find_offers(provider=provider.value, gpu=gpu.name) if gpu else []
        if offers:
            offered.append({region for offer in offers for region in offer.regions})
            price_regions |= {offer.price.region for offer in offers if offer.price}
    common = set.intersection(*offered) if offered else set()
    own = [cluster.region] if provider is cluster.provider else []
    ordered = [*own, *sorted(price_regions & common), *sorted(common)]
    if not ordered:
        ordered = [_fallback_region(cluster, provider, catalog)]
    return list(dict.fromkeys(ordered))


def _fallback_region(cluster: Cluster, provider: ProviderName, catalog: Catalog) -> str:
    """A region of the provider's to plan in when none offers the cluster, so that the planner's findings
    are about the GPUs rather than an unknown region; the declared region for a provider with no offers."""
    regions = sorted(
        {region for offer in catalog.find_offers(provider=provider.value) for region in offer.regions}
    )
    return regions[0] if regions else cluster.region


def _attempt(
    cluster: Cluster, provider: ProviderName, region: str, catalog: Catalog, declared_gpus: dict[str, int]
) -> _Attempt:
    try:
        moved = retarget(cluster, provider, region)
    except ValidationError as exc:  # a declaration the target's rules reject as it is moved
        return _Attempt(region, None, tuple(findings_from_validation_error(exc)), (), (), ())
    plan = plan_cluster(moved.cluster, catalog)
    blockers: list[Finding] = []
    needs: list[Finding] = []
    warnings: list[Finding] = []
    for finding in plan.findings:
        if finding.severity is Severity.ERROR:
            account = finding.path.startswith("options.") and finding.path != "options.provider"
            (needs if account else blockers).append(finding)
        elif finding.code == NO_FABRIC and _needs_fabric(moved.cluster, finding):
            blockers.append(finding)
        elif finding.severity is Severity.WARNING:
            warnings.append(finding)
    warnings.extend(_gpu_count_changes(plan, declared_gpus))
    if not plan.pools and not blockers:  # cannot happen with a valid plan; never quote an empty cluster
        blockers.append(error("no-pools-planned", "pools", f"no pool could be planned on {provider.value}"))
    return _Attempt(region, plan, tuple(blockers), tuple(needs), tuple(warnings), moved.dropped)


def _needs_fabric(cluster: Cluster, finding: Finding) -> bool:
    """A multi-node pool needs a fabric unless it declares `interconnect="none"` (the planner drops the
    warning itself when the cluster suppresses it)."""
    match = _POOL_PATH.match(finding.path)
    if match is None or int(match.group(1)) >= len(cluster.pools):
        return True
    return cluster.pools[int(match.group(1))].interconnect is not Interconnect.NONE


def _gpu_count_changes(plan: ClusterPlan, declared_gpus: dict[str, int]) -> Sequence[Finding]:
    """A pool declared by `nodes=` keeps its node count when moved, so another shape changes its GPUs."""
    return [
        warning(
            "gpu-count-changed",
            f"pools[{index}]",
            f"{pool.name}: {pool.total_gpus} GPUs here ({pool.nodes} x {pool.instance_type}), "
            f"{declared_gpus[pool.name]} as declared",
            "declare the pool with gpus= to compare the same number of GPUs on every provider",
        )
        for index, pool in enumerate(plan.pools)
        if pool.name in declared_gpus and pool.total_gpus != declared_gpus[pool.name]
    ]
