"""Google Cloud adapter. This module is pure data; `resources.py` holds everything that imports Pulumi."""

from provisioner.providers.base import Capability, ProviderInfo

MAX_LABELS_PER_RESOURCE = 64
"""Google Cloud resources take at most 64 labels."""

INFO = ProviderInfo(
    name="gcp",
    title="Google Cloud",
    emitter="provisioner.providers.gcp.resources:GcpEmitter",
    sdk_extra="gcp",
    capabilities={
        Capability.EFA: "EFA is AWS's; Google Cloud's GPU fabrics are GPUDirect-TCPX (A3 High), "
        "GPUDirect-TCPXO (A3 Mega) and GPUDirect-RDMA (A3 Ultra, A4)",
        Capability.INFINIBAND: "Google Cloud has no InfiniBand; its RDMA fabric is RoCE "
        "(interconnect='gpudirect-rdma' on A3 Ultra and A4)",
        Capability.ROCE: "RoCE on Google Cloud is declared as interconnect='gpudirect-rdma' (A3 Ultra, A4)",
        Capability.GPUDIRECT_TCPX: None,
        Capability.GPUDIRECT_TCPXO: None,
        Capability.GPUDIRECT_RDMA: None,
        Capability.SPOT: None,
        Capability.RESERVATION: None,
        Capability.CAPACITY_BLOCK: None,
        Capability.LUSTRE: None,
        Capability.NFS: None,
        Capability.BUCKET: None,
        Capability.LOCAL_SCRATCH: None,
        Capability.EXISTING_NETWORK: None,
        Capability.CUSTOM_IMAGE: None,
        Capability.ROCKY_LINUX: "no Rocky Linux 9 GPU image in the Google Cloud adapter yet; "
        "use ubuntu-22.04/24.04",
        Capability.SLURM: None,
        Capability.KUBERNETES: None,
    },
    # metadata: 256 KB per value (user-data is one value), 512 KB in all (../shared/reference/README.md)
    user_data_limit=256 * 1024,
    support_shapes={"controller": "n2-standard-8", "login": "n2-standard-4", "system": "e2-standard-4"},
    zonal_pools=True,
)
