"""What the real Lambda API does that a naive driver gets wrong: its list lags behind a launch (a driver that
relaunches what it does not see yet launches twice, billed), its launch rate is limited (one per 12 s), and
one account holds many stacks' instances (a driver that goes by name alone adopts or terminates another
stack's). Against the fake Lambda API on loopback."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fake_lambda import FakeLambda, serve

from provisioner.providers.lambda_cloud.api import LAUNCH_GAP_S, OWNER_TAG, LambdaApi
from provisioner.providers.rest import RestError, RetryPolicy
from provisioner.providers.rest.dynamic import PoolProvider
from provisioner.providers.rest.pool import Instance, LaunchPacer, PoolDriver, shared_pacer

pytestmark = pytest.mark.timeout(120)
REGIONS = ("us-east-1", "us-west-1")
FAST = {"policy": RetryPolicy(attempts=6, base_s=0.0, cap_s=0.0, deadline_s=20.0), "sleep": lambda s: None}
OURS = "acme/gpu-clusters/prod"


@pytest.fixture
def fake() -> FakeLambda:
    return FakeLambda(capacity={"us-east-1": 6, "us-west-1": 6})


@pytest.fixture
def url(fake: FakeLambda) -> Iterator[str]:
    with serve(fake) as base:
        yield base


def api(url: str, owner: str = OURS, kind: type[LambdaApi] = LambdaApi) -> LambdaApi:
    return kind(
        "gpu_8x_h100_sxm5",
        "deploy-key",
        base_url=url,
        key="test-key",
        timeout_s=0.5,
        client_options=FAST,
        owner=owner,
        launch_gap_s=0.0,
    )


def driver(url: str, count: int, settle_s: float = 2.0, **options: Any) -> PoolDriver:
    return PoolDriver(
        options.pop("api_", None) or api(url),
        "llm-gpu",
        count,
        REGIONS,
        interval_s=0.01,
        wait_s=5.0,
        settle_s=settle_s,
        **options,
    )


def live_names(fake: FakeLambda) -> list[str]:
    return sorted(i["name"] for i in fake.live())


# --- a list that lags behind the launch ----------------------------------------------------------------


def test_a_launch_the_list_does_not_show_yet_is_waited_for_not_launched_again(
    fake: FakeLambda, url: str
) -> None:
    fake.list_lag = 3
    found = driver(url, 3).ensure()
    assert [i.name for i in found] == ["llm-gpu-0", "llm-gpu-1", "llm-gpu-2"]
    assert fake.launches == 3, "each member was launched once"
    assert live_names(fake) == ["llm-gpu-0", "llm-gpu-1", "llm-gpu-2"]


def test_an_uncertain_launch_that_lags_is_found_not_duplicated(fake: FakeLambda, url: str) -> None:
    fake.list_lag = 2
    fake.faults = ["", "", "500-after"]  # two clean lists; the first launch acts, then answers 500
    driver(url, 2).ensure()
    assert fake.launches == 2 and live_names(fake) == ["llm-gpu-0", "llm-gpu-1"]


def test_without_the_wait_a_lagging_list_makes_duplicates(fake: FakeLambda, url: str) -> None:
    """The negative: what the wait prevents (the extras are terminated, but were launched and billed)."""
    fake.list_lag = 3
    fake.capacity = {"us-east-1": 100}
    with contextlib.suppress(RestError):  # it may not settle at all
        driver(url, 2, settle_s=0.0).ensure()
    assert fake.launches > 2


def test_a_release_waits_for_a_launch_the_list_shows_late(fake: FakeLambda, url: str) -> None:
    """A failover right after a launch: the release must not miss the member the list does not show yet."""
    fake.list_lag = 2
    fake.capacity = {"us-east-1": 1, "us-west-1": 0}
    with pytest.raises(RestError):
        driver(url, 2).ensure()
    assert fake.launches == 1 and fake.live() == [], "the lagging member was found and terminated"


# --- the launch rate limit ------------------------------------------------------------------------------


def test_paced_launches_never_meet_the_rate_limit(fake: FakeLambda, url: str) -> None:
    fake.launch_gap_s = 0.2
    driver(url, 3, pacer=LaunchPacer(0.25)).ensure()
    assert fake.rate_limited == 0 and fake.launches == 3
    gaps = [b - a for a, b in zip(fake.launch_times, fake.launch_times[1:], strict=False)]
    assert all(gap >= 0.2 for gap in gaps), gaps


def test_unpaced_launches_meet_it(fake: FakeLambda, url: str) -> None:
    """The negative: the fake's limit is real, so the test above can fail."""
    fake.launch_gap_s = 0.5
    with contextlib.suppress(RestError):  # the retries may run out on 429s: either way the limit was met
        driver(url, 3).ensure()
    assert fake.rate_limited > 0


