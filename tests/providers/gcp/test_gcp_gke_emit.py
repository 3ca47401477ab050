"""GKE under the mock runtime: the cluster's logs, metrics and protection, each node pool's image type, boot
disk, accelerators, networks, capacity and replacement, the system pool, stable names, and the outputs (a
kubeconfig built from the endpoint and CA that authenticates through gke-gcloud-auth-plugin)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from gcp_gke_harness import CLUSTER, NODE_POOL, GkeDeployment, deploy_gke, gke_cluster, gpu_pool
from gcp_harness import NETWORK

NODES_ACCOUNT = "llm-nodes@llm-project-1.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def mega() -> GkeDeployment:
    return deploy_gke(gke_cluster(gpu_pool(labels={"team": "research"})))


def test_the_cluster_logs_and_monitors_the_gpus(mega: GkeDeployment) -> None:
    inputs = mega.cluster_inputs()
    logs = inputs["loggingConfig"]["enableComponents"]
    assert logs[:2] == ["SYSTEM_COMPONENTS", "WORKLOADS"] and "APISERVER" in logs
    assert inputs["monitoringConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS", "DCGM"]
    assert inputs["monitoringConfig"]["managedPrometheus"] == {"enabled": True}


def test_the_cluster_is_private_protected_and_has_no_default_pool(mega: GkeDeployment) -> None:
    cluster = mega.one(CLUSTER)
    inputs = mega.inputs(cluster)
    assert cluster.protect and inputs["deletionProtection"] is True
    assert inputs["privateClusterConfig"]["enablePrivateNodes"] is True
    assert (inputs["removeDefaultNodePool"], inputs["initialNodeCount"]) == (True, 1)
    assert inputs["networkingMode"] == "VPC_NATIVE" and inputs["location"] == "us-central1"
    assert inputs["releaseChannel"] == {"channel": "REGULAR"} and inputs["minMasterVersion"] == "1.35"


def test_the_gpu_pool_runs_gkes_image_on_hyperdisk_and_is_replaced_delete_first(mega: GkeDeployment) -> None:
    pool = mega.node_pool("gpu")
    config = pool["nodeConfig"]
    assert config["imageType"] == "COS_CONTAINERD" and config["diskType"] == "hyperdisk-balanced"
    assert config["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
    assert config["labels"]["provisioner.dev/pool"] == "gpu" and config["labels"]["team"] == "research"
    assert config["resourceLabels"]["provisioner_pool"] == "gpu"
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert "placementPolicy" not in pool and "spot" not in config and "reservationAffinity" not in config
    options = mega.options_of(NODE_POOL, "llm-gke-gpu")
    assert options.delete_before_replace and options.create_timeout == "60m"


def test_the_fabric_networks_are_the_pools_additional_node_networks(mega: GkeDeployment) -> None:
    extra = mega.node_pool("gpu")["networkConfig"]["additionalNodeNetworkConfigs"]
    assert len(extra) == 8 and len(mega.of_type(NETWORK)) == 9  # the host network and eight GPU NIC networks
    for i, nic in enumerate(extra):  # the fabric networks' own (auto-suffixed) names, in NIC order
        assert nic["network"].startswith(f"llm-net-gpu-{i}-")
        assert nic["subnetwork"].startswith(f"llm-subnet-gpu-{i}-")


def test_the_system_pool(mega: GkeDeployment) -> None:
    pool = mega.node_pool("system")
    config = pool["nodeConfig"]
    assert (config["machineType"], pool["nodeCount"]) == ("e2-standard-4", 2)
    assert "guestAccelerators" not in config and config.get("taints", []) == []
    assert config["serviceAccount"] == NODES_ACCOUNT and config["diskType"] == "pd-balanced"
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert not mega.options_of(NODE_POOL, "llm-gke-system").delete_before_replace


def test_names_are_stable(mega: GkeDeployment) -> None:
    gke = {r.name for r in mega.resources if r.type.startswith(("gcp:container/", "pulumi:providers:kub"))}
    assert gke == {"llm-gke", "llm-gke-gpu", "llm-gke-system", "llm-gke-k8s"}
    parents = {r.parent for r in mega.of_type(NODE_POOL)} | {mega.one(CLUSTER).parent}
    assert len(parents) == 1 and str(parents.pop()).endswith("provisioner:gcp:Kubernetes::llm-gke")


def test_the_outputs_are_eks_like(mega: GkeDeployment) -> None:
    out = mega.outputs
    assert out["gke_cluster_name"] == "llm-gke" and out["gke_location"] == "us-central1"
    assert base64.b64decode(out["gke_ca_certificate"]) == b"fake certificate authority"
    config = json.loads(out["kubeconfig"])
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == f"https://{out['gke_endpoint']}"
    assert cluster["certificate-authority-data"] == out["gke_ca_certificate"]
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert set(out["node_groups"]) == {"gpu"}


@pytest.fixture(scope="module")
def mixed() -> GkeDeployment:
    """A spot A2 pool and a reserved A3 High pool, unprotected, API from a private range only."""
    cluster = gke_cluster(
        gpu_pool(name="spot", gpu="A100-40GB", instance_type="a2-highgpu-8g", capacity="spot"),
        gpu_pool(
            name="held",
            instance_type="a3-highgpu-8g",
            nodes=3,
            capacity="reservation",
            reservation_id="res-a3-high",
            zone="us-central1-b",
        ),
        api_public_cidrs=[],
        api_private_cidrs=["10.8.0.0/16"],
        protect=False,
        dcgm_exporter=False,
    )
    return deploy_gke(cluster)


def test_spot_pools_are_spot_and_placed_compactly(mixed: GkeDeployment) -> None:
    pool = mixed.node_pool("spot")
    config: dict[str, Any] = pool["nodeConfig"]
    assert config["spot"] is True and pool["placementPolicy"] == {"type": "COMPACT"}
    (accelerator,) = config["guestAccelerators"]
    assert (accelerator["type"], accelerator["count"]) == ("nvidia-tesla-a100", 8)
    assert accelerator["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    assert "networkConfig" not in pool


def test_reserved_pools_consume_their_reservation_in_its_zone(mixed: GkeDeployment) -> None:
    pool = mixed.node_pool("held")
    config = pool["nodeConfig"]
    assert config["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["res-a3-high"],
    }
    assert (pool["nodeCount"], pool["nodeLocations"]) == (3, ["us-central1-b"])
    assert len(pool["networkConfig"]["additionalNodeNetworkConfigs"]) == 4
    assert config["guestAccelerators"][0]["type"] == "nvidia-h100-80gb"


def test_an_unprotected_private_cluster(mixed: GkeDeployment) -> None:
    cluster = mixed.one(CLUSTER)
    inputs = mixed.inputs(cluster)
    assert not cluster.protect and inputs["deletionProtection"] is False
    assert inputs["privateClusterConfig"]["enablePrivateEndpoint"] is True
    blocks = inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"]
    assert [b["cidrBlock"] for b in blocks] == ["10.8.0.0/16"]
    assert inputs["monitoringConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS"]
    assert "managedPrometheus" not in inputs["monitoringConfig"]
