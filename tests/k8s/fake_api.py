"""A small Kubernetes API over real HTTP on 127.0.0.1, for `provisioner verify`.

It answers what verify asks, shaped as the real API answers it: `GET /version`, `GET /api/v1/nodes` and
`GET /apis/apps/v1/[namespaces/NS/]daemonsets`, with `labelSelector` (equality, inequality and existence
terms). Every request needs `Authorization: Bearer <token>`; without it the answer is the API server's 401
Status. Objects are built by `node()` and `daemonset()` and live in `FakeKubernetes`, which a test changes
before it calls verify.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

STAMP = "2026-03-01T12:00:00Z"
SHUTDOWN_SECONDS = 5.0


@dataclass
class FakeKubernetes:
    """The cluster's state, as the fake API serves it."""

    token: str = "fake-token"
    nodes: list[dict[str, Any]] = field(default_factory=list)
    daemonsets: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    """Seconds every answer waits (to test client timeouts)."""
    forbidden: set[str] = field(default_factory=set)
    """Resources the token may not list ('nodes', 'daemonsets'): the answer is RBAC's 403."""
    requests: list[str] = field(default_factory=list)
    """Paths with query strings, as received."""

    def node(self, name: str) -> dict[str, Any]:
        return next(n for n in self.nodes if n["metadata"]["name"] == name)

    def daemonset(self, name: str) -> dict[str, Any]:
        return next(d for d in self.daemonsets if d["metadata"]["name"] == name)


def node(
    name: str,
    labels: dict[str, str],
    devices: dict[str, int],
    *,
    ready: bool = True,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """A Node as `kubectl get node -o json` shows it; `devices` are extended resources (capacity and
    allocatable alike)."""
    resources = {"cpu": "192", "ephemeral-storage": "524275692Ki", "memory": "2097152Ki", "pods": "100"}
    resources.update({key: str(count) for key, count in devices.items()})
    allocatable = {**resources, "cpu": "191450m", "memory": "2045632Ki"}
    pressure = [
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    conditions = [_condition(kind, "False", why, text) for kind, why, text in pressure]
    if ready:
        conditions.append(_condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
    else:
        conditions.append(
            _condition("Ready", "False", reason or "KubeletNotReady", message or "container runtime is down")
        )
    address = name.removeprefix("ip-").split(".")[0].replace("-", ".")
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": "1000",
            "creationTimestamp": STAMP,
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "p5.48xlarge",
                **labels,
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"providerID": f"aws:///us-east-1a/i-{zlib.crc32(name.encode()):017x}"},
        "status": {
            "capacity": resources,
            "allocatable": allocatable,
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": address},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": f"boot-{name}",
                "containerRuntimeVersion": "containerd://2.1.4",
                "kernelVersion": "6.12.40-63.114.amzn2023.x86_64",
                "kubeProxyVersion": "",
                "kubeletVersion": "v1.35.0-eks-1a2b3c4",
                "machineID": f"machine-{name}",
                "operatingSystem": "linux",
                "osImage": "Amazon Linux 2023.9.20260301",
                "systemUUID": f"uuid-{name}",
            },
        },
    }


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": status,
        "lastHeartbeatTime": STAMP,
        "lastTransitionTime": STAMP,
        "reason": reason,
        "message": message,
    }


def daemonset(
    name: str,
    namespace: str,
    labels: dict[str, str],
    *,
    desired: int,
    available: int | None = None,
    updated: int | None = None,
) -> dict[str, Any]:
    """A DaemonSet as the API shows it: available and updated default to desired; like the real API, zero
    counts that are optional (numberAvailable, numberUnavailable, updatedNumberScheduled) are left out."""
    available = desired if available is None else available
    updated = desired if updated is None else updated
    status: dict[str, Any] = {
        "currentNumberScheduled": desired,
        "desiredNumberScheduled": desired,
        "numberMisscheduled": 0,
        "numberReady": available,
        "observedGeneration": 1,
    }
    optional = {
        "numberAvailable": available,
        "numberUnavailable": desired - available,
        "updatedNumberScheduled": updated,
    }
    status.update({key: value for key, value in optional.items() if value})
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "resourceVersion": "2000",
            "generation": 1,
            "creationTimestamp": STAMP,
            "labels": labels,
            "annotations": {"deprecated.daemonset.template.generation": "1"},
        },
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": name, "image": f"registry.example/{name}:v1"}],
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
            },
            "revisionHistoryLimit": 10,
        },
        "status": status,
    }


def selector_labels(selector: str) -> dict[str, str]:
    """The labels an equality selector 'a=b,c=d' asks for."""
    pairs = (term.split("=", 1) for term in selector.split(",") if term.strip())
    return {key.strip(): value.strip() for key, value in pairs}


def matches(labels: dict[str, str], selector: str) -> bool:
    """Equality-based selector terms: 'k=v', 'k==v', 'k!=v', 'k' (exists), '!k' (does not exist)."""
    for raw in selector.split(","):
        term = raw.strip()
        if not term:
            continue
        if "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=", 1).split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _handler(state: FakeKubernetes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            try:
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                self.close_connection = True

        def _forbid(self, parts: list[str]) -> None:
            resource, group = parts[-1], ("apps" if parts[0] == "apis" else "")
            where = f'in the namespace "{parts[4]}"' if "namespaces" in parts else "at the cluster scope"
            qualified = f"{resource}.{group}" if group else resource
            message = (
                f'{qualified} is forbidden: User "tester" cannot list resource "{resource}" '
                f'in API group "{group}" {where}'
            )
            self._send(403, _status(403, "Forbidden", message))

        def do_GET(self) -> None:
            state.requests.append(self.path)
            if state.delay:
                time.sleep(state.delay)
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                self._send(401, _status(401, "Unauthorized", "Unauthorized"))
                return
            url = urlsplit(self.path)
            selector = parse_qs(url.query).get("labelSelector", [""])[0]
            parts = [p for p in url.path.split("/") if p]
            if parts == ["version"]:
                self._send(200, {"major": "1", "minor": "35", "gitVersion": "v1.35.0-eks-1a2b3c4"})
            elif parts == ["api", "v1", "nodes"]:
                items = [n for n in state.nodes if matches(n["metadata"]["labels"], selector)]
                self._send(200, _list("NodeList", "v1", items))
            elif parts and parts[-1] in state.forbidden:
                self._forbid(parts)
            elif parts[:3] == ["apis", "apps", "v1"] and parts[-1:] == ["daemonsets"]:
                namespace = parts[4] if len(parts) == 6 and parts[3] == "namespaces" else None
                if namespace is None and len(parts) != 4:
                    self._send(
                        404, _status(404, "NotFound", "the server could not find the requested resource")
                    )
                    return
                items = [
                    d
                    for d in state.daemonsets
                    if namespace in (None, d["metadata"]["namespace"])
                    and matches(d["metadata"]["labels"], selector)
                ]
                self._send(200, _list("DaemonSetList", "apps/v1", items))
            else:
                self._send(404, _status(404, "NotFound", "the server could not find the requested resource"))

    return Handler


def _list(kind: str, api_version: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "3000"}, "items": items}


class FakeApiServer:
    """Serves `state` on an ephemeral port of 127.0.0.1 from a daemon thread until `close()`."""

    def __init__(self, state: FakeKubernetes) -> None:
        self.state = state
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(SHUTDOWN_SECONDS)

    def __enter__(self) -> FakeApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_kubeconfig(self, path: Path, token: str | None = None) -> Path:
        """A kubeconfig whose current context reaches this server with a bearer token (the server's own,
        unless `token` is given)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token or self.state.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path
