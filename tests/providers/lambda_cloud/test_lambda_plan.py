"""Lambda's pure plan: every input of its pool and filesystem resources, decided without Pulumi."""

from __future__ import annotations

import pytest

from provisioner import Cluster, LambdaOptions, Network, Nfs, NodePool, Software, load_catalog, plan_cluster
from provisioner.plan import ClusterPlan
from provisioner.providers.lambda_cloud.plan import lambda_plan
from provisioner.providers.rest.spec import RestPlanError, cloud_name, fit_owner, owner_digest

CATALOG = load_catalog()
OWNER = "acme/llm/dev"
DIGEST = "a60c76"


def planned(**fields: object) -> ClusterPlan:
    base: dict[str, object] = {
        "name": "llm",
        "provider": "lambda",
        "region": "us-east-1",
        "pools": [NodePool(name="gpu", gpu="H100", gpus=16)],
        "network": Network(ssh_cidrs=["203.0.113.0/24"]),
        "options": LambdaOptions(ssh_key_name="deploy", fallback_regions=["us-west-1", "us-east-1"]),
        "tags": {"team": "ml"},
    }
    plan = plan_cluster(Cluster(**{**base, **fields}), CATALOG)  # type: ignore[arg-type]
    assert plan.ok, [f.render() for f in plan.findings]
    return plan


def test_a_pool_is_one_resource_with_everything_its_api_needs() -> None:
    spec = lambda_plan("llm", planned(), OWNER)
    [pool] = spec.pools
    assert pool.name == f"llm-gpu-{DIGEST}"
    assert pool.regions == ("us-east-1", "us-west-1")  # declared order, no repeat
    props = pool.props
    assert props["pool"] == f"llm-gpu-{DIGEST}" and props["count"] == 2
    assert props["instance_type"] == "gpu_8x_h100_sxm5" and props["ssh_key"] == "deploy"
    assert props["provider"] == "lambda" and props["file_systems"] == []
    assert props["tags"]["team"] == "ml" and props["tags"]["provisioner:cluster"] == "llm"
    assert props["user_data"].startswith("#cloud-config")
    assert not any("key" in k and k != "ssh_key" for k in props)  # the API key is never an input
    assert props["owner"] == OWNER  # sent as the provisioner:stack tag: only ours are adopted


def test_two_stacks_declaring_the_same_cluster_get_different_cloud_names() -> None:
    ours, theirs = lambda_plan("llm", planned(), OWNER), lambda_plan("llm", planned(), "acme/llm/prod")
    assert ours.pools[0].props["pool"] != theirs.pools[0].props["pool"]
    assert owner_digest(OWNER) == DIGEST and len(DIGEST) == 6
    assert fit_owner("o" * 300) != fit_owner("o" * 301) and len(fit_owner("o" * 300)) == 128


def test_a_filesystem_pins_the_pools_to_its_region() -> None:
    spec = lambda_plan("llm", planned(storage=[Nfs(name="shared", mount_point="/shared")]), OWNER)
    [volume] = spec.volumes
    assert (volume.name, volume.region, volume.size_gib, volume.protect) == (
        f"llm-shared-{DIGEST}",
        "us-east-1",
        None,
        True,
    )
    assert volume.mount.source == f"/lambda/nfs/llm-shared-{DIGEST}" and volume.mount.mount_point == "/shared"
    [pool] = spec.pools
    assert pool.regions == ("us-east-1",) and pool.props["file_systems"] == [f"llm-shared-{DIGEST}"]
    assert volume.props("lambda") == {
        "name": f"llm-shared-{DIGEST}",
        "region": "us-east-1",
        "size_gib": None,
        "kind": "filesystem",
        "provider": "lambda",
    }


def test_the_users_script_rides_along_in_a_multipart_document() -> None:
    spec = lambda_plan("llm", planned(software=Software(extra_user_data="#!/bin/bash\necho hi\n")), OWNER)
    assert spec.pools[0].props["user_data"].startswith("Content-Type: multipart/mixed")


def test_without_a_key_name_the_adapter_refuses() -> None:
    plan = planned().model_copy(update={"options": LambdaOptions()})
    with pytest.raises(RestPlanError, match="ssh_key_name"):
        lambda_plan("llm", plan, OWNER)


def test_cloud_names_are_safe_and_long_ones_keep_a_digest() -> None:
    assert cloud_name("My_Cluster", "GPU pool") == "my-cluster-gpu-pool"
    long_a, long_b = cloud_name("x" * 60, "a"), cloud_name("x" * 60, "b")
    assert len(long_a) <= 48 and long_a != long_b
