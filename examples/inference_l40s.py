"""Inference: independent single-GPU nodes (L40S and L4), spot capacity for the L4 pool."""

from provisioner import Cluster, NodePool

cluster = Cluster(
    name="inference",
    provider="aws",
    region="us-east-1",
    pools=[
        NodePool(name="l40s", gpu="L40S", nodes=4, instance_type="g6e.xlarge"),
        NodePool(name="l4", gpu="L4", nodes=2, instance_type="g6.xlarge", capacity="spot"),
    ],
    # Inference replicas do not talk to each other: plain TCP between nodes is expected.
    suppress=["multi-node-without-fabric"],
    tags={"team": "serving"},
)
