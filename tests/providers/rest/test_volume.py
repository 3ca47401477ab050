"""The shared-volume layer itself (provisioner/providers/rest/volume.py), against an in-memory VolumeApi with
scripted create faults: ensure_volume adopts, reconciles ambiguous creates into exactly one volume, and
refuses a volume of that name in another region; the dynamic provider's create, update, diff and delete,
called directly, and its dill round trip."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import dill
import pytest

from provisioner.providers.rest import ErrorKind, RestError
from provisioner.providers.rest.volume import Volume, VolumeProvider, _detached, ensure_volume

pytestmark = pytest.mark.timeout(60)
FACTORY = "test_volume:memory_api"


@dataclass
class MemoryVolumes:
    """A VolumeApi in memory. `create_faults`, consumed one per create: '' none, 'ambiguous-after' (made,
    then an ambiguous error), 'ambiguous-before' (an ambiguous error, nothing made), 'quota' (a clear
    refusal)."""

    provider: str = "memory"
    volumes: dict[str, Volume] = field(default_factory=dict)
    create_faults: list[str] = field(default_factory=list)
    creates: int = 0
    resizes: list[tuple[str, int]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    _next: int = 0

    def find(self, name: str) -> Volume | None:
        return next((v for v in self.volumes.values() if v.name == name), None)

    def create(self, name: str, region: str, size_gib: int | None) -> Volume:
        self.creates += 1
        fault = self.create_faults.pop(0) if self.create_faults else ""
        if fault == "quota":
            raise RestError(ErrorKind.QUOTA, self.provider, "POST", "/volumes", "quota exceeded")
        if fault == "ambiguous-before":
            raise RestError(
                ErrorKind.TRANSIENT, self.provider, "POST", "/volumes", "timed out", ambiguous=True
            )
        self._next += 1
        volume = Volume(f"v-{self._next}", name, region, size_gib)
        self.volumes[volume.id] = volume
        if fault == "ambiguous-after":
            raise RestError(ErrorKind.TRANSIENT, self.provider, "POST", "/volumes", "reset", ambiguous=True)
        return volume

    def delete(self, volume_id: str) -> None:
        self.deletes.append(volume_id)
        self.volumes.pop(volume_id, None)

    def resize(self, volume_id: str, size_gib: int) -> Volume:
        self.resizes.append((volume_id, size_gib))
        self.volumes[volume_id] = replace(self.volumes[volume_id], size_gib=size_gib)
        return self.volumes[volume_id]

    def named(self, name: str) -> list[Volume]:
        return [v for v in self.volumes.values() if v.name == name]


CURRENT: list[MemoryVolumes] = []


def memory_api(props: Mapping[str, Any]) -> MemoryVolumes:
    """The factory the provider loads by name ("test_volume:memory_api")."""
    return CURRENT[0]


@pytest.fixture
def api() -> Iterator[MemoryVolumes]:
    CURRENT[:] = [MemoryVolumes()]
    yield CURRENT[0]
    CURRENT.clear()


def props(**changes: Any) -> dict[str, Any]:
    return {"name": "shared", "region": "us-east-1", "size_gib": 100, "kind": "nfs", "provider": "memory"} | (
        changes
    )


# ensure_volume


def test_an_existing_volume_is_adopted_not_created(api: MemoryVolumes) -> None:
    api.volumes["v-9"] = Volume("v-9", "shared", "us-east-1", 100)
    assert ensure_volume(api, "shared", "us-east-1", 100).id == "v-9"
    assert api.creates == 0


def test_a_new_volume_is_created_once(api: MemoryVolumes) -> None:
    volume = ensure_volume(api, "shared", "us-east-1", 100)
    assert (volume.name, volume.region, volume.size_gib) == ("shared", "us-east-1", 100)
    assert api.creates == 1 and ensure_volume(api, "shared", "us-east-1", 100) == volume


def test_a_create_that_acted_but_failed_ambiguously_is_reconciled_into_exactly_one(
    api: MemoryVolumes,
) -> None:
    api.create_faults = ["ambiguous-after"]
    volume = ensure_volume(api, "shared", "us-east-1", 100)
    assert api.named("shared") == [volume] and api.creates == 1


def test_a_create_that_did_not_act_is_tried_again(api: MemoryVolumes) -> None:
    api.create_faults = ["ambiguous-before", "ambiguous-after"]
    volume = ensure_volume(api, "shared", "us-east-1", 100)
    assert api.named("shared") == [volume] and api.creates == 2


def test_creates_that_never_act_end_in_a_transient_error(api: MemoryVolumes) -> None:
    api.create_faults = ["ambiguous-before"] * 3
    with pytest.raises(RestError, match="'shared' was not created") as caught:
        ensure_volume(api, "shared", "us-east-1", 100, attempts=3)
    assert caught.value.kind is ErrorKind.TRANSIENT and api.volumes == {}


def test_a_clear_refusal_propagates_untouched(api: MemoryVolumes) -> None:
    api.create_faults = ["quota"]
    with pytest.raises(RestError) as caught:
        ensure_volume(api, "shared", "us-east-1", 100)
    assert caught.value.kind is ErrorKind.QUOTA and api.creates == 1


def test_a_volume_of_that_name_in_another_region_is_a_clear_error_naming_both(api: MemoryVolumes) -> None:
    api.volumes["v-9"] = Volume("v-9", "shared", "us-west-1", 100)
    with pytest.raises(RestError) as caught:
        ensure_volume(api, "shared", "us-east-1", 100)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "us-west-1" in str(caught.value) and "us-east-1" in str(caught.value)
    assert api.creates == 0


# the dynamic provider, called directly


def test_create_returns_the_volume_id_and_its_size(api: MemoryVolumes) -> None:
    created = VolumeProvider(FACTORY).create(props())
    assert created.id == api.named("shared")[0].id
    assert created.outs["volume_id"] == created.id and created.outs["size_gib"] == 100
    assert created.outs["name"] == "shared"


def test_create_adopts_a_volume_left_by_an_earlier_run(api: MemoryVolumes) -> None:
    api.volumes["v-9"] = Volume("v-9", "shared", "us-east-1", 100)
    assert VolumeProvider(FACTORY).create(props()).id == "v-9" and api.creates == 0


def test_update_grows_the_volume_and_only_when_it_must(api: MemoryVolumes) -> None:
    provider = VolumeProvider(FACTORY)
    created = provider.create(props())
    grown = provider.update(created.id, created.outs, props(size_gib=200))
    assert grown.outs["size_gib"] == 200 and api.resizes == [(created.id, 200)]
    same = provider.update(created.id, grown.outs, props(size_gib=200))
    assert same.outs["size_gib"] == 200 and len(api.resizes) == 1


def test_update_without_a_size_resizes_nothing(api: MemoryVolumes) -> None:
    provider = VolumeProvider(FACTORY)
    created = provider.create(props(size_gib=None))
    updated = provider.update(created.id, created.outs, props(size_gib=None))
    assert updated.outs["size_gib"] is None and api.resizes == []


def test_diff_replaces_on_name_region_kind_provider_and_resizes_on_size(api: MemoryVolumes) -> None:
    provider = VolumeProvider(FACTORY)
    olds = {**props(), "volume_id": "v-1"}
    unchanged = provider.diff("v-1", olds, props())
    assert not unchanged.changes and not unchanged.replaces, "volume_id (an output) is no change"
    grown = provider.diff("v-1", olds, props(size_gib=200))
    assert grown.changes and not grown.replaces and not grown.delete_before_replace
    for key, value in (("name", "other"), ("region", "us-west-1"), ("kind", "disk"), ("provider", "x")):
        moved = provider.diff("v-1", olds, props(**{key: value}))
        assert moved.replaces == [key] and moved.delete_before_replace, key


def test_a_shrink_is_refused_and_says_by_how_much(api: MemoryVolumes) -> None:
    with pytest.raises(RestError) as caught:
        VolumeProvider(FACTORY).diff("v-1", {**props(), "volume_id": "v-1"}, props(size_gib=50))
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "100 GiB" in str(caught.value) and "50 GiB" in str(caught.value)


def test_delete_of_an_attached_volume_is_refused_and_it_stays(api: MemoryVolumes) -> None:
    provider = VolumeProvider(FACTORY)
    created = provider.create(props())
    api.volumes[created.id] = replace(api.volumes[created.id], attached=True)
    with pytest.raises(RestError, match="still attached") as caught:
        provider.delete(created.id, {**created.outs, "detach_wait_s": 0})
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert api.deletes == [] and created.id in api.volumes


def test_a_delete_waits_a_bounded_time_for_the_volume_to_be_let_go(api: MemoryVolumes) -> None:
    """Just after its pool is terminated a cloud may still report the volume in use: the delete waits."""
    created = VolumeProvider(FACTORY).create(props())
    api.volumes[created.id] = replace(api.volumes[created.id], attached=True)
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        if len(slept) == 3:  # the last instance is gone
            api.volumes[created.id] = replace(api.volumes[created.id], attached=False)

    found = _detached(api, "shared", 300.0, 10.0, sleep, lambda: now[0])
    assert found is not None and not found.attached and slept == [10.0, 10.0, 10.0]
    api.volumes[created.id] = replace(api.volumes[created.id], attached=True)
    now[0], slept[:] = 0.0, []
    held = _detached(
        api, "shared", 25.0, 10.0, lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)), lambda: now[0]
    )
    assert held is not None and held.attached and sum(slept) == 25.0  # gives up at the bound


def test_delete_removes_a_detached_volume_and_a_missing_one_is_a_no_op(api: MemoryVolumes) -> None:
    provider = VolumeProvider(FACTORY)
    created = provider.create(props())
    provider.delete(created.id, created.outs)
    assert api.volumes == {} and api.deletes == [created.id]
    provider.delete(created.id, created.outs)
    assert api.deletes == [created.id], "nothing to delete: no call"


def test_the_provider_survives_a_dill_round_trip_holding_only_the_factory_name() -> None:
    provider = dill.loads(dill.dumps(VolumeProvider(FACTORY)))
    assert vars(provider) == {"factory": FACTORY}
