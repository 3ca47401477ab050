"""Google Cloud: the networks and NICs a pool's shape needs for its GPU fabric. Pure: no Pulumi, no SDK.

Each fabric asks for a different layout (what the emitter will create, one VPC network per entry):
- none: one gVNIC on the cluster's host network.
- GPUDirect-TCPX (A3 High) and GPUDirect-TCPXO (A3 Mega): the host gVNIC plus one gVNIC per GPU NIC of the
  shape (4 and 8), each in a VPC network of its own, with a large MTU. Recalled from Google's A3 guides (the
  GPU NICs of A3 High/Mega each need their own VPC; dstack's GCP backend also asks for `extra_vpcs` for them):
  not re-read in the session that wrote this.
- GPUDirect-RDMA (A3 Ultra, A4): two gVNICs on regular networks, and one MRDMA NIC per GPU NIC (8) on ONE VPC
  network created with the zone's RoCE network profile (`ZONE-vpc-roce`), one subnet per NIC. From Google's
  "RDMA network profiles" page (docs.cloud.google.com/vpc/docs/rdma-network-profiles, read 2026-12-02):
  RoCE networks take only MRDMA NICs (A3 Ultra, A4, A4X), are bound to the profile's zone (every instance
  and subnet on it), recommend an 8896-byte MTU, and allow all traffic implicitly; every non-RDMA NIC must be
  on a regular network. One subnet per MRDMA NIC is recalled from Google's A3 Ultra/A4 guides, not re-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

from provisioner.errors import ProvisionerError
from provisioner.plan import PoolPlan
from provisioner.spec import Interconnect

HOST_MTU = 8896
"""The host network's MTU: large frames for NCCL's socket traffic and storage (GCP allows up to 8896)."""
GPU_NIC_MTU = 8244
"""MTU of the GPU NIC networks of A3 High/Mega (recalled from Google's GPUDirect-TCPX/TCPXO guides)."""
RDMA_MTU = 8896
"""The RDMA network profile page recommends 8896 bytes (the gcloud and API default for such networks)."""
FABRIC_SUBNET_PREFIX = 24
"""Each fabric subnet is a /24 of the fabric range: room for 250 nodes of a pool per NIC."""


class GcpLayoutError(ProvisionerError):
    """A pool whose fabric cannot be laid out on Google Cloud (a rule is missing upstream)."""


@dataclass(frozen=True, slots=True)
class SubnetSpec:
    key: str
    cidr: str


@dataclass(frozen=True, slots=True)
class VpcSpec:
    """One VPC network of the layout."""

    key: str
    """Suffix of its resource name: 'host', 'gvnic-1', 'gpu-0'..'gpu-7', 'rdma'."""
    role: str
    """'host' (the cluster's network, with internet egress), 'gvnic' (a second regular NIC), 'gpu' (a
    GPUDirect-TCPX/TCPXO NIC) or 'rdma' (the RoCE network of the MRDMA NICs)."""
    mtu: int
    subnets: tuple[SubnetSpec, ...]
    rdma_profile: bool = False
    """Created with the zone's RoCE network profile (`<zone>-vpc-roce`, known once the zone is)."""


@dataclass(frozen=True, slots=True)
class NicSpec:
    vpc: str
    subnet: str
    nic_type: str
    """'GVNIC' or 'MRDMA'."""


@dataclass(frozen=True, slots=True)
class FabricLayout:
    vpcs: tuple[VpcSpec, ...]
    nics: tuple[NicSpec, ...]
    """In interface order: nic0 is the host network's."""


def _fabric_subnets(fabric_range: IPv4Network, count: int) -> list[str]:
    blocks = list(fabric_range.subnets(new_prefix=FABRIC_SUBNET_PREFIX))
    if len(blocks) < count:
        raise GcpLayoutError(
            f"the fabric range {fabric_range} has room for {len(blocks)} subnets, not {count}"
        )
    return [str(block) for block in blocks[:count]]


def fabric_layout(pool: PoolPlan, host_cidr: str, fabric_range: IPv4Network) -> FabricLayout:
    """The VPC networks and NICs of `pool`'s nodes. `host_cidr` is the nodes' subnet on the host network;
    `fabric_range` a private range, outside the host network, that the fabric subnets are carved from."""
    host = VpcSpec("host", "host", HOST_MTU, (SubnetSpec("host", host_cidr),))
    fabric, count = pool.interconnect, pool.fabric_interfaces
    if fabric is Interconnect.NONE:
        return FabricLayout((host,), (NicSpec("host", "host", "GVNIC"),))
    if fabric in (Interconnect.GPUDIRECT_TCPX, Interconnect.GPUDIRECT_TCPXO):
        if count < 1:
            raise GcpLayoutError(f"pool {pool.name!r}: {fabric.value} needs the shape's GPU NIC count")
        cidrs = _fabric_subnets(fabric_range, count)
        gpus = [
            VpcSpec(f"gpu-{i}", "gpu", GPU_NIC_MTU, (SubnetSpec(f"gpu-{i}", cidrs[i]),)) for i in range(count)
        ]
        nics = [NicSpec("host", "host", "GVNIC")] + [NicSpec(v.key, v.key, "GVNIC") for v in gpus]
        return FabricLayout((host, *gpus), tuple(nics))
    if fabric is Interconnect.GPUDIRECT_RDMA:
        if count < 1:
            raise GcpLayoutError(f"pool {pool.name!r}: gpudirect-rdma needs the shape's RDMA NIC count")
        cidrs = _fabric_subnets(fabric_range, count + 1)
        second = VpcSpec("gvnic-1", "gvnic", HOST_MTU, (SubnetSpec("gvnic-1", cidrs[0]),))
        rdma = VpcSpec(
            "rdma",
            "rdma",
            RDMA_MTU,
            tuple(SubnetSpec(f"rdma-{i}", cidrs[i + 1]) for i in range(count)),
            rdma_profile=True,
        )
        nics = [NicSpec("host", "host", "GVNIC"), NicSpec("gvnic-1", "gvnic-1", "GVNIC")]
        nics += [NicSpec("rdma", f"rdma-{i}", "MRDMA") for i in range(count)]
        return FabricLayout((host, second, rdma), tuple(nics))
    raise GcpLayoutError(f"pool {pool.name!r}: {fabric.value} is not a Google Cloud fabric")
