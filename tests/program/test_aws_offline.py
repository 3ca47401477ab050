"""The real AWS emitter under the runner. The emit side is imported plainly: a broken import fails here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import provisioner.providers.aws.resources as aws_resources
from provisioner.program.runner import run_program


def _counts(path: Path) -> tuple[dict[str, int], int]:
    result = run_program(path)
    assert result.exit_code == 0, (result.failure, result.all_findings())
    (run,) = result.clusters
    groups = [r for r in run.resources if r.type == "aws:autoscaling/group:Group"]
    return run.resource_counts(), int(groups[0].inputs["desiredCapacity"])


def test_resources_do_not_grow_with_nodes(declaration: Callable[..., Path]) -> None:
    small, small_nodes = _counts(declaration(nodes=8, name="small.py"))
    large, large_nodes = _counts(declaration(nodes=128, name="large.py"))
    assert (small_nodes, large_nodes) == (8, 128)
    assert small == large


def test_the_emit_side_imports() -> None:
    assert callable(aws_resources.AwsEmitter().emit)


CUSTOM = """
from provisioner import Cluster, NodePool
from provisioner.spec import AwsOptions, Software

cluster = Cluster(
    name="custom",
    provider="aws",
    region="us-west-2",
    pools=[
        NodePool(name="train", gpu="H100", nodes=2),
        NodePool(name="serve", gpu="L4", nodes=1, instance_type="g6.xlarge"),
    ],
    software=Software(image="ami-0custom0000000000"),
    options=AwsOptions(kms_key_id="alias/ml"),
)
"""


def test_the_offline_mocks_answer_every_lookup_of_the_emitter(write: Callable[[str, str], Path]) -> None:
    """Zone offerings, the custom image's root device, the caller's account and a key alias: all answered
    by `provisioner plan`'s mocks, plausibly and without a cloud."""
    result = run_program(write("custom.py", CUSTOM))
    assert result.exit_code == 0, (result.failure, result.all_findings())
    (run,) = result.clusters
    of_type = {r.type: r for r in run.resources}
    subnets = [r for r in run.resources if r.type == "aws:ec2/subnet:Subnet"]
    assert {s.inputs["availabilityZone"] for s in subnets} == {"us-west-2a"}
    templates = [r for r in run.resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"]
    assert {t.inputs["blockDeviceMappings"][0]["deviceName"] for t in templates} == {"/dev/xvda"}
    grant = of_type["aws:kms/grant:Grant"].inputs
    assert grant["granteePrincipal"] == (
        "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )
    assert grant["keyId"].startswith("arn:aws:kms:us-west-2:123456789012:key/")
