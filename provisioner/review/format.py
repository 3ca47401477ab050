"""Small, shared formatting rules. An unknown price is shown as 'unknown', never as $0."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.plan import Cost
from provisioner.plan.models import HOURS_PER_MONTH
from provisioner.review.model import ClusterRun

UNKNOWN = "unknown"


def money(value: float | None, per: str = "") -> str:
    """'$98.32/h' for a known amount, 'unknown' for None (never '$0')."""
    if value is None:
        return UNKNOWN
    text = f"${value:,.2f}"
    return f"{text}/{per}" if per else text


def cost_line(cost: Cost) -> str:
    """'$786.56/h, $574,188.80/month' or 'unknown (without a price: a, b; known part: $1.00/h)'."""
    by_use = f" + billed by use: {', '.join(cost.usage_billed)}" if cost.usage_billed else ""
    if cost.per_hour is not None:
        return f"{money(cost.per_hour, 'h')}, {money(cost.per_month, 'month')}{by_use}"
    known = f"; known part: {money(cost.known_per_hour, 'h')}" if cost.known_per_hour else ""
    return f"{UNKNOWN} (without a price: {', '.join(cost.unpriced_pools)}{known}){by_use}"


@dataclass(frozen=True, slots=True)
class Total:
    per_hour: float | None
    per_month: float | None
    known_per_hour: float
    unpriced: tuple[str, ...]
    """'cluster/pool' of every pool without a price."""
    usage_billed: tuple[str, ...] = ()
    """'cluster/storage (kind)' of what is billed for what it holds (not in the total)."""


def total_cost(runs: tuple[ClusterRun, ...]) -> Total:
    known = round(sum((run.plan.cost.known_per_hour for run in runs), 0.0), 4)
    unpriced = tuple(f"{run.plan.name}/{pool}" for run in runs for pool in run.plan.cost.unpriced_pools)
    per_hour = None if unpriced else known
    per_month = None if per_hour is None else round(per_hour * HOURS_PER_MONTH, 2)
    by_use = tuple(f"{run.plan.name}/{item}" for run in runs for item in run.plan.cost.usage_billed)
    return Total(per_hour, per_month, known, unpriced, by_use)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
