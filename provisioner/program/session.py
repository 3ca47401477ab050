"""A planning session: when `provisioner plan` runs a program, GpuCluster reports to it instead of raising."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.plan import ClusterPlan
    from provisioner.spec import Cluster, ProviderName


@dataclass
class PlannedCluster:
    component_name: str
    cluster: Cluster
    plan: ClusterPlan
    emitted: bool
    declared_as: Cluster | None = None
    """The program's own declaration, when `cluster` is it moved to another cloud."""


@dataclass
class PlanSession:
    clusters: list[PlannedCluster] = field(default_factory=list)
    target: tuple[ProviderName, str] | None = None
    """(provider, region) to plan every cluster on instead of its own (`plan --provider --region`)."""

    def record(
        self,
        component_name: str,
        cluster: Cluster,
        plan: ClusterPlan,
        emitted: bool,
        declared_as: Cluster | None = None,
    ) -> None:
        self.clusters.append(PlannedCluster(component_name, cluster, plan, emitted, declared_as))

    def declared(self, cluster: Cluster) -> bool:
        return any(cluster is entry.cluster or cluster is entry.declared_as for entry in self.clusters)


_SESSION: ContextVar[PlanSession | None] = ContextVar("provisioner_plan_session", default=None)


def current_session() -> PlanSession | None:
    return _SESSION.get()


def set_session(session: PlanSession | None) -> object:
    return _SESSION.set(session)
