"""A fake Lambda Cloud API on 127.0.0.1, speaking the real request and response shapes, with capacity per
region and injectable faults: a 429, a 500 before or after acting, a reset after acting, a slow answer."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from scripted_server import serve_handler

FAULTS = ("429", "500-before", "500-after", "reset-after", "slow-after")


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
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0
    _age: dict[str, int] = field(default_factory=dict)

    def live(self) -> list[dict[str, Any]]:
        return [i for i in self.instances.values() if i["status"] not in ("terminated", "terminating")]

    def fault(self) -> str:
        with self.lock:
            return self.faults.pop(0) if self.faults else ""

    def list(self) -> dict[str, Any]:
        with self.lock:
            for iid, instance in self.instances.items():
                if instance["status"] == "booting":
                    self._age[iid] = self._age.get(iid, 0) + 1
                    if self._age[iid] > self.boot_polls:
                        instance["status"] = "active"
                elif instance["status"] == "terminating":
                    instance["status"] = "terminated"
            return {"data": [dict(i) for i in self.instances.values() if i["status"] != "terminated"]}

    def launch(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        region = body["region_name"]
        with self.lock:
            if len(body.get("ssh_key_names", [])) != 1:
                return 400, _error("global/invalid-parameters", "exactly one SSH key name is required")
            quantity = int(body.get("quantity", 1))
            if self.capacity.get(region, 0) < quantity:
                return 400, _error(
                    "instance-operations/launch/insufficient-capacity",
                    f"Not enough capacity to fulfill launch request in {region}.",
                )
            self.capacity[region] -= quantity
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
                }
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


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "suggestion": None}}


def _handler(fake: FakeLambda) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(payload)

        def _reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def _act(self, act: Any, body: Any) -> None:
            fault = fake.fault()
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
            if self.path.split("?")[0] != "/instances":
                return self._reply(404, _error("global/object-does-not-exist", self.path))
            self._act(lambda: (200, fake.list()), None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.headers.get("Authorization") != "Bearer test-key":
                return self._reply(401, _error("global/invalid-api-key", "API key was invalid"))
            routes = {
                "/instance-operations/launch": fake.launch,
                "/instance-operations/terminate": fake.terminate,
            }
            route = routes.get(self.path)
            if route is None:
                return self._reply(404, _error("global/object-does-not-exist", self.path))
            self._act(route, body)

    return Handler


@contextmanager
def serve(fake: FakeLambda) -> Iterator[str]:
    with serve_handler(_handler(fake)) as url:
        yield url
