"""Lambda persistent filesystems (LambdaFilesystems and the volume resource over it) against the fake Lambda
API on loopback: an idempotent create under each fault, delete refused while a pool mounts the filesystem
and allowed once the pool is released, a pool launched with it, launches refused for a filesystem that is
missing or in another region."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dill
import pytest
from fake_lambda import FAULTS, FakeLambda, serve

from provisioner.providers.lambda_cloud.api import WRONG_REGION_CODE, LambdaApi
from provisioner.providers.lambda_cloud.filesystems import (
    IN_USE_CODE,
    LambdaFilesystems,
    mount_point,
    volume_api,
)
from provisioner.providers.rest import ErrorKind, RestError, RetryPolicy
from provisioner.providers.rest.pool import PoolDriver
from provisioner.providers.rest.volume import VolumeProvider, ensure_volume

pytestmark = pytest.mark.timeout(120)
FAST = {"policy": RetryPolicy(attempts=6, base_s=0.0, cap_s=0.0, deadline_s=20.0), "sleep": lambda s: None}
FACTORY = "provisioner.providers.lambda_cloud.filesystems:volume_api"


@pytest.fixture
def fake() -> FakeLambda:
    return FakeLambda(capacity={"us-east-1": 4, "us-west-1": 4})


@pytest.fixture
def url(fake: FakeLambda, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("LAMBDA_API_KEY", "test-key")
    with serve(fake) as base:
        yield base


def filesystems(url: str) -> LambdaFilesystems:
    return LambdaFilesystems(base_url=url, key="test-key", timeout_s=0.3, client_options=dict(FAST))


def pool(
    url: str, file_systems: tuple[str, ...] = ("shared",), regions: tuple[str, ...] = ("us-east-1",)
) -> PoolDriver:
    api = LambdaApi(
        "gpu_8x_h100_sxm5",
        "deploy-key",
        file_systems=file_systems,
        base_url=url,
        key="test-key",
        timeout_s=0.3,
        client_options=dict(FAST),
    )
    return PoolDriver(
        api, "llm-gpu", 2, regions, interval_s=0.0, wait_s=5.0, settle_s=0.3, sleep=lambda s: None
    )


def props(url: str) -> dict[str, Any]:
    return {
        "name": "shared",
        "region": "us-east-1",
        "size_gib": None,
        "kind": "nfs",
        "provider": "lambda",
        "base_url": url,
    }


def named(fake: FakeLambda, name: str) -> list[dict[str, Any]]:
    return [f for f in fake.filesystems.values() if f["name"] == name]


def test_create_then_find_reads_the_real_shapes(fake: FakeLambda, url: str) -> None:
    api = filesystems(url)
    assert api.find("shared") is None
    created = api.create("shared", "us-east-1", None)
    assert (created.name, created.region, created.size_gib, created.attached) == (
        "shared",
        "us-east-1",
        None,
        False,
    )
    assert api.find("shared") == created
    assert named(fake, "shared")[0]["mount_point"] == mount_point("shared") == "/lambda/nfs/shared"


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_on_create_leaves_exactly_one_filesystem(fake: FakeLambda, url: str, fault: str) -> None:
    fake.slow_s = 0.6  # longer than the client's timeout: it cannot know whether the create acted
    fake.fs_faults = ["", fault]  # the first list is clean, the create meets the fault
    volume = ensure_volume(filesystems(url), "shared", "us-east-1", None)
    assert [f["id"] for f in named(fake, "shared")] == [volume.id]
    assert ensure_volume(filesystems(url), "shared", "us-east-1", None) == volume
    assert len(fake.filesystems) == 1


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "slow-after"])  # its timeout is 15 s
def test_the_resource_create_is_idempotent_under_each_fault(fake: FakeLambda, url: str, fault: str) -> None:
    fake.fs_faults = ["", fault]
    created = dill.loads(dill.dumps(VolumeProvider(FACTORY))).create(props(url))
    assert [f["id"] for f in named(fake, "shared")] == [created.id]
    assert created.outs["volume_id"] == created.id and created.outs["size_gib"] is None


def test_a_duplicate_answer_is_reconciled_by_name(fake: FakeLambda, url: str) -> None:
    api = filesystems(url)
    existing = api.create("shared", "us-east-1", None)
    with pytest.raises(RestError) as caught:
        api.create("shared", "us-east-1", None)
    assert caught.value.code == "global/duplicate" and caught.value.ambiguous
    assert ensure_volume(api, "shared", "us-east-1", None) == existing


def test_a_pool_launched_with_the_filesystem_mounts_it_and_uses_it(fake: FakeLambda, url: str) -> None:
    volume = ensure_volume(filesystems(url), "shared", "us-east-1", None)
    pool(url).ensure()
    for instance in fake.live():
        assert instance["file_system_names"] == ["shared"]
        assert instance["file_system_mounts"] == [
            {"mount_point": mount_point("shared"), "file_system_id": volume.id}
        ]
    assert filesystems(url).find("shared").attached  # type: ignore[union-attr]


def test_delete_is_refused_while_a_pool_uses_it_and_allowed_after_release(fake: FakeLambda, url: str) -> None:
    provider = VolumeProvider(FACTORY)
    created = provider.create(props(url))
    driver = pool(url)
    driver.ensure()
    with pytest.raises(RestError, match="still attached"):
        provider.delete(created.id, {**created.outs, "detach_wait_s": 0})
    with pytest.raises(RestError) as caught:  # and Lambda itself refuses, should the check be raced
        filesystems(url).delete(created.id)
    assert caught.value.code == IN_USE_CODE and caught.value.kind is ErrorKind.INVALID_REQUEST
    assert named(fake, "shared")
    driver.release()
    provider.delete(created.id, created.outs)
    assert fake.filesystems == {}
    provider.delete(created.id, created.outs)  # deleting twice is harmless


@pytest.mark.parametrize("fault", ["500-after", "reset-after"])
def test_a_delete_that_acted_then_failed_is_retried_to_done(fake: FakeLambda, url: str, fault: str) -> None:
    api = filesystems(url)
    volume = api.create("shared", "us-east-1", None)
    fake.fs_faults = [fault]
    api.delete(volume.id)  # the retry meets 404 object-does-not-exist: already gone
    assert fake.filesystems == {}


def test_a_launch_naming_a_filesystem_in_another_region_is_refused(fake: FakeLambda, url: str) -> None:
    ensure_volume(filesystems(url), "shared", "us-west-1", None)
    with pytest.raises(RestError) as caught:
        pool(url, regions=("us-east-1",)).ensure()
    assert caught.value.code == WRONG_REGION_CODE and caught.value.kind is ErrorKind.INVALID_REQUEST
    assert fake.live() == []


def test_a_launch_naming_a_missing_filesystem_is_refused(fake: FakeLambda, url: str) -> None:
    with pytest.raises(RestError) as caught:
        pool(url, file_systems=("nowhere",)).ensure()
    assert caught.value.status == 404 and caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "nowhere" in str(caught.value) and fake.live() == []


def test_filesystems_are_not_sized(url: str) -> None:
    api = filesystems(url)
    with pytest.raises(RestError, match="not sized") as caught:
        api.resize("fs-0001", 100)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    with pytest.raises(RestError, match="not sized"):
        api.create("shared", "us-east-1", 100)


def test_an_invalid_name_is_refused_before_anything_is_sent(fake: FakeLambda, url: str) -> None:
    fake.fs_faults = ["500-before"]  # would be consumed by any request
    with pytest.raises(RestError, match="not valid on Lambda"):
        filesystems(url).create("9-lives", "us-east-1", None)
    assert fake.fs_faults == ["500-before"]


def test_the_factory_reads_the_key_at_call_time(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    api = volume_api(props(url))
    assert api.key is None and api.base_url == url
    monkeypatch.delenv("LAMBDA_API_KEY")
    with pytest.raises(Exception, match="LAMBDA_API_KEY"):
        api.find("shared")
