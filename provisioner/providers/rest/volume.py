"""Shared storage on a REST cloud (a Lambda filesystem, a Crusoe shared disk) as a Pulumi dynamic resource.

Idempotence comes from the name, as for pools: create adopts a volume of that name in that region if one
exists (a create that timed out, a re-run after a crash), and launches nothing twice. The resource is
stateful: the emitter protects it, delete is refused while the cloud says it is attached, and a change of
name or region replaces it (Pulumi asks before deleting a protected resource). The provider object holds
only the dotted name of its API factory; credentials come from the environment inside each method."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi.dynamic as dynamic

from provisioner.providers.rest.dynamic import load_factory
from provisioner.providers.rest.errors import ErrorKind, RestError

REPLACES = ("name", "region", "kind", "provider")
"""Inputs whose change replaces the volume (its data is lost: the resource is protected)."""


@dataclass(frozen=True, slots=True)
class Volume:
    id: str
    name: str
    region: str
    size_gib: int | None
    """None = the cloud does not size it (Lambda filesystems grow with their content)."""
    attached: bool = False
    """Some instance uses it now."""


class VolumeApi(Protocol):
    provider: str

    def find(self, name: str) -> Volume | None:
        """The live volume of that name, in any region; None when there is none."""

    def create(self, name: str, region: str, size_gib: int | None) -> Volume:
        """A new volume; raises RestError (possibly ambiguous: reconcile with `find`)."""

    def delete(self, volume_id: str) -> None: ...

    def resize(self, volume_id: str, size_gib: int) -> Volume:
        """Grow the volume; clouds that cannot raise RestError(INVALID_REQUEST)."""


def _size(props: Mapping[str, Any]) -> int | None:
    size = props.get("size_gib")
    return None if size is None else int(size)


def ensure_volume(api: VolumeApi, name: str, region: str, size_gib: int | None, attempts: int = 3) -> Volume:
    """The volume `name` in `region`: the one found, or a new one. An ambiguous create is reconciled by name
    before it is tried again, so a timeout never leaves two volumes behind."""
    for _ in range(attempts):
        found = api.find(name)
        if found is not None:
            if found.region != region:
                raise RestError(
                    ErrorKind.INVALID_REQUEST,
                    api.provider,
                    "POST",
                    "volume",
                    f"a volume named {name!r} already exists in {found.region}, not {region}: rename the "
                    "storage, or delete the other volume",
                )
            return found
        try:
            return api.create(name, region, size_gib)
        except RestError as exc:
            if not exc.ambiguous:
                raise
    found = api.find(name)
    if found is None:
        raise RestError(
            ErrorKind.TRANSIENT, api.provider, "POST", "volume", f"volume {name!r} was not created"
        )
    return found


DETACH_WAIT_S = 300.0
"""How long a delete waits for a volume to be let go: a cloud may report it in use for a while after the
pool that mounted it was terminated (its instances are still shutting down)."""


def _detached(
    api: VolumeApi,
    name: str,
    wait_s: float,
    interval_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Volume | None:
    """The volume once nothing holds it, or as it is when `wait_s` runs out (still attached)."""
    deadline = clock() + wait_s
    found = api.find(name)
    while found is not None and found.attached and clock() < deadline:
        sleep(min(interval_s, max(0.0, deadline - clock())))
        found = api.find(name)
    return found


def _outs(props: Mapping[str, Any], volume: Volume) -> dict[str, Any]:
    return {**props, "volume_id": volume.id, "size_gib": volume.size_gib}


class VolumeProvider(dynamic.ResourceProvider):
    def __init__(self, factory: str) -> None:
        self.factory = factory

    def _api(self, props: Mapping[str, Any]) -> VolumeApi:
        api: VolumeApi = load_factory(self.factory)(props)
        return api

    def create(self, props: Any) -> dynamic.CreateResult:
        volume = ensure_volume(self._api(props), str(props["name"]), str(props["region"]), _size(props))
        return dynamic.CreateResult(id_=volume.id, outs=_outs(props, volume))

    def update(self, _id: str, olds: Any, news: Any) -> dynamic.UpdateResult:
        api = self._api(news)
        old, new = _size(olds), _size(news)
        volume = ensure_volume(api, str(news["name"]), str(news["region"]), new)
        if new is not None and (old is None or new > old) and volume.size_gib != new:
            volume = api.resize(volume.id, new)
        return dynamic.UpdateResult(outs=_outs(news, volume))

    def delete(self, _id: str, props: Any) -> None:
        api = self._api(props)
        found = _detached(api, str(props["name"]), float(props.get("detach_wait_s", DETACH_WAIT_S)))
        if found is None:
            return  # already gone: deleting twice is harmless
        if found.attached:
            raise RestError(
                ErrorKind.INVALID_REQUEST,
                api.provider,
                "DELETE",
                "volume",
                f"volume {found.name!r} is still attached to an instance after {DETACH_WAIT_S:g} s; "
                "terminate the pool that mounts it first",
            )
        api.delete(found.id)

    def diff(self, _id: str, olds: Any, news: Any) -> dynamic.DiffResult:
        keys = sorted(
            k
            for k in set(olds) | set(news)
            if k not in ("volume_id", "__provider") and olds.get(k) != news.get(k)
        )
        replaces = [k for k in keys if k in REPLACES]
        old, new = _size(olds), _size(news)
        if old is not None and new is not None and new < old:
            raise RestError(
                ErrorKind.INVALID_REQUEST,
                str(news.get("provider", "rest")),
                "PATCH",
                "volume",
                f"volume {news.get('name')!r} cannot shrink from {old} GiB to {new} GiB: "
                f"keep size_gib >= {old}",
            )
        return dynamic.DiffResult(changes=bool(keys), replaces=replaces, delete_before_replace=bool(replaces))


class RestVolume(dynamic.Resource):
    """One shared volume named `name` in `region` (`size_gib` where the cloud sizes it)."""

    volume_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        factory: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(VolumeProvider(factory), name, {**props, "volume_id": None}, opts)
