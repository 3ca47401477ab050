"""A fake Crusoe Cloud API on 127.0.0.1, stateful and strict: it checks every request's HMAC signature (401
without a valid one), speaks the request and response shapes of provisioner/providers/crusoe/api.py (VMs and
their operations, InfiniBand networks and partitions, disks), runs out of stock per (location, type), and
injects faults: a 429 (Retry-After), a 500 before or after acting, a reset after acting, an answer slower than
the client's timeout.

Time is counted in requests: every authenticated request advances every operation in progress by one tick, so
a VM is STATE_CREATING for `op_ticks` requests and then STATE_RUNNING, and a deleted VM is STATE_DELETING
until the next request, then gone from the list."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from scripted_server import JsonHandler, serve_handler

FAULTS = ("429", "500-before", "500-after", "reset-after", "slow-after")
PROJECT = "5f0a8a43-0000-4000-8000-00000000c0de"
ACCESS_KEY_ID = "fake-access-key"
SECRET_KEY = base64.urlsafe_b64encode(b"a fake crusoe secret key, 32 b!!").decode().rstrip("=")
KEYS = (ACCESS_KEY_ID, SECRET_KEY)
PREFIX = f"/v1alpha5/projects/{PROJECT}"
MAX_SKEW_S = 300

ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("GET", r"/compute/vms/instances", "instances"),
        ("POST", r"/compute/vms/instances", "instances"),
        ("GET", r"/compute/vms/instances/operations/(?P<id>[^/]+)", "vm-operation"),
        ("DELETE", r"/compute/vms/instances/(?P<id>[^/]+)", "instance"),
        ("GET", r"/networking/ib-networks", "ib-networks"),
        ("GET", r"/networking/ib-partitions", "ib-partitions"),
        ("POST", r"/networking/ib-partitions", "ib-partitions"),
        ("DELETE", r"/networking/ib-partitions/(?P<id>[^/]+)", "ib-partition"),
        ("GET", r"/storage/disks", "disks"),
        ("POST", r"/storage/disks", "disks"),
        ("GET", r"/storage/disks/operations/(?P<id>[^/]+)", "disk-operation"),
        ("PATCH", r"/storage/disks/(?P<id>[^/]+)", "disk"),
        ("DELETE", r"/storage/disks/(?P<id>[^/]+)", "disk"),
    )
]

Answer = tuple[int, dict[str, Any]]


def error(code: str, message: str) -> dict[str, Any]:
    """Crusoe's error body as the adapter assumes it (unverified): flat code and message."""
    return {"code": code, "message": message, "error_id": "fake-error-id"}


def expected_authorization(method: str, raw_path: str, stamp: str, secret: str = SECRET_KEY) -> str:
    """Written from the description, apart from the adapter's `sign`: the signed path is the request's whole
    path (as the Go client signs `req.URL.Path`), the query sorted and url-encoded."""
    path, _, query = raw_path.partition("?")
    canonical = urlencode(sorted(parse_qsl(query, keep_blank_values=True), key=lambda kv: kv[0]))
    message = f"{path}\n{canonical}\n{method}\n{stamp}\n".encode()
    key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return f"Bearer 1.0:{ACCESS_KEY_ID}:{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


@dataclass
class _Pending:
    ticks: int
    done: Callable[[], Any] | None = None
    failure: dict[str, Any] | None = None


