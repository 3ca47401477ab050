"""GKE decisions, pure: names, the system pool, node images and boot disks, logs and GPU metrics, replacement
of GPU pools, the GPUDirect networks in NIC order, what the plan says about the device plugin and the fee,
and that a Kubernetes cluster needs no VM image of ours."""

from __future__ import annotations

from typing import Any

import pytest
from gcp_gke_harness import gke_cluster, gpu_pool

from provisioner.catalog import shipped_catalog
from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.providers.gcp.gke_plan import NODE_POOL_NAME_MAX, GkeSpec, accelerator_type, gke_spec
from provisioner.providers.gcp.plan import gcp_plan
from provisioner.providers.gcp.specs import GcpPlanError
from provisioner.spec import Severity

CATALOG = shipped_catalog()


def planned(cluster: Any) -> ClusterPlan:
    plan = plan_cluster(cluster, CATALOG)
    assert plan.ok, [f.render() for f in plan.findings]
    return plan


def spec_of(cluster: Any) -> GkeSpec:
    plan = planned(cluster)
    return gke_spec(gcp_plan(cluster.name, plan), plan)


def test_names_are_the_clusters_and_fit_gke() -> None:
    gke = spec_of(gke_cluster())
    assert (gke.resource_name, gke.cluster_name) == ("llm-gke", "llm-gke")
    assert [p.resource_name for p in (gke.system, *gke.node_pools)] == ["llm-gke-system", "llm-gke-gpu"]
    named = gke_cluster(gpu_pool(name="pretraining-h100-a"), gpu_pool(name="pretraining-h100-b"))
    long = spec_of(named.model_copy(update={"name": "research-pretraining"}))
    first, second = (p.resource_name for p in long.node_pools)
    assert first != second and first.startswith("research-pretraining-gke-")
    assert len(first) <= NODE_POOL_NAME_MAX and len(second) <= NODE_POOL_NAME_MAX


def test_the_system_pool_is_small_untainted_cpu_nodes_in_the_clusters_zone() -> None:
    system = spec_of(gke_cluster()).system
    assert (system.machine_type, system.node_count, system.zone) == ("e2-standard-4", 2, "us-central1-a")
    assert system.accelerator_type is None and system.taints == () and system.additional_networks == ()
    assert system.disk_type == "pd-balanced" and not system.delete_before_replace


def test_gke_picks_the_node_image_from_the_catalogs_image_type() -> None:
    gke = spec_of(gke_cluster())
    assert {p.image_type for p in (gke.system, *gke.node_pools)} == {"COS_CONTAINERD"}


@pytest.mark.parametrize(
    ("shape", "disk"), [("a3-megagpu-8g", "hyperdisk-balanced"), ("a3-highgpu-8g", "pd-balanced")]
)
def test_gpu_pools_boot_from_the_disk_their_shape_takes(shape: str, disk: str) -> None:
    (pool,) = spec_of(gke_cluster(gpu_pool(instance_type=shape))).node_pools
    assert pool.disk_type == disk and pool.delete_before_replace


def test_the_megagpu_pools_networks_are_its_eight_gpu_nics_in_order() -> None:
    (pool,) = spec_of(gke_cluster()).node_pools
    assert [vpc for vpc, _ in pool.additional_networks] == [f"gpu-{i}" for i in range(8)]
    assert pool.local_ssd_count == 16 and pool.node_count == 2 and pool.zone == "us-central1-a"


def test_logs_follow_the_declared_control_plane_logs() -> None:
    everything = spec_of(gke_cluster())
    assert everything.logging_components == (
        "SYSTEM_COMPONENTS",
        "WORKLOADS",
        "APISERVER",
        "CONTROLLER_MANAGER",
        "SCHEDULER",
    )
    api_only = spec_of(gke_cluster(control_plane_logs=["api", "audit"]))
    assert api_only.logging_components == ("SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER")


def test_gpu_metrics_come_from_gkes_dcgm_package_when_asked() -> None:
    metrics = spec_of(gke_cluster())
    assert metrics.monitoring_components == ("SYSTEM_COMPONENTS", "DCGM") and metrics.managed_prometheus
    quiet = spec_of(gke_cluster(dcgm_exporter=False))
    assert quiet.monitoring_components == ("SYSTEM_COMPONENTS",) and not quiet.managed_prometheus


def test_protection_follows_the_declaration() -> None:
    assert spec_of(gke_cluster()).deletion_protection
    assert not spec_of(gke_cluster(protect=False)).deletion_protection


@pytest.mark.parametrize("device_plugin", ["gpu-operator", "device-plugin"])
def test_the_plan_says_gke_runs_the_device_plugin(device_plugin: str) -> None:
    plan = planned(gke_cluster(device_plugin=device_plugin))
    assert plan.kubernetes is not None and plan.kubernetes.releases == []
    (group,) = plan.kubernetes.node_groups
    assert group.gpu_resource == "nvidia.com/gpu" and group.image == "COS_CONTAINERD"
    (info,) = [f for f in plan.findings if f.code == "kubernetes-device-plugin-managed"]
    assert info.severity is Severity.INFO and device_plugin in info.message


def test_the_control_plane_fee_is_in_the_cost() -> None:
    plan = planned(gke_cluster())
    fee = plan.kubernetes.control_plane if plan.kubernetes else None
    assert fee is not None and fee.price_per_hour == 0.10 and fee.price_source
    assert plan.kubernetes is not None and plan.kubernetes.end_of_standard_support == "2027-04-11"


def test_a_retired_version_is_an_error() -> None:
    plan = plan_cluster(gke_cluster(version="1.31"), CATALOG)
    assert "kubernetes-version-retired" in [f.code for f in plan.findings if f.severity is Severity.ERROR]


def test_a_kubernetes_cluster_needs_no_vm_image_of_ours() -> None:
    cluster = gke_cluster()
    plan = planned(cluster)
    pools = [
        p.model_copy(update={"software": p.software.model_copy(update={"image_lookup": None})})
        for p in plan.pools
    ]
    bare = plan.model_copy(update={"pools": pools})
    gke = gke_spec(gcp_plan(cluster.name, bare), bare)
    assert gke.node_pools[0].image_type == "COS_CONTAINERD"
    without_k8s = bare.model_copy(update={"scheduler": None})
    with pytest.raises(GcpPlanError, match="no Google Cloud image"):
        gcp_plan(cluster.name, without_k8s)


def test_an_unknown_accelerator_names_the_field_and_what_gke_takes() -> None:
    pool = planned(gke_cluster()).pools[0].model_copy(update={"gpu": "MI300X"})
    with pytest.raises(GcpPlanError, match=r"pools\['gpu'\]\.gpu = 'MI300X'.*H100.*L4"):
        accelerator_type(pool)


def test_an_existing_network_is_refused_by_the_gke_plan() -> None:
    cluster = gke_cluster()
    plan = planned(cluster)
    network = plan.network.model_copy(update={"vpc_id": "projects/p/global/networks/n", "subnet_ids": ["s"]})
    existing = plan.model_copy(update={"network": network})
    with pytest.raises(GcpPlanError, match=r"leave network\.vpc_id unset"):
        gke_spec(gcp_plan(cluster.name, existing), existing)
