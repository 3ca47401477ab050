"""What users declare. Pure pydantic models: no Pulumi, no cloud SDK, no I/O."""

from provisioner.spec.cluster import Cluster
from provisioner.spec.enums import (
    CapacityKind,
    ContainerRuntime,
    GpuVendor,
    Interconnect,
    OperatingSystem,
    ProviderName,
    Severity,
)
from provisioner.spec.network import Network
from provisioner.spec.options import AwsOptions, CrusoeOptions, GcpOptions, LambdaOptions
from provisioner.spec.pool import NodePool
from provisioner.spec.scheduler import (
    Kubernetes,
    KubernetesSystemPool,
    Scheduler,
    Slurm,
    SlurmController,
    SlurmLogin,
    SlurmPartition,
)
from provisioner.spec.software import Software
from provisioner.spec.storage import Bucket, LocalScratch, Lustre, Nfs, Storage

__all__ = [
    "AwsOptions",
    "Bucket",
    "CapacityKind",
    "Cluster",
    "ContainerRuntime",
    "CrusoeOptions",
    "GcpOptions",
    "GpuVendor",
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
    "ProviderName",
    "Scheduler",
    "Severity",
    "Slurm",
    "SlurmController",
    "SlurmLogin",
    "SlurmPartition",
    "Software",
    "Storage",
]
