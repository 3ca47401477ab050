"""`provisioner verify`: check a running Kubernetes cluster against its plan. Networked, opt-in, read-only.

For every node group of the plan: as many nodes carry the pool's label as the plan declares, each is Ready,
and each advertises the plan's GPUs (and fabric devices, e.g. EFA) as allocatable. For every Helm release
that runs a device plugin: its daemonset exists and all its pods are available and up to date.

Only list calls (nodes, daemonsets), each bounded by a timeout and made once (no retries). A connection
error, a timeout or a refused credential ends the run with one failure that names the endpoint and why.

The Kubernetes client (the `kubernetes` extra) is imported when a cluster is checked, not with this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from rich.table import Table
from rich.text import Text

from provisioner.plan.models import HelmReleasePlan, KubeNodeGroupPlan, KubernetesPlan

_T = TypeVar("_T")

DEFAULT_TIMEOUT = 10.0
"""Seconds each API request may take (connecting and reading together)."""


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison of the running cluster with the plan."""

    subject: str
    """What was checked: 'pool gpu', 'node ip-10-0-1-5 (pool gpu)', 'daemonset kube-system/efa'."""
    what: str
    """The check: 'nodes registered', 'Ready', 'allocatable nvidia.com/gpu', 'pods available'."""
    expected: str
    actual: str
    ok: bool
    message: str
    """One line, naming the subject; what to look at when the check fails."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    endpoint: str
    """The API server checked (from the kubeconfig)."""
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


class KubeconfigError(Exception):
    """The kubeconfig cannot be used (unreadable, malformed, an unknown context) or the client is missing:
    the user's to fix, before any request is made."""


class _Stop(Exception):
    """A request failed in a way every later request would too (unreachable, refused credentials)."""

    def __init__(self, check: Check) -> None:
        super().__init__(check.message)
        self.check = check