@dataclass
class FakeCrusoe:
    capacity: dict[tuple[str, str], int] = field(default_factory=dict)
    """(location, type) -> VMs it can still create."""
    ib_locations: tuple[str, ...] = ()
    """Locations with one InfiniBand network."""
    out_of_stock_as: str = "operation"
    """Where out_of_stock shows: 'operation' (the create's operation fails) or 'http' (a 400 answer)."""
    faults: list[str] = field(default_factory=list)
    """Faults for the next authenticated requests of any route, in order ('' = none)."""
    route_faults: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(method, route name) -> faults for that route's next requests (before the global ones)."""
    slow_s: float = 1.0
    op_ticks: int = 2
    """Requests an operation stays IN_PROGRESS."""
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    partitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    disks: dict[str, dict[str, Any]] = field(default_factory=dict)
    launches: int = 0
    partition_creates: int = 0
    disk_creates: int = 0
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    """(method, route, fault) of every authenticated request."""
    rejected: int = 0
    """Requests refused for their signature."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _next: int = 0

    def __post_init__(self) -> None:
        for location in self.ib_locations:
            nid = self._id("ibn")
            self.networks[nid] = {"id": nid, "name": f"ib-{location}", "location": location, "capacities": []}

    # --- what tests look at ---

    def live(self) -> list[dict[str, Any]]:
        return [i for i in self.instances.values() if i["state"] != "STATE_DELETING"]

    def fault_on(self, method: str, route: str, *faults: str) -> None:
        self.route_faults.setdefault((method, route), []).extend(faults)

    def count(self, method: str, route: str) -> int:
        return sum(1 for m, r, _ in self.requests if (m, r) == (method, route))

    def network_location(self, network_id: str) -> str | None:
        network = self.networks.get(network_id)
        return None if network is None else str(network["location"])

    # --- machinery ---

    def _id(self, kind: str) -> str:
        self._next += 1
        return f"{kind}-{self._next:04d}"

    def fault(self, method: str, route: str) -> str:
        with self.lock:
            queue = self.route_faults.get((method, route))
            if queue:
                return queue.pop(0)
            return self.faults.pop(0) if self.faults else ""

    def tick(self) -> None:
        with self.lock:
            for oid, pending in list(self._pending.items()):
                pending.ticks -= 1
                if pending.ticks > 0:
                    continue
                operation = self.operations[oid]
                operation["completed_at"] = _now()
                if pending.failure is not None:
                    operation["state"], operation["result"] = "FAILED", pending.failure
                else:
                    operation["state"] = "SUCCEEDED"
                    operation["result"] = pending.done() if pending.done else {}
                del self._pending[oid]

    def _operation(
        self,
        kind: str,
        done: Callable[[], Any] | None = None,
        failure: dict[str, Any] | None = None,
        ticks: int | None = None,
    ) -> dict[str, Any]:
        oid = self._id(f"op-{kind}")
        operation = {
            "operation_id": oid,
            "state": "IN_PROGRESS",
            "metadata": {"kind": kind},
            "started_at": _now(),
            "completed_at": "",
        }
        self.operations[oid] = operation
        self._pending[oid] = _Pending(self.op_ticks if ticks is None else ticks, done, failure)
        return dict(operation)

    # --- VMs ---

    def list_instances(self, _: Any) -> Answer:
        return 200, {"items": [json.loads(json.dumps(i)) for i in self.instances.values()]}

    def create_instance(self, body: dict[str, Any]) -> Answer:
        missing = [k for k in ("name", "type", "location", "ssh_public_key") if not body.get(k)]
        if missing:
            return 400, error("bad_request", f"missing required field(s): {', '.join(missing)}")
        location, kind = str(body["location"]), str(body["type"])
        adapters = []
        for hca in body.get("host_channel_adapters") or []:
            partition = self.partitions.get(str(hca.get("ib_partition_id")))
            if partition is None:
                return 400, error("bad_request", f"no IB partition {hca.get('ib_partition_id')}")
            if self.network_location(partition["ib_network_id"]) != location:
                return 400, error("bad_request", f"IB partition {partition['id']} is not in {location}")
            adapters.append(
                {
                    "ib_partition_id": partition["id"],
                    "ib_network_id": partition["ib_network_id"],
                    "guid": "",
                    "type": "infiniband",
                }
            )
        attached = []
        for disk in body.get("disks") or []:
            found = self.disks.get(str(disk.get("disk_id")))
            if found is None or found["location"] != location:
                return 400, error("bad_request", f"no disk {disk.get('disk_id')} in {location}")
            if disk.get("attachment_type") != "data" or disk.get("mode") != "read-write":
                return 400, error("bad_request", f"bad disk attachment {disk}")
            attached.append(found)
        if self.capacity.get((location, kind), 0) < 1:
            failure = {"code": "out_of_stock", "message": f"out of stock: no {kind} capacity in {location}"}
            if self.out_of_stock_as == "http":
                return 400, failure
            return 200, {"operation": self._operation("vm", failure=failure)}
        self.capacity[(location, kind)] -= 1
        vid = self._id("vm")
        instance = {
            "id": vid,
            "name": body["name"],
            "type": kind,
            "location": location,
            "state": "STATE_CREATING",
            "project_id": PROJECT,
            "host_channel_adapters": adapters,
            "disks": [{"id": d["id"], "attachment_type": "data", "mode": "read-write"} for d in attached],
            "network_interfaces": [
                {
                    "ips": [
                        {"private_ipv4": {"address": "172.27.0.2"}, "public_ipv4": {"address": _address(vid)}}
                    ]
                }
            ],
            "created_at": _now(),
        }
        self.instances[vid] = instance
        for disk in attached:
            disk["attached_to"].append({"vm_id": vid, "name": body["name"]})
        self.launches += 1

        def running() -> Any:
            if vid in self.instances and self.instances[vid]["state"] == "STATE_CREATING":
                self.instances[vid]["state"] = "STATE_RUNNING"
            return dict(self.instances.get(vid, {}))

        return 200, {"operation": self._operation("vm", running)}

    def delete_instance(self, vid: str) -> Answer:
        instance = self.instances.get(vid)
        if instance is None:
            return 404, error("not_found", f"instance {vid} not found")
        if instance["state"] != "STATE_DELETING":
            instance["state"] = "STATE_DELETING"
            key = (instance["location"], instance["type"])
            self.capacity[key] = self.capacity.get(key, 0) + 1

        def gone() -> Any:
            self.instances.pop(vid, None)
            for disk in self.disks.values():
                disk["attached_to"] = [a for a in disk["attached_to"] if a["vm_id"] != vid]
            return {}

        return 200, {"operation": self._operation("vm", gone, ticks=1)}

    def get_operation(self, oid: str, kind: str) -> Answer:
        operation = self.operations.get(oid)
        if operation is None or operation["metadata"]["kind"] != kind:
            return 404, error("not_found", f"operation {oid} not found")
        return 200, dict(operation)

    # --- InfiniBand ---

    def list_networks(self, _: Any) -> Answer:
        return 200, {"items": [dict(n) for n in self.networks.values()]}

    def list_partitions(self, _: Any) -> Answer:
        return 200, {"items": [dict(p) for p in self.partitions.values()]}

    def create_partition(self, body: dict[str, Any]) -> Answer:
        if not body.get("name") or str(body.get("ib_network_id")) not in self.networks:
            return 400, error("bad_request", f"bad IB partition request {body}")
        pid = self._id("ibp")
        self.partitions[pid] = {"id": pid, "name": body["name"], "ib_network_id": body["ib_network_id"]}
        self.partition_creates += 1
        return 200, dict(self.partitions[pid])

    def delete_partition(self, pid: str) -> Answer:
        if pid not in self.partitions:
            return 404, error("not_found", f"IB partition {pid} not found")
        users = [
            i["name"]
            for i in self.instances.values()
            if any(h["ib_partition_id"] == pid for h in i["host_channel_adapters"])
        ]
        if users:
            return 409, error("in_use", f"IB partition {pid} is used by {', '.join(users)}")
        del self.partitions[pid]
        return 200, {}

    # --- disks ---

    def list_disks(self, _: Any) -> Answer:
        return 200, {"items": [json.loads(json.dumps(d)) for d in self.disks.values()]}

    def create_disk(self, body: dict[str, Any]) -> Answer:
        size = re.fullmatch(r"(\d+)GiB", str(body.get("size") or ""))
        if not body.get("name") or not body.get("location") or size is None:
            return 400, error("bad_request", f"bad disk request {body}")
        if body.get("type") not in ("shared-volume", "persistent-ssd"):
            return 400, error("bad_request", f"bad disk type {body.get('type')}")
        did = self._id("disk")
        self.disks[did] = {
            "id": did,
            "name": body["name"],
            "location": body["location"],
            "size": body["size"],
            "type": body["type"],
            "attached_to": [],
            "block_size": 4096,
        }
        self.disk_creates += 1
        return 200, {"operation": self._operation("disk", lambda: dict(self.disks.get(did, {})))}

    def resize_disk(self, did: str, body: dict[str, Any]) -> Answer:
        disk = self.disks.get(did)
        size = re.fullmatch(r"(\d+)GiB", str(body.get("size") or ""))
        if disk is None:
            return 404, error("not_found", f"disk {did} not found")
        if size is None or int(size.group(1)) < int(disk["size"].removesuffix("GiB")):
            return 400, error("bad_request", f"disks cannot shrink: {disk['size']} -> {body.get('size')}")

        def resized() -> Any:
            disk["size"] = body["size"]
            return dict(disk)

        return 200, {"operation": self._operation("disk", resized)}

    def delete_disk(self, did: str) -> Answer:
        disk = self.disks.get(did)
        if disk is None:
            return 404, error("not_found", f"disk {did} not found")
        if disk["attached_to"]:
            return 409, error("in_use", f"disk {did} is attached")
        del self.disks[did]
        return 200, {"operation": self._operation("disk")}

    # --- dispatch ---

    def act(self, method: str, route: str, ident: str | None, body: Any) -> Answer:
        with self.lock:
            if route == "vm-operation":
                return self.get_operation(str(ident), "vm")
            if route == "disk-operation":
                return self.get_operation(str(ident), "disk")
            table: dict[tuple[str, str], Callable[[Any], Answer]] = {
                ("GET", "instances"): self.list_instances,
                ("POST", "instances"): self.create_instance,
                ("DELETE", "instance"): lambda _: self.delete_instance(str(ident)),
                ("GET", "ib-networks"): self.list_networks,
                ("GET", "ib-partitions"): self.list_partitions,
                ("POST", "ib-partitions"): self.create_partition,
                ("DELETE", "ib-partition"): lambda _: self.delete_partition(str(ident)),
                ("GET", "disks"): self.list_disks,
                ("POST", "disks"): self.create_disk,
                ("PATCH", "disk"): lambda b: self.resize_disk(str(ident), b),
                ("DELETE", "disk"): lambda _: self.delete_disk(str(ident)),
            }
            return table[(method, route)](body if isinstance(body, dict) else {})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _authorised(method: str, raw_path: str, headers: Any) -> str | None:
    """None when the request is signed right; else why not."""
    stamp = headers.get("X-Crusoe-Timestamp")
    if not stamp:
        return "missing X-Crusoe-Timestamp"
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return f"unreadable X-Crusoe-Timestamp {stamp!r}"
    if when.tzinfo is None or abs((datetime.now(UTC) - when).total_seconds()) > MAX_SKEW_S:
        return f"X-Crusoe-Timestamp {stamp!r} is not a current UTC time"
    given = headers.get("Authorization") or ""
    if not hmac.compare_digest(given, expected_authorization(method, raw_path, stamp)):
        return "signature does not match"
    return None


def _handler(fake: FakeCrusoe) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            why = _authorised(self.command, self.path, self.headers)
            if why is not None:
                with fake.lock:
                    fake.rejected += 1
                return self._reply(401, error("bad_credential", why))
            path = self.path.split("?", 1)[0]
            if not path.startswith(PREFIX + "/"):
                return self._reply(404, error("not_found", f"no project in {path}"))
            rest = path[len(PREFIX) :]
            found = next(
                (
                    (name, match)
                    for method, pattern, name in ROUTES
                    if method == self.command and (match := pattern.fullmatch(rest))
                ),
                None,
            )
            if found is None:
                return self._reply(404, error("not_found", f"{self.command} {path}"))
            route, match = found
            body = json.loads(raw) if raw else None
            fault = fake.fault(self.command, route)
            with fake.lock:
                fake.requests.append((self.command, route, fault))
            fake.tick()
            if fault == "429":
                return self._reply(429, error("too_many_requests", "rate limited"))
            if fault == "500-before":
                return self._reply(500, error("internal_error", "internal server error"))
            status, answer = fake.act(self.command, route, match.groupdict().get("id"), body)
            if fault == "500-after":
                return self._reply(500, error("internal_error", "internal server error"))
            if fault == "reset-after":
                return self._reset()
            if fault == "slow-after":
                time.sleep(fake.slow_s)
            self._reply(status, answer)

        do_GET = do_POST = do_DELETE = do_PATCH = _serve

    return Handler


@contextmanager
def serve(fake: FakeCrusoe) -> Iterator[str]:
    """The fake's API base URL (`http://127.0.0.1:<port>/v1alpha5`) for the block's duration."""
    with serve_handler(_handler(fake)) as url:
        yield f"{url}/v1alpha5"


_TLS = ssl.create_default_context()


def _address(vm_id: str) -> str:
    """A documentation address (TEST-NET-3) per VM."""
    return f"203.0.113.{sum(map(ord, vm_id)) % 250 + 1}"


class ReusableTransport(httpx.BaseTransport):
    """A test transport that the RestClient may close after every request and use again: it keeps one TLS
    context (httpx builds a new one, ~15 ms, for each client) and opens a fresh connection pool after each
    close, so no connection outlives its client. It keeps the soak fast; the requests are real HTTP."""

    def __init__(self) -> None:
        self._inner: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            self._inner = httpx.HTTPTransport(verify=_TLS)
        return self._inner.handle_request(request)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None
