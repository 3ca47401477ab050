"""Software every GPU node runs: image, driver, CUDA or ROCm, container runtime."""

from typing import Annotated

from pydantic import Field

from provisioner.spec._base import SpecModel
from provisioner.spec.enums import ContainerRuntime, OperatingSystem

# [0-9], not \d: pydantic's regex engine treats \d as any Unicode digit, and versions end up in scripts.
DRIVER_PATTERN = r"^[0-9]{3}(\.[0-9]{1,3}(\.[0-9]{1,3})?)?$"
TOOLKIT_PATTERN = r"^[0-9]{1,2}\.[0-9]{1,2}(\.[0-9]{1,2})?$"


class Software(SpecModel):
    """What is installed on the nodes. Unset fields take the GPU-ready image's defaults."""

    os: Annotated[OperatingSystem, Field(description="Operating system of the nodes.")] = (
        OperatingSystem.UBUNTU_22_04
    )
    image: Annotated[
        str | None,
        Field(description="A custom image id (e.g. an AMI id). None = the provider's GPU-ready image."),
    ] = None
    nvidia_driver: Annotated[
        str | None,
        Field(
            pattern=DRIVER_PATTERN,
            description="NVIDIA driver branch ('580') or exact version ('580.105.08'). "
            "None = the image's driver.",
        ),
    ] = None
    cuda: Annotated[
        str | None,
        Field(pattern=TOOLKIT_PATTERN, description="CUDA toolkit version, e.g. '12.8'. None = none."),
    ] = None
    rocm: Annotated[
        str | None, Field(pattern=TOOLKIT_PATTERN, description="ROCm version for AMD GPUs, e.g. '6.4'.")
    ] = None
    container_runtime: Annotated[
        ContainerRuntime, Field(description="Container runtime wired to the GPUs.")
    ] = ContainerRuntime.CONTAINERD
    apptainer: Annotated[bool, Field(description="Install Apptainer (HPC containers, no daemon).")] = False
    enroot: Annotated[
        bool, Field(description="Install Enroot (unprivileged containers; Pyxis joins it with Slurm).")
    ] = False
    extra_user_data: Annotated[
        str | None,
        Field(
            max_length=16384,
            description="Your own first-boot part, run by cloud-init before provisioner's boot steps: "
            "a cloud-config (starting '#cloud-config', merged into ours) or a script (starting '#!'). "
            "Never put secrets here: user data is readable by anything on the node that can reach the "
            "metadata service.",
        ),
    ] = None
    dcgm: Annotated[
        bool, Field(description="Install NVIDIA DCGM (health diagnostics and metrics) on NVIDIA nodes.")
    ] = True
