"""Lambda adapter (Lambda Cloud on-demand instances), over its REST API (no Pulumi package). This module is
pure data; `resources.py` holds what imports Pulumi and `api.py` the HTTP client the dynamic providers use
at deploy time."""

from provisioner.providers.base import Capability, ProviderInfo

_NO_FABRIC = (
    "Lambda's on-demand instances are single nodes without a cluster fabric (its InfiniBand clusters, "
    "1-Click Clusters, are reserved and not in the public API)"
)

INFO = ProviderInfo(
    name="lambda",
    title="Lambda",
    emitter="provisioner.providers.lambda_cloud.resources:LambdaEmitter",
    sdk_extra="rest",
    host_firewall=True,
    capabilities={
        Capability.EFA: _NO_FABRIC,
        Capability.INFINIBAND: _NO_FABRIC,
        Capability.ROCE: _NO_FABRIC,
        Capability.GPUDIRECT_TCPX: _NO_FABRIC,
        Capability.GPUDIRECT_TCPXO: _NO_FABRIC,
        Capability.GPUDIRECT_RDMA: _NO_FABRIC,
        Capability.SPOT: "Lambda has no spot instances",
        Capability.RESERVATION: "Lambda's reserved capacity is not in its public API",
        Capability.CAPACITY_BLOCK: "capacity blocks are AWS's",
        Capability.LUSTRE: "Lambda has no managed Lustre; use Nfs (a Lambda persistent filesystem)",
        Capability.NFS: None,
        Capability.BUCKET: "Lambda has no object store",
        Capability.LOCAL_SCRATCH: "a Lambda instance's SSD is its root filesystem: there is no separate "
        "local NVMe to stripe; write scratch data under the root filesystem",
        Capability.EXISTING_NETWORK: "Lambda instances are not placed in a network of yours",
        Capability.CUSTOM_IMAGE: "custom images are not supported in the Lambda adapter yet (instances boot "
        "Lambda Stack)",
        Capability.ROCKY_LINUX: "Lambda's image is Lambda Stack on Ubuntu; use ubuntu-22.04",
        Capability.SLURM: "Slurm needs its munge key delivered through a secret store (never user data) and "
        "Lambda has none the nodes can read with their identity; not supported yet",
        Capability.KUBERNETES: "Lambda has no managed Kubernetes in its public API",
    },
    # "cannot exceed 1MB" (Lambda Cloud API OpenAPI 1.8.3, launch `user_data`): read as 10^6 bytes, the
    # stricter of the two readings; it is plain text there (no gzip)
    user_data_limit=1_000_000,
)
