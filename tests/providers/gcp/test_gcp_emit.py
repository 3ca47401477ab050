"""The Google Cloud emitter under the mock runtime: per shape family, the NICs and networks, the placement
policy, one group of the declared size, the image, metadata within limits, and the secure defaults."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gcp_harness import (
    FIREWALL,
    GROUP,
    NETWORK,
    POLICY,
    SUBNET,
    TEMPLATE,
    Deployment,
    deploy,
    gpu_pool,
    make_cluster,
)

from provisioner.catalog import shipped_catalog
from provisioner.plan import plan_cluster
from provisioner.providers.gcp.compute_plan import METADATA_TOTAL_LIMIT, METADATA_VALUE_LIMIT
from provisioner.spec import Bucket, GcpOptions, Lustre, Network, Nfs, Software

CATALOG = shipped_catalog()
IMAGE = "projects/deeplearning-platform-release/global/images/family/common-cu128-ubuntu-2204-nvidia-570"
"""An explicit image: these tests check the layout, not the catalog's default image."""

# shape, gpu, interconnect, NICs per node (host first), fabric networks, nic types, placement
FAMILIES = [
    ("a2-highgpu-8g", "A100-40GB", "none", 1, 0, {"GVNIC"}, "compact"),
    ("a3-highgpu-8g", "H100", "gpudirect-tcpx", 5, 4, {"GVNIC"}, "workload"),
    ("a3-megagpu-8g", "H100", "gpudirect-tcpxo", 9, 8, {"GVNIC"}, "workload"),
    ("a3-ultragpu-8g", "H200", "gpudirect-rdma", 10, 2, {"GVNIC", "MRDMA"}, "workload"),
    ("a4-highgpu-8g", "B200", "gpudirect-rdma", 10, 2, {"GVNIC", "MRDMA"}, "workload"),
    ("g2-standard-24", "L4", "none", 1, 0, {"GVNIC"}, "compact"),
    ("n1-standard-8", "T4", "none", 1, 0, {"GVNIC"}, None),
]


def family_cluster(shape: str, gpu: str, nodes: int = 2, **cluster: Any) -> Deployment:
    pool = gpu_pool(gpu=gpu, instance_type=shape, nodes=nodes, zone=None, software=Software(image=IMAGE))
    return deploy(make_cluster(pools=[pool], **cluster))


@pytest.fixture(scope="module", params=FAMILIES, ids=[f[0] for f in FAMILIES])
def family(request: pytest.FixtureRequest) -> tuple[tuple[Any, ...], Deployment]:
    shape, gpu, *_ = request.param
    return request.param, family_cluster(shape, gpu)


def test_nics_and_networks_per_family(family: tuple[tuple[Any, ...], Deployment]) -> None:
    (shape, _, _, nics, fabric_networks, nic_types, _), d = family
    template = d.template("gpu")
    interfaces = template["networkInterfaces"]
    assert len(interfaces) == nics
    assert {nic["nicType"] for nic in interfaces} == nic_types
    assert interfaces[0]["network"].endswith("llm-net-host-" + interfaces[0]["network"].rsplit("-", 1)[-1])
    assert len(d.of_type(NETWORK)) == 1 + fabric_networks
    # every NIC on a network and subnet of its own, except the MRDMA NICs, which share the RoCE network
    subnets = [nic["subnetwork"] for nic in interfaces]
    assert len(set(subnets)) == nics
    assert template["machineType"] == shape


def test_rdma_network_uses_the_zones_roce_profile() -> None:
    d = family_cluster("a3-ultragpu-8g", "H200")
    rdma = d.inputs(d.named("llm-net-rdma"))
    assert rdma["networkProfile"] == "projects/llm-project-1/global/networkProfiles/us-central1-b-vpc-roce"
    assert rdma["mtu"] == 8896
    assert len([s for s in d.of_type(SUBNET) if s.name.startswith("llm-subnet-rdma-")]) == 8
    # the RoCE network takes no firewall rules (it allows its own traffic)
    assert not [f for f in d.of_type(FIREWALL) if "rdma" in f.name]
    mrdma = [n for n in d.template("gpu")["networkInterfaces"] if n["nicType"] == "MRDMA"]
    assert len(mrdma) == 8 and len({n["network"] for n in mrdma}) == 1


