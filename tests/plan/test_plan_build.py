"""plan_cluster: pools resolved, cost, JSON with a schema version, determinism, findings carried."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provisioner import (
    Bucket,
    Cluster,
    ClusterPlan,
    LocalScratch,
    Lustre,
    NodePool,
    Software,
    load_catalog,
    plan_cluster,
)
from provisioner.plan import SCHEMA_VERSION, cost_of
from provisioner.plan.models import HOURS_PER_MONTH
from provisioner.spec import CapacityKind, GpuVendor, Interconnect, OperatingSystem

CATALOG = load_catalog()


def plan(*pools: NodePool, **fields: Any) -> ClusterPlan:
    declared: dict[str, Any] = {
        "name": "llm-train",
        "provider": "aws",
        "region": "us-east-1",
        "pools": list(pools),
    }
    declared.update(fields)
    return plan_cluster(Cluster(**declared), CATALOG)


def test_the_issue_example_plans_to_eight_p5_nodes_on_efa() -> None:
    result = plan(NodePool(name="gpu", gpu="H100", gpus=64))
    assert result.ok
    assert result.findings == []
    (pool,) = result.pools
    assert pool.instance_type == "p5.48xlarge"
    assert (pool.nodes, pool.gpus_per_node, pool.total_gpus) == (8, 8, 64)
    assert pool.interconnect is Interconnect.EFA
    assert pool.fabric_interfaces == 32
    assert pool.placement == "cluster"
    assert pool.gpu_vendor is GpuVendor.NVIDIA
    assert (pool.vcpus_per_node, pool.memory_gib_per_node) == (192, 2048)
    assert pool.price_per_node_hour == 55.04
    assert pool.price_as_of == "2026-01-21"
    assert pool.price_source and "us-east-1" in pool.price_source
    assert result.cost.per_hour == pytest.approx(8 * 55.04)
    assert result.cost.per_month == pytest.approx(8 * 55.04 * HOURS_PER_MONTH)
    assert result.cost.unpriced_pools == []
    assert "2026-01-21" in result.cost.note


def test_software_plan_of_an_nvswitch_shape() -> None:
    (pool,) = plan(
        NodePool(name="gpu", gpu="H100", gpus=64), software=Software(nvidia_driver="580", cuda="12.8")
    ).pools
    software = pool.software
    assert software.fabric_manager is True
    assert software.open_kernel_modules is False
    assert software.nvidia_driver == "580"
    assert software.cuda == "12.8"
    assert software.image is None
    assert software.image_lookup and "ubuntu-22.04" in software.image_lookup
    assert software.image_driver == "570.133.20"


def test_software_plan_of_b200_with_a_custom_image() -> None:
    (pool,) = plan(
        NodePool(name="gpu", gpu="B200", gpus=8),
        software=Software(image="ami-0123456789abcdef0", os=OperatingSystem.UBUNTU_24_04),
    ).pools
    assert pool.software.open_kernel_modules is True
    assert pool.software.image == "ami-0123456789abcdef0"
    assert pool.software.image_lookup is None
    assert pool.software.image_driver is None


@pytest.mark.parametrize(
    ("declared", "placement", "interconnect", "interfaces"),
    [
        (
            NodePool(name="gpu", gpu="H100", gpus=8),
            None,
            Interconnect.EFA,
            32,
        ),  # one node: no placement group
        (NodePool(name="gpu", gpu="H100", nodes=2), "cluster", Interconnect.EFA, 32),
        (NodePool(name="gpu", gpu="H100", nodes=2, interconnect="none"), None, Interconnect.NONE, 0),
        (NodePool(name="gpu", gpu="L40S", nodes=4, instance_type="g6e.xlarge"), None, Interconnect.NONE, 0),
        (
            NodePool(name="gpu", gpu="L40S", nodes=2, instance_type="g6e.48xlarge"),
            "cluster",
            Interconnect.EFA,
            4,
        ),
    ],
)
def test_placement_only_for_multi_node_fabric_pools(
    declared: NodePool, placement: str | None, interconnect: Interconnect, interfaces: int
) -> None:
    (pool,) = plan(declared, suppress=["multi-node-without-fabric"]).pools
    assert pool.placement == placement
    assert pool.interconnect is interconnect
    assert pool.fabric_interfaces == interfaces


def test_an_unknown_price_is_unknown_not_zero() -> None:
    result = plan(NodePool(name="gpu", gpu="H200", gpus=16), region="sa-east-1")
    assert result.ok
    (pool,) = result.pools
    assert pool.instance_type == "p5e.48xlarge"
    assert pool.price_per_node_hour is None
    assert pool.price_per_hour is None
    assert result.cost.per_hour is None
    assert result.cost.per_month is None
    assert result.cost.unpriced_pools == ["gpu"]


def test_known_prices_are_summed_even_when_one_pool_is_unpriced() -> None:
    result = plan(
        NodePool(name="train", gpu="H100", gpus=16),
        NodePool(name="dev", gpu="T4", nodes=1, instance_type="g4dn.2xlarge"),
    )
    assert result.cost.per_hour is None
    assert result.cost.unpriced_pools == ["dev"]
    assert result.cost.known_per_hour == pytest.approx(2 * 55.04)


def test_cost_of_several_priced_pools() -> None:
    result = plan(
        NodePool(name="train", gpu="H100", gpus=16),
        NodePool(name="serve", gpu="L40S", nodes=3, instance_type="g6e.xlarge", capacity="spot"),
        suppress=["multi-node-without-fabric"],
    )
    assert result.cost.per_hour == pytest.approx(2 * 55.04 + 3 * 1.861)
    assert result.cost.per_month == pytest.approx((2 * 55.04 + 3 * 1.861) * HOURS_PER_MONTH, abs=0.01)
    assert "spot/reserved capacity is billed differently" in result.cost.note
    assert [p.capacity for p in result.pools] == [CapacityKind.ON_DEMAND, CapacityKind.SPOT]


def test_cost_of_nothing_is_zero_but_unresolved_pools_make_it_unknown() -> None:
    assert cost_of([]).per_hour == 0.0
    unknown = cost_of([], ["gpu"])
    assert (unknown.per_hour, unknown.per_month, unknown.unpriced_pools) == (None, None, ["gpu"])


def test_an_unresolved_pool_is_explained_and_never_priced_as_zero() -> None:
    result = plan(NodePool(name="gpu", gpu="H1OO", gpus=8), NodePool(name="ok", gpu="H100", gpus=8))
    assert not result.ok
    assert [p.name for p in result.pools] == ["ok"]
    assert [(f.code, f.path) for f in result.findings] == [("gpu-unknown", "pools[0].gpu")]
    assert result.cost.per_hour is None
    assert result.cost.unpriced_pools == ["gpu"]
    assert result.cost.known_per_hour == pytest.approx(55.04)


@pytest.mark.parametrize(
    "declared",
    [
        NodePool(name="gpu", gpu="H100", gpus=12),
        NodePool(name="gpu", gpu="H100", gpus=8, instance_type="p4d.24xlarge"),
        NodePool(name="gpu", gpu="H100", gpus=8, interconnect="infiniband"),
        NodePool(name="gpu", gpu="MI300X", gpus=8),
    ],
)
def test_pools_that_cannot_be_resolved_are_left_out_with_an_error(declared: NodePool) -> None:
    result = plan(declared)
    assert result.pools == []
    assert not result.ok
    assert any(f.path.startswith("pools[0].") and f.severity.value == "error" for f in result.findings)


def test_warnings_are_carried_and_do_not_block() -> None:
    result = plan(NodePool(name="gpu", gpu="L40S", nodes=4, instance_type="g6e.xlarge"))
    assert result.ok
    assert [f.code for f in result.findings] == ["multi-node-without-fabric"]
    suppressed = plan(
        NodePool(name="gpu", gpu="L40S", nodes=4, instance_type="g6e.xlarge"),
        suppress=["multi-node-without-fabric"],
    )
    assert suppressed.findings == []


def test_storage_scratch_tags_and_labels() -> None:
    result = plan(
        NodePool(name="gpu", gpu="H100", gpus=16, labels={"role": "train"}),
        storage=[Lustre(capacity_gib=2400), Bucket(name="ckpt"), LocalScratch(mount_point="/nvme")],
        tags={"team": "research", "managed-by": "someone-else"},
    )
    (pool,) = result.pools
    assert pool.local_scratch == "/nvme"
    assert pool.local_nvme_gb_per_node == 30400
    assert [s.kind for s in result.storage] == ["lustre", "bucket", "scratch"]
    assert result.tags == {
        "team": "research",
        "provisioner:cluster": "llm-train",
        "managed-by": "provisioner",
    }
    assert pool.labels["role"] == "train"
    assert pool.labels["provisioner:pool"] == "gpu"
    assert pool.labels["provisioner:fabric"] == "efa"
    assert pool.labels["provisioner:gpu-vendor"] == "nvidia"
    assert plan(NodePool(name="gpu", gpu="H100", gpus=16)).pools[0].local_scratch is None


def test_aliases_resolve_to_the_canonical_gpu_in_the_plan() -> None:
    (pool,) = plan(NodePool(name="gpu", gpu="nvidia-h100", gpus=8)).pools
    assert pool.gpu == "H100"
    assert pool.labels["provisioner:gpu"] == "H100"


def _full_plan() -> ClusterPlan:
    return plan(
        NodePool(
            name="train",
            gpu="H100",
            gpus=64,
            capacity="capacity-block",
            reservation_id="cr-1",
            zone="us-east-1a",
        ),
        NodePool(
            name="dev",
            gpu="T4",
            nodes=1,
            instance_type="g4dn.2xlarge",
            software=Software(nvidia_driver="580"),
        ),
        storage=[Lustre(capacity_gib=4800), Bucket(), LocalScratch()],
        software=Software(nvidia_driver="580", cuda="12.8"),
        network={"ssh_cidrs": ["203.0.113.0/24"], "public_ips": True},
        options={"provider": "aws", "kms_key_id": "alias/cluster"},
        tags={"team": "research"},
    )


def test_json_round_trip_with_schema_version() -> None:
    result = _full_plan()
    assert result.findings  # the public_ips warning travels with the plan
    text = result.model_dump_json()
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert data["pools"][0]["instance_type"] == "p5.48xlarge"
    assert data["cost"]["per_hour"] is None  # g4dn.2xlarge has no known price
    assert data["network"]["ssh_cidrs"] == ["203.0.113.0/24"]
    assert ClusterPlan.model_validate_json(text) == result
    assert ClusterPlan.model_validate(json.loads(text)) == result


def test_plans_are_deterministic() -> None:
    assert _full_plan().model_dump_json() == _full_plan().model_dump_json()
    declared = Cluster.model_validate(_cluster_raw())
    reparsed = Cluster.model_validate_json(declared.model_dump_json())
    first = plan_cluster(declared, CATALOG).model_dump_json()
    assert first == plan_cluster(reparsed, load_catalog()).model_dump_json()


def _cluster_raw() -> dict[str, Any]:
    return {
        "name": "c",
        "provider": "aws",
        "region": "us-east-1",
        "pools": [{"name": "a", "gpu": "H100", "gpus": 16}, {"name": "b", "gpu": "H1OO"}],
        "storage": [{"kind": "scratch"}],
        "network": {"public_ips": True},
    }


def test_plans_are_frozen() -> None:
    result = _full_plan()
    with pytest.raises(ValueError, match="frozen"):
        result.name = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        result.pools[0].nodes = 1  # type: ignore[misc]
