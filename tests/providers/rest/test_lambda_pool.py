"""A Lambda pool made to match the declaration through faults, against a fake Lambda API on loopback: after
every scenario there is no leaked instance, no duplicate, and the live set equals the declared pool (or is
empty, with one clear error, when no allowed region can host it)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from fake_lambda import FAULTS, FakeLambda, serve

from provisioner.providers.lambda_cloud.api import LambdaApi
from provisioner.providers.rest import ErrorKind, RestError, RetryPolicy
from provisioner.providers.rest.pool import PoolDriver, PoolUnavailableError

pytestmark = pytest.mark.timeout(120)
REGIONS = ("us-east-1", "us-west-1", "europe-central-1")
FAST = {"policy": RetryPolicy(attempts=6, base_s=0.0, cap_s=0.0, deadline_s=20.0), "sleep": lambda s: None}


@pytest.fixture
def fake() -> FakeLambda:
    return FakeLambda(capacity={"us-east-1": 4, "us-west-1": 4, "europe-central-1": 4})


@pytest.fixture
def url(fake: FakeLambda) -> Iterator[str]:
    with serve(fake) as base:
        yield base


def api(url: str, **options: Any) -> LambdaApi:
    return LambdaApi(
        "gpu_8x_h100_sxm5",
        "deploy-key",
        base_url=url,
        key="test-key",
        timeout_s=0.3,
        client_options={**FAST, **options},
    )


def driver(url: str, count: int = 2, regions: tuple[str, ...] = REGIONS, api_: Any = None) -> PoolDriver:
    return PoolDriver(
        api_ or api(url), "llm-gpu", count, regions, interval_s=0.0, wait_s=5.0, sleep=lambda s: None
    )


def check(fake: FakeLambda, count: int) -> None:
    live = fake.live()
    names = [i["name"] for i in live]
    assert len(names) == len(set(names)), f"duplicates: {names}"
    assert sorted(names) == [f"llm-gpu-{i}" for i in range(count)], f"live set {names} != declared {count}"
    assert len({i["region"]["name"] for i in live}) <= 1, "a pool lives in one region"


def test_a_pool_is_launched_once_and_a_second_run_changes_nothing(fake: FakeLambda, url: str) -> None:
    found = driver(url).ensure()
    assert [i.status for i in found] == ["active", "active"] and fake.launches == 2
    driver(url).ensure()
    assert fake.launches == 2
    check(fake, 2)


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_on_launch_leaves_exactly_the_pool(fake: FakeLambda, url: str, fault: str) -> None:
    fake.slow_s = 0.6
    fake.faults = ["", fault]  # the first list is clean, the first launch meets the fault
    driver(url).ensure()
    check(fake, 2)


def test_capacity_fails_over_to_the_next_region_and_releases_the_first(fake: FakeLambda, url: str) -> None:
    fake.capacity = {"us-east-1": 1, "us-west-1": 2}
    found = driver(url, regions=("us-east-1", "us-west-1")).ensure()
    assert {i.region for i in found} == {"us-west-1"}
    check(fake, 2)


def test_when_no_region_can_host_it_nothing_is_left_and_the_error_lists_every_region(
    fake: FakeLambda, url: str
) -> None:
    fake.capacity = {"us-east-1": 1, "us-west-1": 0}
    with pytest.raises(PoolUnavailableError) as caught:
        driver(url, regions=("us-east-1", "us-west-1")).ensure()
    message = str(caught.value)
    assert "us-east-1: Not enough capacity" in message and "us-west-1: Not enough capacity" in message
    assert fake.live() == []


class Crash(Exception):
    """The creating process dies."""


class CrashingApi(LambdaApi):
    def __init__(self, inner: LambdaApi, after: int) -> None:
        super().__init__(
            inner.instance_type,
            inner.ssh_key,
            base_url=inner.base_url,
            key=inner.key,
            timeout_s=inner.timeout_s,
            client_options=inner.client_options,
        )
        self.after = after

    def launch(self, region: str, name: str) -> None:
        super().launch(region, name)
        self.after -= 1
        if self.after == 0:
            raise Crash


def test_a_process_killed_mid_create_and_run_again_converges(fake: FakeLambda, url: str) -> None:
    with pytest.raises(Crash):
        driver(url, count=3, api_=CrashingApi(api(url), after=2)).ensure()
    assert len(fake.live()) == 2
    driver(url, count=3).ensure()
    check(fake, 3)
    assert fake.launches == 3, "the two launched before the crash were kept, not relaunched"


def test_a_smaller_pool_terminates_the_extra_members(fake: FakeLambda, url: str) -> None:
    driver(url, count=3).ensure()
    driver(url, count=1).ensure()
    check(fake, 1)


def test_authentication_errors_are_not_retried_and_say_so(fake: FakeLambda, url: str) -> None:
    bad = LambdaApi("gpu_8x_h100_sxm5", "deploy-key", base_url=url, key="wrong", client_options=FAST)
    with pytest.raises(RestError) as caught:
        driver(url, api_=bad).ensure()
    assert caught.value.kind is ErrorKind.AUTHENTICATION and "API key was invalid" in str(caught.value)


@pytest.mark.faults
def test_soak_random_fault_schedules_leak_and_duplicate_nothing() -> None:
    rng = random.Random(20261203)
    leaks = duplicates = failures = 0
    schedules = 200
    for _ in range(schedules):
        fake = FakeLambda(capacity={r: rng.randint(0, 3) for r in REGIONS}, slow_s=0.2)
        fake.faults = [
            rng.choice(("", "", "", "429", "500-before", "500-after", "reset-after", "slow-after"))
            for _ in range(rng.randint(0, 8))
        ]
        count = rng.randint(1, 3)
        with serve(fake) as url:
            pool = PoolDriver(
                api(
                    url,
                ),
                "llm-gpu",
                count,
                REGIONS,
                interval_s=0.0,
                wait_s=5.0,
                sleep=lambda s: None,
            )
            pool.api.timeout_s = 0.1  # type: ignore[attr-defined]
            try:
                pool.ensure()
                expected = count
            except PoolUnavailableError:
                expected = 0
                failures += 1
            except RestError:
                expected = -1  # gave up on transient faults: release, as the dynamic provider does
                pool.release()
            live = fake.live()
            names = [i["name"] for i in live]
            duplicates += len(names) - len(set(names))
            want = count if expected == count else 0
            leaks += max(0, len(set(names)) - want)
            if expected == count:
                assert sorted(set(names)) == [f"llm-gpu-{i}" for i in range(count)]
    print(f"\nsoak: {schedules} schedules, {failures} unplaceable, leaks={leaks}, duplicates={duplicates}")
    assert (leaks, duplicates) == (0, 0)
