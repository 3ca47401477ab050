"""Storage a cluster declares: shared filesystems, object store buckets and node-local scratch."""

from typing import Annotated, Literal

from pydantic import Field

from provisioner.spec._base import SpecModel

MountPoint = Annotated[
    str,
    Field(pattern=r"^/[A-Za-z0-9._/-]*$", max_length=200, description="Absolute path where it is mounted."),
]


class Lustre(SpecModel):
    """A shared parallel filesystem (FSx for Lustre on AWS, Managed Lustre on GCP, ...)."""

    kind: Annotated[Literal["lustre"], Field(description="Discriminator.")] = "lustre"
    name: Annotated[str, Field(description="Name of the filesystem, unique in the cluster.")] = "shared"
    mount_point: MountPoint = "/fsx"
    capacity_gib: Annotated[
        int, Field(gt=0, description="Storage capacity in GiB (AWS: 1200, 2400, then multiples of 2400).")
    ] = 1200
    throughput_mib_per_tib: Annotated[
        int, Field(gt=0, description="Throughput per TiB of storage (AWS PERSISTENT_2: 125, 250, 500, 1000).")
    ] = 250
    protect: Annotated[bool, Field(description="Refuse to delete it with the cluster (Pulumi protect).")] = (
        True
    )


class Nfs(SpecModel):
    """A managed NFS share (EFS, Filestore, Azure Files NFS, ...)."""

    kind: Annotated[Literal["nfs"], Field(description="Discriminator.")] = "nfs"
    name: Annotated[str, Field(description="Name of the share, unique in the cluster.")] = "home"
    mount_point: MountPoint = "/home/shared"
    capacity_gib: Annotated[
        int | None,
        Field(
            gt=0,
            description="Capacity in GiB where the service is provisioned (Filestore); None = the "
            "tier's minimum. Elastic services (EFS) ignore it.",
        ),
    ] = None
    protect: Annotated[bool, Field(description="Refuse to delete it with the cluster (Pulumi protect).")] = (
        True
    )


class Bucket(SpecModel):
    """An object store bucket for datasets and checkpoints: private, encrypted, versioned."""

    kind: Annotated[Literal["bucket"], Field(description="Discriminator.")] = "bucket"
    name: Annotated[
        str, Field(description="Logical name; the cloud name gets the cluster name as prefix.")
    ] = "data"
    versioning: Annotated[bool, Field(description="Keep old object versions.")] = True
    protect: Annotated[bool, Field(description="Refuse to delete it with the cluster (Pulumi protect).")] = (
        True
    )


class LocalScratch(SpecModel):
    """The instance-local NVMe disks of every node, striped (RAID 0) and mounted as scratch."""

    kind: Annotated[Literal["scratch"], Field(description="Discriminator.")] = "scratch"
    name: Annotated[str, Field(description="Name, unique in the cluster.")] = "scratch"
    mount_point: MountPoint = "/scratch"


Storage = Annotated[Lustre | Nfs | Bucket | LocalScratch, Field(discriminator="kind")]
