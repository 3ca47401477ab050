from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LustreMount:
    """A Lustre filesystem to mount: known only after deploy, so the emitter passes it in.

    Mounted as `<dns_name>@tcp:/<mount_name>`: on AWS the FSx filesystem's DNS name and its mount name; on
    Google Cloud (Managed Lustre) the instance's mount point IP address and its filesystem name."""

    dns_name: str
    mount_name: str
    mount_point: str


@dataclass(frozen=True, slots=True)
class NfsMount:
    """An NFS share to mount (Filestore on Google Cloud): known only after deploy, so the emitter passes it.

    Mounted as `<address>:<export>`, e.g. a Filestore instance's IP address and `/<file share name>`."""

    address: str
    export: str
    mount_point: str

    @property
    def source(self) -> str:
        return f"{self.address}:/{self.export.lstrip('/')}"