def test_placement_per_family(family: tuple[tuple[Any, ...], Deployment]) -> None:
    (*_, placement), d = family
    if placement is None:  # N1: compact placement does not take the series; its T4s are attached
        assert not d.of_type(POLICY) and "resourcePolicies" not in d.template("gpu")
        return
    policy = d.inputs(d.one(POLICY))
    if placement == "workload":
        assert policy["workloadPolicy"] == {"type": "HIGH_THROUGHPUT"}
        assert d.group("gpu")["resourcePolicies"]["workloadPolicy"]
        assert "resourcePolicies" not in d.template("gpu")
    else:
        assert policy["groupPlacementPolicy"] == {"collocation": "COLLOCATED"}
        assert d.template("gpu")["resourcePolicies"]
        assert "resourcePolicies" not in d.group("gpu")


def test_only_n1_attaches_guest_accelerators(family: tuple[tuple[Any, ...], Deployment]) -> None:
    (shape, *_), d = family
    accelerators = d.template("gpu").get("guestAccelerators")
    if shape.startswith("n1-"):
        assert accelerators == [{"type": "nvidia-tesla-t4", "count": 1}]
    else:
        assert not accelerators


def test_the_catalog_gives_the_gpu_ready_image_and_the_zone() -> None:
    d = deploy(make_cluster(pools=[gpu_pool(zone=None)]))
    (disk,) = d.template("gpu")["disks"]
    family = "projects/deeplearning-platform-release/global/images/family/common-cu129-ubuntu-2204-nvidia-580"
    assert disk["sourceImage"] == family
    assert d.group("gpu")["zone"] == "us-central1-a"
    # the image carries the driver (R580): the plan records it, so validation never assumes a newer one
    (pool,) = plan_cluster(d.cluster, CATALOG).pools
    assert (pool.software.image_lookup, pool.software.image_driver) == (family, "580.65.06")


def test_single_node_and_reserved_pools_take_no_placement_policy() -> None:
    assert not family_cluster("a3-megagpu-8g", "H100", nodes=1).of_type(POLICY)
    reserved = gpu_pool(software=Software(image=IMAGE), capacity="reservation", reservation_id="res-a3")
    d = deploy(make_cluster(pools=[reserved]))
    assert not d.of_type(POLICY)
    affinity = d.template("gpu")["reservationAffinity"]
    assert affinity["type"] == "SPECIFIC_RESERVATION"
    assert affinity["specificReservation"] == {
        "key": "compute.googleapis.com/reservation-name",
        "values": ["res-a3"],
    }


def test_one_group_per_pool_of_the_declared_size(family: tuple[tuple[Any, ...], Deployment]) -> None:
    _, d = family
    group = d.group("gpu")
    assert len(d.of_type(GROUP)) == 1 and len(d.of_type(TEMPLATE)) == 1
    assert group["targetSize"] == 2
    # no zone declared: the first zone of the region where the catalog has the shape
    offer = CATALOG.offer("gcp", d.cluster.pools[0].instance_type or "")
    assert offer is not None and group["zone"] == offer.zones_in("us-central1")[0]
    # a changed template never recreates running GPU nodes by itself
    assert group["updatePolicy"]["type"] == "OPPORTUNISTIC"
    assert group["updatePolicy"]["maxSurgeFixed"] == 0
    assert group["versions"][0]["instanceTemplate"]


def test_group_size_does_not_grow_the_plan() -> None:
    small = family_cluster("a3-megagpu-8g", "H100", nodes=2)
    large = family_cluster("a3-megagpu-8g", "H100", nodes=64)
    assert len(small.resources) == len(large.resources)
    assert large.group("gpu")["targetSize"] == 64


def test_image_and_boot_disk(family: tuple[tuple[Any, ...], Deployment]) -> None:
    (shape, *_), d = family
    (disk,) = d.template("gpu")["disks"]
    assert disk["sourceImage"] == IMAGE and disk["boot"] and disk["autoDelete"]
    hyperdisk = shape.startswith(("a3-megagpu", "a3-ultragpu", "a4-highgpu"))
    assert disk["diskType"] == ("hyperdisk-balanced" if hyperdisk else "pd-balanced")


