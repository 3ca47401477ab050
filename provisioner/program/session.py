"""A planning session: when `provisioner plan` runs a program, GpuCluster reports to it instead of raising."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.plan import ClusterPlan
    from provisioner.spec import Cluster


@dataclass
class PlannedCluster:
    component_name: str
    cluster: Cluster
    plan: ClusterPlan
    emitted: bool


@dataclass
class PlanSession:
    clusters: list[PlannedCluster] = field(default_factory=list)

    def record(self, component_name: str, cluster: Cluster, plan: ClusterPlan, emitted: bool) -> None:
        self.clusters.append(PlannedCluster(component_name, cluster, plan, emitted))

    def declared(self, cluster: Cluster) -> bool:
        return any(entry.cluster is cluster for entry in self.clusters)


_SESSION: ContextVar[PlanSession | None] = ContextVar("provisioner_plan_session", default=None)


def current_session() -> PlanSession | None:
    return _SESSION.get()


def set_session(session: PlanSession | None) -> object:
    return _SESSION.set(session)
