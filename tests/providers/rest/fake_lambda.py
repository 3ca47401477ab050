"""A fake Lambda Cloud API on 127.0.0.1, speaking the real request and response shapes (Lambda Cloud API
1.8.3's OpenAPI document), with capacity per region, persistent filesystems, and injectable faults: a 429, a
500 before or after acting, a reset after acting, a slow answer.

Filesystems: `GET /file-systems`, `POST /filesystems {name, region}`, `DELETE /filesystems/{id}`. A
filesystem is in use from the launch of an instance naming it in `file_system_names` until that instance is
terminated; deleting one in use answers 400 `filesystems/filesystem-in-use`. A launch naming a filesystem
that does not exist answers 404 `global/object-does-not-exist`, one in another region 400
`instance-operations/launch/file-system-in-wrong-region`. It records every launch body it received and the
user data each instance was launched with (the real API never returns it).

Two behaviours of the real API the driver must live with: `list_lag`, a launched instance missing from the
next N lists (an eventually consistent list), and `launch_gap_s`, Lambda's launch rate limit: a launch
sooner than that after the previous one is answered 429 with a Retry-After and does nothing."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from scripted_server import JsonHandler, serve_handler

FAULTS = ("429", "500-before", "500-after", "reset-after", "slow-after")
FILESYSTEM_NAME = re.compile(r"[a-zA-Z]+[0-9a-zA-Z-]*")


@dataclass
class FakeLambda:
    capacity: dict[str, int] = field(default_factory=dict)
    """Region -> instances it can still launch."""
    faults: list[str] = field(default_factory=list)
    """Faults for the next launch/terminate/list calls, in order ('' = none)."""
    slow_s: float = 1.0
    boot_polls: int = 1
    """GET /instances calls an instance stays 'booting' before 'active'."""
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    launches: int = 0
    """Instances created by launches that acted."""
    fs_faults: list[str] = field(default_factory=list)
    """Faults for the next filesystem list/create/delete calls, in order ('' = none)."""
    filesystems: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Filesystem id -> its record (`is_in_use` is computed when answering)."""
    launch_bodies: list[dict[str, Any]] = field(default_factory=list)
    """Every launch request body received, faulted or not, in order."""
    user_data: dict[str, str] = field(default_factory=dict)
    """Instance id -> the user data it was launched with (absent: launched without)."""
    list_lag: int = 0
    """Lists that do not show an instance yet, after its launch."""
    launch_gap_s: float = 0.0
    """Least time between two launches (0 = no limit); a sooner one is rate limited."""
    rate_limited: int = 0
    """Launches refused by the rate limit."""
    launch_times: list[float] = field(default_factory=list)
    """When each launch that acted was received (time.monotonic())."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _hidden: dict[str, int] = field(default_factory=dict)
    _next: int = 0
    _next_fs: int = 0
    _age: dict[str, int] = field(default_factory=dict)

    def live(self) -> list[dict[str, Any]]:
        return [i for i in self.instances.values() if i["status"] not in ("terminated", "terminating")]

    def fault(self) -> str:
        with self.lock:
            return self.faults.pop(0) if self.faults else ""

    def fs_fault(self) -> str:
        with self.lock:
            return self.fs_faults.pop(0) if self.fs_faults else ""

    def in_use(self, name: str) -> bool:
        """Some instance not yet terminated was launched with filesystem `name`."""
        return any(
            name in i.get("file_system_names", []) and i["status"] != "terminated"
            for i in self.instances.values()
        )

    def filesystem_named(self, name: str) -> dict[str, Any] | None:
        return next((f for f in self.filesystems.values() if f["name"] == name), None)

    def list(self) -> dict[str, Any]:
        with self.lock:
            for iid, instance in self.instances.items():
                if instance["status"] == "booting":
                    self._age[iid] = self._age.get(iid, 0) + 1
                    if self._age[iid] > self.boot_polls:
                        instance["status"] = "active"
                elif instance["status"] == "terminating":
                    instance["status"] = "terminated"
            shown = []
            for iid, instance in self.instances.items():
                if self._hidden.get(iid, 0) > 0:
                    self._hidden[iid] -= 1
                elif instance["status"] != "terminated":
                    shown.append(dict(instance))
            return {"data": shown}

    def rate_limit(self) -> float | None:
        """Seconds to wait when a launch now would break the rate limit; None when it may go."""
        with self.lock:
            if self.launch_gap_s and self.launch_times:
                wait = self.launch_times[-1] + self.launch_gap_s - time.monotonic()
                if wait > 0:
                    self.rate_limited += 1
                    return wait
            return None

    def launch(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        region = body["region_name"]
        with self.lock:
            if len(body.get("ssh_key_names", [])) != 1:
                return 400, _error("global/invalid-parameters", "exactly one SSH key name is required")
            names = list(body.get("file_system_names", []))
            mounts = []
            for fs_name in names:
                fs = self.filesystem_named(fs_name)
                if fs is None:
                    return 404, _error(
                        "global/object-does-not-exist", f"Filesystem {fs_name!r} was not found."
                    )
                if fs["region"]["name"] != region:
                    return 400, _error(
                        "instance-operations/launch/file-system-in-wrong-region",
                        f"Filesystem {fs_name!r} is in {fs['region']['name']}, not in {region}.",
                    )
                mounts.append({"mount_point": fs["mount_point"], "file_system_id": fs["id"]})
            quantity = int(body.get("quantity", 1))
            if self.capacity.get(region, 0) < quantity:
                return 400, _error(
                    "instance-operations/launch/insufficient-capacity",
                    f"Not enough capacity to fulfill launch request in {region}.",
                )
            self.capacity[region] -= quantity
            self.launch_times.append(time.monotonic())
            ids = []
            for _ in range(quantity):
                self._next += 1
                iid = f"i-{self._next:04d}"
                self.instances[iid] = {
                    "id": iid,
                    "name": body.get("name"),
                    "status": "booting",
                    "region": {"name": region, "description": region},
                    "instance_type": {"name": body["instance_type_name"]},
                    "ssh_key_names": list(body["ssh_key_names"]),
                    "ip": f"198.51.100.{self._next % 250}",
                    "private_ip": f"10.0.2.{self._next % 250}",
                    "file_system_names": names,
                    "tags": [dict(t) for t in body.get("tags", [])],
                }
                if mounts:
                    self.instances[iid]["file_system_mounts"] = [dict(m) for m in mounts]
                if "user_data" in body:
                    self.user_data[iid] = body["user_data"]
                if self.list_lag:
                    self._hidden[iid] = self.list_lag
                ids.append(iid)
            self.launches += quantity
            return 200, {"data": {"instance_ids": ids}}

    def terminate(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            done = []
            for iid in body.get("instance_ids", []):
                instance = self.instances.get(iid)
                if instance is None:
                    return 404, _error("global/object-does-not-exist", f"no instance {iid}")
                if instance["status"] not in ("terminated", "terminating"):
                    instance["status"] = "terminating"
                    self.capacity[instance["region"]["name"]] = (
                        self.capacity.get(instance["region"]["name"], 0) + 1
                    )
                done.append(instance)
            return 200, {"data": {"terminated_instances": done}}

    def list_filesystems(self) -> dict[str, Any]:
        with self.lock:
            return {"data": [{**f, "is_in_use": self.in_use(f["name"])} for f in self.filesystems.values()]}

    def create_filesystem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name, region = body.get("name"), body.get("region")
        with self.lock:
            if not isinstance(name, str) or not FILESYSTEM_NAME.fullmatch(name) or len(name) > 60:
                return 400, _error("global/invalid-parameters", f"Invalid filesystem name {name!r}.")
            if not isinstance(region, str) or not region:
                return 400, _error("global/invalid-parameters", "A region is required.")
            if self.filesystem_named(name) is not None:
                return 400, _error("global/duplicate", f"A filesystem named {name!r} already exists.")
            self._next_fs += 1
            fid = f"fs-{self._next_fs:04d}"
            self.filesystems[fid] = {
                "id": fid,
                "name": name,
                "mount_point": f"/lambda/nfs/{name}",
                "created": "2026-01-01T00:00:00Z",
                "created_by": {"id": "u-1", "email": "me@example.com", "status": "active"},
                "region": {"name": region, "description": region},
                "bytes_used": 0,
            }
            return 200, {"data": {**self.filesystems[fid], "is_in_use": False}}

    def delete_filesystem(self, fid: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            fs = self.filesystems.get(fid)
            if fs is None:
                return 404, _error("global/object-does-not-exist", "Filesystem was not found.")
            if self.in_use(fs["name"]):
                return 400, _error(
                    "filesystems/filesystem-in-use",
                    f"Filesystem {fs['name']!r} is mounted to an instance and cannot be deleted.",
                )
            del self.filesystems[fid]
            return 200, {"data": {"deleted_ids": [fid]}}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "suggestion": None}}


def _handler(fake: FakeLambda) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def _act(self, act: Any, body: Any, fault_of: Any = None) -> None:
            fault = (fault_of or fake.fault)()
            if fault == "429":
                return self._reply(429, _error("global/rate-limited", "Too many requests"))
            if fault == "500-before":
                return self._reply(500, _error("global/internal-error", "Something went wrong"))
            status, answer = act(body) if body is not None else act()
            if fault == "500-after":
                return self._reply(500, _error("global/internal-error", "Something went wrong"))
            if fault == "reset-after":
                return self._reset()
            if fault == "slow-after":
                time.sleep(fake.slow_s)
            self._reply(status, answer)

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != "Bearer test-key":
                return self._reply(401, _error("global/invalid-api-key", "API key was invalid"))
            path = self.path.split("?")[0]
            if path == "/file-systems":
                return self._act(lambda: (200, fake.list_filesystems()), None, fake.fs_fault)
            if path != "/instances":
                return self._reply(404, _error("global/object-does-not-exist", self.path))
            self._act(lambda: (200, fake.list()), None)

        def do_DELETE(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.headers.get("Authorization") != "Bearer test-key":
                return self._reply(401, _error("global/invalid-api-key", "API key was invalid"))
            prefix = "/filesystems/"
            if not self.path.startswith(prefix) or "/" in self.path[len(prefix) :]:
                return self._reply(404, _error("global/not-found", self.path))
            fid = self.path[len(prefix) :]
            self._act(lambda: fake.delete_filesystem(fid), None, fake.fs_fault)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.headers.get("Authorization") != "Bearer test-key":
                return self._reply(401, _error("global/invalid-api-key", "API key was invalid"))
            if self.path == "/filesystems":
                return self._act(fake.create_filesystem, body, fake.fs_fault)
            routes = {
                "/instance-operations/launch": fake.launch,
                "/instance-operations/terminate": fake.terminate,
            }
            route = routes.get(self.path)
            if route is None:
                return self._reply(404, _error("global/object-does-not-exist", self.path))
            if self.path == "/instance-operations/launch":
                with fake.lock:
                    fake.launch_bodies.append(body)
                wait = fake.rate_limit()
                if wait is not None:
                    headers = {"Retry-After": str(math.ceil(wait))}
                    return self._reply(429, _error("global/rate-limited", "Too many requests"), headers)
            self._act(route, body)

    return Handler


@contextmanager
def serve(fake: FakeLambda) -> Iterator[str]:
    with serve_handler(_handler(fake)) as url:
        yield url