def test_metadata_within_limits_and_carries_the_cloud_config(
    family: tuple[tuple[Any, ...], Deployment],
) -> None:
    _, d = family
    metadata = d.metadata("gpu")
    assert metadata["user-data"].startswith(("#cloud-config", "Content-Type: multipart"))
    assert all(len(k) + len(v.encode()) <= METADATA_VALUE_LIMIT for k, v in metadata.items())
    assert sum(len(k) + len(v.encode()) for k, v in metadata.items()) <= METADATA_TOTAL_LIMIT


def test_secure_defaults(family: tuple[tuple[Any, ...], Deployment]) -> None:
    _, d = family
    template = d.template("gpu")
    metadata = d.metadata("gpu")
    assert metadata["enable-oslogin"] == "TRUE"
    assert metadata["block-project-ssh-keys"] == "TRUE"
    assert metadata["serial-port-enable"] == "FALSE"
    assert template["shieldedInstanceConfig"] == {
        "enableIntegrityMonitoring": True,
        "enableSecureBoot": False,
        "enableVtpm": True,
    }
    assert all("accessConfigs" not in nic for nic in template["networkInterfaces"])
    account = template["serviceAccount"]
    assert account["email"] == "llm-nodes@llm-project-1.iam.gserviceaccount.com"
    assert not account["email"].endswith("-compute@developer.gserviceaccount.com")
    assert template["scheduling"]["onHostMaintenance"] == "TERMINATE"
    roles = sorted(d.inputs(r)["role"] for r in d.of_type("gcp:projects/iAMMember:IAMMember"))
    assert roles == ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
    for rule in d.of_type(FIREWALL):
        inputs = d.inputs(rule)
        assert inputs["direction"] == "INGRESS"
        assert "0.0.0.0/0" not in inputs["sourceRanges"]
    assert not [r for r in d.of_type(FIREWALL) if r.name.endswith("-ssh")]


def test_ssh_only_from_declared_ranges_and_iap_when_asked() -> None:
    pool = gpu_pool(software=Software(image=IMAGE))
    d = deploy(
        make_cluster(
            pools=[pool],
            network=Network(ssh_cidrs=["203.0.113.0/24"]),
            options=GcpOptions(project="llm-project-1", iap_ssh=True),
        )
    )
    ssh = d.inputs(d.named("llm-fw-ssh"))
    assert ssh["sourceRanges"] == ["203.0.113.0/24", "35.235.240.0/20"]
    assert ssh["allows"] == [{"ports": ["22"], "protocol": "tcp"}]


def test_public_ip_only_when_asked_and_on_the_host_nic_only() -> None:
    pool = gpu_pool(software=Software(image=IMAGE))
    d = deploy(make_cluster(pools=[pool], network=Network(public_ips=True)))
    nics = d.template("gpu")["networkInterfaces"]
    assert "accessConfigs" in nics[0]
    assert all("accessConfigs" not in nic for nic in nics[1:])


def test_spot_pool() -> None:
    pool = gpu_pool(software=Software(image=IMAGE), capacity="spot")
    scheduling = deploy(make_cluster(pools=[pool])).template("gpu")["scheduling"]
    assert scheduling["provisioningModel"] == "SPOT"
    assert scheduling["instanceTerminationAction"] == "DELETE"
    assert scheduling["automaticRestart"] is False


def test_nat_egress_and_private_google_access() -> None:
    d = family_cluster("a2-highgpu-8g", "A100-40GB")
    nat = d.inputs(d.named("llm-nat"))
    assert nat["natIpAllocateOption"] == "AUTO_ONLY"
    host = d.inputs(d.named("llm-subnet-host"))
    assert host["privateIpGoogleAccess"] is True
    assert host["ipCidrRange"] == "10.0.0.0/16"