def load_api_client(kubeconfig: str, context: str | None = None) -> Any:
    """A `kubernetes.client.ApiClient` for the kubeconfig (several files joined by ':' merge, as in
    $KUBECONFIG), without retries: each request is made once."""
    try:
        import yaml
        from kubernetes import client, config
    except ImportError as exc:  # pragma: no cover - the extra is part of the test environment
        raise KubeconfigError(
            f"`provisioner verify` needs the Kubernetes client ({exc.name} is missing): "
            "pip install 'provisioner[kubernetes]'"
        ) from None
    configuration = client.Configuration()
    load_kube_config: Any = config.load_kube_config  # the client's own functions are not annotated
    try:
        load_kube_config(
            config_file=kubeconfig,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (config.ConfigException, yaml.YAMLError, OSError, ValueError, TypeError, AttributeError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise KubeconfigError(f"cannot use the kubeconfig {kubeconfig}: {detail}") from None
    configuration.retries = 0
    return client.ApiClient(configuration=configuration)


def verify_cluster(
    plan: KubernetesPlan,
    kubeconfig: str,
    *,
    context: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> VerifyResult:
    """Check the cluster the kubeconfig (and `context`) points at against `plan`.

    Raises `KubeconfigError` when the kubeconfig cannot be used; an API that cannot be reached or refuses
    the credentials is a failed check in the result, not an exception."""
    with load_api_client(kubeconfig, context) as api_client:
        return verify_with_client(plan, api_client, timeout=timeout)


def verify_with_client(
    plan: KubernetesPlan, api_client: Any, *, timeout: float = DEFAULT_TIMEOUT
) -> VerifyResult:
    """The checks of `verify_cluster`, through an existing `kubernetes.client.ApiClient`."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    endpoint = str(api_client.configuration.host).rstrip("/")
    checks: list[Check] = []
    try:
        for group in plan.node_groups:
            path = f"/api/v1/nodes?labelSelector={group.selector}"
            list_nodes = partial(core.list_node, label_selector=group.selector, _request_timeout=timeout)
            nodes = _call(endpoint, path, timeout, list_nodes)
            checks.extend(node_group_checks(group, nodes.items))
        for release in plan.releases:
            selector = release.device_plugin_selector
            if selector is None:
                continue
            path = f"/apis/apps/v1/namespaces/{release.namespace}/daemonsets?labelSelector={selector}"
            list_daemonsets = partial(
                apps.list_namespaced_daemon_set,
                release.namespace,
                label_selector=selector,
                _request_timeout=timeout,
            )
            daemonsets = _call(endpoint, path, timeout, list_daemonsets)
            checks.extend(daemonset_checks(release, daemonsets.items))
    except _Stop as stop:
        checks.append(stop.check)
    return VerifyResult(endpoint=endpoint, checks=tuple(checks))


# --- checks of the objects the API returned (kubernetes.client models) ---------------------------------


def node_group_checks(group: KubeNodeGroupPlan, nodes: Sequence[Any]) -> list[Check]:
    """Count, readiness and allocatable devices of the nodes that carry the pool's label."""
    pool = f"pool {group.pool}"
    count = len(nodes)
    if count < group.nodes:
        message = f"{pool}: {count} of {group.nodes} nodes registered"
    elif count > group.nodes:
        message = f"{pool}: {count} nodes registered, the plan declares {group.nodes}"
    else:
        message = f"{pool}: {count} of {group.nodes} nodes registered"
    checks = [
        Check(pool, "nodes registered", str(group.nodes), str(count), count == group.nodes, message),
    ]
    resources = [(group.gpu_resource, group.gpus_per_node)]
    if group.fabric_resource:
        resources.append((group.fabric_resource, group.fabric_devices_per_node))
    for node in sorted(nodes, key=lambda n: str(n.metadata.name)):
        subject = f"node {node.metadata.name}"
        named = f"{subject} ({pool})"
        checks.append(_ready_check(subject, named, node))
        allocatable = (node.status.allocatable if node.status else None) or {}
        for resource, wanted in resources:
            checks.append(_allocatable_check(subject, named, allocatable, resource, wanted))
    return checks


def _ready_check(subject: str, named: str, node: Any) -> Check:
    conditions = (node.status.conditions if node.status else None) or []
    ready = next((c for c in conditions if c.type == "Ready"), None)
    if ready is None:
        return Check(subject, "Ready", "True", "not reported", False, f"{named}: reports no Ready condition")
    if ready.status == "True":
        return Check(subject, "Ready", "True", "True", True, f"{named}: Ready")
    why = ": ".join(str(part) for part in (ready.reason, ready.message) if part) or "no reason given"
    actual = f"{ready.status} ({ready.reason})" if ready.reason else str(ready.status)
    message = f"{named}: not Ready (Ready={ready.status}, {why})"
    return Check(subject, "Ready", "True", actual, False, message)


def _allocatable_check(
    subject: str, named: str, allocatable: dict[str, str], resource: str, wanted: int
) -> Check:
    raw = allocatable.get(resource)
    have = _quantity(raw) if raw is not None else 0
    shown = str(have) if have is not None else repr(raw)
    ok = have == wanted
    what = f"allocatable {resource}"
    message = f"{named}: {what} is {shown}" + ("" if ok else f", expected {wanted}")
    if raw is None:
        message += " (not advertised: is its device plugin running on the node?)"
    return Check(subject, what, str(wanted), shown, ok, message)


def _quantity(raw: str) -> int | None:
    """A quantity as a whole number ('8', '1k'); None when it is not one."""
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        from kubernetes.utils import quantity

        parse: Any = quantity.parse_quantity  # not annotated
        value = parse(raw)
    except (ImportError, ValueError, ArithmeticError):
        return None
    return int(value) if value == int(value) else None


def daemonset_checks(release: HelmReleasePlan, daemonsets: Sequence[Any]) -> list[Check]:
    """The release's device plugin daemonset exists and all its pods are scheduled, available and updated."""
    selector = release.device_plugin_selector
    if release.device_plugin_daemonset is not None:  # the chart runs other daemonsets with the same labels
        daemonsets = [ds for ds in daemonsets if ds.metadata.name == release.device_plugin_daemonset]
        selector = f"{selector}, name {release.device_plugin_daemonset}"
    if not daemonsets:
        return [
            Check(
                f"release {release.name}",
                f"daemonset in {release.namespace}",
                str(selector),
                "none",
                False,
                f"release {release.name}: no daemonset matching {selector} in namespace {release.namespace} "
                "(is the chart installed, and has it created its device plugin?)",
            )
        ]
    return [_daemonset_check(release, ds) for ds in sorted(daemonsets, key=lambda d: str(d.metadata.name))]


def _daemonset_check(release: HelmReleasePlan, ds: Any) -> Check:
    status = ds.status
    desired = int(status.desired_number_scheduled or 0) if status else 0
    available = int(status.number_available or 0) if status else 0
    unavailable = status.number_unavailable if status else None
    updated = int(status.updated_number_scheduled or 0) if status else 0
    subject = f"daemonset {release.namespace}/{ds.metadata.name}"
    ok = desired > 0 and available == desired and unavailable in (None, 0) and updated == desired
    numbers = f"{available} of {desired} pods available, {unavailable or 0} unavailable, {updated} updated"
    actual = f"{available}/{desired}, {updated} updated" + (
        f", {unavailable} unavailable" if unavailable else ""
    )
    expected = f"{desired}/{desired}, {desired} updated" if desired else "pods scheduled"
    if desired == 0:
        message = (
            f"{subject} (release {release.name}): schedules no pod (desiredNumberScheduled 0): no node "
            "matches its node selector, or its pods do not tolerate the GPU nodes' taint"
        )
    else:
        message = f"{subject} (release {release.name}): {numbers}"
    return Check(subject, "pods available", expected, actual, ok, message)


# --- requests -------------------------------------------------------------------------------------------


def _call(endpoint: str, path: str, timeout: float, request: Callable[[], _T]) -> _T:
    """Make one request; a failure of it becomes `_Stop` with a failed check naming the endpoint and why."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return request()
    except ApiException as exc:
        why, actual = _api_error(exc)
    except (HTTPError, OSError) as exc:
        why, actual = _connection_error(exc, timeout), "unreachable"
    except ValueError as exc:  # the client could not read the answer as the objects it asked for
        why, actual = f"unexpected answer: {' '.join(str(exc).split())}", "unreadable answer"
    message = f"GET {endpoint}{path}: {why}"
    raise _Stop(Check(f"API {endpoint}", "API request", "200 OK", actual, False, message))


def _api_error(exc: Any) -> tuple[str, str]:
    status = int(exc.status or 0)
    if status == 0:  # the client wraps TLS errors this way
        lines = [line for line in str(exc.reason or "").splitlines() if line.strip()]
        return f"TLS failed: {lines[-1] if lines else 'unknown error'}", "TLS failed"
    reason = str(exc.reason or "")
    detail = _status_message(exc.body)
    actual = f"{status} {reason}".strip()
    if status == 401:
        hint = "the API server refused the kubeconfig's credentials (an expired token, or the wrong cluster?)"
        return f"{actual}: {hint}" + (f": {detail}" if detail and detail != reason else ""), actual
    if status == 403:
        hint = detail or "the kubeconfig's user may not list this resource"
        return f"{actual}: {hint}", actual
    return f"{actual}" + (f": {detail}" if detail else ""), actual


def _status_message(body: Any) -> str:
    """The `message` of a Kubernetes Status object in a response body, if it is one."""
    import json

    if not body:
        return ""
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return " ".join(str(body).split())[:200]
    message = data.get("message") if isinstance(data, dict) else None
    return str(message) if message else ""


def _connection_error(exc: BaseException, timeout: float) -> str:
    from urllib3.exceptions import (
        ConnectTimeoutError,
        MaxRetryError,
        NameResolutionError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
    )

    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    # NewConnectionError subclasses ConnectTimeoutError in urllib3, NameResolutionError subclasses both
    if isinstance(exc, NameResolutionError):
        return "cannot resolve the server's host name"
    if isinstance(exc, NewConnectionError):
        text = str(exc)
        marker = "Failed to establish a new connection: "
        return f"cannot connect: {text.split(marker, 1)[1] if marker in text else text}"
    if isinstance(exc, ConnectTimeoutError):
        return f"cannot connect: no connection within {timeout:g} s"
    if isinstance(exc, ReadTimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ProtocolError):
        return f"connection broken: {' '.join(str(exc).split())}"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


# --- output ---------------------------------------------------------------------------------------------


def verify_table(checks: Iterable[Check], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("Subject", no_wrap=True)
    table.add_column("Check", no_wrap=True)
    table.add_column("Expected", overflow="fold")
    table.add_column("Actual", overflow="fold")
    table.add_column("Status", no_wrap=True)
    for check in checks:
        status = Text("ok", style="green") if check.ok else Text("FAIL", style="bold red")
        table.add_row(check.subject, check.what, check.expected, check.actual, status)
    return table


def summary_line(result: VerifyResult, cluster: str) -> str:
    total, failed = len(result.checks), len(result.failures)
    if not total:
        return f"{cluster}: the plan has nothing to check against {result.endpoint}"
    if result.ok:
        return f"{cluster}: all {total} checks passed against {result.endpoint}"
    return f"{cluster}: {failed} of {total} checks failed against {result.endpoint}"


def verify_lines(result: VerifyResult, cluster: str) -> list[Text]:
    """What follows the table: each failure's message, then the summary line (print them unwrapped)."""
    lines = [Text.assemble(("FAIL ", "bold red"), check.message) for check in result.failures]
    lines.append(Text(summary_line(result, cluster), style="bold green" if result.ok else "bold red"))
    return lines
