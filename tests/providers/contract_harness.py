"""Emit any provider's GpuCluster under the fake cloud of `provisioner plan` and keep a provider-neutral
recording of every registration: type, name, URN, parent, provider reference, protect and the inputs as
the program gave them (secrets and long user data unabridged: the contract test searches them).

Reuses the project's mock runtime (`provisioner.program.mocks`): the same fake ids, ARNs, images and
pulumi_random results as `provisioner plan`, so what the contract test checks is what a reviewer sees.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockResourceArgs

from provisioner.catalog import Catalog
from provisioner.component import GpuCluster
from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.program.mocks import FakeCloud, Recorder, RecordingMonitor, fake_random
from provisioner.spec import Cluster

PROJECT, STACK = "contract", "dev"
DYNAMIC = "pulumi-python:dynamic:Resource"


@dataclass(frozen=True)
class Resource:
    """One registration, as the engine would receive it."""

    type: str
    name: str
    urn: str
    parent: str | None
    provider: str | None
    """The provider reference ('URN::ID') the SDK resolved for it, or None (the default provider)."""
    protect: bool
    custom: bool
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The type, refined for Pulumi's Python dynamic resources, which all register as
        `pulumi-python:dynamic:Resource`: a REST pool (`#pool`) or volume (`#volume`), by its inputs."""
        if self.type != DYNAMIC:
            return self.type
        if "pool" in self.inputs and "count" in self.inputs:
            return f"{DYNAMIC}#pool"
        if "kind" in self.inputs and "region" in self.inputs:
            return f"{DYNAMIC}#volume"
        return self.type

    @property
    def package(self) -> str:
        """'aws' of 'aws:ec2/vpc:Vpc'; 'pulumi' for providers ('pulumi:providers:aws')."""
        return self.type.partition(":")[0]

    @property
    def provider_urn(self) -> str | None:
        return self.provider.rsplit("::", 1)[0] if self.provider else None

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")


@dataclass
class Recording:
    """Everything one emit registered, in registration order."""

    cluster_name: str
    resources: list[Resource]
    secrets: dict[str, str] = field(default_factory=dict)
    """Secret values the fake cloud generated (pulumi_random results), by '<resource name>.<field>'."""

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def by_urn(self, urn: str) -> Resource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.type == typ]

    def ancestors(self, resource: Resource) -> Iterator[Resource]:
        """Its parent, the parent's parent, ... up to (not including) the stack."""
        seen: set[str] = set()
        current = self.by_urn(resource.parent) if resource.parent else None
        while current is not None and current.urn not in seen:
            seen.add(current.urn)
            yield current
            current = self.by_urn(current.parent) if current.parent else None

    @property
    def urns(self) -> set[str]:
        return {r.urn for r in self.resources}


class _KeepingCloud(FakeCloud):
    """The fake cloud of `provisioner plan`, also keeping each resource's raw inputs (the recorder
    summarizes long text such as user data and redacts secrets)."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(recorder)
        self.raw: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        with self._lock:
            self.raw[(args.typ, args.name)] = dict(args.inputs)
        return super().new_resource(args)


class _Monitor(RecordingMonitor):
    """The project's recording monitor, also keeping what RecordedResource leaves out: the provider."""

    def __init__(self, cloud: _KeepingCloud) -> None:
        super().__init__(cloud)
        self.providers: dict[str, str] = {}
        self._plock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        with self._plock:
            self.providers[response.urn] = request.provider
        return response


def _ensure_event_loop() -> None:
    """The SDK runs on the thread's current event loop; other tests may have closed or unset it."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def planned(cluster: Cluster, catalog: Catalog | None = None) -> ClusterPlan:
    """The plan `provisioner plan` and GpuCluster make of `cluster` (offline)."""
    from provisioner.catalog import shipped_catalog

    return plan_cluster(cluster, catalog if catalog is not None else shipped_catalog())


def _random_values(resources: list[Resource]) -> dict[str, str]:
    """The values the fake cloud made up for every pulumi_random resource (munge keys, passwords)."""
    found: dict[str, str] = {}
    for r in resources:
        if r.package != "random":
            continue
        kind = r.type.rsplit(":", 1)[-1]
        for key, value in fake_random(kind, r.name, r.inputs).items():
            if isinstance(value, str) and len(value) >= 8:
                found[f"{r.name}.{key}"] = value
    return found


def emit(cluster: Cluster, *, catalog: Catalog | None = None) -> Recording:
    """Plan and emit `cluster` as `GpuCluster(cluster.name, cluster)` under the fake cloud (preview=False,
    so every output resolves and every dependent resource registers)."""
    _ensure_event_loop()
    recorder = Recorder(cluster.region)
    cloud = _KeepingCloud(recorder)
    monitor = _Monitor(cloud)
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=STACK, preview=False, monitor=monitor)

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        component = GpuCluster(cluster.name, cluster, catalog=catalog)
        return pulumi.Output.from_input(component.outputs)

    run()
    assert not recorder.duplicates, f"duplicate URNs: {recorder.duplicates}"
    resources = [
        Resource(
            type=r.type,
            name=r.name,
            urn=r.urn,
            parent=r.parent,
            provider=monitor.providers.get(r.urn) or None,
            protect=r.protect,
            custom=r.custom,
            inputs=cloud.raw.get((r.type, r.name), {}),
        )
        for r in recorder.resources.values()
    ]
    return Recording(cluster.name, resources, _random_values(resources))
