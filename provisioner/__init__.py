"""provisioner: declarative GPU clusters in Python, on any cloud, through Pulumi.

    from provisioner import Cluster, NodePool, GpuCluster

Names are imported on first use, so that `provisioner --help` starts fast and declaring or planning a
cluster never pays for importing Pulumi (only `GpuCluster` and `declaration_errors` need it). Validation is
`provisioner.validate.validate(cluster, catalog)`, or the findings of `plan_cluster(...)`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provisioner.catalog import Catalog, load_catalog
    from provisioner.component import GpuCluster, declaration_errors
    from provisioner.plan import ClusterPlan, plan_cluster
    from provisioner.spec import (
        AwsOptions,
        Bucket,
        CapacityKind,
        Cluster,
        ContainerRuntime,
        CrusoeOptions,
        GcpOptions,
        Interconnect,
        Kubernetes,
        KubernetesSystemPool,
        LambdaOptions,
        LocalScratch,
        Lustre,
        Network,
        Nfs,
        NodePool,
        OperatingSystem,
        Slurm,
        SlurmController,
        SlurmLogin,
        SlurmPartition,
        Software,
    )
    from provisioner.validate import Finding

__version__ = "0.1.0"

__all__ = [
    "AwsOptions",
    "Bucket",
    "CapacityKind",
    "Catalog",
    "Cluster",
    "ClusterPlan",
    "ContainerRuntime",
    "CrusoeOptions",
    "Finding",
    "GcpOptions",
    "GpuCluster",
    "Interconnect",
    "Kubernetes",
    "KubernetesSystemPool",
    "LambdaOptions",
    "LocalScratch",
    "Lustre",
    "Network",
    "Nfs",
    "NodePool",
    "OperatingSystem",
    "Slurm",
    "SlurmController",
    "SlurmLogin",
    "SlurmPartition",
    "Software",
    "declaration_errors",
    "load_catalog",
    "plan_cluster",
]

_SPEC = (
    "AwsOptions GcpOptions LambdaOptions CrusoeOptions Bucket CapacityKind Cluster ContainerRuntime "
    "Interconnect Kubernetes "
    "KubernetesSystemPool "
    "LocalScratch Lustre Network Nfs "
    "NodePool OperatingSystem Slurm SlurmController SlurmLogin SlurmPartition Software"
)
_HOMES: dict[str, str] = {
    **dict.fromkeys(_SPEC.split(), "provisioner.spec"),
    "Catalog": "provisioner.catalog",
    "load_catalog": "provisioner.catalog",
    "ClusterPlan": "provisioner.plan",
    "plan_cluster": "provisioner.plan",
    "Finding": "provisioner.validate",
    "GpuCluster": "provisioner.component",
    "declaration_errors": "provisioner.component",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'provisioner' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
