"""Google Cloud's fabric layouts per shape family: how many VPC networks and NICs a node gets, their types,
MTUs and subnets (the pure half of the GCP adapter; the emitter lands later)."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from provisioner.catalog import shipped_catalog
from provisioner.plan import PoolPlan, plan_cluster
from provisioner.providers.gcp.network_plan import GcpLayoutError, NicSpec, fabric_layout
from provisioner.spec import Cluster, Interconnect, NodePool

FABRIC_RANGE = IPv4Network("172.16.0.0/16")


def pool_of(shape: str, gpu: str, nodes: int = 2) -> PoolPlan:
    cluster = Cluster(
        name="g",
        provider="gcp",
        region="us-central1",
        pools=[NodePool(name="gpu", gpu=gpu, nodes=nodes, instance_type=shape)],
    )
    plan = plan_cluster(cluster, shipped_catalog())
    assert plan.pools, [f.render() for f in plan.findings]
    return plan.pools[0]


# shape, GPU -> (VPC networks, NICs, fabric NICs, fabric NICs' type, fabric MTU)
FAMILIES = {
    ("a2-highgpu-8g", "A100-40GB"): (1, 1, 0, None, None),
    ("g2-standard-4", "L4"): (1, 1, 0, None, None),
    ("a3-highgpu-8g", "H100"): (5, 5, 4, "GVNIC", 8244),
    ("a3-megagpu-8g", "H100"): (9, 9, 8, "GVNIC", 8244),
    ("a3-ultragpu-8g", "H200"): (3, 10, 8, "MRDMA", 8896),
    ("a4-highgpu-8g", "B200"): (3, 10, 8, "MRDMA", 8896),
}


@pytest.mark.parametrize(("shape", "gpu"), sorted(FAMILIES))
def test_each_family_gets_its_networks_and_nics(shape: str, gpu: str) -> None:
    pool = pool_of(shape, gpu, nodes=1 if shape.startswith("g2") else 2)
    layout = fabric_layout(pool, "10.0.0.0/20", FABRIC_RANGE)
    vpcs, nics, fabric_count, fabric_type, mtu = FAMILIES[shape, gpu]
    assert (len(layout.vpcs), len(layout.nics)) == (vpcs, nics)
    assert layout.nics[0] == NicSpec("host", "host", "GVNIC"), "nic0 is the host network's"
    if fabric_type is None:
        return
    fabric_nics = [n for n in layout.nics if n.vpc not in ("host", "gvnic-1")]
    assert len(fabric_nics) == fabric_count
    assert pool.fabric_interfaces == fabric_count
    assert {n.nic_type for n in fabric_nics} == {fabric_type}
    fabric_vpcs = [v for v in layout.vpcs if v.role in ("gpu", "rdma")]
    assert {v.mtu for v in fabric_vpcs} == {mtu}
    subnets = [s.cidr for v in layout.vpcs for s in v.subnets]
    assert len(subnets) == len(set(subnets)) == nics, "one subnet per NIC, none shared"
    for cidr in subnets[1:]:
        assert IPv4Network(cidr).subnet_of(FABRIC_RANGE)
    assert {n.subnet for n in layout.nics} == {s.key for v in layout.vpcs for s in v.subnets}


def test_rdma_nics_share_one_roce_network_and_every_other_nic_is_regular() -> None:
    layout = fabric_layout(pool_of("a3-ultragpu-8g", "H200"), "10.0.0.0/20", FABRIC_RANGE)
    rdma = [v for v in layout.vpcs if v.rdma_profile]
    assert [v.key for v in rdma] == ["rdma"] and len(rdma[0].subnets) == 8
    for nic in layout.nics:
        assert (nic.nic_type == "MRDMA") == (nic.vpc == "rdma"), "MRDMA only on the RoCE network, and only it"


def test_tcpx_gpu_nics_each_have_their_own_network() -> None:
    layout = fabric_layout(pool_of("a3-highgpu-8g", "H100"), "10.0.0.0/20", FABRIC_RANGE)
    gpu_nics = [n for n in layout.nics if n.vpc.startswith("gpu-")]
    assert len({n.vpc for n in gpu_nics}) == len(gpu_nics) == 4
    assert not any(v.rdma_profile for v in layout.vpcs)


def test_a_fabric_range_too_small_or_a_foreign_fabric_is_refused() -> None:
    pool = pool_of("a3-megagpu-8g", "H100")
    with pytest.raises(GcpLayoutError, match="room for 4 subnets, not 8"):
        fabric_layout(pool, "10.0.0.0/20", IPv4Network("172.16.0.0/22"))
    efa = pool.model_copy(update={"interconnect": Interconnect.EFA})
    with pytest.raises(GcpLayoutError, match="efa is not a Google Cloud fabric"):
        fabric_layout(efa, "10.0.0.0/20", FABRIC_RANGE)
