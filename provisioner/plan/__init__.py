"""Declaration + catalog -> ClusterPlan (frozen, JSON-serializable). Pure."""

from provisioner.plan.build import cluster_tags, cost_of, plan_cluster
from provisioner.plan.models import (
    SCHEMA_VERSION,
    ClusterPlan,
    Cost,
    PoolPlan,
    SlurmNodeSetPlan,
    SlurmPartitionPlan,
    SlurmPlan,
    SoftwarePlan,
    SupportNodePlan,
)

__all__ = [
    "SCHEMA_VERSION",
    "ClusterPlan",
    "Cost",
    "PoolPlan",
    "SlurmNodeSetPlan",
    "SlurmPartitionPlan",
    "SlurmPlan",
    "SoftwarePlan",
    "SupportNodePlan",
    "cluster_tags",
    "cost_of",
    "plan_cluster",
]
