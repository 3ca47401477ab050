"""Fake cloud answers and input sanitizing: deterministic, plausible, never a secret."""

from __future__ import annotations

import pulumi
import pytest
from pulumi.runtime import rpc

from provisioner.program.mocks import FAKE_AMI, fake_call, fake_id, fake_outputs
from provisioner.program.sanitize import LONG_TEXT, REDACTED, json_safe


def test_ids_are_deterministic_and_look_like_the_clouds() -> None:
    assert fake_id("aws:ec2/vpc:Vpc", "demo-vpc") == fake_id("aws:ec2/vpc:Vpc", "demo-vpc")
    assert fake_id("aws:ec2/vpc:Vpc", "demo-vpc").startswith("vpc-")
    assert fake_id("aws:ec2/launchTemplate:LaunchTemplate", "lt").startswith("lt-")
    assert fake_id("aws:iam/role:Role", "node-role").startswith("node-role-")


def test_outputs_carry_what_emitters_read() -> None:
    id_, state = fake_outputs(
        "aws:fsx/lustreFileSystem:LustreFileSystem", "fs", {"storageCapacity": 1200}, "eu-west-1"
    )
    assert id_.startswith("fs-")
    assert state["storageCapacity"] == 1200
    assert state["arn"].startswith("arn:aws:fsx:eu-west-1:")
    assert state["dnsName"].endswith(".eu-west-1.amazonaws.com")
    assert len(state["mountName"]) == 8 and state["latestVersion"] == 1
    assert fake_outputs("aws:ec2/vpc:Vpc", "v", {"name": "mine"}, "us-east-1")[1]["name"] == "mine"


@pytest.mark.parametrize(
    ("token", "key", "expected"),
    [
        ("aws:ssm/getParameter:getParameter", "value", FAKE_AMI),
        ("aws:index/getCallerIdentity:getCallerIdentity", "accountId", "123456789012"),
        ("aws:index/getRegion:getRegion", "name", "ap-south-1"),
    ],
)
def test_calls(token: str, key: str, expected: str) -> None:
    assert fake_call(token, {"name": "/x"}, "ap-south-1")[key] == expected


def test_unknown_calls_return_nothing() -> None:
    assert fake_call("gcp:compute/getImage:getImage", {}, "us-east-1") == {}


def test_json_safe_redacts_and_orders() -> None:
    value = {
        "b": [1.0, 2.5, rpc.wrap_rpc_secret("pw")],
        "a": {"z": True, "__defaults": []},
        "userData": "x" * (LONG_TEXT + 1),
        "asset": pulumi.StringAsset("hello"),
    }
    safe = json_safe(value)
    assert list(safe) == ["a", "asset", "b", "userData"]
    assert safe["b"] == [1, 2.5, REDACTED]
    assert safe["a"] == {"z": True}
    assert safe["userData"].startswith(f"<{LONG_TEXT + 1} characters, sha256 ")
    assert safe["asset"].startswith("<StringAsset <5 characters")


def test_a_bucket_is_named_from_its_prefix() -> None:
    id_, state = fake_outputs("aws:s3/bucket:Bucket", "data", {"bucketPrefix": "demo-data-"}, "us-east-1")
    assert id_ == state["bucket"] and id_.startswith("demo-data-")
    assert state["arn"] == f"arn:aws:s3:::{id_}"
