"""Fixtures of the AWS adapter tests: deployments under the Pulumi mock runtime, shared per session (they are
plain recorded data, and each takes ~0.5 s)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_harness import Deployment, deploy, make_cluster

from provisioner.spec import AwsOptions, Bucket, Lustre, Network, NodePool


@pytest.fixture(scope="session")
def shapes() -> Deployment:
    """One pool per EFA layout: p5 (32 cards), p4d (4), p5en (16), p6-b200 (8), g6.xlarge (no EFA)."""
    return deploy(
        make_cluster(
            name="shapes",
            pools=[
                NodePool(name="p5", gpu="H100", nodes=2),
                NodePool(name="p4d", gpu="A100-40GB", nodes=1),
                NodePool(name="p5en", gpu="H200", instance_type="p5en.48xlarge", nodes=2),
                NodePool(name="p6", gpu="B200", nodes=2),
                NodePool(name="g6", gpu="L4", instance_type="g6.xlarge", nodes=2),
            ],
            suppress=["multi-node-without-fabric"],
        )
    )


@pytest.fixture(scope="session")
def default() -> Deployment:
    return deploy(make_cluster())


@pytest.fixture(scope="session")
def hardened() -> Deployment:
    """SSH from two declared ranges, a customer KMS key, extra policies, a key pair, a pinned zone."""
    return deploy(
        make_cluster(
            name="hard",
            region="eu-north-1",
            pools=[NodePool(name="gpu", gpu="H100", nodes=2, zone="eu-north-1b")],
            network=Network(ssh_cidrs=["203.0.113.0/24", "2001:db8::/32"]),
            options=AwsOptions(
                kms_key_id="arn:aws:kms:eu-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                key_name="ops",
                extra_policy_arns=["arn:aws:iam::123456789012:policy/ReadEcr"],
            ),
        )
    )


@pytest.fixture(scope="session")
def existing_vpc() -> Deployment:
    return deploy(
        make_cluster(
            name="byo",
            network=Network(vpc_id="vpc-0abc", subnet_ids=["subnet-0private", "subnet-0other"]),
            storage=[
                Lustre(name="shared", protect=False),
                Bucket(name="ckpt", versioning=False, protect=False),
            ],
        )
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """pulumi_aws warns about its own deprecated classes (BucketV2, ...) as its modules load; not ours."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.filterwarnings("ignore:.*deprecated in favor of:DeprecationWarning"))
