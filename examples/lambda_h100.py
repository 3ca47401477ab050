"""Two 8 x H100 SXM nodes on Lambda ($31.92/h each): a persistent filesystem for shared data, the boot through
cloud-init user data, failover to a second region when the first has no capacity."""

from provisioner import Cluster, LambdaOptions, Network, Nfs, NodePool, Software

cluster = Cluster(
    name="lambda-h100",
    provider="lambda",
    region="us-east-1",
    pools=[NodePool(name="gpu", gpu="H100", gpus=16)],  # 16 GPUs -> 2 x gpu_8x_h100_sxm5
    storage=[Nfs(name="shared", mount_point="/shared")],  # a Lambda filesystem, bind-mounted at /shared
    network=Network(ssh_cidrs=["203.0.113.0/24"]),  # each node's own firewall admits SSH from here only
    software=Software(container_runtime="docker"),
    options=LambdaOptions(ssh_key_name="deploy-key"),
    tags={"team": "research"},
)
