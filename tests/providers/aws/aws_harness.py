"""Run a GpuCluster under the Pulumi SDK mock runtime and record every registration (no network, no keys).

`deploy(cluster)` returns a `Deployment`: each registered resource (type, name, URN, parent URN, provider
reference, `protect` and the inputs as the engine would see them, keyed by their wire names such as
`networkInterfaces`) plus the component's resolved outputs.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

from provisioner.catalog import Catalog
from provisioner.component import GpuCluster
from provisioner.spec import Cluster

FAKE_AMI = "ami-0123456789abcdef0"
ACCOUNT_ID = "123456789012"
CUSTOM_ROOT_DEVICE = "/dev/xvda"
SSM_GET_PARAMETER = "aws:ssm/getParameter:getParameter"
GET_OFFERINGS = "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings"
GET_AMI = "aws:ec2/getAmi:getAmi"
GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
GET_KMS_KEY = "aws:kms/getKey:getKey"

Answer = Callable[[dict[str, Any]], dict[str, Any]]
"""A data source's result, from its arguments (wire names: `filters`, `locationType`, ...)."""


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    provider: str
    protect: bool | None
    custom: bool
    dependencies: list[str]
    ignore_changes: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)


def _fake_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Computed outputs the emit code reads (arn, latestVersion, dnsName, ...)."""
    service = typ.split(":")[1].split("/")[0] if typ.count(":") >= 2 else "x"
    out: dict[str, Any] = {"arn": f"arn:aws:{service}:us-east-1:123456789012:{name}"}
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        out["latestVersion"] = 3
    elif typ == "aws:fsx/lustreFileSystem:LustreFileSystem":
        out.update(dnsName=f"fs-{name}.fsx.us-east-1.amazonaws.com", mountName=f"{name[:6]}mnt")
    elif typ == "aws:s3/bucket:Bucket":
        bucket = f"{inputs.get('bucketPrefix', name)}20260101abcdef"
        out.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
    elif typ == "aws:ec2/eip:Eip":
        out["allocationId"] = f"eipalloc-{name}"
    elif typ == "aws:eks/cluster:Cluster":
        vpc = {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-eks-{name}"}
        out.update(
            endpoint=f"https://{name}.gr7.us-east-1.eks.amazonaws.com",
            certificateAuthority={"data": "ZmFrZSBjYQ=="},
            identities=[{"oidcs": [{"issuer": f"https://oidc.eks.us-east-1.amazonaws.com/id/{name}"}]}],
            vpcConfig=vpc,
        )
    if "name" not in inputs:
        out["name"] = f"{name}-physical"
    return out


def filter_values(args: dict[str, Any], name: str) -> list[str]:
    return next((list(f["values"]) for f in args.get("filters") or [] if f.get("name") == name), [])


def offerings(zones: Mapping[str, list[str]]) -> Answer:
    """An instance type offerings answer: zone -> the instance types it offers (of those asked for)."""

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        asked = set(filter_values(args, "instance-type"))
        pairs = [(zone, kind) for zone, kinds in zones.items() for kind in kinds if kind in asked]
        return {
            "id": "us-east-1",
            "region": "us-east-1",
            "locationType": args.get("locationType"),
            "locations": [zone for zone, _ in pairs],
            "instanceTypes": [kind for _, kind in pairs],
            "locationTypes": ["availability-zone" for _ in pairs],
        }

    return answer


def _offered_in_abc(args: dict[str, Any]) -> dict[str, Any]:
    """Every requested type in zones a, b and c of the region (us-east-1 unless the call names another)."""
    region = args.get("region") or "us-east-1"
    kinds = filter_values(args, "instance-type")
    return offerings({f"{region}{z}": kinds for z in "abc"})(args) | {"id": region, "region": region}


def ami(root_device: str = CUSTOM_ROOT_DEVICE) -> Answer:
    """A getAmi answer: the image asked for (by its image-id filter), booting from `root_device`."""

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        image = next(iter(filter_values(args, "image-id")), FAKE_AMI)
        return {
            "id": image,
            "imageId": image,
            "architecture": "x86_64",
            "name": "custom-gpu-image",
            "rootDeviceName": root_device,
            "rootDeviceType": "ebs",
        }

    return answer


def _caller_identity(args: dict[str, Any]) -> dict[str, Any]:
    arn = f"arn:aws:iam::{ACCOUNT_ID}:user/test"
    return {"id": ACCOUNT_ID, "accountId": ACCOUNT_ID, "arn": arn, "userId": "AIDATEST"}


def _kms_key(args: dict[str, Any]) -> dict[str, Any]:
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/0000aaaa-resolved-from-{args['keyId'].split('/')[-1]}"
    return {"id": arn.rsplit("/", 1)[-1], "keyId": args["keyId"], "arn": arn, "enabled": True}


def _ssm_parameter(args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name", "")
    return {
        "id": name,
        "arn": f"arn:aws:ssm:us-east-1::parameter{name}",
        "name": name,
        "type": "String",
        "value": FAKE_AMI,
        "insecureValue": FAKE_AMI,
        "version": 1,
        "withDecryption": False,
        "region": "us-east-1",
    }


def _zones(args: dict[str, Any]) -> dict[str, Any]:
    return {"id": "us-east-1", "names": ["us-east-1a", "us-east-1b", "us-east-1c"], "state": "available"}


DEFAULT_ANSWERS: dict[str, Answer] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _zones,
    SSM_GET_PARAMETER: _ssm_parameter,
    GET_OFFERINGS: _offered_in_abc,
    GET_AMI: ami(),
    GET_CALLER_IDENTITY: _caller_identity,
    GET_KMS_KEY: _kms_key,
}


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, answers: Mapping[str, Answer] | None = None) -> None:
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[MockCallArgs] = []
        self.answers = {**DEFAULT_ANSWERS, **(answers or {})}
        self._lock = threading.Lock()

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        with self._lock:
            self.inputs[(args.typ, args.name)] = dict(args.inputs)
        return f"{args.name}-id", {**args.inputs, **_fake_outputs(args.typ, args.name, args.inputs)}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        with self._lock:
            self.calls.append(args)
        answer = self.answers.get(args.token)
        # the mock monitor iterates the failures: a list, never None
        return (answer(dict(args.args)) if answer else {}), []


class RecordingMonitor(MockMonitor):
    """Keeps what MockResourceArgs leaves out: parent, protect, dependencies."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Registration] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            registration = Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent,
                provider=request.provider,
                protect=request.protect if request.HasField("protect") else None,
                custom=request.custom,
                dependencies=list(request.dependencies),
                ignore_changes=list(request.ignoreChanges),
            )
            with self._lock:
                self.recorded.append(registration)
        return response


