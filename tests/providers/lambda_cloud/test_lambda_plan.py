"""Lambda's pure plan: every input of its pool and filesystem resources, decided without Pulumi."""

from __future__ import annotations

import pytest

from provisioner import Cluster, LambdaOptions, Network, Nfs, NodePool, Software, load_catalog, plan_cluster
from provisioner.plan import ClusterPlan
from provisioner.providers.lambda_cloud.plan import lambda_plan
from provisioner.providers.rest.spec import RestPlanError, cloud_name

CATALOG = load_catalog()


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
    spec = lambda_plan("llm", planned())
    [pool] = spec.pools
    assert pool.name == "llm-gpu" and pool.regions == ("us-east-1", "us-west-1")  # declared order, no repeat
    props = pool.props
    assert props["pool"] == "llm-gpu" and props["count"] == 2
    assert props["instance_type"] == "gpu_8x_h100_sxm5" and props["ssh_key"] == "deploy"
    assert props["provider"] == "lambda" and props["file_systems"] == []
    assert props["tags"]["team"] == "ml" and props["tags"]["provisioner:cluster"] == "llm"
    assert props["user_data"].startswith("#cloud-config")
    assert not any("key" in k and k != "ssh_key" for k in props)  # the API key is never an input


def test_a_filesystem_pins_the_pools_to_its_region() -> None:
    spec = lambda_plan("llm", planned(storage=[Nfs(name="shared", mount_point="/shared")]))
    [volume] = spec.volumes
    assert (volume.name, volume.region, volume.size_gib, volume.protect) == (
        "llm-shared",
        "us-east-1",
        None,
        True,
    )
    assert volume.mount.source == "/lambda/nfs/llm-shared" and volume.mount.mount_point == "/shared"
    [pool] = spec.pools
    assert pool.regions == ("us-east-1",) and pool.props["file_systems"] == ["llm-shared"]
    assert volume.props("lambda") == {
        "name": "llm-shared",
        "region": "us-east-1",
        "size_gib": None,
        "kind": "filesystem",
        "provider": "lambda",
    }


def test_the_users_script_rides_along_in_a_multipart_document() -> None:
    spec = lambda_plan("llm", planned(software=Software(extra_user_data="#!/bin/bash\necho hi\n")))
    assert spec.pools[0].props["user_data"].startswith("Content-Type: multipart/mixed")


def test_without_a_key_name_the_adapter_refuses() -> None:
    plan = planned().model_copy(update={"options": LambdaOptions()})
    with pytest.raises(RestPlanError, match="ssh_key_name"):
        lambda_plan("llm", plan)


def test_cloud_names_are_safe_and_long_ones_keep_a_digest() -> None:
    assert cloud_name("My_Cluster", "GPU pool") == "my-cluster-gpu-pool"
    long_a, long_b = cloud_name("x" * 60, "a"), cloud_name("x" * 60, "b")
    assert len(long_a) <= 48 and long_a != long_b
