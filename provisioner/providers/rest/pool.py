"""A pool of N instances on a cloud reached through its REST API, made to match the declaration whatever
happened before: launches that timed out, a process killed half-way, capacity in some regions only.

Idempotence comes from names: member i of pool P is always `P-i`, so a new run lists the account's instances,
keeps the members it finds, terminates duplicates and extras, and launches only the missing names. A pool
lives in one region (its nodes talk to each other): when a region runs out of capacity, what was launched
there is terminated and the next allowed region is tried; when none can host the pool, every member is
terminated and one error lists each region tried and why. Nothing is left running that the caller does not
own."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from provisioner.providers.rest.client import wait_for
from provisioner.providers.rest.errors import ErrorKind, RestError

GONE = frozenset({"terminated", "terminating", "preempted"})
"""States of an instance that no longer counts as a member (Lambda's `preempted` included: OpenAPI 1.8.3)."""


@dataclass(frozen=True, slots=True)
class Instance:
    id: str
    name: str
    region: str
    status: str
    address: str | None = None
    """Its public IPv4 address, where the API reports one (what users SSH to)."""


class PoolApi(Protocol):
    provider: str

    def list(self) -> list[Instance]: ...

    def launch(self, region: str, name: str) -> None:
        """One instance named `name`; raises RestError (possibly ambiguous)."""

    def terminate(self, ids: Sequence[str]) -> None: ...


class ReleasesRegionResources(Protocol):
    """A PoolApi that makes per-pool resources besides instances (Crusoe's InfiniBand partition): they are
    removed once no member is live, after a release and before a failover to the next region."""

    def after_release(self) -> None: ...


class PoolUnavailableError(RestError):
    """No allowed region could host the whole pool; nothing of it is left running."""


def member_names(pool: str, count: int) -> list[str]:
    return [f"{pool}-{i}" for i in range(count)]


def members(api: PoolApi, pool: str) -> list[Instance]:
    """The pool's live instances (named `pool-<i>`), in a stable order."""
    prefix = f"{pool}-"
    found = [
        i
        for i in api.list()
        if i.status not in GONE and i.name.startswith(prefix) and i.name[len(prefix) :].isdigit()
    ]
    return sorted(found, key=lambda i: (int(i.name[len(prefix) :]), i.id))


@dataclass
class PoolDriver:
    api: PoolApi
    pool: str
    count: int
    regions: Sequence[str]
    ready: str = "active"
    wait_s: float = 1200.0
    interval_s: float = 10.0
    max_reconciles: int = 5
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def ensure(self, in_place: bool = False) -> list[Instance]:
        """The pool's `count` members, running, in one allowed region. `in_place` (a resize of a deployed
        pool): grow or shrink where the members run; no capacity there is an error for the caller, never a
        reason to release or move the members that are serving. Without it (a create, or a create run again
        after a crash), what a region cannot host is released and the next region is tried."""
        current = members(self.api, self.pool)
        region = self._settled_region(current)
        if in_place and current and region is not None and region in self.regions:
            return self._fill(region)
        tried: list[str] = []
        for candidate in self._order(region):
            try:
                return self._fill(candidate)
            except RestError as exc:
                if exc.kind is not ErrorKind.CAPACITY:
                    raise
                tried.append(f"{candidate}: {exc.provider_message}")
                self.release()
        raise PoolUnavailableError(
            ErrorKind.CAPACITY,
            self.api.provider,
            "POST",
            "launch",
            f"no allowed region can host {self.count} instance(s) of pool {self.pool!r}; tried "
            + "; ".join(tried),
        )

    def release(self) -> None:
        """Terminate every member and wait until none is live."""
        current = members(self.api, self.pool)
        if current:
            self.api.terminate([i.id for i in current])
        self._wait(lambda found: not found, f"pool {self.pool} terminated")
        after_release = getattr(self.api, "after_release", None)
        if callable(after_release):
            after_release()

    def _settled_region(self, current: list[Instance]) -> str | None:
        regions = {i.region for i in current}
        return regions.pop() if len(regions) == 1 else None

    def _order(self, region: str | None) -> list[str]:
        """The region where members already run first (no needless move), then the allowed order."""
        ordered = list(self.regions)
        if region in ordered:
            ordered.remove(region)
            ordered.insert(0, region)
        return ordered

    def _fill(self, region: str) -> list[Instance]:
        wanted = member_names(self.pool, self.count)
        for _ in range(self.max_reconciles):
            current = members(self.api, self.pool)
            keep: dict[str, Instance] = {}
            extra: list[str] = []
            for instance in current:
                if instance.name in wanted and instance.region == region and instance.name not in keep:
                    keep[instance.name] = instance
                else:
                    extra.append(instance.id)  # a duplicate, a member beyond count, or in another region
            if extra:
                self.api.terminate(extra)
            missing = [name for name in wanted if name not in keep]
            try:
                for name in missing:
                    self.api.launch(region, name)
            except RestError as exc:
                if exc.ambiguous:
                    continue  # it may have launched: list again before anything else
                raise
            if not missing and not extra:
                return self._wait_ready(wanted)
        raise RestError(
            ErrorKind.TRANSIENT,
            self.api.provider,
            "POST",
            "launch",
            f"pool {self.pool!r} did not settle after {self.max_reconciles} attempts",
        )

    def _wait_ready(self, wanted: list[str]) -> list[Instance]:
        def done(found: list[Instance]) -> bool:
            return len(found) == len(wanted) and all(i.status == self.ready for i in found)

        result: list[Instance] = self._wait(done, f"pool {self.pool} {self.ready}")
        return result

    def _wait(self, done: Callable[[list[Instance]], bool], what: str) -> list[Instance]:
        def fetch() -> list[Instance]:
            return members(self.api, self.pool)

        found: list[Instance] = wait_for(
            fetch, done, what, self.wait_s, self.interval_s, self.sleep, self.clock
        )
        return found
