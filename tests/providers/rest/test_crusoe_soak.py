"""The soak: random fault schedules against the fake Crusoe API (random stock per location, InfiniBand
networks in some locations only, out of stock as a failed operation or an HTTP error, 429s, 500s before and
after acting, resets, slow answers on any request), seeded, each one create through the dynamic provider
(`PoolProvider.create`, so a failed create is cleaned up by the production path,
`release_or_say_what_is_left`, with its retries). Whatever happens, nothing leaks: no VM beyond the declared
pool, no duplicate name, no InfiniBand partition beyond the pool's one. A create whose cleanup failed too
(its error names the members left running) is counted and reported, and what it left counts as leaked.

Faults come in two bursts: early ones, met by the first requests of the create, and late ones, armed once the
fake has made the create's first VMs: without these a create failed only before it launched anything (or
after its own failover had already released what it launched), and the cleanup had nothing to do. The soak
counts the cleanups that found members running, and requires some."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from fake_crusoe import PROJECT, FakeCrusoe, serve

from provisioner.errors import ProvisionerError
from provisioner.providers.rest import RestError, dynamic
from provisioner.providers.rest.dynamic import PoolProvider
from provisioner.providers.rest.pool import PoolDriver, PoolUnavailableError

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]
TYPE = "h100-80gb-sxm-ib.8x"
LOCATIONS = ("us-east1-a", "us-southcentral1-a", "eu-iceland1-a")
POOL = "llm-gpu"
SCHEDULES = 200
CHOICES = ("", "", "", "429", "500-before", "500-after", "reset-after", "slow-after")
LATE = ("429", "500-before", "500-after", "reset-after")
LATE_ROUTES = (("GET", "instances"), ("DELETE", "instance"))
"""What late faults hit: the VM list (every reconcile, wait and release lists) and the VM delete."""
LATE_BURST = (5, 9)
"""A late burst's length: from a few retried faults to more than one request's six tries (the create fails
with members running), far fewer than the cleanup's tries in all (it can succeed)."""
FACTORY = "fast_factories:crusoe_pool_api"
"""The production factory's CrusoeApi, with the fake's keys and no backoff (tests/providers/rest)."""
CLEANUP_FAILED = "terminating what it launched failed too"
"""What release_or_say_what_is_left's error says when members are left running."""


def props(url: str, count: int, ib: bool) -> dict[str, Any]:
    return {
        "provider": "crusoe",
        "pool": POOL,
        "count": count,
        "regions": list(LOCATIONS),
        "instance_type": TYPE,
        "ssh_key": "ssh-ed25519 AAAA deploy",
        "project_id": PROJECT,
        "ib_partition": ib,
        "base_url": url,
        "timeout_s": 0.1,
        "wait_s": 5.0,
        "interval_s": 0.0,
        "settle_s": 0.1,
        "launch_gap_s": 0.0,
    }


def arm_late(fake: FakeCrusoe, faults: list[str], after: int) -> None:
    """`faults` for the VM lists and deletes that follow the fake's `after`-th VM, once its early faults are
    spent (a wrapper: the fake is not changed)."""
    early = fake.fault

    def fault(method: str, route: str) -> str:
        found = early(method, route)
        if found or fake.launches < after or (method, route) not in LATE_ROUTES:
            return found
        with fake.lock:
            return faults.pop(0) if faults else ""

    fake.fault = fault  # type: ignore[method-assign]


def test_soak_random_fault_schedules_leak_and_duplicate_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PoolProvider, "cleanup_sleep", staticmethod(lambda s: None))
    rng = random.Random(20261203)
    late_rng = random.Random(20261204)  # its own, so the early schedules stay what they were
    leaks = duplicates = partition_leaks = unplaceable = gave_up = faults_met = 0
    cleanup_failed = members_left = 0
    cleanups_with_members = 0
    fake: FakeCrusoe | None = None
    release = dynamic.release_or_say_what_is_left

    def watched(driver: PoolDriver, failure: BaseException, sleep: Callable[[float], None]) -> None:
        nonlocal cleanups_with_members
        assert fake is not None
        cleanups_with_members += bool(fake.live())  # read from the fake: no request, no fault consumed
        release(driver, failure, sleep)

    monkeypatch.setattr(dynamic, "release_or_say_what_is_left", watched)
    started = time.monotonic()
    for _ in range(SCHEDULES):
        ib = rng.random() < 0.7
        fake = FakeCrusoe(
            capacity={(loc, TYPE): rng.randint(0, 3) for loc in LOCATIONS},
            ib_locations=tuple(loc for loc in LOCATIONS if rng.random() < 0.8),
            out_of_stock_as=rng.choice(("operation", "http")),
            slow_s=0.2,
            op_ticks=rng.randint(1, 3),
        )
        fake.faults = [rng.choice(CHOICES) for _ in range(rng.randint(0, 10))]
        count = rng.randint(1, 3)
        late: list[str] = []
        if late_rng.random() < 0.2:
            late = [late_rng.choice(LATE) for _ in range(late_rng.randint(*LATE_BURST))]
            arm_late(fake, late, after=late_rng.randint(1, count))
        planned = sum(1 for f in fake.faults if f) + len(late)
        with serve(fake) as url:
            left_error: str | None = None
            try:
                PoolProvider(FACTORY).create(props(url, count, ib))
                expected = count
            except PoolUnavailableError:  # no location could host it; the cleanup succeeded
                expected = 0
                unplaceable += 1
            except RestError:  # gave up on transient faults; the cleanup succeeded
                expected = 0
                gave_up += 1
            except ProvisionerError as exc:
                if CLEANUP_FAILED not in str(exc):
                    raise
                expected = 0  # the cleanup failed too: what it left is counted as leaked below
                cleanup_failed += 1
                left_error = str(exc)
            faults_met += planned - sum(1 for f in fake.faults if f) - len(late)
            names = [i["name"] for i in fake.live()]
            if left_error is not None:
                members_left += len(names)
                if "(the cloud could not be listed)" not in left_error:
                    unnamed = [n for n in names if f"{n} (" not in left_error]
                    assert not unnamed, f"members left running but not named in the error: {unnamed}"
            duplicates += len(names) - len(set(names))
            leaks += max(0, len(set(names)) - expected)
            if expected:
                assert sorted(set(names)) == [f"{POOL}-{i}" for i in range(count)]
            partitions = list(fake.partitions.values())
            partition_leaks += max(0, len(partitions) - (1 if ib and expected else 0))
            if ib and expected:
                assert len(partitions) == 1
    elapsed = time.monotonic() - started
    print(
        f"\nsoak: {SCHEDULES} schedules in {elapsed:.1f} s, {faults_met} faults met, "
        f"{unplaceable} unplaceable, {gave_up} gave up, {cleanups_with_members} cleanups found members "
        f"running, {cleanup_failed} cleanup failed ({members_left} members left); "
        f"leaks={leaks}, duplicates={duplicates}, partition leaks={partition_leaks}"
    )
    assert (leaks, duplicates, partition_leaks) == (0, 0, 0)
    assert cleanups_with_members > 0, "no failed create left members for the cleanup: the soak tests nothing"
