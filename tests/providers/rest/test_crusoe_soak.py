"""The soak: random fault schedules against the fake Crusoe API (random stock per location, InfiniBand
networks in some locations only, out of stock as a failed operation or an HTTP error, 429s, 500s before and
after acting, resets, slow answers on any request), seeded. Whatever happens, nothing leaks: no VM beyond
the declared pool, no duplicate name, no InfiniBand partition beyond the pool's one."""

from __future__ import annotations

import random
import time

import pytest
from fake_crusoe import KEYS, PROJECT, FakeCrusoe, ReusableTransport, serve

from provisioner.providers.crusoe.api import CrusoeApi
from provisioner.providers.rest import RestError, RetryPolicy
from provisioner.providers.rest.pool import PoolDriver, PoolUnavailableError

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]
TYPE = "h100-80gb-sxm-ib.8x"
LOCATIONS = ("us-east1-a", "us-southcentral1-a", "eu-iceland1-a")
POOL = "llm-gpu"
SCHEDULES = 200
CHOICES = ("", "", "", "429", "500-before", "500-after", "reset-after", "slow-after")


def pool(url: str, count: int, ib: bool) -> PoolDriver:
    api = CrusoeApi(
        PROJECT,
        base_url=url,
        keys=KEYS,
        timeout_s=0.1,
        client_options={
            "policy": RetryPolicy(attempts=6, base_s=0.0, cap_s=0.0, deadline_s=20.0),
            "sleep": lambda s: None,
            "transport": ReusableTransport(),
        },
        wait_s=5.0,
        interval_s=0.0,
        sleep=lambda s: None,
        pool=POOL,
        instance_type=TYPE,
        ssh_key="ssh-ed25519 AAAA deploy",
        ib_partition=ib,
    )
    return PoolDriver(api, POOL, count, LOCATIONS, interval_s=0.0, wait_s=5.0, sleep=lambda s: None)


def release(driver: PoolDriver) -> None:
    """What the dynamic provider does after a failed create; the faults run out, so a few tries do."""
    for _ in range(3):
        try:
            driver.release()
            return
        except RestError:
            continue
    driver.release()


def test_soak_random_fault_schedules_leak_and_duplicate_nothing() -> None:
    rng = random.Random(20261203)
    leaks = duplicates = partition_leaks = unplaceable = gave_up = faults_met = 0
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
        planned = sum(1 for f in fake.faults if f)
        count = rng.randint(1, 3)
        with serve(fake) as url:
            driver = pool(url, count, ib)
            try:
                driver.ensure()
                expected = count
            except PoolUnavailableError:
                expected = 0
                unplaceable += 1
                release(driver)  # the dynamic provider's create releases on any failure
            except RestError:
                expected = 0  # gave up on transient faults
                gave_up += 1
                release(driver)
            faults_met += planned - sum(1 for f in fake.faults if f)
            names = [i["name"] for i in fake.live()]
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
        f"{unplaceable} unplaceable, {gave_up} gave up; "
        f"leaks={leaks}, duplicates={duplicates}, partition leaks={partition_leaks}"
    )
    assert (leaks, duplicates, partition_leaks) == (0, 0, 0)
