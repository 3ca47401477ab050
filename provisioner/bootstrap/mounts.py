from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LustreMount:
    """A Lustre filesystem to mount: known only after deploy, so the emitter passes it in."""

    dns_name: str
    mount_name: str
    mount_point: str
