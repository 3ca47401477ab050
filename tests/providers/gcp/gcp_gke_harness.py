"""GKE clusters under the Pulumi mock runtime: the shared Google Cloud harness, plus the options each
registration carried (delete-before-replace, custom timeouts), which the recorder does not keep."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pulumi
from gcp_harness import Deployment, KeepingCloud, make_cluster

from provisioner.catalog import Catalog
from provisioner.component import GpuCluster
from provisioner.program.mocks import Recorder, RecordingMonitor
from provisioner.spec import Cluster, Kubernetes, NodePool

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
PUBLIC_RANGE = "203.0.113.0/24"


@dataclass(frozen=True)
class Options:
    delete_before_replace: bool
    create_timeout: str


class OptionsMonitor(RecordingMonitor):
    """The recording monitor, also keeping each resource's registration options by (type, name)."""

    def __init__(self, cloud: KeepingCloud) -> None:
        super().__init__(cloud)
        self.options: dict[tuple[str, str], Options] = {}

    def RegisterResource(self, request: Any) -> Any:
        timeouts = request.customTimeouts
        self.options[(request.type, request.name)] = Options(
            bool(request.deleteBeforeReplace), timeouts.create if timeouts else ""
        )
        return super().RegisterResource(request)


@dataclass
class GkeDeployment(Deployment):
    options: dict[tuple[str, str], Options] = field(default_factory=dict)

    def node_pool(self, pool: str) -> dict[str, Any]:
        return self.inputs(self.named(f"{self.cluster.name}-gke-{pool}"))

    def cluster_inputs(self) -> dict[str, Any]:
        return self.inputs(self.one(CLUSTER))

    def options_of(self, typ: str, name: str) -> Options:
        return self.options[(typ, name)]


def deploy_gke(cluster: Cluster, *, catalog: Catalog | None = None) -> GkeDeployment:
    """Plan and emit `cluster` as `GpuCluster(cluster.name, cluster)` under mocks (preview=False)."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())
    recorder = Recorder(cluster.region)
    cloud = KeepingCloud(recorder)
    monitor = OptionsMonitor(cloud)
    pulumi.runtime.set_mocks(monitor.mocks, project="test", stack="dev", preview=False, monitor=monitor)
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        component = GpuCluster(cluster.name, cluster, catalog=catalog)
        return pulumi.Output.from_input(component.outputs).apply(resolved.update)

    run()
    assert not recorder.duplicates, recorder.duplicates
    return GkeDeployment(cluster, list(recorder.resources.values()), resolved, cloud.raw, monitor.options)


def gpu_pool(**overrides: Any) -> NodePool:
    """Two a3-megagpu-8g nodes (16 H100, GPUDirect-TCPXO) in us-central1-a; override any field."""
    fields: dict[str, Any] = {
        "name": "gpu",
        "gpu": "H100",
        "nodes": 2,
        "instance_type": "a3-megagpu-8g",
        "zone": "us-central1-a",
    }
    return NodePool(**{**fields, **overrides})


def gke_cluster(*pools: NodePool, **k8s: Any) -> Cluster:
    """The harness's cluster (project llm-project-1, us-central1) on GKE, API from a documentation range."""
    scheduler = Kubernetes(**{"api_public_cidrs": [PUBLIC_RANGE], **k8s})
    return make_cluster(pools=list(pools) or [gpu_pool()], scheduler=scheduler, storage=[])
