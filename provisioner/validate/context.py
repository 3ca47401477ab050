from __future__ import annotations

from dataclasses import dataclass

from provisioner.catalog import Catalog, GpuModel
from provisioner.catalog.select import Selection, SelectionProblem, select_for_pool
from provisioner.spec import Cluster, NodePool


@dataclass(frozen=True, slots=True)
class RuleContext:
    cluster: Cluster
    catalog: Catalog

    def pools(self) -> list[tuple[str, NodePool]]:
        return [(f"pools[{i}]", pool) for i, pool in enumerate(self.cluster.pools)]

    def gpu_of(self, pool: NodePool) -> GpuModel | None:
        return self.catalog.resolve_gpu(pool.gpu)

    def selection(self, pool: NodePool) -> Selection | SelectionProblem | None:
        return select_for_pool(self.catalog, self.cluster.provider.value, self.cluster.region, pool)
