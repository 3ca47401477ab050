"""Crusoe Cloud adapter, over its REST API (no Pulumi package). This module is pure data; `resources.py`
holds what imports Pulumi and `api.py` the HTTP client the dynamic providers use at deploy time."""

from provisioner.providers.base import Capability, ProviderInfo

INFO = ProviderInfo(
    name="crusoe",
    title="Crusoe",
    emitter="provisioner.providers.crusoe.resources:CrusoeEmitter",
    sdk_extra="rest",
    host_firewall=True,
    capabilities={
        Capability.EFA: "EFA is AWS's; Crusoe's multi-node fabric is InfiniBand (the -ib.8x types)",
        Capability.INFINIBAND: None,
        Capability.ROCE: "Crusoe's multi-node fabric is InfiniBand: use interconnect='infiniband'",
        Capability.GPUDIRECT_TCPX: "GPUDirect-TCPX is Google Cloud's; Crusoe's fabric is InfiniBand",
        Capability.GPUDIRECT_TCPXO: "GPUDirect-TCPXO is Google Cloud's; Crusoe's fabric is InfiniBand",
        Capability.GPUDIRECT_RDMA: "declare interconnect='infiniband' on Crusoe: GPUDirect RDMA over "
        "InfiniBand comes with it (nvidia-peermem)",
        Capability.SPOT: "Crusoe's VM create API has no spot billing field that we could confirm",
        Capability.RESERVATION: None,
        Capability.CAPACITY_BLOCK: "capacity blocks are AWS's; Crusoe places VMs in a matching reservation "
        "by itself (capacity='reservation')",
        Capability.LUSTRE: "Crusoe has no managed Lustre; use Nfs (a Crusoe shared disk)",
        Capability.NFS: None,
        Capability.BUCKET: "Crusoe has no object store in this adapter",
        Capability.LOCAL_SCRATCH: None,
        Capability.EXISTING_NETWORK: "VMs go on the project's default VPC network; choosing a VPC subnet "
        "is not supported yet",
        Capability.CUSTOM_IMAGE: None,
        Capability.ROCKY_LINUX: "Crusoe's curated images are Ubuntu; use ubuntu-22.04",
        Capability.SLURM: "Slurm needs its munge key delivered through a secret store (never user data) and "
        "Crusoe has none the nodes can read with their identity; not supported yet",
        Capability.KUBERNETES: "Crusoe Managed Kubernetes is not in this adapter yet",
    },
    # the startup script's limit is not documented in what we read: a conservative 64 KiB (unverified)
    user_data_limit=64 * 1024,
    # "VMs are automatically placed in [a reservation] during provisioning if they match the reservation type
    # and there is adequate capacity" (docs.crusoecloud.com, Reservations overview)
    reservations_by_match=True,
)
