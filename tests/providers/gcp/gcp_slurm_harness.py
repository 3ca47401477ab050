"""Run the Google Cloud Slurm scheduler under the Pulumi SDK mock runtime and record every registration (no
network, no credentials).

`deploy(cluster)` plans the cluster, then builds what the scheduler needs the way the emitter does (the
cluster's provider, the lead's Network and Identity, the Filestore and Managed Lustre mounts) and the
`Scheduler` itself, and returns a `Deployment`: each registration (type, name, URN, parent, provider,
protect, dependencies, ignore_changes, delete_before_replace, the inputs with the engine's wire names, and
which inputs were sent as secrets) plus the scheduler's resolved outputs. The fake cloud is
`provisioner.program.mocks` (the same answers `provisioner plan` gets); pulumi_random returns the
recognisable values below, so that a test can look for them anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

from provisioner.catalog import shipped_catalog
from provisioner.component import GpuCluster
from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.program.mocks import fake_call, fake_outputs
from provisioner.providers.gcp.identity import Identity
from provisioner.providers.gcp.network import Network
from provisioner.providers.gcp.plan import gcp_plan
from provisioner.providers.gcp.resources import cluster_provider
from provisioner.providers.gcp.slurm import Scheduler, SchedulerInputs
from provisioner.providers.gcp.specs import GcpPlan
from provisioner.providers.gcp.storage import Filestore, ManagedLustre, shared_mounts
from provisioner.spec import Cluster, Severity

MUNGE_KEY = bytes(range(256))[1::2]  # 128 bytes the mock "generates"
MUNGE_B64 = base64.b64encode(MUNGE_KEY).decode()
DB_PASSWORD = "MockSlurmdbdPassw0rdNeverInMetadata"
RANDOM_BYTES = "random:index/randomBytes:RandomBytes"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
ROOT_TYPE = "provisioner:index:GpuCluster"
REGION = "us-central1"


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    provider: str
    protect: bool
    custom: bool
    dependencies: list[str]
    ignore_changes: list[str]
    delete_before_replace: bool
    secret_inputs: set[str]
    """Top-level inputs the program sent as Pulumi secrets (wire names)."""
    inputs: dict[str, Any] = field(default_factory=dict)


class SlurmMocks(pulumi.runtime.Mocks):
    """provisioner's fake cloud, with pulumi_random's values fixed to recognisable ones."""

    def __init__(self) -> None:
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        with self._lock:
            self.inputs[(args.typ, args.name)] = dict(args.inputs)
        id_, state = fake_outputs(args.typ, args.name, dict(args.inputs), REGION)
        if args.typ == RANDOM_BYTES:
            state.update(base64=MUNGE_B64, hex=MUNGE_KEY.hex())
        elif args.typ == RANDOM_PASSWORD:
            state["result"] = DB_PASSWORD
        return id_, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return fake_call(args.token, dict(args.args), REGION), []


def _secret_fields(request: Any) -> set[str]:
    found = set()
    for key, value in request.object.fields.items():
        if value.HasField("struct_value"):
            sig = value.struct_value.fields.get(rpc._special_sig_key)
            if sig is not None and sig.string_value == rpc._special_secret_sig:
                found.add(key)
    return found


class RecordingMonitor(MockMonitor):
    """Keeps what MockResourceArgs leaves out: parent, options, dependencies, secretness."""

    def __init__(self, mocks: SlurmMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Registration] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            registration = Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent,
                provider=request.provider,
                protect=bool(request.protect),
                custom=request.custom,
                dependencies=list(request.dependencies),
                ignore_changes=list(request.ignoreChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                secret_inputs=_secret_fields(request),
            )
            with self._lock:
                self.recorded.append(registration)
        return response


@dataclass
class Deployment:
    cluster: Cluster
    plan: ClusterPlan
    spec: GcpPlan
    resources: list[Registration]
    outputs: dict[str, Any]

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Registration:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, got {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Registration:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, got {len(found)}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)


def unwrap(value: Any) -> Any:
    """The inputs with Pulumi's secret wrappers taken off (`secret_inputs` says which were secret)."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return unwrap(value.get("value"))
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def _ensure_event_loop() -> None:
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


class _Root(pulumi.ComponentResource):
    """Stands in for GpuCluster: the parent of every concern, as the emitter gets it."""

    def __init__(self, name: str) -> None:
        super().__init__(ROOT_TYPE, name, None, None)


def planned(cluster: Cluster) -> ClusterPlan:
    plan = plan_cluster(cluster, shipped_catalog())
    errors = [f.render() for f in plan.findings if f.severity is Severity.ERROR]
    assert not errors, errors
    return plan


def build(cluster: Cluster, plan: ClusterPlan, spec: GcpPlan) -> Scheduler:
    """What GcpEmitter.emit does up to the scheduler, inside a running (mock) program."""
    root = _Root(cluster.name)
    provider = cluster_provider(spec, root)
    network = Network(spec, provider, root)
    identity = Identity(spec, provider, root)
    filestores = [Filestore(spec, fs, network, provider, root) for fs in spec.filestores]
    lustres = [ManagedLustre(spec, fs, network, provider, root) for fs in spec.lustres]
    inputs = SchedulerInputs(
        network=network,
        identity=identity,
        mounts=shared_mounts(filestores, lustres),
        launch_dependencies=list(identity.roles),
    )
    return Scheduler(spec, plan, inputs, provider, root)


def deploy(cluster: Cluster, *, component: bool = False) -> Deployment:
    """The scheduler alone (built as the emitter builds it), or with `component` the whole GpuCluster
    through the Google Cloud emitter (pools included); `outputs` are the scheduler's or the cluster's."""
    _ensure_event_loop()
    plan = planned(cluster)
    spec = gcp_plan(cluster.name, plan)
    mocks = SlurmMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="test", stack="dev", preview=False, monitor=monitor)
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[misc]
    def run() -> pulumi.Output[Any]:
        if component:
            return pulumi.Output.from_input(GpuCluster(cluster.name, cluster).outputs).apply(resolved.update)
        scheduler = build(cluster, plan, spec)
        return pulumi.Output.from_input(scheduler.outputs()).apply(resolved.update)

    run()
    for registration in monitor.recorded:
        registration.inputs = unwrap(mocks.inputs.get((registration.type, registration.name), {}))
    return Deployment(cluster, plan, spec, list(monitor.recorded), resolved)
