"""Declaration + catalog -> ClusterPlan (frozen, JSON-serializable). Pure."""

from provisioner.plan.build import cluster_tags, cost_of, plan_cluster
from provisioner.plan.models import (
    POOL_LABEL,
    SCHEMA_VERSION,
    ClusterPlan,
    Cost,
    HelmReleasePlan,
    KubeNodeGroupPlan,
    KubernetesPlan,
    PoolPlan,
    ServiceFeePlan,
    SlurmNodeSetPlan,
    SlurmPartitionPlan,
    SlurmPlan,
    SoftwarePlan,
    StorageCostPlan,
    SupportNodePlan,
    TaintPlan,
)

__all__ = [
    "POOL_LABEL",
    "SCHEMA_VERSION",
    "ClusterPlan",
    "Cost",
    "HelmReleasePlan",
    "KubeNodeGroupPlan",
    "KubernetesPlan",
    "PoolPlan",
    "ServiceFeePlan",
    "SlurmNodeSetPlan",
    "SlurmPartitionPlan",
    "SlurmPlan",
    "SoftwarePlan",
    "StorageCostPlan",
    "SupportNodePlan",
    "TaintPlan",
    "cluster_tags",
    "cost_of",
    "plan_cluster",
]