@dataclass
class Deployment:
    cluster: Cluster
    resources: list[Registration]
    outputs: dict[str, Any]
    calls: list[MockCallArgs]

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

    def engine_urn(self, r: Registration) -> str:
        """The URN the Pulumi engine gives `r`: the mock monitor keeps only the parent's type, the engine
        keeps the whole chain of parent types below the stack."""
        types = [r.type]
        parent = r.parent
        while parent:
            above = self.by_urn(parent) if any(x.urn == parent for x in self.resources) else None
            if above is None:  # the stack
                break
            types.insert(0, above.type)
            parent = above.parent
        return f"urn:pulumi:dev::test::{'$'.join(types)}::{r.name}"

    def launch_template(self, pool: str) -> dict[str, Any]:
        return self.named(f"{self.cluster.name}-{pool}-lt").inputs

    def user_data_bytes(self, pool: str) -> bytes:
        """What EC2 receives (before base64): the cloud-config, gzipped when it is over 16 KB."""
        return base64.b64decode(self.launch_template(pool)["userData"])

    def user_data(self, pool: str) -> str:
        """The cloud-config, as cloud-init reads it (gunzipped when it was sent compressed)."""
        payload = self.user_data_bytes(pool)
        return (gzip.decompress(payload) if payload[:2] == b"\x1f\x8b" else payload).decode()

    def calls_to(self, token: str) -> list[MockCallArgs]:
        return [c for c in self.calls if c.token == token]


def _ensure_event_loop() -> None:
    """The SDK runs on the thread's current event loop; other tests (asyncio.run, ...) may have closed or
    unset it."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def deploy(
    cluster: Cluster,
    name: str | None = None,
    *,
    answers: Mapping[str, Answer] | None = None,
    catalog: Catalog | None = None,
) -> Deployment:
    """Plan and emit `cluster` as `GpuCluster(name or cluster.name, cluster)` under mocks (preview=False, so
    every output resolves and every dependent resource registers). `answers` replace the default results of
    data sources, by token (e.g. `{GET_OFFERINGS: offerings({...})}`)."""
    _ensure_event_loop()
    mocks = RecordingMocks(answers)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="test", stack="dev", preview=False, monitor=monitor)
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        component = GpuCluster(name or cluster.name, cluster, catalog=catalog)
        return pulumi.Output.from_input(component.outputs).apply(resolved.update)

    run()
    for registration in monitor.recorded:
        registration.inputs = mocks.inputs.get((registration.type, registration.name), {})
    return Deployment(cluster, list(monitor.recorded), resolved, list(mocks.calls))


def make_cluster(**overrides: Any) -> Cluster:
    """A small valid AWS cluster (one H100 pool of 2 nodes, Lustre, a bucket, scratch); override any field."""
    from provisioner.spec import Bucket, LocalScratch, Lustre, NodePool

    fields: dict[str, Any] = {
        "name": "llm",
        "provider": "aws",
        "region": "us-east-1",
        "pools": [NodePool(name="gpu", gpu="H100", nodes=2)],
        "storage": [Lustre(name="shared"), Bucket(name="ckpt"), LocalScratch()],
        "tags": {"team": "research"},
    }
    fields.update(overrides)
    return Cluster(**fields)