def test_storage_is_private_encrypted_and_protected() -> None:
    pool = gpu_pool(software=Software(image=IMAGE))
    key = "projects/llm-project-1/locations/us-central1/keyRings/ring/cryptoKeys/data"
    d = deploy(
        make_cluster(
            pools=[pool],
            storage=[
                Nfs(name="home", mount_point="/home"),
                Lustre(name="scratch", capacity_gib=18000, throughput_mib_per_tib=500),
                Bucket(name="ckpt"),
            ],
            options=GcpOptions(project="llm-project-1", kms_key=key),
        )
    )
    bucket = d.named("llm-ckpt")
    inputs = d.inputs(bucket)
    assert bucket.protect
    assert inputs["uniformBucketLevelAccess"] is True
    assert inputs["publicAccessPrevention"] == "enforced"
    assert inputs["versioning"] == {"enabled": True}
    assert inputs["encryption"] == {"defaultKmsKeyName": key}
    assert inputs["forceDestroy"] is False
    access = d.inputs(d.named("llm-ckpt-nodes"))
    assert access["role"] == "roles/storage.objectUser"
    assert access["member"] == "serviceAccount:llm-nodes@llm-project-1.iam.gserviceaccount.com"
    filestore = d.named("llm-home-filestore")
    fs = d.inputs(filestore)
    assert filestore.protect and fs["deletionProtectionEnabled"] is True
    assert fs["tier"] == "ZONAL" and fs["location"] == "us-central1-a"
    assert fs["fileShares"]["capacityGb"] == 1024
    assert fs["fileShares"]["nfsExportOptions"][0]["ipRanges"] == ["10.0.0.0/16"]
    lustre = d.named("llm-scratch-lustre")
    lu = d.inputs(lustre)
    assert lustre.protect and lu["deletionPolicy"] == "PREVENT"
    assert lu["capacityGib"] == "18000" and lu["perUnitStorageThroughput"] == "500"
    assert lu["network"].startswith("projects/llm-project-1/global/networks/llm-net-host")
    assert d.one("gcp:servicenetworking/connection:Connection")
    assert d.template("gpu")["disks"][0]["diskEncryptionKey"] == {"kmsKeySelfLink": key}
    # the nodes mount both, with the addresses known after deploy
    user_data = d.metadata("gpu")["user-data"]
    assert "/home" in user_data and "/scratch" in user_data


def test_every_resource_carries_the_cluster_labels_through_the_provider() -> None:
    d = family_cluster("a3-megagpu-8g", "H100")
    provider = d.inputs(d.one("pulumi:providers:gcp"))
    assert provider["project"] == "llm-project-1" and provider["region"] == "us-central1"
    labels = provider["defaultLabels"]
    if isinstance(labels, str):  # provider inputs reach the engine JSON-encoded
        labels = json.loads(labels)
    assert labels["provisioner_cluster"] == "llm" and labels["team"] == "research"
    assert all(r.parent for r in d.resources if r.type != "provisioner:index:GpuCluster")


def test_fabric_networks_are_shared_by_pools_of_one_fabric() -> None:
    pools = [
        gpu_pool(name="a", software=Software(image=IMAGE)),
        gpu_pool(name="b", software=Software(image=IMAGE)),
    ]
    d = deploy(make_cluster(pools=pools))
    assert len(d.of_type(NETWORK)) == 9
    assert len(d.of_type(GROUP)) == 2


def test_review_fixes_capacity_blocks_fabric_subnets_firewall_targets() -> None:
    block = gpu_pool(software=Software(image=IMAGE), capacity="capacity-block", reservation_id="cb-1")
    d = deploy(make_cluster(pools=[block]))
    scheduling = d.template("gpu")["scheduling"]
    assert scheduling["provisioningModel"] == "RESERVATION_BOUND"
    assert scheduling["instanceTerminationAction"] == "DELETE"
    subnets = {s.name: d.inputs(s) for s in d.of_type(SUBNET)}
    assert subnets["llm-subnet-host"]["privateIpGoogleAccess"] is True
    assert all(not v.get("privateIpGoogleAccess") for k, v in subnets.items() if k != "llm-subnet-host")
    for rule in d.of_type(FIREWALL):
        assert d.inputs(rule)["targetTags"] == ["llm"], rule.name
    assert "llm" in d.template("gpu")["tags"]
