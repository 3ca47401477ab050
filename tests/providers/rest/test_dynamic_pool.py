"""The dynamic provider of a REST pool: survives a dill round trip, and its methods, called directly against
the fake Lambda API on loopback, create, resize, diff and delete the pool without leaks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dill
import pytest
from fake_lambda import FakeLambda, serve

from provisioner.errors import ProvisionerError
from provisioner.providers.rest.dynamic import PoolProvider, release_or_say_what_is_left
from provisioner.providers.rest.errors import ErrorKind, RestError
from provisioner.providers.rest.pool import Instance, PoolDriver

pytestmark = pytest.mark.timeout(60)
FACTORY = "provisioner.providers.lambda_cloud.api:pool_api"


@pytest.fixture
def fake() -> FakeLambda:
    return FakeLambda(capacity={"us-east-1": 1, "us-west-1": 4})


@pytest.fixture
def props(fake: FakeLambda, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("LAMBDA_API_KEY", "test-key")
    with serve(fake) as url:
        yield {
            "pool": "llm-gpu",
            "count": 2,
            "regions": ["us-east-1", "us-west-1"],
            "instance_type": "gpu_8x_h100_sxm5",
            "ssh_key": "deploy-key",
            "base_url": url,
            "interval_s": 0.0,
            "wait_s": 10.0,
            "settle_s": 0.5,
            "launch_gap_s": 0.0,
        }


def test_the_provider_survives_a_pickle_round_trip_and_holds_no_secret() -> None:
    provider = dill.loads(dill.dumps(PoolProvider(FACTORY)))
    assert provider.factory == FACTORY
    assert b"test-key" not in dill.dumps(PoolProvider(FACTORY))


def test_create_resize_and_delete(fake: FakeLambda, props: dict[str, Any]) -> None:
    provider = dill.loads(dill.dumps(PoolProvider(FACTORY)))
    created = provider.create(props)
    assert created.id == "llm-gpu" and created.outs["region"] == "us-west-1"  # us-east-1 has room for one
    assert [i["name"] for i in created.outs["instances"]] == ["llm-gpu-0", "llm-gpu-1"]
    assert all(i["address"].startswith("198.51.100.") for i in created.outs["instances"])  # users SSH there
    assert "test-key" not in repr(created.outs), "the key never reaches the state"
    assert fake.live() and all(i["region"]["name"] == "us-west-1" for i in fake.live())
    bigger = {**props, "count": 3}
    diff = provider.diff("llm-gpu", created.outs, bigger)
    assert diff.changes and not diff.replaces
    updated = provider.update("llm-gpu", created.outs, bigger)
    assert len(updated.outs["instances"]) == 3 and len(fake.live()) == 3
    moved = provider.diff("llm-gpu", updated.outs, {**bigger, "instance_type": "gpu_8x_a100"})
    assert moved.replaces == ["instance_type"] and moved.delete_before_replace
    provider.delete("llm-gpu", updated.outs)
    assert fake.live() == []


def test_a_create_that_fails_leaves_nothing_billed(fake: FakeLambda, props: dict[str, Any]) -> None:
    fake.capacity = {"us-east-1": 1, "us-west-1": 1}
    with pytest.raises(Exception, match=r"tried us-east-1: .* us-west-1: "):
        PoolProvider(FACTORY).create(props)
    assert fake.live() == []


def test_without_a_key_the_error_says_which_variable(
    props: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAMBDA_API_KEY")
    with pytest.raises(Exception, match="LAMBDA_API_KEY"):
        PoolProvider(FACTORY).create(props)


@pytest.mark.parametrize(
    ("change", "replaces"),
    [
        ({"user_data": "#cloud-config\n# v2\n"}, []),
        ({"tags": {"team": "other"}}, []),
        ({"count": 5}, []),
        ({"image": "ubuntu22.04:latest"}, ["image"]),
        ({"ib_partition": True}, ["ib_partition"]),
        ({"disks": ["disk-2"]}, ["disks"]),
        ({"project_id": "other"}, ["project_id"]),
        ({"pool": "p-other"}, ["pool"]),  # a renamed stack: the old members go first, under the old name
        ({"owner": "acme/proj/renamed"}, ["owner"]),
    ],
)
def test_diff_replaces_only_what_a_member_cannot_change(change: dict[str, Any], replaces: list[str]) -> None:
    olds = {"pool": "p", "count": 2, "regions": ["r"], "instance_type": "t", "ssh_key": "k", "user_data": "x"}
    olds |= {"tags": {"team": "ml"}, "image": "i", "ib_partition": False, "disks": ["d1"], "project_id": "p1"}
    result = PoolProvider(FACTORY).diff("p", {**olds, "instances": [], "region": "r"}, {**olds, **change})
    assert result.changes is True and result.replaces == replaces
    assert result.delete_before_replace is bool(replaces)


def test_a_repickled_provider_is_no_change() -> None:
    olds = {"pool": "p", "count": 2, "regions": ["r"], "instance_type": "t", "__provider": "old-bytes"}
    result = PoolProvider(FACTORY).diff(
        "p", {**olds, "instances": [], "region": "r"}, {**olds, "__provider": "new"}
    )
    assert result.changes is False and result.replaces == []


def test_a_scale_up_without_capacity_keeps_the_running_pool(fake: FakeLambda, props: dict[str, Any]) -> None:
    """An update that cannot grow fails, and the members that were serving stay where they are."""
    created = PoolProvider(FACTORY).create(props)
    assert len(fake.live()) == 2
    fake.capacity = {"us-east-1": 0, "us-west-1": 0}
    with pytest.raises(RestError):
        PoolProvider(FACTORY).update("llm-gpu", created.outs, {**props, "count": 3})
    assert sorted(i["name"] for i in fake.live()) == ["llm-gpu-0", "llm-gpu-1"]
    assert {i["region"]["name"] for i in fake.live()} == {"us-west-1"}


def test_a_new_fallback_region_does_not_replace_a_pool_that_runs_in_an_allowed_one() -> None:
    olds = {"pool": "p", "count": 2, "regions": ["r1"], "instance_type": "t", "instances": [], "region": "r1"}
    added = PoolProvider(FACTORY).diff("p", olds, {**olds, "regions": ["r1", "r2"]})
    assert added.changes and added.replaces == []
    moved = PoolProvider(FACTORY).diff("p", olds, {**olds, "regions": ["r2"]})
    assert moved.replaces == ["regions"]


class _Stuck:
    """A cloud whose terminate keeps failing: the instances launched stay."""

    provider = "stuck"

    def __init__(self) -> None:
        self.live = [Instance("i-1", "p-0", "r", "active")]

    def list(self) -> list[Instance]:
        return list(self.live)

    def launch(self, region: str, name: str) -> None:
        raise AssertionError("not called")

    def terminate(self, ids: Any) -> None:
        raise RestError(ErrorKind.TRANSIENT, "stuck", "POST", "terminate", "still down")


def test_a_cleanup_that_keeps_failing_names_what_is_left_running() -> None:
    api = _Stuck()
    driver = PoolDriver(api, "p", 1, ["r"], interval_s=0.0, wait_s=0.0, settle_s=0.0, sleep=lambda s: None)
    slept: list[float] = []
    with pytest.raises(
        ProvisionerError, match=r"still running, billed and not in Pulumi's state: p-0 \(i-1\)"
    ):
        release_or_say_what_is_left(driver, RuntimeError("launch failed"), slept.append)
    assert len(slept) == 4  # it tried more than once before giving up


class _Refusing(_Stuck):
    """A cloud that refuses our credentials from now on (a key revoked mid-create)."""

    def terminate(self, ids: Any) -> None:
        self.tried = list(ids)
        raise RestError(ErrorKind.AUTHENTICATION, "refusing", "POST", "terminate", "key revoked", status=401)


def test_a_credentials_failure_after_launching_still_tries_the_cleanup_and_names_what_is_left() -> None:
    api = _Refusing()
    driver = PoolDriver(api, "p", 1, ["r"], interval_s=0.0, wait_s=0.0, settle_s=0.0, sleep=lambda s: None)
    driver.touched = True  # it had launched, or found members, before the refusal
    refused = RestError(ErrorKind.AUTHENTICATION, "refusing", "GET", "list", "key revoked", status=401)
    with pytest.raises(ProvisionerError, match=r"still running.*p-0 \(i-1\)"):
        release_or_say_what_is_left(driver, refused, lambda s: None)
    assert api.tried == ["i-1"]


def test_a_credentials_failure_before_anything_skips_the_cleanup() -> None:
    api = _Refusing()
    driver = PoolDriver(api, "p", 1, ["r"], interval_s=0.0, wait_s=0.0, settle_s=0.0, sleep=lambda s: None)
    refused = RestError(ErrorKind.AUTHENTICATION, "refusing", "GET", "list", "bad key", status=401)
    release_or_say_what_is_left(driver, refused, lambda s: None)  # returns: the caller raises the refusal
    assert not hasattr(api, "tried")
