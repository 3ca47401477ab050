from __future__ import annotations

import ipaddress
from collections.abc import Iterable
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


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """A cloud volume the node mounts where the declaration says: a Lambda filesystem, which Lambda mounts
    under /lambda/nfs/<name> itself (bind-mounted to `mount_point`), or a Crusoe shared disk (virtiofs,
    mounted by its tag). Known before deploy: the names are the plan's."""

    source: str
    """The bind source path, or the virtiofs tag."""
    fstype: str
    """'bind' or 'virtiofs'."""
    mount_point: str
    description: str

    @property
    def fstab_type(self) -> str:
        return "none" if self.fstype == "bind" else self.fstype

    @property
    def options(self) -> str:
        # nofail: a volume that is late never blocks a boot; the step waits for it and fails by name
        if self.fstype == "bind":
            return f"bind,nofail,x-systemd.requires-mounts-for={self.source}"
        return "defaults,nofail"


@dataclass(frozen=True, slots=True)
class HostFirewall:
    """Inbound filtering on the node itself, where the cloud gives every node a public address and the
    adapter puts no cloud firewall in front of it (Lambda, Crusoe): SSH only from the declared ranges, and
    the cluster's own traffic only from the node's directly connected subnets that lie in `private_cidrs`
    (found on the node once its network is up)."""

    ssh_cidrs: tuple[str, ...]
    private_cidrs: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")

    @property
    def ssh_ipv4(self) -> tuple[str, ...]:
        return _collapsed(c for c in self.ssh_cidrs if ":" not in c)

    @property
    def ssh_ipv6(self) -> tuple[str, ...]:
        return _collapsed(c for c in self.ssh_cidrs if ":" in c)


def _collapsed(cidrs: Iterable[str]) -> tuple[str, ...]:
    """Overlapping ranges merged (an nftables interval set refuses overlaps: "conflicting intervals")."""
    networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    return tuple(str(n) for n in ipaddress.collapse_addresses(networks))  # type: ignore[type-var]
