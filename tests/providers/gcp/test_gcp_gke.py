"""GKE: the pure plan of the cluster and its node pools, then the resources under the mock runtime: private
nodes, the API only from declared ranges, Workload Identity, the default pool removed, one node pool per GPU
pool with GKE's managed driver, the pool's zone, taints, spot, reservations, the GPUDirect networks, and
deletion protection."""

from __future__ import annotations

from typing import Any

import pytest
from gcp_harness import Deployment, deploy, make_cluster

from provisioner.catalog import shipped_catalog
from provisioner.plan import plan_cluster
from provisioner.providers.gcp.gke_plan import GkeSpec, accelerator_type, gke_spec
from provisioner.providers.gcp.plan import gcp_plan
from provisioner.spec import Kubernetes, NodePool
from provisioner.spec import Network as NetworkSpec

CATALOG = shipped_catalog()
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"


def gke_cluster(*pools: NodePool, **k8s: Any) -> Any:
    scheduler = Kubernetes(**{"api_public_cidrs": ["203.0.113.0/24"], **k8s})
    chosen = list(pools) or [NodePool(name="gpu", gpu="H100", nodes=2, instance_type="a3-megagpu-8g")]
    return make_cluster(pools=chosen, scheduler=scheduler, storage=[])


def spec_of(cluster: Any) -> GkeSpec:
    plan = plan_cluster(cluster, CATALOG)
    assert plan.ok, [f.render() for f in plan.findings]
    return gke_spec(gcp_plan(cluster.name, plan), plan)


def test_the_cluster_is_regional_private_and_on_the_host_subnets_ranges() -> None:
    gke = spec_of(gke_cluster())
    assert (gke.location, gke.cluster_name, gke.version) == ("us-central1", "llm-gke", "1.35")
    assert (gke.pods_range, gke.services_range) == ("pods", "services")
    assert gke.authorized_networks == ("203.0.113.0/24",) and not gke.private_endpoint
    assert gke.workload_pool == "llm-project-1.svc.id.goog"
    assert gke.deletion_protection and gke.multi_networking


def test_without_a_public_range_the_endpoint_is_private() -> None:
    gke = spec_of(gke_cluster(api_public_cidrs=[], api_private_cidrs=["10.8.0.0/16"]))
    assert gke.private_endpoint and gke.authorized_networks == ("10.8.0.0/16",)


@pytest.mark.parametrize(
    ("shape", "gpu", "accelerator", "networks", "compact"),
    [
        ("a3-megagpu-8g", "H100", "nvidia-h100-mega-80gb", 8, False),
        ("a3-highgpu-8g", "H100", "nvidia-h100-80gb", 4, False),
        ("a3-ultragpu-8g", "H200", "nvidia-h200-141gb", 9, False),
        ("a2-highgpu-8g", "A100-40GB", "nvidia-tesla-a100", 0, True),
        ("g2-standard-24", "L4", "nvidia-l4", 0, True),
        ("n1-standard-8", "T4", "nvidia-tesla-t4", 0, False),
    ],
)
def test_each_gpu_pool_is_one_node_pool_with_its_accelerator(
    shape: str, gpu: str, accelerator: str, networks: int, compact: bool
) -> None:
    gke = spec_of(gke_cluster(NodePool(name="gpu", gpu=gpu, nodes=3, instance_type=shape)))
    (pool,) = gke.node_pools
    assert (pool.machine_type, pool.node_count, pool.accelerator_type) == (shape, 3, accelerator)
    assert len(pool.additional_networks) == networks
    assert pool.compact_placement is compact
    assert pool.zone.startswith("us-central1-")
    assert [(t.key, t.effect) for t in pool.taints] == [("nvidia.com/gpu", "NO_SCHEDULE")]
    assert pool.labels["nvidia.com/gpu.present"] == "true"


def test_gke_runs_the_device_plugin_so_no_chart_is_planned() -> None:
    plan = plan_cluster(gke_cluster(), CATALOG)
    assert plan.kubernetes is not None and plan.kubernetes.service == "GKE"
    assert not [r for r in plan.kubernetes.releases if r.resource == "nvidia.com/gpu"]
    assert plan.kubernetes.control_plane.price_per_hour == 0.10


def test_spot_and_reserved_pools() -> None:
    spot = spec_of(
        gke_cluster(NodePool(name="gpu", gpu="H100", nodes=2, instance_type="a3-megagpu-8g", capacity="spot"))
    )
    assert spot.node_pools[0].spot and spot.node_pools[0].reservation is None
    reserved = spec_of(
        gke_cluster(
            NodePool(
                name="gpu",
                gpu="H100",
                nodes=2,
                instance_type="a3-megagpu-8g",
                zone="us-central1-b",
                capacity="reservation",
                reservation_id="res-a3",
            )
        )
    )
    assert reserved.node_pools[0].reservation == "res-a3" and not reserved.node_pools[0].spot