def test_one_pacer_spaces_launches_across_concurrent_pools() -> None:
    pacer = LaunchPacer(0.05)
    stamps: list[float] = []
    lock = threading.Lock()

    def launcher() -> None:
        for _ in range(4):
            pacer.wait()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=launcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    stamps.sort()
    assert len(stamps) == 12
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(stamps))


def test_the_dynamic_provider_paces_lambda_at_its_published_rate(url: str) -> None:
    props = {"pool": "p", "count": 1, "regions": ["us-east-1"], "instance_type": "t", "ssh_key": "k"}
    driver_ = PoolProvider("provisioner.providers.lambda_cloud.api:pool_api")._driver(
        {**props, "base_url": url}
    )
    assert driver_.pacer is not None and driver_.pacer.gap_s == LAUNCH_GAP_S == 12.0
    assert driver_.settle_s == 120.0
    same = PoolProvider("provisioner.providers.lambda_cloud.api:pool_api")._driver({**props, "base_url": url})
    assert same.pacer is driver_.pacer, "every pool of the process shares one pacer"


# --- ownership ------------------------------------------------------------------------------------------


def seed(fake: FakeLambda, name: str, owner: str | None) -> str:
    """An instance some other party launched in the same account."""
    iid = f"other-{len(fake.instances)}"
    tags = [] if owner is None else [{"key": OWNER_TAG, "value": owner}]
    fake.instances[iid] = {
        "id": iid,
        "name": name,
        "status": "active",
        "region": {"name": "us-east-1", "description": "us-east-1"},
        "instance_type": {"name": "gpu_8x_h100_sxm5"},
        "ip": "203.0.113.9",
        "tags": tags,
    }
    return iid


@pytest.mark.parametrize("owner", ["acme/gpu-clusters/dev", None])
def test_another_stacks_instance_of_the_same_name_is_neither_adopted_nor_terminated(
    fake: FakeLambda, url: str, owner: str | None
) -> None:
    foreign = seed(fake, "llm-gpu-0", owner)
    found = driver(url, 2).ensure()
    assert foreign not in {i.id for i in found}
    assert fake.launches == 2, "ours were launched beside it"
    assert fake.instances[foreign]["status"] == "active"
    driver(url, 2).release()
    assert [i["id"] for i in fake.live()] == [foreign], "the release left the other stack's instance alone"


def test_every_launch_carries_the_owner_tag_and_our_members_are_adopted(fake: FakeLambda, url: str) -> None:
    driver(url, 2).ensure()
    for body in fake.launch_bodies:
        assert {"key": OWNER_TAG, "value": OURS} in body["tags"]
    found = driver(url, 2).ensure()
    assert fake.launches == 2 and len(found) == 2, "a second run adopts what it launched"
    assert [i.private_address for i in found] == ["10.0.2.1", "10.0.2.2"]


class Untagged(LambdaApi):
    """A list that does not echo tags (the real one's behaviour is known only from the OpenAPI example)."""

    def list(self) -> list[Instance]:
        return [dataclasses.replace(i, owner="") for i in super().list()]


def untagged(url: str) -> LambdaApi:
    return api(url, kind=Untagged)


def test_members_whose_ids_the_launch_returned_are_ours_whatever_the_list_says_of_tags(
    fake: FakeLambda, url: str
) -> None:
    found = driver(url, 2, api_=untagged(url)).ensure()
    assert len(found) == 2 and fake.launches == 2, "each launched once, adopted by id"


def test_an_uncertain_launch_the_list_shows_untagged_stops_instead_of_launching_again(
    fake: FakeLambda, url: str
) -> None:
    fake.faults = ["", "", "500-after"]  # two clean lists; it launched, the answer (with the id) is lost
    with pytest.raises(RestError, match="without this stack's owner tag"):
        driver(url, 2, api_=untagged(url)).ensure()
    assert fake.launches == 1, "nothing launched again over an instance that may be ours"


def test_a_release_terminates_by_id_what_a_lagging_list_never_showed(fake: FakeLambda, url: str) -> None:
    fake.list_lag = 10_000  # the list never catches up within the wait
    fake.capacity = {"us-east-1": 1, "us-west-1": 0}
    with pytest.raises(RestError):
        driver(url, 2, settle_s=0.05).ensure()
    assert fake.launches == 1 and fake.live() == [], "the member launched in us-east-1 was terminated by id"


def test_the_shared_pacer_keeps_the_longest_gap_asked_for() -> None:
    first = shared_pacer("pacer-test", 1.0)
    again = shared_pacer("pacer-test", 12.0)
    assert first is again and again is not None and again.gap_s == 12.0
    assert shared_pacer("pacer-test", 0.5) is again and again.gap_s == 12.0
