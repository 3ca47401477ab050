"""Run a Google Cloud GpuCluster under the Pulumi SDK mock runtime, with the fake cloud `provisioner plan`
uses (provisioner/program/mocks.py), and keep every registration: type, name, URN, parent, protect, inputs
(by their wire names, such as `networkInterfaces`) and the component's resolved outputs."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockResourceArgs

from provisioner.catalog import Catalog
from provisioner.component import GpuCluster
from provisioner.program.mocks import FakeCloud, Recorder, RecordingMonitor
from provisioner.review.model import RecordedResource
from provisioner.spec import Cluster, NodePool

TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
GROUP = "gcp:compute/instanceGroupManager:InstanceGroupManager"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
POLICY = "gcp:compute/resourcePolicy:ResourcePolicy"


class KeepingCloud(FakeCloud):
    """The fake cloud of `provisioner plan`, also keeping each resource's inputs unabridged (the recorder
    summarizes long text such as user data)."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(recorder)
        self.raw: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        with self._lock:
            self.raw[(args.typ, args.name)] = dict(args.inputs)
        return super().new_resource(args)


@dataclass
class Deployment:
    cluster: Cluster
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    raw: dict[tuple[str, str], dict[str, Any]]

    def inputs(self, resource: RecordedResource) -> dict[str, Any]:
        """Its inputs as the program gave them (secrets and long text included)."""
        return self.raw.get((resource.type, resource.name), {})

    def of_type(self, typ: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> RecordedResource:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, got {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> RecordedResource:
        """The cloud resource of that name (components may share it: they have another type)."""
        found = [r for r in self.resources if r.name == name and not r.type.startswith("provisioner:")]
        assert len(found) == 1, f"expected one resource named {name}, got {[r.name for r in self.resources]}"
        return found[0]

    def template(self, pool: str) -> dict[str, Any]:
        return self.inputs(self.named(f"{self.cluster.name}-{pool}-template"))

    def group(self, pool: str) -> dict[str, Any]:
        return self.inputs(self.named(f"{self.cluster.name}-{pool}-group"))

    def metadata(self, pool: str) -> dict[str, str]:
        return dict(self.template(pool)["metadata"])


def _ensure_event_loop() -> None:
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def deploy(cluster: Cluster, name: str | None = None, *, catalog: Catalog | None = None) -> Deployment:
    """Plan and emit `cluster` as `GpuCluster(name or cluster.name, cluster)` under mocks (preview=False)."""
    _ensure_event_loop()
    recorder = Recorder(cluster.region)
    cloud = KeepingCloud(recorder)
    monitor = RecordingMonitor(cloud)
    pulumi.runtime.set_mocks(monitor.mocks, project="test", stack="dev", preview=False, monitor=monitor)
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        component = GpuCluster(name or cluster.name, cluster, catalog=catalog)
        return pulumi.Output.from_input(component.outputs).apply(resolved.update)

    run()
    assert not recorder.duplicates, recorder.duplicates
    return Deployment(cluster, list(recorder.resources.values()), resolved, cloud.raw)


def gpu_pool(**overrides: Any) -> NodePool:
    """Two a3-megagpu-8g nodes (16 H100, GPUDirect-TCPXO) in us-central1-a; override any field."""
    fields: dict[str, Any] = {
        "name": "gpu",
        "gpu": "H100",
        "nodes": 2,
        "instance_type": "a3-megagpu-8g",
        "zone": "us-central1-a",
    }
    fields.update(overrides)
    return NodePool(**fields)


def make_cluster(**overrides: Any) -> Cluster:
    """A small valid Google Cloud cluster: two a3-megagpu-8g nodes in us-central1-a, a bucket."""
    from provisioner.spec import Bucket, GcpOptions

    fields: dict[str, Any] = {
        "name": "llm",
        "provider": "gcp",
        "region": "us-central1",
        "pools": [
            NodePool(name="gpu", gpu="H100", nodes=2, instance_type="a3-megagpu-8g", zone="us-central1-a")
        ],
        "storage": [Bucket(name="ckpt")],
        "tags": {"team": "research"},
        "options": GcpOptions(project="llm-project-1"),
    }
    fields.update(overrides)
    return Cluster(**fields)