def test_unknown_gpu_models_are_refused() -> None:
    plan = plan_cluster(gke_cluster(), CATALOG)
    pool = plan.pools[0].model_copy(update={"gpu": "MI300X"})
    with pytest.raises(Exception, match="no GKE accelerator type"):
        accelerator_type(pool)


def test_gke_mistakes_are_findings() -> None:
    admins = plan_cluster(gke_cluster(admins=["arn:aws:iam::123456789012:role/x"]), CATALOG)
    assert "kubernetes-admins-unsupported" in [f.code for f in admins.findings]
    existing = gke_cluster().model_copy(
        update={"network": NetworkSpec(vpc_id="projects/p/global/networks/n", subnet_ids=["s"])}
    )
    codes = [f.code for f in plan_cluster(existing, CATALOG).findings]
    assert "kubernetes-existing-network-unsupported" in codes and "kubernetes-subnets-one-zone" not in codes


# --- emitted ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emitted() -> Deployment:
    return deploy(gke_cluster())


def test_the_cluster_resource(emitted: Deployment) -> None:
    cluster = emitted.one(CLUSTER)
    inputs = emitted.inputs(cluster)
    assert cluster.protect and inputs["deletionProtection"] is True
    assert inputs["privateClusterConfig"]["enablePrivateNodes"] is True
    assert inputs["privateClusterConfig"]["enablePrivateEndpoint"] is False
    networks = inputs["masterAuthorizedNetworksConfig"]
    assert [b["cidrBlock"] for b in networks["cidrBlocks"]] == ["203.0.113.0/24"]
    assert networks["gcpPublicCidrsAccessEnabled"] is False
    assert inputs["workloadIdentityConfig"] == {"workloadPool": "llm-project-1.svc.id.goog"}
    assert inputs["removeDefaultNodePool"] is True and inputs["enableShieldedNodes"] is True
    assert inputs["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH" and inputs["enableMultiNetworking"] is True
    # even the short-lived default pool runs as the nodes' own account
    assert inputs["nodeConfig"]["serviceAccount"] == "llm-nodes@llm-project-1.iam.gserviceaccount.com"


def test_the_host_subnet_carries_the_pods_and_services_ranges(emitted: Deployment) -> None:
    subnet = emitted.inputs(emitted.named("llm-subnet-host"))
    assert {r["rangeName"] for r in subnet["secondaryIpRanges"]} == {"pods", "services"}


def test_the_gpu_node_pool(emitted: Deployment) -> None:
    pool = emitted.inputs(emitted.named("llm-gke-gpu"))
    config = pool["nodeConfig"]
    assert pool["nodeCount"] == 2 and pool["nodeLocations"] == ["us-central1-a"]
    assert config["machineType"] == "a3-megagpu-8g"
    (accelerator,) = config["guestAccelerators"]
    assert accelerator["type"] == "nvidia-h100-mega-80gb" and accelerator["count"] == 8
    assert accelerator["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    assert config["serviceAccount"] == "llm-nodes@llm-project-1.iam.gserviceaccount.com"
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert config["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert config["ephemeralStorageLocalSsdConfig"] == {"localSsdCount": 16}
    assert config["gvnic"] == {"enabled": True}
    extra = pool["networkConfig"]["additionalNodeNetworkConfigs"]
    assert len(extra) == 8 and len({n["network"] for n in extra}) == 8
    assert pool["upgradeSettings"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_outputs_and_groups_not_nodes(emitted: Deployment) -> None:
    assert {r.name for r in emitted.of_type(NODE_POOL)} == {"llm-gke-gpu", "llm-gke-system"}
    assert not emitted.of_type("gcp:compute/instanceGroupManager:InstanceGroupManager")
    assert not emitted.of_type("gcp:compute/instance:Instance")
    assert emitted.outputs["gke_cluster_name"] == "llm-gke"
    # node pool names get Pulumi's suffix (within GKE's 40 characters)
    (name,) = emitted.outputs["node_groups"].values()
    assert name.startswith("llm-gke-gpu-") and len(name) <= 40
    assert '"gke-gcloud-auth-plugin"' in emitted.outputs["kubeconfig"]


def test_the_nccl_settings_are_applied_once_the_system_pool_is_up(emitted: Deployment) -> None:
    (config_map,) = emitted.of_type("kubernetes:core/v1:ConfigMap")
    assert config_map.name == "llm-gke-configmap-default-nccl-gpu"
    assert not emitted.of_type("kubernetes:helm.sh/v3:Release")
