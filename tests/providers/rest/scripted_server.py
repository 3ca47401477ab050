"""A real HTTP server on 127.0.0.1 that answers from a script: per (method, path), a queue of steps, each a
status and JSON body, or a delay, or a connection reset. It records what it received. Loopback only, a thread
per connection, stopped by the fixture."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    reset: bool = False
    """Close the connection without an answer (RST)."""


@dataclass
class Received:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


class Script:
    def __init__(self) -> None:
        self.steps: dict[tuple[str, str], deque[Step]] = defaultdict(deque)
        self.default: dict[tuple[str, str], Step] = {}
        self.received: list[Received] = []
        self.lock = threading.Lock()

    def then(self, method: str, path: str, *steps: Step) -> None:
        self.steps[(method, path)].extend(steps)

    def always(self, method: str, path: str, step: Step) -> None:
        self.default[(method, path)] = step

    def next(self, method: str, path: str) -> Step:
        with self.lock:
            queue = self.steps[(method, path)]
            if queue:
                return queue.popleft()
            return self.default.get(
                (method, path), Step(404, {"error": {"code": "not-found", "message": path}})
            )

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.received if (r.method, r.path) == (method, path))


class JsonHandler(BaseHTTPRequestHandler):
    """What the fake cloud APIs share: HTTP/1.1 keep-alive, no log lines, a JSON reply (429s say when to come
    back), and a connection reset (RST, not FIN) for the faults."""

    protocol_version = "HTTP/1.1"
    retry_after: str | None = "1"
    """Retry-After of a 429 that names none (None: send none)."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        try:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if status == 429 and self.retry_after is not None and "Retry-After" not in (headers or {}):
                self.send_header("Retry-After", self.retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a slow answer)
            self.close_connection = True

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        retry_after = None  # a script says exactly what it sends

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            with script.lock:
                script.received.append(
                    Received(self.command, path, json.loads(raw) if raw else None, dict(self.headers))
                )
            step = script.next(self.command, path)
            if step.delay_s:
                time.sleep(step.delay_s)
            if step.reset:
                return self._reset()
            self._reply(step.status, step.body, step.headers)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    return Handler


@contextmanager
def serve_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port for the block's duration; stopped and joined after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve(script: Script) -> Iterator[str]:
    with serve_handler(_handler(script)) as url:
        yield url
