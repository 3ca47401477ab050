"""Pulumi mocks that record every registration and answer with fake but plausible cloud outputs.

Nothing here talks to a cloud: ids, ARNs and AMI ids are made up, deterministically, from the type and name.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.settings import get_project, get_stack

from provisioner.program.mocks_gcp import fake_gcp_call, fake_gcp_outputs
from provisioner.program.sanitize import json_safe
from provisioner.review.model import LogLine, RecordedResource

ACCOUNT_ID = "123456789012"
FAKE_AMI = "ami-0123456789abcdef0"
FAKE_ROOT_DEVICE = "/dev/xvda"
"""Root device the mock reports for a looked-up image (the catalog's images need no lookup)."""
DEFAULT_REGION = "us-east-1"
STACK_TYPE = "pulumi:pulumi:Stack"
_ID_PREFIX = {
    "Vpc": "vpc",
    "Subnet": "subnet",
    "SecurityGroup": "sg",
    "LaunchTemplate": "lt",
    "PlacementGroup": "pg",
    "InternetGateway": "igw",
    "NatGateway": "nat",
    "RouteTable": "rtb",
    "Eip": "eipalloc",
    "LustreFileSystem": "fs",
    "Instance": "i",
    "VpcEndpoint": "vpce",
    "NetworkInterface": "eni",
    "Key": "key",
}


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def _token_parts(type_: str) -> tuple[str, str, str]:
    """'aws:ec2/launchTemplate:LaunchTemplate' -> ('aws', 'ec2', 'LaunchTemplate')."""
    package, _, rest = type_.partition(":")
    module, _, kind = rest.partition(":")
    return package, module.split("/")[0], kind


def fake_id(type_: str, name: str) -> str:
    _, _, kind = _token_parts(type_)
    prefix = _ID_PREFIX.get(kind)
    return f"{prefix}-{_digest(type_, name)}" if prefix else f"{name}-{_digest(type_, name, length=7)}"


def fake_random(kind: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """pulumi_random's results, made up from the resource's name: never a real secret, but of the right shape
    (RandomBytes: `base64` and `hex` of `length` bytes; RandomPassword/RandomString: `result` of `length`
    letters and digits)."""
    length = int(inputs.get("length") or 16)
    if kind == "RandomBytes":
        data = hashlib.shake_256(f"random-bytes\0{name}".encode()).digest(length)
        return {"base64": base64.b64encode(data).decode(), "hex": data.hex()}
    if kind in ("RandomPassword", "RandomString"):
        text = hashlib.shake_256(f"random-text\0{name}".encode()).hexdigest((length + 1) // 2)
        return {"result": text[:length]}
    return {}


def fake_outputs(type_: str, name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    """The id and the state of a created resource: its inputs plus the outputs emitters commonly read."""
    package, module, kind = _token_parts(type_)
    id_ = fake_id(type_, name)
    state = dict(inputs)
    if package == "random":
        state.update(fake_random(kind, name, inputs))
    if package == "aws" and module == "s3" and kind in ("Bucket", "BucketV2"):
        # an S3 bucket's id is its name: the given one, or the prefix plus a random suffix
        prefix = str(inputs.get("bucketPrefix") or f"{name}-")
        id_ = str(inputs.get("bucket") or f"{prefix}{_digest(type_, name, length=12)}")
        state["bucket"] = id_
    state.setdefault("name", f"{name}-{_digest(type_, name, length=7)}")
    if package == "aws":
        where = "" if module in ("iam", "s3") else region
        resource = f":{id_}" if module == "s3" else f"{ACCOUNT_ID}:{kind.lower()}/{id_}"
        state.setdefault("arn", f"arn:aws:{module}:{where}:{resource}")
        state.setdefault("dnsName", f"{id_}.{module}.{region}.amazonaws.com")
        state.setdefault("mountName", _digest(type_, name, "mount", length=8))
        state.setdefault("latestVersion", 1)
        state.setdefault("region", region)
    if package == "gcp":
        id_ = fake_gcp_outputs(module, kind, name, inputs, region, state)
    if package == DYNAMIC_PACKAGE:
        state.update(fake_dynamic(id_, inputs, region))
    if package == "aws" and module == "ec2" and kind == "Instance":
        state.setdefault("privateIp", fake_private_ip(name))
    if package == "aws" and module == "eks" and kind == "Cluster":
        state.update(fake_eks_cluster(id_, state, region))
    return id_, state


DYNAMIC_PACKAGE = "pulumi-python"
"""Package of Pulumi's Python dynamic resources (`pulumi-python:dynamic:Resource`): the REST clouds' pools and
volumes."""


def fake_dynamic(id_: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """A REST pool's members (all active, in its first allowed region) or a volume's id."""
    if "pool" in inputs and "count" in inputs:
        regions = inputs.get("regions") or [region]
        where = str(regions[0])
        pool = str(inputs["pool"])
        members = [
            {"id": _digest(id_, str(i), length=12), "name": f"{pool}-{i}", "region": where}
            | {"status": "active", "address": f"198.51.100.{10 + i}"}  # TEST-NET-2: documentation addresses
            for i in range(int(inputs["count"]))
        ]
        return {"instances": members, "region": where}
    if "kind" in inputs and "region" in inputs:  # a volume (its None inputs never reach the engine)
        return {"volume_id": _digest(id_, "volume", length=12)}
    return {}


def fake_eks_cluster(id_: str, state: dict[str, Any], region: str) -> dict[str, Any]:
    """What EKS reports of a created cluster: endpoint, CA, OIDC issuer and its own security group."""
    host = _digest("eks", id_, length=32).upper()
    vpc = dict(state.get("vpcConfig") or {})
    vpc.setdefault("clusterSecurityGroupId", f"sg-{_digest('eks-sg', id_)}")
    return {
        "endpoint": f"https://{host}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": base64.b64encode(b"fake certificate authority").decode()},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{host}"}]}],
        "vpcConfig": vpc,
        "status": "ACTIVE",
    }


def fake_private_ip(name: str) -> str:
    """An instance's address when the program sets none: in 10.0.0.0/17, never one AWS reserves."""
    n = int(_digest("private-ip", name, length=6), 16)
    return f"10.0.{n // 256 % 128}.{4 + n % 250}"


def fake_subnet(args: dict[str, Any], region: str) -> dict[str, Any]:
    """An existing subnet: a /20 of 10.0.0.0/8 (made up from its id) in zone a of the region."""
    subnet = str(args.get("id") or "subnet-0fake")
    block = int(_digest("subnet", subnet, length=4), 16) % 4096
    return {
        "id": subnet,
        "arn": f"arn:aws:ec2:{region}:{ACCOUNT_ID}:subnet/{subnet}",
        "cidrBlock": f"10.{block // 16}.{(block % 16) * 16}.0/20",
        "availabilityZone": f"{region}a",
        "availabilityZoneId": f"{region}-az1",
        "vpcId": str(args.get("vpcId") or "vpc-0fake"),
        "state": "available",
        "mapPublicIpOnLaunch": False,
    }


def filter_values(args: dict[str, Any], name: str) -> list[str]:
    """The values of the filter called `name` in a data source's `filters` argument."""
    for item in args.get("filters") or []:
        if isinstance(item, dict) and item.get("name") == name:
            return [str(v) for v in item.get("values") or []]
    return []


def fake_instance_type_offerings(args: dict[str, Any], region: str) -> dict[str, Any]:
    """Every requested instance type offered in the region's zones a, b and c (parallel lists)."""
    kinds = filter_values(args, "instance-type")
    pairs = [(f"{region}{letter}", kind) for kind in kinds for letter in "abc"]
    location_type = str(args.get("locationType") or "region")
    return {
        "id": region,
        "region": region,
        "locationType": location_type,
        "locations": [zone for zone, _ in pairs],
        "instanceTypes": [kind for _, kind in pairs],
        "locationTypes": [location_type for _ in pairs],
    }


def fake_ami(args: dict[str, Any], region: str) -> dict[str, Any]:
    image = next(iter(filter_values(args, "image-id")), FAKE_AMI)
    return {
        "id": image,
        "imageId": image,
        "arn": f"arn:aws:ec2:{region}::image/{image}",
        "architecture": "x86_64",
        "name": "fake-gpu-image",
        "rootDeviceName": FAKE_ROOT_DEVICE,
        "rootDeviceType": "ebs",
        "virtualizationType": "hvm",
    }


def fake_kms_key(args: dict[str, Any], region: str) -> dict[str, Any]:
    key = str(args.get("keyId", ""))
    key_uuid = _digest("kms", key, length=32)
    arn = (
        key
        if key.startswith("arn:") and ":key/" in key
        else f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_uuid}"
    )
    return {"id": arn.rsplit("/", 1)[-1], "keyId": key, "arn": arn, "enabled": True, "keyState": "Enabled"}


def fake_call(token: str, args: dict[str, Any], region: str) -> dict[str, Any]:
    """Results of provider functions (data sources) an emitter may call; {} for anything else."""
    gcp = fake_gcp_call(token, args, region)
    if gcp is not None:
        return gcp
    if token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
        return fake_instance_type_offerings(args, region)
    if token == "aws:kms/getKey:getKey":
        return fake_kms_key(args, region)
    if token == "aws:ssm/getParameter:getParameter":
        name = str(args.get("name", ""))
        return {
            "id": name,
            "name": name,
            "value": FAKE_AMI,
            "insecureValue": FAKE_AMI,
            "type": "String",
            "version": 1,
            "arn": f"arn:aws:ssm:{region}::parameter{name}",
            "withDecryption": True,
        }
    if token == "aws:ec2/getAmi:getAmi":
        return fake_ami(args, region)
    if token == "aws:ec2/getSubnet:getSubnet":
        return fake_subnet(args, region)
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        zones = [f"{region}{letter}" for letter in "abc"]
        return {
            "id": region,
            "names": zones,
            "zoneIds": [f"{region}-az{i}" for i in (1, 2, 3)],
            "state": "available",
        }
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        arn = f"arn:aws:iam::{ACCOUNT_ID}:user/provisioner-plan"
        return {"id": ACCOUNT_ID, "accountId": ACCOUNT_ID, "arn": arn, "userId": "AIDAPROVISIONERPLAN"}
    if token == "aws:index/getRegion:getRegion":
        return {"id": region, "name": region, "region": region, "endpoint": f"ec2.{region}.amazonaws.com"}
    if token == "aws:index/getPartition:getPartition":
        return {
            "id": "aws",
            "partition": "aws",
            "dnsSuffix": "amazonaws.com",
            "reverseDnsPrefix": "com.amazonaws",
        }
    return {}


class Recorder:
    """Every registration of one run, in a thread-safe store (the SDK registers from worker threads)."""

    def __init__(self, default_region: str | None) -> None:
        self.default_region = default_region or DEFAULT_REGION
        self.resources: dict[str, RecordedResource] = {}
        self.duplicates: list[str] = []
        self._provider_regions: dict[str, str] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def region_for(self, provider_ref: str | None) -> str:
        """The region of an explicit provider (a reference is 'URN::ID'), else the stack's aws:region."""
        urn = provider_ref.rsplit("::", 1)[0] if provider_ref else ""
        with self._lock:
            return self._provider_regions.get(urn, self.default_region)

    def stash(self, args: MockResourceArgs) -> None:
        """Remember the deserialized inputs of the registration being handled on this thread."""
        self._local.inputs = args.inputs

    def take_inputs(self) -> dict[str, Any]:
        inputs: dict[str, Any] = getattr(self._local, "inputs", None) or {}
        self._local.inputs = None
        return inputs

    def record(self, request: Any, urn: str, read: bool) -> None:
        inputs = self.take_inputs()
        resource = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            # a dynamic resource's pickled provider is code, not configuration: not worth a reviewer's read
            inputs=json_safe({k: v for k, v in inputs.items() if k != "__provider"}),
            custom=bool(getattr(request, "custom", True)) or read,
            protect=bool(getattr(request, "protect", False)),
            read=read,
        )
        with self._lock:
            if urn in self.resources:
                self.duplicates.append(urn)
            self.resources[urn] = resource
            if request.type.startswith("pulumi:providers:") and isinstance(inputs.get("region"), str):
                self._provider_regions[urn] = inputs["region"]


class FakeCloud(Mocks):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.recorder.stash(args)
        region = args.inputs.get("region") if isinstance(args.inputs.get("region"), str) else None
        return fake_outputs(
            args.typ, args.name, args.inputs, region or self.recorder.region_for(args.provider)
        )

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        region = args.args.get("region") if isinstance(args.args.get("region"), str) else None
        return fake_call(args.token, args.args, region or self.recorder.region_for(args.provider)), []


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, plus a record of each registration with its parent and options."""

    def __init__(self, mocks: FakeCloud) -> None:
        super().__init__(mocks)
        self.recorder = mocks.recorder

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine makes them: the parent's whole type chain, the root stack left out."""
        if parent:
            qualified = parent.split("::")[2]
            if qualified != STACK_TYPE:
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([get_stack(), get_project(), type_, name])

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != STACK_TYPE:
            self.recorder.record(request, response.urn, read=False)
        return response

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        self.recorder.record(request, response.urn, read=True)
        return response


class LogCapture(logging.Handler):
    """Collects what the program logs through `pulumi.log` (the mock engine writes to a logger)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[LogLine] = []
        self.logger = logging.Logger("provisioner.plan.program", logging.INFO)
        self.logger.addHandler(self)
        self.logger.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(LogLine(record.levelname.lower(), record.getMessage()))
