"""provisioner: declarative GPU clusters in Python, on any cloud, through Pulumi.

    from provisioner import Cluster, NodePool, GpuCluster

`GpuCluster` (the Pulumi component) is imported lazily, so that declaring and planning never pay for
importing Pulumi.
"""

from typing import TYPE_CHECKING, Any

from provisioner.catalog import Catalog, load_catalog
from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.spec import (
    AwsOptions,
    Bucket,
    CapacityKind,
    Cluster,
    ContainerRuntime,
    Interconnect,
    LocalScratch,
    Lustre,
    Network,
    Nfs,
    NodePool,
    OperatingSystem,
    Software,
)
from provisioner.validate import Finding, validate

if TYPE_CHECKING:
    from provisioner.component import GpuCluster, declaration_errors

__version__ = "0.1.0"

__all__ = [
    "AwsOptions",
    "Bucket",
    "CapacityKind",
    "Catalog",
    "Cluster",
    "ClusterPlan",
    "ContainerRuntime",
    "Finding",
    "GpuCluster",
    "Interconnect",
    "LocalScratch",
    "Lustre",
    "Network",
    "Nfs",
    "NodePool",
    "OperatingSystem",
    "Software",
    "declaration_errors",
    "load_catalog",
    "plan_cluster",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name in ("GpuCluster", "declaration_errors"):
        from provisioner import component

        return getattr(component, name)
    raise AttributeError(f"module 'provisioner' has no attribute {name!r}")
