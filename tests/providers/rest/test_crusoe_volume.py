"""A Crusoe shared disk as the REST volume resource, against the fake Crusoe API on loopback: created once by
name whatever the faults, adopted on a re-run, refused when its name is taken in another location, never
deleted while a VM uses it, grown in place and never shrunk; the provider pickles without a secret."""

from __future__ import annotations

from typing import Any

import dill
import pytest
from fake_crusoe import FAULTS, KEYS, PROJECT, SECRET_KEY, FakeCrusoe, ReusableTransport, serve

from provisioner.errors import ProvisionerError
from provisioner.providers.crusoe.api import CrusoeVolumes, parse_size_gib
from provisioner.providers.rest import ErrorKind, RestError, RetryPolicy
from provisioner.providers.rest.volume import VolumeProvider, ensure_volume

pytestmark = pytest.mark.timeout(60)
FACTORY = "provisioner.providers.crusoe.api:volume_api"
EAST, WEST = "us-east1-a", "us-southcentral1-a"


@pytest.fixture
def fake() -> FakeCrusoe:
    return FakeCrusoe()


@pytest.fixture
def props(fake: FakeCrusoe, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CRUSOE_ACCESS_KEY_ID", KEYS[0])
    monkeypatch.setenv("CRUSOE_SECRET_KEY", KEYS[1])
    with serve(fake) as url:
        yield {
            "name": "shared-data",
            "region": EAST,
            "size_gib": 100,
            "kind": "shared-volume",
            "project_id": PROJECT,
            "provider": "crusoe",
            "base_url": url,
            "interval_s": 0.0,
            "wait_s": 10.0,
        }


def volumes(url: str) -> CrusoeVolumes:
    return CrusoeVolumes(
        PROJECT,
        base_url=url,
        keys=KEYS,
        timeout_s=0.3,
        client_options={
            "policy": RetryPolicy(attempts=6, base_s=0.0, cap_s=0.0, deadline_s=20.0),
            "sleep": lambda s: None,
            "transport": ReusableTransport(),
        },
        wait_s=5.0,
        interval_s=0.0,
        sleep=lambda s: None,
    )


def only_disk(fake: FakeCrusoe) -> dict[str, Any]:
    assert len(fake.disks) == 1, f"want one disk, found {list(fake.disks.values())}"
    return next(iter(fake.disks.values()))


def test_sizes_read_as_gib() -> None:
    assert [parse_size_gib(s) for s in ("100GiB", "1TiB", "2 tib", "512MiB", "x", None)] == [
        100,
        1024,
        2048,
        0,
        None,
        None,
    ]


def test_the_provider_survives_a_pickle_round_trip_and_holds_no_secret() -> None:
    pickled = dill.dumps(VolumeProvider(FACTORY))
    assert dill.loads(pickled).factory == FACTORY
    assert SECRET_KEY.encode() not in pickled


def test_create_makes_one_shared_disk_and_a_rerun_adopts_it(fake: FakeCrusoe, props: dict[str, Any]) -> None:
    provider = dill.loads(dill.dumps(VolumeProvider(FACTORY)))
    created = provider.create(props)
    disk = only_disk(fake)
    assert (disk["name"], disk["location"], disk["size"], disk["type"]) == (
        "shared-data",
        EAST,
        "100GiB",
        "shared-volume",
    )
    assert created.id == disk["id"] and created.outs["volume_id"] == disk["id"]
    assert created.outs["size_gib"] == 100 and SECRET_KEY not in repr(created.outs)
    again = provider.create(props)
    assert again.id == created.id and fake.disk_creates == 1


@pytest.mark.parametrize("fault", FAULTS)
def test_an_ambiguous_create_leaves_one_disk(fake: FakeCrusoe, fault: str) -> None:
    fake.slow_s = 0.6
    fake.fault_on("POST", "disks", fault)
    with serve(fake) as url:
        volume = ensure_volume(volumes(url), "shared-data", EAST, 100)
    assert volume.id == only_disk(fake)["id"] and volume.size_gib == 100
    assert fake.disk_creates == 1 and not fake.route_faults[("POST", "disks")]


def test_a_failing_operation_poll_is_reconciled_by_name(fake: FakeCrusoe) -> None:
    fake.fault_on("GET", "disk-operation", *["500-before"] * 6)  # more than the client retries
    with serve(fake) as url:
        volume = ensure_volume(volumes(url), "shared-data", EAST, 100)
    assert volume.id == only_disk(fake)["id"] and fake.disk_creates == 1


def test_the_provider_reconciles_an_ambiguous_create(fake: FakeCrusoe, props: dict[str, Any]) -> None:
    fake.fault_on("POST", "disks", "500-after")
    created = VolumeProvider(FACTORY).create(props)
    assert created.id == only_disk(fake)["id"] and fake.disk_creates == 1


def test_a_name_taken_in_another_location_is_a_clear_error(fake: FakeCrusoe, props: dict[str, Any]) -> None:
    VolumeProvider(FACTORY).create({**props, "region": WEST})
    with pytest.raises(RestError) as caught:
        VolumeProvider(FACTORY).create(props)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert f"already exists in {WEST}, not {EAST}" in str(caught.value)
    assert fake.disk_creates == 1


def test_delete_is_refused_while_attached_then_done_and_harmless_twice(
    fake: FakeCrusoe, props: dict[str, Any]
) -> None:
    provider = VolumeProvider(FACTORY)
    created = provider.create(props)
    only_disk(fake)["attached_to"].append({"vm_id": "vm-9999", "name": "llm-gpu-0"})
    with pytest.raises(RestError, match="still attached"):
        provider.delete(created.id, {**created.outs, "detach_wait_s": 0})
    assert len(fake.disks) == 1 and fake.count("DELETE", "disk") == 0
    only_disk(fake)["attached_to"].clear()
    provider.delete(created.id, created.outs)
    assert fake.disks == {}
    provider.delete(created.id, created.outs)  # already gone


def test_a_bigger_size_grows_the_disk_in_place(fake: FakeCrusoe, props: dict[str, Any]) -> None:
    provider = VolumeProvider(FACTORY)
    created = provider.create(props)
    bigger = {**props, "size_gib": 200}
    diff = provider.diff(created.id, created.outs, bigger)
    assert diff.changes and not diff.replaces
    updated = provider.update(created.id, created.outs, bigger)
    assert updated.outs["size_gib"] == 200 and only_disk(fake)["size"] == "200GiB"
    assert updated.outs["volume_id"] == created.id and fake.disk_creates == 1


def test_a_smaller_size_is_refused_in_diff(props: dict[str, Any]) -> None:
    provider = VolumeProvider(FACTORY)
    created = provider.create(props)
    with pytest.raises(RestError, match="cannot shrink from 100 GiB to 50 GiB"):
        provider.diff(created.id, created.outs, {**props, "size_gib": 50})
    moved = provider.diff(created.id, created.outs, {**props, "region": WEST})
    assert moved.replaces == ["region"] and moved.delete_before_replace


def test_a_disk_needs_a_size(props: dict[str, Any]) -> None:
    with pytest.raises(RestError, match="needs a size"):
        VolumeProvider(FACTORY).create({**props, "size_gib": None})


def test_without_keys_the_error_names_the_variables(
    props: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRUSOE_SECRET_KEY")
    with pytest.raises(ProvisionerError, match="CRUSOE_SECRET_KEY"):
        VolumeProvider(FACTORY).create(props)
