"""Closed sets used across the declaration, the catalog and the plan."""

from enum import StrEnum


class ProviderName(StrEnum):
    AWS = "aws"
    GCP = "gcp"
    AZURE = "azure"
    OCI = "oci"
    IBM = "ibm"
    COREWEAVE = "coreweave"
    LAMBDA = "lambda"
    CRUSOE = "crusoe"
    RUNPOD = "runpod"
    NEBIUS = "nebius"
    VERDA = "verda"
    MASSED_COMPUTE = "massed-compute"


class GpuVendor(StrEnum):
    NVIDIA = "nvidia"
    AMD = "amd"


class Interconnect(StrEnum):
    """Inter-node fabric of a pool. `auto` picks the best fabric the shape has."""

    AUTO = "auto"
    NONE = "none"
    EFA = "efa"
    INFINIBAND = "infiniband"
    ROCE = "roce"
    GPUDIRECT_TCPX = "gpudirect-tcpx"
    GPUDIRECT_TCPXO = "gpudirect-tcpxo"
    GPUDIRECT_RDMA = "gpudirect-rdma"


class CapacityKind(StrEnum):
    ON_DEMAND = "on-demand"
    SPOT = "spot"
    RESERVATION = "reservation"
    CAPACITY_BLOCK = "capacity-block"


class ContainerRuntime(StrEnum):
    CONTAINERD = "containerd"
    DOCKER = "docker"
    NONE = "none"


class OperatingSystem(StrEnum):
    UBUNTU_22_04 = "ubuntu-22.04"
    UBUNTU_24_04 = "ubuntu-24.04"
    ROCKY_9 = "rocky-9"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
