"""A pool of N instances on a cloud reached through its REST API, made to match the declaration whatever
happened before: launches that timed out, a process killed half-way, capacity in some regions only.

Idempotence comes from names: member i of pool P is always `P-i`, so a new run lists the account's instances,
keeps the members it finds, terminates duplicates and extras, and launches only the missing names. P holds a
digest of the Pulumi stack that owns the pool, and where the cloud reports tags (Lambda) an instance counts
as a member only if it carries that stack's owner tag: nothing another stack launched is adopted or
terminated. A launch the list does not show yet (an uncertain answer, or a list that lags behind the launch)
is waited for, a bounded time, before its name is launched again; launches are paced where the cloud limits
their rate. A pool
lives in one region (its nodes talk to each other): when a region runs out of capacity, what was launched
there is terminated and the next allowed region is tried; when none can host the pool, every member is
terminated and one error lists each region tried and why. Nothing is left running that the caller does not
own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
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
    private_address: str | None = None
    """Its private IPv4 address, where the API reports one (what the members reach each other on)."""
    owner: str | None = None
    """The owner tag the cloud reports ('' when it has none); None on a cloud without tags (by name only)."""


class PoolApi(Protocol):
    provider: str

    def list(self) -> list[Instance]: ...

    def launch(self, region: str, name: str) -> Sequence[str] | None:
        """One instance named `name`: the ids the cloud says it launched (None when it does not say);
        raises RestError (possibly ambiguous)."""

    def terminate(self, ids: Sequence[str]) -> None: ...


class ReleasesRegionResources(Protocol):
    """A PoolApi that makes per-pool resources besides instances (Crusoe's InfiniBand partition): they are
    removed once no member is live, after a release and before a failover to the next region."""

    def after_release(self) -> None: ...


class PoolUnavailableError(RestError):
    """No allowed region could host the whole pool; nothing of it is left running."""


def member_names(pool: str, count: int) -> list[str]:
    return [f"{pool}-{i}" for i in range(count)]


def owned(api: PoolApi, instance: Instance, launched: Collection[str] = ()) -> bool:
    """Not another stack's: one whose id this process's launches returned, or whose owner tag is the api's
    `owner` (the stack it acts for; '' or absent: no check), or on a cloud without tags (the name holds the
    stack's digest)."""
    expected = getattr(api, "owner", "")
    return not expected or instance.owner is None or instance.owner == expected or instance.id in launched


def named(api: PoolApi, pool: str) -> list[Instance]:
    """Every live instance named like a member of the pool (`pool-<i>`), whoever owns it, in stable order."""
    prefix = f"{pool}-"
    found = [
        i
        for i in api.list()
        if i.status not in GONE and i.name.startswith(prefix) and i.name[len(prefix) :].isdigit()
    ]
    return sorted(found, key=lambda i: (int(i.name[len(prefix) :]), i.id))


def members(api: PoolApi, pool: str, launched: Collection[str] = ()) -> list[Instance]:
    """The pool's live instances (named `pool-<i>`, owned by this stack), in a stable order."""
    return [i for i in named(api, pool) if owned(api, i, launched)]


@dataclass
class LaunchPacer:
    """At least `gap_s` between two launches (Lambda: one per 12 s), across every pool that shares it: the
    dynamic provider creates pools concurrently, in threads of one process."""

    gap_s: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _last: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait(self) -> None:
        with self._lock:  # held while sleeping: launchers queue behind each other
            if self._last is not None:
                delay = self._last + self.gap_s - self.clock()
                if delay > 0:
                    self.sleep(delay)
            self._last = self.clock()


_SHARED_PACERS: dict[str, LaunchPacer] = {}
_SHARED_LOCK = threading.Lock()


def shared_pacer(provider: str, gap_s: float) -> LaunchPacer | None:
    """The process's one pacer for `provider` (None when it needs none); asked for a longer gap, it keeps
    the longest, so no pool's launches break another's limit."""
    if gap_s <= 0:
        return None
    with _SHARED_LOCK:
        pacer = _SHARED_PACERS.get(provider)
        if pacer is None:
            pacer = _SHARED_PACERS[provider] = LaunchPacer(gap_s)
        pacer.gap_s = max(pacer.gap_s, gap_s)
        return pacer


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
    settle_s: float = 120.0
    """How long a launch we sent may take to show in the list before its name is launched again."""
    pacer: LaunchPacer | None = None
    _pending: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    """Names launched (or perhaps launched) that the list has not shown yet -> until when to wait for them."""
    launched: set[str] = field(default_factory=set, init=False, repr=False)
    """Ids the cloud said this driver launched: ours whatever the list reports of their tags."""
    _known: set[str] = field(default_factory=set, init=False, repr=False)
    """Ids of every instance named like a member that the last list showed, ours or not."""
    _known_at_launch: dict[str, set[str]] = field(default_factory=dict, init=False, repr=False)
    """Name launched -> the ids `_known` held then: a foreign one seen later is new since our launch."""
    touched: bool = field(default=False, init=False, repr=False)
    """A launch was sent, or members were found: a failed create has something to release."""

    def ensure(self, in_place: bool = False) -> list[Instance]:
        """The pool's `count` members, running, in one allowed region. `in_place` (a resize of a deployed
        pool): grow or shrink where the members run; no capacity there is an error for the caller, never a
        reason to release or move the members that are serving. Without it (a create, or a create run again
        after a crash), what a region cannot host is released and the next region is tried."""
        current = members(self.api, self.pool, self.launched)
        self.touched = self.touched or bool(current)
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
        """Terminate every member, those a lagging list shows late included, and wait until none is live."""

        found = self._listed()
        unlisted = self.launched - {i.id for i in found}
        if unlisted:  # launched here, the list does not show them yet: by id, a lagging list or not
            try:
                self.api.terminate(sorted(unlisted))
            except RestError as exc:
                if exc.status != 404:  # 404: gone already
                    raise

        def terminate_what_is_listed() -> list[Instance]:
            found = self._listed()
            if found:  # again for one listed before: terminating twice is harmless
                self.api.terminate([i.id for i in found])
            return found

        wait_for(
            terminate_what_is_listed,
            lambda found: not found,
            f"pool {self.pool} terminated",
            self.wait_s,
            self.interval_s,
            self.sleep,
            self.clock,
        )
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
            current = self._listed()
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
                    self._launch(region, name)
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

    def _launch(self, region: str, name: str) -> None:
        if self.pacer is not None:
            self.pacer.wait()
        self._pending[name] = self.clock() + self.settle_s  # before the call: an uncertain answer keeps it
        self.touched = True
        self._known_at_launch[name] = set(self._known)
        try:
            ids = self.api.launch(region, name)
        except RestError as exc:
            if not exc.ambiguous:
                del self._pending[name]  # refused: nothing was launched
            raise
        self.launched.update(ids or ())

    def _listed(self) -> list[Instance]:
        """The members, once the list shows every launch we sent, or the wait for the ones it does not show
        has run out (those were not launched, or the list lags more than `settle_s`: a duplicate launched then
        is terminated by the next reconcile)."""
        while True:
            everyone = named(self.api, self.pool)
            current = [i for i in everyone if owned(self.api, i, self.launched)]
            self.touched = self.touched or bool(current)
            self._known = {i.id for i in everyone}
            foreign = sorted(
                f"{i.name} ({i.id})"
                for i in everyone
                if i not in current
                and i.name in self._pending
                and i.id not in self._known_at_launch.get(i.name, set())
            )
            if foreign:
                raise RestError(
                    ErrorKind.INVALID_REQUEST,
                    self.api.provider,
                    "GET",
                    "list",
                    f"after launching them, the list shows {', '.join(foreign)} without this stack's owner "
                    f"tag ({getattr(self.api, 'owner', '')!r}): they may be ours with tags the cloud does "
                    "not report, or another party's; nothing more is launched. Check them in the console",
                )
            shown = {i.name for i in current}
            now = self.clock()
            self._pending = {n: t for n, t in self._pending.items() if n not in shown and now < t}
            if not self._pending:
                return current
            self.sleep(self.interval_s)

    def _wait_ready(self, wanted: list[str]) -> list[Instance]:
        def done(found: list[Instance]) -> bool:
            return len(found) == len(wanted) and all(i.status == self.ready for i in found)

        result: list[Instance] = self._wait(done, f"pool {self.pool} {self.ready}")
        return result

    def _wait(self, done: Callable[[list[Instance]], bool], what: str) -> list[Instance]:
        def fetch() -> list[Instance]:
            return members(self.api, self.pool, self.launched)

        found: list[Instance] = wait_for(
            fetch, done, what, self.wait_s, self.interval_s, self.sleep, self.clock
        )
        return found
