"""Lambda emit side: a ClusterPlan -> dynamic resources (RestPool, RestVolume) under the GpuCluster."""

from __future__ import annotations

from typing import Any

from provisioner.plan import ClusterPlan
from provisioner.providers.lambda_cloud.plan import POOL_FACTORY, VOLUME_FACTORY, lambda_plan
from provisioner.providers.rest.emit import RestFactories, emit_rest, stack_owner

FACTORIES = RestFactories(pool=POOL_FACTORY, volume=VOLUME_FACTORY)


class LambdaEmitter:
    """The Lambda adapter's emitter ("provisioner.providers.lambda_cloud.resources:LambdaEmitter")."""

    def emit(self, name: str, plan: ClusterPlan, parent: Any) -> dict[str, Any]:
        return emit_rest(name, plan, parent, lambda_plan(name, plan, stack_owner()), FACTORIES)
