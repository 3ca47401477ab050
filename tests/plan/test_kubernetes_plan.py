"""Kubernetes(...) -> KubernetesPlan: node groups with labels and taints, the charts the pools need, the
control-plane fee and system nodes in the cost, and a plan that survives its JSON."""

from __future__ import annotations

import dataclasses
from typing import Any

from provisioner.catalog import Catalog, shipped_catalog
from provisioner.plan import ClusterPlan, KubernetesPlan, plan_cluster
from provisioner.spec import Cluster, Kubernetes, NodePool

SHIPPED = shipped_catalog()


def catalog_with_amd() -> Catalog:
    """The shipped catalog plus a made-up AMD shape on AWS (AWS sells none) and an AMD node image."""
    p5 = SHIPPED.offer("aws", "p5.48xlarge")
    assert p5 is not None
    amd = dataclasses.replace(p5, instance_type="test-mi300x.48xlarge", gpu="MI300X", nvswitch=False)
    managed = SHIPPED.managed_kubernetes("aws")
    assert managed is not None
    managed = dataclasses.replace(managed, images={**managed.images, "amd": "TEST_AMD_IMAGE"})
    charts = [
        c
        for key in ("gpu-operator", "nvidia-device-plugin", "amd-gpu", "aws-efa-k8s-device-plugin")
        if (c := SHIPPED.chart(key))
    ]
    return Catalog(
        SHIPPED.gpus,
        [*SHIPPED.offers, amd],
        SHIPPED.cuda_min_driver,
        [i for os in ("ubuntu-22.04", "ubuntu-24.04") if (i := SHIPPED.image("aws", os))],
        [c for t in ("m7i.xlarge", "m7i.2xlarge") if (c := SHIPPED.cpu_shape("aws", t))],
        [managed],
        charts,
    )


def plan(*pools: NodePool, catalog: Catalog = SHIPPED, **fields: Any) -> ClusterPlan:
    cluster = Cluster(
        name="k8s", provider="aws", region="us-east-1", pools=list(pools), scheduler=Kubernetes(**fields)
    )
    return plan_cluster(cluster, catalog)


def k8s_of(p: ClusterPlan) -> KubernetesPlan:
    assert p.kubernetes is not None, [f.render() for f in p.findings]
    return p.kubernetes


def test_an_efa_pool_gets_the_gpu_operator_and_the_efa_plugin() -> None:
    k = k8s_of(plan(NodePool(name="gpu", gpu="H100", nodes=2, labels={"team": "nlp"})))
    group = k.node_groups[0]
    assert (group.gpu_resource, group.gpus_per_node) == ("nvidia.com/gpu", 8)
    assert (group.fabric_resource, group.fabric_devices_per_node) == ("vpc.amazonaws.com/efa", 32)
    assert group.labels["provisioner.dev/pool"] == "gpu"
    assert group.labels["provisioner.dev/gpu"] == "h100"
    assert group.labels["provisioner.dev/fabric"] == "efa"
    assert group.labels["nvidia.com/gpu.present"] == "true"
    assert group.labels["team"] == "nlp"
    assert not any(":" in key for key in group.labels), "tag keys like provisioner:pool are no labels"
    assert [(t.key, t.value, t.effect) for t in group.taints] == [("nvidia.com/gpu", "present", "NoSchedule")]
    assert group.image == "AL2023_x86_64_NVIDIA"
    assert group.selector == "provisioner.dev/pool=gpu"
    names = [r.name for r in k.releases]
    assert names == ["gpu-operator", "aws-efa-k8s-device-plugin"]
    for release in k.releases:
        assert release.version and release.repository.startswith("https://")
        assert release.device_plugin_selector and release.resource


def test_device_plugin_mode_and_no_taint() -> None:
    k = k8s_of(
        plan(
            NodePool(name="inf", gpu="L4", nodes=1, instance_type="g6.xlarge"),
            device_plugin="device-plugin",
            gpu_taint=False,
        )
    )
    assert [r.name for r in k.releases] == ["nvidia-device-plugin"]
    assert k.node_groups[0].taints == []
    assert k.node_groups[0].fabric_resource is None


def test_amd_pools_get_amd_device_plugin_beside_nvidia() -> None:
    cat = catalog_with_amd()
    k = k8s_of(
        plan(
            NodePool(name="nv", gpu="H100", nodes=1),
            NodePool(name="amd", gpu="MI300X", nodes=1, instance_type="test-mi300x.48xlarge"),
            catalog=cat,
        )
    )
    assert {r.name for r in k.releases} == {"gpu-operator", "amd-gpu", "aws-efa-k8s-device-plugin"}
    amd = next(g for g in k.node_groups if g.pool == "amd")
    assert amd.gpu_resource == "amd.com/gpu"
    assert amd.image == "TEST_AMD_IMAGE"
    assert [t.key for t in amd.taints] == ["amd.com/gpu"]
    assert "nvidia.com/gpu.present" not in amd.labels


def test_cost_counts_control_plane_and_system_nodes() -> None:
    p = plan(NodePool(name="gpu", gpu="H100", nodes=2))
    k = k8s_of(p)
    gpu = p.pools[0].price_per_hour
    system = k.system.price_per_hour
    assert gpu is not None and system is not None and k.control_plane.price_per_hour == 0.10
    assert k.system.count == 2 and k.system.instance_type == "m7i.xlarge"
    assert p.cost.per_hour == round(gpu + system + 0.10, 4)


def test_an_unknown_system_shape_makes_the_cost_unknown() -> None:
    p = plan(NodePool(name="gpu", gpu="H100", nodes=1), system_pool={"instance_type": "m99.huge"})
    assert p.cost.per_hour is None
    assert p.cost.unpriced_pools == ["kubernetes system (m99.huge)"]


def test_version_defaults_to_the_catalogs_and_carries_its_support_date() -> None:
    k = k8s_of(plan(NodePool(name="gpu", gpu="H100", nodes=1)))
    managed = SHIPPED.managed_kubernetes("aws")
    assert managed is not None and k.version == managed.default_version
    assert k.end_of_standard_support is not None
    assert k.api_public_cidrs == [] and k.protect and k.image_ships_driver


def test_the_plan_survives_its_json() -> None:
    p = plan(NodePool(name="gpu", gpu="H100", nodes=2), api_public_cidrs=["203.0.113.0/24"])
    again = ClusterPlan.model_validate_json(p.model_dump_json())
    assert again == p
    assert isinstance(again.scheduler, KubernetesPlan)
