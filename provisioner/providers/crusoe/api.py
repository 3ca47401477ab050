"""Crusoe Cloud's REST API (no Pulumi package) as a `PoolApi` (VMs, with an InfiniBand partition per pool) and
a `VolumeApi` (shared disks), for the REST dynamic providers.

Facts and their sources (../shared/reference/provisioning.md, "### Crusoe", and what it cites):

* Base `https://api.crusoecloud.com/v1alpha5`; every request is signed (`auth.py`).
* VMs (crusoecloud/client-go `swagger/v1alpha5`): `GET /projects/{p}/compute/vms/instances` ->
  `{"items": [{id, name, location, state, type, host_channel_adapters, ...}]}`; `POST` the same path with
  `{name, type, location, ssh_public_key, image?, startup_script?, disks?: [{disk_id, attachment_type}],
  host_channel_adapters?: [{ib_partition_id}]}` -> `{"operation": {operation_id, state, result?, ...}}`;
  `GET .../instances/operations/{operation_id}` -> the operation, `state` `IN_PROGRESS` | `SUCCEEDED` |
  `FAILED`, a failed one's `result` being `{code, message}` (terraform-provider-crusoe `AwaitOperation`);
  `DELETE .../instances/{id}`. There is no idempotency key: a create is never retried blindly.
* InfiniBand (client-go `api_ib_networks.go`, `api_ib_partitions.go`): `GET /projects/{p}/networking/
  ib-networks` -> `{"items": [{id, name, location, capacities}]}`; `GET|POST /projects/{p}/networking/
  ib-partitions` (`{name, ib_network_id}` -> the partition `{id, name, ib_network_id}`, synchronous);
  `DELETE .../ib-partitions/{id}`. The reference lists these paths as "not verified"; the client-go swagger
  has them, but we have not called them.
* Disks (client-go `DiskV1Alpha5`, `DisksPostRequestV1Alpha5`, `DisksPatchRequest`): `GET|POST
  /projects/{p}/storage/disks` (`{name, size: "<n>GiB", type: "shared-volume"|"persistent-ssd",
  location}`), `PATCH|DELETE .../disks/{id}` (`{size}`); a disk lists the VMs using it in `attached_to`.

Unverified (what we could not confirm in a source we read):

* the error body `{"code", "message"}` (client-go's `ErrorBody` has `code`, `message`, `error_id`, but we have
  not seen a real answer); the capacity code `out_of_stock` (the issue's text) and where it appears (an HTTP
  error or a failed create operation: both are handled); quota errors saying `quota`;
* the VM states (`STATE_CREATING`, `STATE_RUNNING`, `STATE_STOPPING`, `STATE_STOPPED`, `STATE_SHUTOFF`,
  `STATE_DELETING`, `STATE_DELETED`): client-go types `state` as a plain string;
* `mode: "read-write"` in a disk attachment (the reference lists `mode`; client-go's `DiskAttachment` model
  we read has only `disk_id` and `attachment_type`);
* that a delete answers with an operation (it is not awaited: the pool driver waits on the list), and the
  disk operations path `GET /projects/{p}/storage/disks/operations/{operation_id}` (crusoe-developer-hub);
* that list answers are never paginated (none of the list calls here sends a page token).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from provisioner.providers.crusoe.auth import credentials, sign, timestamp
from provisioner.providers.rest.client import RestClient, wait_for
from provisioner.providers.rest.errors import ErrorKind, RestError
from provisioner.providers.rest.pool import Instance
from provisioner.providers.rest.volume import Volume

BASE_URL = "https://api.crusoecloud.com/v1alpha5"
PROVIDER = "crusoe"

CAPACITY_CODE = "out_of_stock"
"""Crusoe's 'no machines of that type there now' (the issue's text; unverified)."""
AUTH_CODES = frozenset({"bad_credential", "unauthorized", "unauthenticated", "permission_denied"})
"""401/403 reasons (crusoe-developer-hub's error notes; unverified)."""

STATES = {
    "running": "active",
    "creating": "booting",
    "starting": "booting",
    "stopping": "stopping",
    "stopped": "stopped",
    "shutoff": "stopped",
    "deleting": "terminating",
    "deleted": "terminated",
}
"""Crusoe's VM states (`STATE_<X>`, unverified) -> the pool driver's vocabulary: `active` is ready;
`terminating` and `terminated` are gone (pool.GONE)."""


# --- errors ------------------------------------------------------------------------------------------------


def classify(status: int, code: str | None, message: str) -> ErrorKind | None:
    """Crusoe's codes first (capacity, quota, credentials); None = by HTTP status."""
    code_text = (code or "").lower()
    text = message.lower()
    if code_text == CAPACITY_CODE or CAPACITY_CODE in text or "out of stock" in text:
        return ErrorKind.CAPACITY
    if "quota" in code_text or "quota" in text:
        return ErrorKind.QUOTA
    if code_text in AUTH_CODES or text in AUTH_CODES:
        return ErrorKind.AUTHENTICATION
    return None


def _operation_error(code: str | None, message: str) -> ErrorKind:
    """A failed operation has no HTTP status: Crusoe's code decides, else 'internal' is transient."""
    kind = classify(200, code, message)
    if kind is not None:
        return kind
    return ErrorKind.TRANSIENT if "internal" in (code or "").lower() else ErrorKind.INVALID_REQUEST


Items = list[dict[str, Any]]
"""Decoded JSON objects (an alias: `CrusoeApi.list` shadows the builtin in its class)."""


def _items(answer: Any) -> Items:
    if isinstance(answer, Mapping):
        items = answer.get("items")
        if isinstance(items, list):
            return [i for i in items if isinstance(i, dict)]
    return []


def public_address(vm: Mapping[str, Any], kind: str = "public_ipv4") -> str | None:
    """The first public (or, with kind="private_ipv4", private) IPv4 address of a VM:
    `network_interfaces[].ips[].<kind>.address` (the shape of crusoecloud/terraform-provider-crusoe's
    instance attributes; unverified against a live answer)."""
    for nic in vm.get("network_interfaces") or []:
        for ip in (nic or {}).get("ips") or []:
            address = ((ip or {}).get(kind) or {}).get("address")
            if address:
                return str(address)
    return None


def ib_free(network: Mapping[str, Any], instance_type: str) -> int | None:
    """What an IB network says it has room for, of one VM type: the sum of its `capacities[]` entries
    `{quantity, slice_type}` for that type (client-go's IbNetworkCapacity: "available capacity in the
    network, broken down by VM slice type"); None when it lists none for the type. Whether a slice is a VM
    or a GPU is unverified: it is read as VMs."""
    entries = [
        c
        for c in network.get("capacities") or []
        if isinstance(c, Mapping) and str(c.get("slice_type")) == instance_type
    ]
    if not entries:
        return None
    return sum(_quantity(c.get("quantity")) for c in entries)


def _quantity(value: object) -> int:
    """A capacity's `quantity`; 0 when it is not a whole number (an unverified field: never fail on it)."""
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


def pick_ib_network(
    networks: Sequence[Mapping[str, Any]], instance_type: str, count: int
) -> Mapping[str, Any]:
    """The IB network of a location to put a pool's partition on: the first (by id) with room for the whole
    pool; else the one with the most room; the first when none reports capacity for the type."""
    rated = [(ib_free(n, instance_type), n) for n in networks]
    known = [(free, n) for free, n in rated if free is not None]
    if not known:
        return networks[0]
    roomy = [n for free, n in known if free >= count]
    if roomy:
        return roomy[0]
    return max(known, key=lambda pair: pair[0])[1]


def normalise_state(state: str) -> str:
    """`STATE_RUNNING` -> `active`, `STATE_DELETING` -> `terminating`...; unknown ones lower-cased."""
    bare = state.strip().lower().removeprefix("state_")
    return STATES.get(bare, bare)


# --- the shared client -------------------------------------------------------------------------------------


@dataclass
class _Crusoe:
    project_id: str
    base_url: str = BASE_URL
    keys: tuple[str, str] | None = field(default=None, repr=False)
    """(access key id, secret key) for tests; None = from the environment at each call."""
    timeout_s: float = 15.0
    client_options: dict[str, Any] = field(default_factory=dict)
    wait_s: float = 1200.0
    """Longest wait on one asynchronous operation."""
    interval_s: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    provider: str = PROVIDER

    def _client(self) -> RestClient:
        access, secret = self.keys or credentials()
        prefix = urlsplit(self.base_url).path.rstrip("/")
        return RestClient(
            self.provider,
            self.base_url,
            headers=lambda method, path, body: sign(access, secret, method, path, timestamp(), prefix),
            timeout_s=self.timeout_s,
            classifier=classify,
            **self.client_options,
        )

    def _path(self, suffix: str) -> str:
        return f"/projects/{self.project_id}{suffix}"

    def _await(
        self,
        client: RestClient,
        operations: str,
        answer: Any,
        what: str,
        ambiguous: bool,
        origin: tuple[str, str],
    ) -> None:
        """Wait for the operation in `answer` (`{"operation": {...}}`) under `operations`/{id}. A failed
        operation raises its classified error; a wait that could not finish raises an ambiguous error when
        `ambiguous` (the resource may exist: the caller reconciles by name). `origin`: the (method, path) of
        the call that started it, named in the errors."""
        operation = answer.get("operation") if isinstance(answer, Mapping) else None
        if not isinstance(operation, Mapping) or not operation.get("operation_id"):
            return  # nothing to wait on: the caller's own listing decides
        path = f"{operations}/{operation['operation_id']}"
        final: Any = operation
        if str(operation.get("state", "")).upper() == "IN_PROGRESS":
            try:
                final = wait_for(
                    lambda: client.get(path),
                    lambda op: str((op or {}).get("state", "")).upper() != "IN_PROGRESS",
                    what,
                    self.wait_s,
                    self.interval_s,
                    self.sleep,
                    self.clock,
                )
            except RestError as exc:
                if not ambiguous:
                    raise
                raise RestError(
                    ErrorKind.TRANSIENT,
                    self.provider,
                    *origin,
                    f"{what}: could not confirm ({exc.provider_message})",
                    exc.status,
                    exc.code,
                    ambiguous=True,
                ) from exc
        state = str((final or {}).get("state", "")).upper()
        if state == "FAILED":
            result = (final or {}).get("result")
            code = str(result.get("code")) if isinstance(result, Mapping) and result.get("code") else None
            message = str(result.get("message") or result) if isinstance(result, Mapping) else str(result)
            raise RestError(_operation_error(code, message), self.provider, *origin, message, None, code)


# --- VMs: the pool -----------------------------------------------------------------------------------------


@dataclass
class CrusoeApi(_Crusoe):
    """A pool's VMs in one Crusoe project. With `ib_partition`, every VM joins the InfiniBand partition
    named after the pool on an IB network of its location (found or created before the first launch there,
    deleted by `after_release` once no member is live)."""

    pool: str = ""
    instance_type: str = ""
    ssh_key: str = ""
    user_data: str = ""
    image: str | None = None
    ib_partition: bool = False
    disks: Sequence[str] = ()
    count: int = 1
    """Members of the pool: its partition goes on an IB network with room for them all, where one has."""
    _partitions: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    """Location -> the pool's partition there, found or created by this object."""

    def list(self) -> list[Instance]:
        return [
            Instance(
                str(i["id"]),
                str(i.get("name") or ""),
                str(i.get("location") or ""),
                normalise_state(str(i.get("state") or "")),
                public_address(i),
                public_address(i, "private_ipv4"),
            )
            for i in self._instances(self._client())
        ]

    def _instances(self, client: RestClient) -> Items:
        return _items(client.get(self._path("/compute/vms/instances")))

    def launch(self, region: str, name: str) -> None:
        client = self._client()
        request: dict[str, Any] = {
            "name": name,
            "type": self.instance_type,
            "location": region,
            "ssh_public_key": self.ssh_key,
        }
        if self.image:
            request["image"] = self.image
        if self.user_data:
            request["startup_script"] = self.user_data
        if self.disks:
            request["disks"] = [
                {"disk_id": d, "mode": "read-write", "attachment_type": "data"} for d in self.disks
            ]
        if self.ib_partition:
            request["host_channel_adapters"] = [{"ib_partition_id": self._partition(client, region)}]
        # no idempotency key: a timeout or a 5xx here is ambiguous, and the pool driver lists by name
        path = self._path("/compute/vms/instances")
        answer = client.post(path, request, idempotent=False)
        self._await(client, f"{path}/operations", answer, f"VM {name} created", True, ("POST", path))

    def terminate(self, ids: Sequence[str]) -> None:
        client = self._client()
        for iid in ids:
            try:
                client.delete(self._path(f"/compute/vms/instances/{iid}"))
            except RestError as exc:
                if exc.status != 404:  # 404: already gone
                    raise

    # --- InfiniBand partitions ---

    def _own_partitions(self, client: RestClient) -> Items:
        found = _items(client.get(self._path("/networking/ib-partitions")))
        return sorted((p for p in found if p.get("name") == self.pool), key=lambda p: str(p.get("id")))

    def _partition(self, client: RestClient, location: str) -> str:
        """The id of the pool's partition in `location`: found by name, else created (once: an ambiguous
        create is reconciled by listing before it is tried again)."""
        cached = self._partitions.get(location)
        if cached:
            return cached
        networks = sorted(
            (
                n
                for n in _items(client.get(self._path("/networking/ib-networks")))
                if n.get("location") == location
            ),
            key=lambda n: str(n.get("id")),
        )
        if not networks:
            raise RestError(
                ErrorKind.CAPACITY,
                self.provider,
                "GET",
                self._path("/networking/ib-networks"),
                f"no InfiniBand network in {location} for the multi-node pool {self.pool!r}",
            )
        here = {str(n["id"]) for n in networks}
        for _ in range(3):
            own = self._own_partitions(client)
            self._drop_stale(client, [p for p in own if str(p.get("ib_network_id")) not in here])
            found = [p for p in own if str(p.get("ib_network_id")) in here]
            if found:
                keep, *extra = found
                for duplicate in extra:  # never two partitions for one pool
                    self._delete_partition(client, str(duplicate["id"]))
                self._partitions[location] = str(keep["id"])
                return self._partitions[location]
            try:
                network = pick_ib_network(networks, self.instance_type, self.count)
                created = client.post(
                    self._path("/networking/ib-partitions"),
                    {"name": self.pool, "ib_network_id": str(network["id"])},
                    idempotent=False,
                )
            except RestError as exc:
                if exc.ambiguous:
                    continue  # it may exist: list again
                raise
            if isinstance(created, Mapping) and created.get("id"):
                self._partitions[location] = str(created["id"])
                return self._partitions[location]
        raise RestError(
            ErrorKind.TRANSIENT,
            self.provider,
            "POST",
            self._path("/networking/ib-partitions"),
            f"the InfiniBand partition of pool {self.pool!r} in {location} could not be confirmed",
            ambiguous=True,
        )

    def _drop_stale(self, client: RestClient, stale: Items) -> None:
        """The pool's partitions in other locations that no VM uses any more (left by a run that died)."""
        if not stale:
            return
        used = {
            str(hca.get("ib_partition_id"))
            for vm in self._instances(client)
            for hca in vm.get("host_channel_adapters") or []
            if isinstance(hca, Mapping)
        }
        for partition in stale:
            if str(partition["id"]) not in used:
                self._delete_partition(client, str(partition["id"]))

    def _delete_partition(self, client: RestClient, partition_id: str) -> None:
        try:
            client.delete(self._path(f"/networking/ib-partitions/{partition_id}"))
        except RestError as exc:
            if exc.status != 404:
                raise
        self._partitions = {k: v for k, v in self._partitions.items() if v != partition_id}

    def after_release(self) -> None:
        """Once no member is live: wait until the VMs are gone from the list (a deleting VM still holds its
        partition), then delete the pool's partitions."""
        if not self.ib_partition:
            return
        client = self._client()
        pattern = re.compile(rf"{re.escape(self.pool)}-\d+")
        wait_for(
            lambda: [i for i in self._instances(client) if pattern.fullmatch(str(i.get("name") or ""))],
            lambda found: not found,
            f"pool {self.pool} VMs deleted",
            self.wait_s,
            self.interval_s,
            self.sleep,
            self.clock,
        )
        for partition in self._own_partitions(client):
            self._delete_partition(client, str(partition["id"]))
        self._partitions.clear()


# --- disks: volumes ----------------------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+)\s*([KMGTP]iB)?\s*$", re.IGNORECASE)
_PER_GIB = {"kib": 1 / (1024 * 1024), "mib": 1 / 1024, "gib": 1.0, "tib": 1024.0, "pib": 1024.0 * 1024}


def parse_size_gib(size: object) -> int | None:
    """'100GiB' -> 100, '1TiB' -> 1024 (Crusoe's `[Size][Unit]`); None when unreadable."""
    match = _SIZE.match(str(size or ""))
    if not match:
        return None
    return int(int(match.group(1)) * _PER_GIB[(match.group(2) or "GiB").lower()])


@dataclass
class CrusoeVolumes(_Crusoe):
    """Crusoe disks (`shared-volume` by default) as the REST layer's volumes."""

    kind: str = "shared-volume"

    def _volume(self, disk: Mapping[str, Any]) -> Volume:
        return Volume(
            str(disk["id"]),
            str(disk.get("name") or ""),
            str(disk.get("location") or ""),
            parse_size_gib(disk.get("size")),
            attached=bool(disk.get("attached_to")),
        )

    def _disks(self, client: RestClient) -> list[dict[str, Any]]:
        return _items(client.get(self._path("/storage/disks")))

    def find(self, name: str) -> Volume | None:
        found = sorted(
            (d for d in self._disks(self._client()) if d.get("name") == name), key=lambda d: str(d["id"])
        )
        return self._volume(found[0]) if found else None

    def create(self, name: str, region: str, size_gib: int | None) -> Volume:
        if size_gib is None:
            raise RestError(
                ErrorKind.INVALID_REQUEST,
                self.provider,
                "POST",
                self._path("/storage/disks"),
                f"a Crusoe disk needs a size: set size_gib on {name!r}",
            )
        client = self._client()
        request = {"name": name, "size": f"{size_gib}GiB", "type": self.kind, "location": region}
        # no idempotency key: ambiguous on a timeout or a 5xx; ensure_volume finds it by name
        path = self._path("/storage/disks")
        answer = client.post(path, request, idempotent=False)
        self._await(client, f"{path}/operations", answer, f"disk {name} created", True, ("POST", path))
        found = self.find(name)
        if found is None:
            raise RestError(
                ErrorKind.TRANSIENT,
                self.provider,
                "POST",
                self._path("/storage/disks"),
                f"disk {name!r} is not listed after its creation",
                ambiguous=True,
            )
        return found

    def delete(self, volume_id: str) -> None:
        client = self._client()
        path = self._path(f"/storage/disks/{volume_id}")
        try:
            answer = client.delete(path)
        except RestError as exc:
            if exc.status == 404:
                return  # already gone
            raise
        operations = self._path("/storage/disks/operations")
        self._await(client, operations, answer, f"disk {volume_id} deleted", False, ("DELETE", path))

    def resize(self, volume_id: str, size_gib: int) -> Volume:
        client = self._client()
        path = self._path(f"/storage/disks/{volume_id}")
        # setting a size twice is harmless: safe to retry
        answer = client.request("PATCH", path, body={"size": f"{size_gib}GiB"}, idempotent=True)
        operations = self._path("/storage/disks/operations")
        self._await(client, operations, answer, f"disk {volume_id} resized", False, ("PATCH", path))
        for disk in self._disks(client):
            if str(disk.get("id")) == volume_id:
                return self._volume(disk)
        raise RestError(ErrorKind.INVALID_REQUEST, self.provider, "PATCH", path, f"disk {volume_id} is gone")


# --- the dynamic providers' factories ----------------------------------------------------------------------


def pool_api(props: Mapping[str, Any]) -> CrusoeApi:
    """The pool provider's factory ("provisioner.providers.crusoe.api:pool_api"): the keys come from
    CRUSOE_ACCESS_KEY_ID and CRUSOE_SECRET_KEY at call time, never from the resource's inputs or state."""
    return CrusoeApi(
        project_id=str(props["project_id"]),
        base_url=str(props.get("base_url") or BASE_URL),
        wait_s=float(props.get("wait_s", 1200.0)),
        interval_s=float(props.get("interval_s", 10.0)),
        pool=str(props["pool"]),
        instance_type=str(props["instance_type"]),
        ssh_key=str(props["ssh_key"]),
        user_data=str(props.get("user_data") or ""),
        image=str(props["image"]) if props.get("image") else None,
        ib_partition=bool(props.get("ib_partition")),
        disks=tuple(str(d) for d in props.get("disks") or ()),
        count=int(props.get("count") or 1),
    )


def volume_api(props: Mapping[str, Any]) -> CrusoeVolumes:
    """The volume provider's factory ("provisioner.providers.crusoe.api:volume_api")."""
    return CrusoeVolumes(
        project_id=str(props["project_id"]),
        base_url=str(props.get("base_url") or BASE_URL),
        wait_s=float(props.get("wait_s", 600.0)),
        interval_s=float(props.get("interval_s", 5.0)),
        kind=str(props.get("kind") or "shared-volume"),
    )
