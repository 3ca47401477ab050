"""The result of comparing two plans, as frozen data. `review.diff` builds it, `review.diff_render` shows it.

Every field is plain data so that the JSON output is the model itself: CI can read what a reviewer reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

EXIT_NO_CHANGES = 0
EXIT_CHANGES = 3
EXIT_INCOMPLETE = 2
"""A plan failed or has errors: the diff cannot say what changes."""
"""`provisioner diff` exit codes: CI branches on 'something would change' without parsing the output."""


class Action(StrEnum):
    ADD = "add"
    DELETE = "delete"
    UPDATE = "update"
    REPLACE = "replace"


class Severity(StrEnum):
    CAUTION = "caution"
    """Data or running GPU nodes are lost: the reviewer must look."""
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class KeyChange:
    """One input (or plan field) that differs, at a dotted path (`tags.team`, `vpcZoneIdentifiers[0]`)."""

    path: str
    before: Any
    after: Any
    before_present: bool = True
    after_present: bool = True


@dataclass(frozen=True, slots=True)
class ResourceChange:
    urn: str
    type: str
    kind: str
    """The type, or our own name for a REST pool or volume (they share one dynamic-resource type)."""
    name: str
    cluster: str | None
    """None: a resource of the program outside any cluster."""
    action: Action
    keys: tuple[KeyChange, ...] = ()
    replace_keys: tuple[str, ...] = ()
    """The inputs that force the replacement (empty unless `action` is REPLACE)."""
    stateful: bool = False
    gpu_group: str | None = None
    """What the group runs ('8 x p5.48xlarge, 64 x H100, $440.32/h') when it is a pool with GPUs."""
    protect: bool = False
    replace_known: bool = True
    """False: the type is not in the replacement table, so an update may still be a replacement."""


@dataclass(frozen=True, slots=True)
class DiffWarning:
    severity: Severity
    subject: str
    """The resource (or plan) the warning is about, by name."""
    message: str
    urn: str | None = None


@dataclass(frozen=True, slots=True)
class CostChange:
    """Cost of one cluster (or the total, `scope` None), before and after. None is unknown, never $0; a
    cluster that does not exist on one side costs a known $0 there."""

    scope: str | None
    base_per_hour: float | None
    head_per_hour: float | None
    base_per_month: float | None
    head_per_month: float | None
    changed_fields: tuple[KeyChange, ...] = ()
    """Every cost field that differs, including ones this module does not know (storage costs, ...)."""

    @property
    def changed(self) -> bool:
        return bool(self.changed_fields)

    @property
    def delta_per_hour(self) -> float | None:
        return _delta(self.base_per_hour, self.head_per_hour)

    @property
    def delta_per_month(self) -> float | None:
        return _delta(self.base_per_month, self.head_per_month)


def _delta(base: float | None, head: float | None) -> float | None:
    return None if base is None or head is None else round(head - base, 4)


@dataclass(frozen=True, slots=True)
class EntityChange:
    """A cluster's pool, storage or settings entry added, removed or changed (matched by name)."""

    cluster: str
    section: str
    """'cluster', 'pools' or 'storage'."""
    name: str
    action: Action
    keys: tuple[KeyChange, ...] = ()


@dataclass(frozen=True, slots=True)
class FindingChange:
    cluster: str | None
    severity: str
    code: str
    path: str
    message: str
    added: bool


@dataclass(frozen=True, slots=True)
class PlanDiff:
    base: str
    head: str
    """The two plans' sources (path, or path and stack), for the headline."""
    resources: tuple[ResourceChange, ...]
    warnings: tuple[DiffWarning, ...]
    cost: CostChange
    cluster_costs: tuple[CostChange, ...]
    entities: tuple[EntityChange, ...]
    findings: tuple[FindingChange, ...]
    clusters_added: tuple[str, ...] = ()
    clusters_removed: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()
    """'base'/'head' for a plan that failed or has errors: what it lacks is unknown, not deleted."""

    def count(self, action: Action) -> int:
        return sum(1 for r in self.resources if r.action is action)

    @property
    def has_changes(self) -> bool:
        """Anything `pulumi up` would do, or a different price. Findings alone are not a change: they
        change nothing in the cloud (they are still shown)."""
        return bool(
            self.resources
            or self.cost.changed
            or any(c.changed for c in self.cluster_costs)
            or self.entities
            or self.clusters_added
            or self.clusters_removed
        )

    @property
    def exit_code(self) -> int:
        """0 no change, 3 changes, 2 when a side's plan is incomplete (never a 'safe' 0 then)."""
        if self.incomplete:
            return EXIT_INCOMPLETE
        return EXIT_CHANGES if self.has_changes else EXIT_NO_CHANGES
