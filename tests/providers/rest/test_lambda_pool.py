"""A Lambda pool made to match the declaration through faults, against a fake Lambda API on loopback: after
every scenario there is no leaked instance, no duplicate, and the live set equals the declared pool (or is
empty, with one clear error, when no allowed region can host it)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from fake_lambda import FAULTS, FakeLambda, serve

from provisioner.providers.lambda_cloud.api import USER_DATA_LIMIT_BYTES, LambdaApi, pool_api
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
        api_ or api(url),
        "llm-gpu",
        count,
        regions,
        interval_s=0.0,
        wait_s=5.0,
        settle_s=0.3,
        sleep=lambda s: None,
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
    fake.faults = ["", "", fault]  # the two lists before it are clean: the first launch meets the fault
    driver(url).ensure()
    check(fake, 2)
    # the fault was met by the first launch: one that did not act is sent again, one that acted never is
    assert fake.faults == [] and len(fake.launch_bodies) == (3 if fault in ("429", "500-before") else 2)


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


BOOTSTRAP = "#cloud-config\nruncmd:\n  - [sh, -c, 'echo bootstrapped > /var/tmp/ok']\n"
TAGS = {"cluster": "llm", "role": "gpu-worker", "provisioner:pool": "llm-gpu"}


def bootstrapped(url: str, **fields: Any) -> LambdaApi:
    base = api(url)
    return LambdaApi(
        base.instance_type,
        base.ssh_key,
        base_url=base.base_url,
        key=base.key,
        timeout_s=base.timeout_s,
        client_options=base.client_options,
        **fields,
    )


def test_user_data_and_tags_reach_every_launch_once(fake: FakeLambda, url: str) -> None:
    driver(url, api_=bootstrapped(url, user_data=BOOTSTRAP, tags=TAGS)).ensure()
    check(fake, 2)
    assert {fake.user_data[i["id"]] for i in fake.live()} == {BOOTSTRAP}
    assert len(fake.launch_bodies) == 2 and fake.launches == 2, "one launch, one bootstrap, per instance"
    for body in fake.launch_bodies:
        assert body["user_data"] == BOOTSTRAP, "plain text, as given (not base64)"
        assert body["tags"] == [
            {"key": "cluster", "value": "llm"},
            {"key": "provisioner:pool", "value": "llm-gpu"},
            {"key": "role", "value": "gpu-worker"},
        ]
    assert all(i["tags"] == fake.launch_bodies[0]["tags"] for i in fake.live())


@pytest.mark.parametrize("fault", FAULTS)
def test_under_each_fault_each_member_is_launched_once_with_its_user_data(
    fake: FakeLambda, url: str, fault: str
) -> None:
    fake.slow_s = 0.6
    fake.faults = ["", "", fault]  # two clean lists, then the first launch meets the fault
    driver(url, api_=bootstrapped(url, user_data=BOOTSTRAP)).ensure()
    check(fake, 2)
    assert fake.faults == [] and len(fake.launch_bodies) == (3 if fault in ("429", "500-before") else 2)
    assert fake.launches == 2, "no instance was launched twice (a second node running the same bootstrap)"
    assert set(fake.user_data) == set(fake.instances) and set(fake.user_data.values()) == {BOOTSTRAP}
    assert all(body["user_data"] == BOOTSTRAP for body in fake.launch_bodies)


def test_without_user_data_or_tags_neither_field_is_sent(fake: FakeLambda, url: str) -> None:
    driver(url, count=1).ensure()
    (body,) = fake.launch_bodies
    assert "user_data" not in body and "tags" not in body and fake.user_data == {}


@pytest.mark.parametrize(
    "tags",
    [{"Cluster": "x"}, {"c": "x"}, {"9lives": "x"}, {"a_b": "x"}, {"k" * 56: "x"}, {"ok": "v" * 129}],
)
def test_a_tag_lambda_would_refuse_is_refused_before_any_request(tags: dict[str, str], url: str) -> None:
    with pytest.raises(RestError) as caught:
        bootstrapped(url, tags=tags)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST and "tag" in str(caught.value)


def test_user_data_over_lambdas_limit_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(RestError, match="1MB") as caught:
        bootstrapped(url, user_data="x" * (USER_DATA_LIMIT_BYTES + 1))
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    bootstrapped(url, user_data="x" * USER_DATA_LIMIT_BYTES)


def test_the_factory_passes_user_data_and_tags_from_the_props(url: str) -> None:
    props = {
        "pool": "llm-gpu",
        "count": 2,
        "regions": list(REGIONS),
        "instance_type": "gpu_8x_h100_sxm5",
        "ssh_key": "deploy-key",
        "file_systems": ["shared"],
        "user_data": BOOTSTRAP,
        "tags": TAGS,
        "provider": "lambda",
        "base_url": url,
    }
    request = pool_api(props).launch_request("us-east-1", "llm-gpu-0")
    assert request["user_data"] == BOOTSTRAP and request["file_system_names"] == ["shared"]
    assert {t["key"]: t["value"] for t in request["tags"]} == TAGS
    assert (
        pool_api({**props, "user_data": "", "tags": {}})
        .launch_request("us-east-1", "x")
        .keys()
        .isdisjoint({"user_data", "tags"})
    )


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
                settle_s=0.3,
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
