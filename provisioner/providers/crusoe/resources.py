"""Crusoe emit side: a ClusterPlan -> dynamic resources (RestPool, RestVolume) under the GpuCluster."""

from __future__ import annotations

from typing import Any

from provisioner.plan import ClusterPlan
from provisioner.providers.crusoe.plan import POOL_FACTORY, VOLUME_FACTORY, crusoe_options, crusoe_plan
from provisioner.providers.rest.emit import RestFactories, emit_rest, stack_owner


class CrusoeEmitter:
    """The Crusoe adapter's emitter ("provisioner.providers.crusoe.resources:CrusoeEmitter")."""

    def emit(self, name: str, plan: ClusterPlan, parent: Any) -> dict[str, Any]:
        project = crusoe_options(plan).project_id
        factories = RestFactories(POOL_FACTORY, VOLUME_FACTORY, lambda spec: {"project_id": project})
        return emit_rest(name, plan, parent, crusoe_plan(name, plan, stack_owner()), factories)
