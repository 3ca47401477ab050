"""A Crusoe pool made to match the declaration through faults, against the fake Crusoe API on loopback (it
checks every signature): after every scenario there is no leaked VM, no duplicate, the live set equals the
declared pool (or is empty, with one clear error, when no location can host it), and the pool's InfiniBand
partition exists once where the pool runs and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dill
import httpx
import pytest
from fake_crusoe import FAULTS, KEYS, PROJECT, SECRET_KEY, FakeCrusoe, ReusableTransport, serve

from provisioner.errors import ProvisionerError
from provisioner.providers.crusoe.api import CrusoeApi, normalise_state, pick_ib_network
from provisioner.providers.crusoe.auth import credentials, sign, timestamp
from provisioner.providers.rest import ErrorKind, RestError, RetryPolicy
from provisioner.providers.rest.dynamic import PoolProvider
from provisioner.providers.rest.pool import PoolDriver, PoolUnavailableError

pytestmark = pytest.mark.timeout(120)
TYPE = "h100-80gb-sxm-ib.8x"
LOCATIONS = ("us-east1-a", "us-southcentral1-a", "eu-iceland1-a")
POOL = "llm-gpu"
FACTORY = "provisioner.providers.crusoe.api:pool_api"


def fast() -> dict[str, Any]:
    return {
        "policy": RetryPolicy(attempts=6, base_s=0.0, cap_s=0.0, deadline_s=20.0),
        "sleep": lambda s: None,
        "transport": ReusableTransport(),
    }


@pytest.fixture
def fake() -> FakeCrusoe:
    return FakeCrusoe(capacity={(loc, TYPE): 4 for loc in LOCATIONS}, ib_locations=LOCATIONS)


@pytest.fixture
def url(fake: FakeCrusoe) -> Iterator[str]:
    with serve(fake) as base:
        yield base


def api(url: str, ib: bool = True, keys: tuple[str, str] | None = KEYS, **options: Any) -> CrusoeApi:
    return CrusoeApi(
        PROJECT,
        base_url=url,
        keys=keys,
        timeout_s=0.3,
        client_options={**fast(), **options},
        wait_s=5.0,
        interval_s=0.0,
        sleep=lambda s: None,
        pool=POOL,
        instance_type=TYPE,
        ssh_key="ssh-ed25519 AAAA deploy",
        user_data="#!/bin/bash\necho hi\n",
        image="ubuntu22.04-nvidia-sxm-docker:latest",
        ib_partition=ib,
    )


def driver(url: str, count: int = 2, regions: tuple[str, ...] = LOCATIONS, api_: Any = None) -> PoolDriver:
    return PoolDriver(
        api_ or api(url), POOL, count, regions, interval_s=0.0, wait_s=5.0, settle_s=0.3, sleep=lambda s: None
    )


def check(fake: FakeCrusoe, count: int, ib: bool = True) -> None:
    """No leaked VM, no duplicate, the declared set; one partition where the pool runs, none elsewhere."""
    assert not any(fake.route_faults.values()), f"injected faults never met: {fake.route_faults}"
    live = fake.live()
    names = [i["name"] for i in live]
    assert len(names) == len(set(names)), f"duplicates: {names}"
    assert sorted(names) == [f"{POOL}-{i}" for i in range(count)], f"live set {names} != declared {count}"
    locations = {i["location"] for i in live}
    assert len(locations) <= 1, "a pool lives in one location"
    assert all(i["state"] == "STATE_RUNNING" for i in live)
    partitions = [p for p in fake.partitions.values() if p["name"] == POOL]
    if not ib or count == 0:
        assert partitions == [], f"leaked IB partitions: {partitions}"
        return
    assert len(partitions) == 1, f"want one IB partition, found {partitions}"
    assert {fake.network_location(partitions[0]["ib_network_id"])} == locations
    assert all(
        [h["ib_partition_id"] for h in i["host_channel_adapters"]] == [partitions[0]["id"]] for i in live
    ), "every member is on the pool's partition"


# --- signing ---


def test_sign_is_the_documented_hmac_over_path_sorted_query_method_and_timestamp() -> None:
    secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"  # base64url(bytes 0..31), unpadded
    headers = sign(
        "key-id", secret, "get", "/projects/p-1/compute/vms/instances?b=2&a=1&b=1", "2026-12-03T10:00:00Z"
    )
    # HMAC-SHA256(bytes 0..31, "/v1alpha5/projects/p-1/compute/vms/instances\na=1&b=2&b=1\nGET\n
    # 2026-12-03T10:00:00Z\n"), base64url, padding stripped: computed apart from the adapter
    assert headers == {
        "X-Crusoe-Timestamp": "2026-12-03T10:00:00Z",
        "Authorization": "Bearer 1.0:key-id:rRkCtrQduvCwuiXImiX0wXrJHAqvREkjYmohcGYzeVU",
    }
    padded = sign(
        "key-id",
        secret + "=",
        "GET",
        "/projects/p-1/compute/vms/instances?a=1&b=2&b=1",
        "2026-12-03T10:00:00Z",
    )
    assert padded == headers, "a padded secret and a reordered query sign the same"


def test_timestamp_is_utc_rfc3339_in_whole_seconds() -> None:
    assert timestamp(datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)) == "2026-12-03T10:00:00Z"


def test_a_missing_key_names_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRUSOE_SECRET_KEY", raising=False)
    monkeypatch.setenv("CRUSOE_ACCESS_KEY_ID", "id")
    with pytest.raises(
        ProvisionerError, match=r"CRUSOE_ACCESS_KEY_ID and CRUSOE_SECRET_KEY.*missing: CRUSOE_SECRET_KEY"
    ):
        credentials()


def test_crusoe_states_map_to_the_pool_vocabulary() -> None:
    assert [
        normalise_state(s) for s in ("STATE_RUNNING", "STATE_CREATING", "STATE_DELETING", "STATE_DELETED")
    ] == [
        "active",
        "booting",
        "terminating",
        "terminated",
    ]
    assert normalise_state("STATE_SHUTOFF") == "stopped" and normalise_state("STATE_WEIRD") == "weird"


def test_a_bad_signature_or_a_missing_timestamp_is_refused(fake: FakeCrusoe, url: str) -> None:
    path = f"/projects/{PROJECT}/compute/vms/instances"
    good = sign(*KEYS, "GET", path, timestamp())
    with httpx.Client() as http:
        assert http.get(url + path, headers=good).status_code == 200
        wrong = sign(KEYS[0], SECRET_KEY[::-1], "GET", path, timestamp())
        assert http.get(url + path, headers=wrong).status_code == 401
        other_path = sign(*KEYS, "GET", f"/projects/{PROJECT}/storage/disks", timestamp())
        assert http.get(url + path, headers=other_path).status_code == 401
        unstamped = {"Authorization": good["Authorization"]}
        answer = http.get(url + path, headers=unstamped)
        assert answer.status_code == 401 and "X-Crusoe-Timestamp" in answer.json()["message"]
    assert fake.rejected == 3


def test_authentication_errors_are_not_retried_and_say_so(fake: FakeCrusoe, url: str) -> None:
    bad = api(url, keys=(KEYS[0], SECRET_KEY[::-1]))
    with pytest.raises(RestError) as caught:
        driver(url, api_=bad).ensure()
    assert caught.value.kind is ErrorKind.AUTHENTICATION and caught.value.status == 401
    assert "signature does not match" in str(caught.value)
    assert fake.rejected == 1, "refused once, never retried"
    check(fake, 0)


# --- the pool ---


def test_a_pool_is_launched_once_on_its_partition_and_a_second_run_changes_nothing(
    fake: FakeCrusoe, url: str
) -> None:
    found = driver(url).ensure()
    assert [i.status for i in found] == ["active", "active"] and fake.launches == 2
    assert {i.region for i in found} == {LOCATIONS[0]}
    driver(url).ensure()
    assert fake.launches == 2 and fake.partition_creates == 1
    check(fake, 2)


def test_a_pool_without_infiniband_makes_no_partition_and_attaches_its_disks(
    fake: FakeCrusoe, url: str
) -> None:
    disk = {
        "id": "disk-x",
        "name": "data",
        "location": LOCATIONS[0],
        "size": "100GiB",
        "type": "shared-volume",
    }
    fake.disks["disk-x"] = {**disk, "attached_to": []}
    plain = api(url, ib=False)
    plain.disks = ("disk-x",)
    driver(url, api_=plain).ensure()
    check(fake, 2, ib=False)
    assert fake.count("GET", "ib-networks") == 0
    assert sorted(a["name"] for a in fake.disks["disk-x"]["attached_to"]) == [f"{POOL}-0", f"{POOL}-1"]


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_on_a_vm_create_leaves_exactly_the_pool(fake: FakeCrusoe, url: str, fault: str) -> None:
    fake.slow_s = 0.6
    fake.fault_on("POST", "instances", fault)
    driver(url).ensure()
    check(fake, 2)


def test_a_burst_of_429s_is_waited_out(fake: FakeCrusoe, url: str) -> None:
    fake.fault_on("POST", "instances", "429", "429", "429")
    fake.fault_on("GET", "instances", "429", "429")
    driver(url).ensure()
    check(fake, 2)
    assert fake.launches == 2


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_on_the_partition_create_makes_one_partition(
    fake: FakeCrusoe, url: str, fault: str
) -> None:
    fake.slow_s = 0.6
    fake.fault_on("POST", "ib-partitions", fault)
    driver(url).ensure()
    check(fake, 2)


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_on_an_operation_poll_or_a_delete_leaves_exactly_the_pool(
    fake: FakeCrusoe, url: str, fault: str
) -> None:
    fake.slow_s = 0.6
    driver(url, count=3).ensure()
    fake.fault_on("GET", "vm-operation", fault, fault)
    fake.fault_on("DELETE", "instance", fault)
    driver(url, count=1).ensure()
    driver(url, count=2).ensure()
    check(fake, 2)


@pytest.mark.parametrize("where", ["operation", "http"])
def test_out_of_stock_fails_over_to_the_next_location_and_deletes_the_first_partition(
    fake: FakeCrusoe, url: str, where: str
) -> None:
    fake.out_of_stock_as = where
    fake.capacity[(LOCATIONS[0], TYPE)] = 1
    found = driver(url).ensure()
    assert {i.region for i in found} == {LOCATIONS[1]}
    assert fake.partition_creates == 2, "one partition per location tried"
    check(fake, 2)  # the first location's partition is gone, its VM too


def test_a_location_without_an_infiniband_network_is_skipped() -> None:
    fake = FakeCrusoe(capacity={(loc, TYPE): 4 for loc in LOCATIONS}, ib_locations=LOCATIONS[1:])
    with serve(fake) as base:
        found = driver(base).ensure()
    assert {i.region for i in found} == {LOCATIONS[1]} and fake.count("POST", "instances") == 2
    check(fake, 2)


def test_when_no_location_can_host_it_nothing_is_left_and_the_error_lists_every_location(
    fake: FakeCrusoe, url: str
) -> None:
    fake.capacity = {(LOCATIONS[0], TYPE): 1, (LOCATIONS[1], TYPE): 0}
    fake.networks = {k: v for k, v in fake.networks.items() if v["location"] != LOCATIONS[2]}
    with pytest.raises(PoolUnavailableError) as caught:
        driver(url).ensure()
    message = str(caught.value)
    for location in LOCATIONS[:2]:
        assert f"{location}: out of stock: no {TYPE} capacity in {location}" in message
    assert f"{LOCATIONS[2]}: no InfiniBand network in {LOCATIONS[2]}" in message
    assert fake.instances == {}
    check(fake, 0)


class Crash(Exception):
    """The creating process dies."""


class CrashingApi(CrusoeApi):
    after: int = 0

    def launch(self, region: str, name: str) -> None:
        super().launch(region, name)
        self.after -= 1
        if self.after == 0:
            raise Crash


def crashing(url: str, after: int) -> CrashingApi:
    inner = api(url)
    crash = CrashingApi(**{f: getattr(inner, f) for f in inner.__dataclass_fields__ if f != "_partitions"})
    crash.after = after
    return crash


def test_a_process_killed_mid_create_and_run_again_converges(fake: FakeCrusoe, url: str) -> None:
    with pytest.raises(Crash):
        driver(url, count=3, api_=crashing(url, after=2)).ensure()
    assert len(fake.live()) == 2 and len(fake.partitions) == 1
    driver(url, count=3).ensure()
    check(fake, 3)
    assert fake.launches == 3, "the two launched before the crash were kept, not relaunched"
    assert fake.partition_creates == 1, "the partition made before the crash was found by name"


def test_a_process_killed_during_a_failover_leaves_nothing_after_the_next_run(
    fake: FakeCrusoe, url: str
) -> None:
    fake.capacity[(LOCATIONS[0], TYPE)] = 1
    with pytest.raises(Crash):
        driver(url, count=2, api_=crashing(url, after=1)).ensure()  # dies right after its first VM
    driver(url, count=2).ensure()
    check(fake, 2)
    assert {i["location"] for i in fake.live()} == {LOCATIONS[1]}


def test_partitions_left_by_an_earlier_run_are_reused_once_or_removed(fake: FakeCrusoe, url: str) -> None:
    network = {n["location"]: n["id"] for n in fake.networks.values()}
    fake.partitions = {
        "ibp-old-a": {"id": "ibp-old-a", "name": POOL, "ib_network_id": network[LOCATIONS[0]]},
        "ibp-old-b": {"id": "ibp-old-b", "name": POOL, "ib_network_id": network[LOCATIONS[0]]},
        "ibp-stale": {"id": "ibp-stale", "name": POOL, "ib_network_id": network[LOCATIONS[2]]},
        "ibp-other": {"id": "ibp-other", "name": "someone-else", "ib_network_id": network[LOCATIONS[0]]},
    }
    driver(url).ensure()
    assert sorted(fake.partitions) == ["ibp-old-a", "ibp-other"], "a duplicate and a stale one removed"
    assert fake.partition_creates == 0
    fake.partitions.pop("ibp-other")
    check(fake, 2)


def test_a_smaller_pool_terminates_the_extra_members_and_keeps_its_partition(
    fake: FakeCrusoe, url: str
) -> None:
    driver(url, count=3).ensure()
    driver(url, count=1).ensure()
    check(fake, 1)


def test_release_deletes_every_member_and_the_partition(fake: FakeCrusoe, url: str) -> None:
    driver(url, count=3).ensure()
    driver(url, count=3).release()
    assert fake.instances == {}
    check(fake, 0)


# --- the dynamic provider ---


@pytest.fixture
def props(fake: FakeCrusoe, url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CRUSOE_ACCESS_KEY_ID", KEYS[0])
    monkeypatch.setenv("CRUSOE_SECRET_KEY", KEYS[1])
    return {
        "pool": POOL,
        "count": 2,
        "regions": list(LOCATIONS[:2]),
        "instance_type": TYPE,
        "ssh_key": "ssh-ed25519 AAAA deploy",
        "user_data": "",
        "project_id": PROJECT,
        "image": "ubuntu22.04-nvidia-sxm-docker:latest",
        "ib_partition": True,
        "provider": "crusoe",
        "base_url": url,
        "interval_s": 0.0,
        "wait_s": 10.0,
        "settle_s": 0.5,
    }


def test_the_provider_survives_a_pickle_round_trip_and_holds_no_secret() -> None:
    pickled = dill.dumps(PoolProvider(FACTORY))
    assert dill.loads(pickled).factory == FACTORY
    assert SECRET_KEY.encode() not in pickled and KEYS[0].encode() not in pickled


def test_create_resize_diff_and_delete(fake: FakeCrusoe, props: dict[str, Any]) -> None:
    fake.capacity[(LOCATIONS[0], TYPE)] = 1
    provider = dill.loads(dill.dumps(PoolProvider(FACTORY)))
    created = provider.create(props)
    assert created.id == POOL and created.outs["region"] == LOCATIONS[1]  # the first has room for one
    assert [i["name"] for i in created.outs["instances"]] == [f"{POOL}-0", f"{POOL}-1"]
    assert all(i["address"].startswith("203.0.113.") for i in created.outs["instances"])  # users SSH there
    assert SECRET_KEY not in repr(created.outs) and KEYS[0] not in repr(created.outs)
    check(fake, 2)
    bigger = {**props, "count": 3}
    diff = provider.diff(POOL, created.outs, bigger)
    assert diff.changes and not diff.replaces
    updated = provider.update(POOL, created.outs, bigger)
    assert len(updated.outs["instances"]) == 3
    check(fake, 3)
    moved = provider.diff(POOL, updated.outs, {**bigger, "instance_type": "a100-80gb-sxm-ib.8x"})
    assert moved.replaces == ["instance_type"] and moved.delete_before_replace
    provider.delete(POOL, updated.outs)
    assert fake.instances == {}
    check(fake, 0)


def test_a_create_that_fails_leaves_nothing_billed(fake: FakeCrusoe, props: dict[str, Any]) -> None:
    fake.capacity = {(LOCATIONS[0], TYPE): 1, (LOCATIONS[1], TYPE): 1}
    with pytest.raises(PoolUnavailableError, match=rf"tried {LOCATIONS[0]}: .*; {LOCATIONS[1]}: "):
        PoolProvider(FACTORY).create(props)
    assert fake.instances == {}
    check(fake, 0)


def test_without_keys_the_error_names_the_variables(
    props: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRUSOE_ACCESS_KEY_ID")
    with pytest.raises(ProvisionerError, match="CRUSOE_ACCESS_KEY_ID"):
        PoolProvider(FACTORY).create(props)


def network(nid: str, *capacities: tuple[str, int]) -> dict[str, Any]:
    return {
        "id": nid,
        "name": nid,
        "location": LOCATIONS[0],
        "capacities": [{"slice_type": t, "quantity": q} for t, q in capacities],
    }


def test_the_partition_goes_on_a_network_with_room_for_the_whole_pool() -> None:
    full, roomy, big = network("a", (TYPE, 1)), network("b", (TYPE, 4)), network("c", (TYPE, 9))
    assert pick_ib_network([full, roomy, big], TYPE, 3) is roomy, "the first (by id) with room for all"
    assert pick_ib_network([full, network("d", (TYPE, 2))], TYPE, 3)["id"] == "d", "else the most room"
    other = network("e", ("a100-80gb-sxm-ib.8x", 8))
    assert pick_ib_network([other, full], TYPE, 1) is full, "capacity for another type is no room"
    odd = {**network("h"), "capacities": [{"slice_type": TYPE, "quantity": "lots"}]}
    assert pick_ib_network([odd, roomy], TYPE, 2) is roomy, "an unreadable quantity is no room, not a crash"
    bare = [network("f"), network("g")]
    assert pick_ib_network(bare, TYPE, 2)["id"] == "f", "no capacities reported: the first"


def test_over_http_the_partition_lands_on_the_network_with_capacity(fake: FakeCrusoe, url: str) -> None:
    fake.networks.clear()
    fake.networks.update({"ibn-1": network("ibn-1", (TYPE, 0)), "ibn-2": network("ibn-2", (TYPE, 8))})
    fake.capacity[(LOCATIONS[0], TYPE)] = 2
    inner = api(url)
    inner.count = 2
    driver(url, count=2, api_=inner).ensure()
    [partition] = [p for p in fake.partitions.values() if p["name"] == POOL]
    assert partition["ib_network_id"] == "ibn-2"


def test_a_query_is_signed_with_the_request(fake: FakeCrusoe, url: str) -> None:
    """Crusoe signs the sorted query with the path: a GET with parameters is accepted, not a 401."""
    client_api = api(url)
    answer = client_api._client().get(client_api._path("/compute/vms/instances"), zone="a", limit="10")
    assert isinstance(answer, dict) and "items" in answer and fake.rejected == 0
