"""A Slurm cluster of H100 nodes on Google Cloud: `pulumi up` deploys it; `provisioner plan .` reviews it
offline.

Two a3-megagpu-8g nodes (16 H100, GPUDirect-TCPXO) join as dynamic nodes; /home is on a Filestore share
(mounted at /shared, its `home` folder bound on /home), data and checkpoints go to a bucket. Users reach the
login node with OS Login through Identity-Aware Proxy (`gcloud compute ssh --tunnel-through-iap`): no node
has an external address."""

import json

import pulumi

from provisioner import (
    Bucket,
    Cluster,
    GcpOptions,
    GpuCluster,
    Network,
    Nfs,
    NodePool,
    Slurm,
    SlurmLogin,
    Software,
    declaration_errors,
)

config = pulumi.Config()
gcp_config = pulumi.Config("gcp")
region = gcp_config.get("region") or "us-central1"
logins = config.get_int("loginNodes")
if logins is None:
    logins = 1

with declaration_errors():  # a bad config value becomes a Pulumi error naming the field, not a traceback
    cluster = Cluster(
        name=f"slurm-{pulumi.get_stack()}",
        provider="gcp",
        region=region,
        pools=[
            NodePool(
                name="gpu",
                gpu="H100",
                instance_type="a3-megagpu-8g",
                nodes=config.get_int("nodes") or 2,
                zone=config.get("zone"),  # None: the first zone of the region that has the shape
            )
        ],
        storage=[
            Nfs(name="home", mount_point="/shared", capacity_gib=config.get_int("homeGib")),
            Bucket(name="data"),
        ],
        software=Software(image=config.get("gpuImage")),  # None = the catalog's GPU image
        network=Network(ssh_cidrs=json.loads(config.get("sshCidrs") or "[]")),
        scheduler=Slurm(
            login=SlurmLogin(count=logins) if logins > 0 else None,
            accounting=config.get_bool("accounting") is not False,
        ),
        options=GcpOptions(
            iap_ssh=config.get_bool("iapSsh") is not False
        ),  # project: the stack's gcp:project
        tags={"stack": pulumi.get_stack()},
    )

gpu_cluster = GpuCluster(cluster.name, cluster)

pulumi.export("controller_ip", gpu_cluster.outputs.get("slurm_controller_ip"))
pulumi.export("controller_name", gpu_cluster.outputs.get("slurm_controller_name"))
pulumi.export("login_group", gpu_cluster.outputs.get("slurm_login_group"))
pulumi.export("node_groups", gpu_cluster.outputs.get("pools"))
pulumi.export("filestores", gpu_cluster.outputs.get("filestores"))
pulumi.export("buckets", gpu_cluster.outputs.get("buckets"))
pulumi.export("hourly_cost_usd", gpu_cluster.plan.cost.per_hour)
