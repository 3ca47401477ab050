"""AWS adapter. This module is pure data; `resources.py` holds everything that imports Pulumi."""

from provisioner.providers.base import Capability, ProviderInfo

MAX_TAGS_PER_RESOURCE = 50
"""EC2, IAM, FSx and S3 accept at most 50 user tags on a resource."""

INFO = ProviderInfo(
    name="aws",
    title="AWS",
    emitter="provisioner.providers.aws.resources:AwsEmitter",
    sdk_extra="aws",
    capabilities={
        Capability.EFA: None,
        Capability.INFINIBAND: "AWS has no InfiniBand; its RDMA fabric is EFA (interconnect='efa')",
        Capability.ROCE: "AWS has no RoCE fabric; use interconnect='efa'",
        Capability.GPUDIRECT_TCPX: "GPUDirect-TCPX is Google Cloud's (A3 High); use interconnect='efa'",
        Capability.GPUDIRECT_TCPXO: "GPUDirect-TCPXO is Google Cloud's (A3 Mega); use interconnect='efa'",
        Capability.GPUDIRECT_RDMA: "GPUDirect-RDMA (RoCE) is Google Cloud's; on AWS use interconnect='efa'",
        Capability.SPOT: None,
        Capability.RESERVATION: None,
        Capability.CAPACITY_BLOCK: None,
        Capability.LUSTRE: None,
        Capability.NFS: "EFS is not wired into the AWS adapter yet; use Lustre (FSx for Lustre)",
        Capability.BUCKET: None,
        Capability.LOCAL_SCRATCH: None,
        Capability.EXISTING_NETWORK: None,
        Capability.CUSTOM_IMAGE: None,
        Capability.ROCKY_LINUX: "no Rocky Linux 9 GPU image in the AWS adapter yet; use ubuntu-22.04/24.04",
        Capability.SLURM: None,
        Capability.KUBERNETES: None,
    },
    user_data_limit=16 * 1024,
    # 8 vCPU / 32 GiB runs slurmctld and slurmdbd for a thousand nodes; login nodes only submit and edit
    support_shapes={"controller": "m7i.2xlarge", "login": "m7i.xlarge", "system": "m7i.xlarge"},
)
