"""`provisioner verify` against a fake Kubernetes API on 127.0.0.1 (real HTTP, the official client).

The healthy cluster is built from the plan of examples/h100_eks.py (its pools' labels and devices, its
releases' daemonset selectors); each test breaks one thing and looks for the failure that names it."""

from __future__ import annotations

import runpy
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from provisioner import plan_cluster
from provisioner.catalog import shipped_catalog
from provisioner.cli import app
from provisioner.k8s.verify import Check, KubeconfigError, VerifyResult, verify_cluster
from provisioner.plan.models import KubernetesPlan
from tests.k8s.fake_api import FakeApiServer, FakeKubernetes, daemonset, matches, node, selector_labels

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "h100_eks.py"
TIMEOUT = 5.0
"""Seconds per request: every test is bounded even if the fake server hangs."""

pytestmark = pytest.mark.timeout(120)
runner = CliRunner()


@pytest.fixture(scope="module")
def plan() -> KubernetesPlan:
    cluster = runpy.run_path(str(EXAMPLE))["cluster"]
    kubernetes = plan_cluster(cluster, shipped_catalog()).kubernetes
    assert kubernetes is not None
    return kubernetes


def _node_names(plan: KubernetesPlan) -> dict[str, list[str]]:
    return {
        group.pool: [f"ip-10-0-{g}-{i + 10}.ec2.internal" for i in range(group.nodes)]
        for g, group in enumerate(plan.node_groups, start=1)
    }


def _plugin_name(selector: str) -> str:
    """The daemonset's name: the value of its selector (as both charts name them)."""
    return next(iter(selector_labels(selector).values()))


def healthy(plan: KubernetesPlan) -> FakeKubernetes:
    """The cluster the plan describes, fully up, plus objects verify must not count (a CPU node, other
    daemonsets, a plugin's labels in another namespace)."""
    state = FakeKubernetes()
    names = _node_names(plan)
    gpu_nodes = 0
    for group in plan.node_groups:
        devices = {group.gpu_resource: group.gpus_per_node}
        if group.fabric_resource:
            devices[group.fabric_resource] = group.fabric_devices_per_node
        state.nodes.extend(node(name, group.labels, devices) for name in names[group.pool])
        gpu_nodes += group.nodes
    state.nodes.append(node("ip-10-0-9-9.ec2.internal", {"provisioner.dev/role": "system"}, {}))
    for release in plan.releases:
        if release.device_plugin_selector:
            labels = selector_labels(release.device_plugin_selector)
            name = _plugin_name(release.device_plugin_selector)
            state.daemonsets.append(daemonset(name, release.namespace, labels, desired=gpu_nodes))
    state.daemonsets.append(
        daemonset("aws-node", "kube-system", {"k8s-app": "aws-node"}, desired=gpu_nodes + 1)
    )
    state.daemonsets.append(
        daemonset("nvidia-dcgm-exporter", "gpu-operator", {"app": "nvidia-dcgm-exporter"}, desired=gpu_nodes)
    )
    return state


@pytest.fixture
def api(plan: KubernetesPlan) -> Iterator[FakeApiServer]:
    with FakeApiServer(healthy(plan)) as server:
        yield server


@pytest.fixture
def kubeconfig(api: FakeApiServer, tmp_path: Path) -> Path:
    return api.write_kubeconfig(tmp_path / "kubeconfig")


class _NoEmitter:
    """The CLI plans the program offline; verify needs the plan only, not the provider's resources."""

    def load_emitter(self) -> _NoEmitter:
        return self

    def emit(self, name: str, plan: Any, parent: Any) -> dict[str, Any]:
        return {}


@pytest.fixture(autouse=True)
def _plan_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import provisioner.component

    monkeypatch.setattr(provisioner.component, "provider_info", lambda name: _NoEmitter())


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def _verify(plan: KubernetesPlan, kubeconfig: Path, timeout: float = TIMEOUT) -> VerifyResult:
    return verify_cluster(plan, str(kubeconfig), timeout=timeout)


def _only_failure(result: VerifyResult) -> Check:
    assert len(result.failures) == 1, [c.message for c in result.failures]
    return result.failures[0]


def _first_node(plan: KubernetesPlan) -> str:
    return _node_names(plan)[plan.node_groups[0].pool][0]


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["verify", *args])
    return result.exit_code, " ".join(result.output.split())


# --- all healthy ----------------------------------------------------------------------------------------


def test_a_healthy_cluster_passes_every_check(
    plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path
) -> None:
    result = _verify(plan, kubeconfig)
    assert result.ok, [c.message for c in result.failures]
    assert result.endpoint == api.url
    group = plan.node_groups[0]
    per_node = 2 if group.fabric_resource else 1
    plugins = [r for r in plan.releases if r.device_plugin_selector]
    assert len(plugins) == 2
    assert len(result.checks) == 1 + group.nodes * (1 + per_node) + len(plugins)
    whats = {c.what for c in result.checks}
    assert {"nodes registered", "Ready", f"allocatable {group.gpu_resource}", "pods available"} <= whats
    assert f"allocatable {group.fabric_resource}" in whats
    subjects = {c.subject for c in result.checks}
    assert {
        f"daemonset {r.namespace}/{_plugin_name(r.device_plugin_selector or '')}" for r in plugins
    } <= subjects
    assert not any("ip-10-0-9-9" in s or "aws-node" in s or "dcgm" in s for s in subjects)
    # the client asked with the plan's selectors
    asked = [(urlsplit(r).path, parse_qs(urlsplit(r).query)["labelSelector"][0]) for r in api.state.requests]
    assert asked == [
        ("/api/v1/nodes", "provisioner.dev/pool=gpu"),
        ("/apis/apps/v1/namespaces/gpu-operator/daemonsets", "app=nvidia-device-plugin-daemonset"),
        (
            "/apis/apps/v1/namespaces/kube-system/daemonsets",
            "app.kubernetes.io/name=aws-efa-k8s-device-plugin",
        ),
    ]


def test_the_cli_passes_a_healthy_cluster(kubeconfig: Path) -> None:
    code, output = _cli(str(EXAMPLE), "--kubeconfig", str(kubeconfig), "--timeout", str(TIMEOUT))
    assert code == 0, output
    assert "eks-train: all 9 checks passed against http://127.0.0.1:" in output
    assert "nodes registered" in output and "FAIL" not in output


def test_the_cli_reads_kubeconfig_from_the_environment(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{kubeconfig.parent / 'absent'}:{kubeconfig}")
    code, output = _cli(str(EXAMPLE), "--component", "eks-train")
    assert code == 0, output
    assert "all 9 checks passed" in output


# --- shortfalls -----------------------------------------------------------------------------------------


def test_a_node_short_of_gpus_fails_naming_it(
    plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path
) -> None:
    group = plan.node_groups[0]
    name = _first_node(plan)
    api.state.node(name)["status"]["allocatable"][group.gpu_resource] = str(group.gpus_per_node - 1)
    failure = _only_failure(_verify(plan, kubeconfig))
    what = f"allocatable {group.gpu_resource}"
    assert failure.message == f"node {name} (pool {group.pool}): {what} is 7, expected {group.gpus_per_node}"
    assert (failure.expected, failure.actual) == ("8", "7")


def test_a_node_without_the_gpu_resource_reads_as_zero(
    plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path
) -> None:
    group = plan.node_groups[0]
    name = _first_node(plan)
    del api.state.node(name)["status"]["allocatable"][group.gpu_resource]
    failure = _only_failure(_verify(plan, kubeconfig))
    assert f"node {name} (pool gpu): allocatable nvidia.com/gpu is 0, expected 8" in failure.message
    assert "not advertised" in failure.message


def test_a_not_ready_node_fails_naming_it(plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path) -> None:
    group = plan.node_groups[0]
    name = _first_node(plan)
    index = api.state.nodes.index(api.state.node(name))
    devices = {group.gpu_resource: group.gpus_per_node}
    if group.fabric_resource:
        devices[group.fabric_resource] = group.fabric_devices_per_node
    api.state.nodes[index] = node(
        name, group.labels, devices, ready=False, reason="KubeletNotReady", message="PLEG is not healthy"
    )
    failure = _only_failure(_verify(plan, kubeconfig))
    assert failure.what == "Ready"
    assert failure.message == (
        f"node {name} (pool gpu): not Ready (Ready=False, KubeletNotReady: PLEG is not healthy)"
    )


def test_fewer_nodes_than_declared_fail_naming_the_pool(
    plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path
) -> None:
    api.state.nodes.remove(api.state.node(_first_node(plan)))
    failure = _only_failure(_verify(plan, kubeconfig))
    assert failure.message == "pool gpu: 1 of 2 nodes registered"
    assert (failure.subject, failure.expected, failure.actual) == ("pool gpu", "2", "1")


def test_a_node_short_of_efa_devices_fails(
    plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path
) -> None:
    group = plan.node_groups[0]
    assert group.fabric_resource == "vpc.amazonaws.com/efa"
    name = _node_names(plan)[group.pool][1]
    api.state.node(name)["status"]["allocatable"][group.fabric_resource] = "16"
    failure = _only_failure(_verify(plan, kubeconfig))
    assert failure.message == f"node {name} (pool gpu): allocatable vpc.amazonaws.com/efa is 16, expected 32"


def test_an_unavailable_device_plugin_fails_naming_it(
    plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path
) -> None:
    release = plan.release("gpu-operator")
    assert release is not None and release.device_plugin_selector == "app=nvidia-device-plugin-daemonset"
    name = _plugin_name(release.device_plugin_selector)
    index = api.state.daemonsets.index(api.state.daemonset(name))
    labels = selector_labels(release.device_plugin_selector)
    api.state.daemonsets[index] = daemonset(name, release.namespace, labels, desired=2, available=1)
    failure = _only_failure(_verify(plan, kubeconfig))
    assert failure.message == (
        "daemonset gpu-operator/nvidia-device-plugin-daemonset (release gpu-operator): "
        "1 of 2 pods available, 1 unavailable, 2 updated"
    )


def test_a_device_plugin_that_schedules_no_pod_fails(
    plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path
) -> None:
    release = plan.release("aws-efa-k8s-device-plugin")
    assert release is not None and release.device_plugin_selector
    name = _plugin_name(release.device_plugin_selector)
    index = api.state.daemonsets.index(api.state.daemonset(name))
    labels = selector_labels(release.device_plugin_selector)
    api.state.daemonsets[index] = daemonset(name, release.namespace, labels, desired=0)
    failure = _only_failure(_verify(plan, kubeconfig))
    assert failure.message.startswith(
        f"daemonset kube-system/{name} (release {release.name}): schedules no pod"
    )


def test_a_missing_device_plugin_fails_naming_namespace_and_selector(
    plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path
) -> None:
    release = plan.release("aws-efa-k8s-device-plugin")
    assert release is not None and release.namespace == "kube-system" and release.device_plugin_selector
    # its labels in another namespace do not count
    api.state.daemonset(_plugin_name(release.device_plugin_selector))["metadata"]["namespace"] = "default"
    failure = _only_failure(_verify(plan, kubeconfig))
    selector = release.device_plugin_selector
    assert failure.message.startswith(
        f"release {release.name}: no daemonset matching {selector} in namespace kube-system"
    )


def test_every_shortfall_is_reported_in_one_run(
    plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path
) -> None:
    names = _node_names(plan)["gpu"]
    api.state.node(names[0])["status"]["allocatable"]["nvidia.com/gpu"] = "7"
    api.state.node(names[1])["status"]["allocatable"]["vpc.amazonaws.com/efa"] = "31"
    api.state.daemonsets.remove(api.state.daemonset("nvidia-device-plugin-daemonset"))
    result = _verify(plan, kubeconfig)
    assert len(result.failures) == 3
    code, output = _cli(str(EXAMPLE), "--kubeconfig", str(kubeconfig))
    assert code == 1, output
    assert "eks-train: 3 of 9 checks failed" in output
    assert f"FAIL node {names[0]} (pool gpu): allocatable nvidia.com/gpu is 7, expected 8" in output


# --- the API cannot be used -----------------------------------------------------------------------------


def test_a_refused_token_is_one_clear_failure(
    plan: KubernetesPlan, api: FakeApiServer, tmp_path: Path
) -> None:
    config = api.write_kubeconfig(tmp_path / "wrong", token="not-the-token")
    result = _verify(plan, config)
    failure = _only_failure(result)
    assert len(result.checks) == 1
    assert failure.message.startswith(
        f"GET {api.url}/api/v1/nodes?labelSelector=provisioner.dev/pool=gpu: 401"
    )
    assert "refused the kubeconfig's credentials" in failure.message
    code, output = _cli(str(EXAMPLE), "--kubeconfig", str(config))
    assert code == 1, output
    assert "401 Unauthorized" in output and "Traceback" not in output
    assert "eks-train: 1 of 1 checks failed" in output


def test_a_forbidden_list_is_one_clear_failure(
    plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path
) -> None:
    api.state.forbidden.add("daemonsets")
    result = _verify(plan, kubeconfig)
    failure = _only_failure(result)
    assert all(c.ok for c in result.checks if c.subject.startswith(("pool", "node")))
    assert failure.message == (
        f"GET {api.url}/apis/apps/v1/namespaces/gpu-operator/daemonsets?labelSelector="
        "app=nvidia-device-plugin-daemonset: 403 Forbidden: daemonsets.apps is forbidden: "
        'User "tester" cannot list resource "daemonsets" in API group "apps" in the namespace "gpu-operator"'
    )
    assert result.checks[-1] is failure  # it stopped there


def test_an_unreachable_server_is_one_clear_failure(plan: KubernetesPlan, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "kubeconfig"
    with FakeApiServer(FakeKubernetes()) as server:
        server.write_kubeconfig(config)
    config.write_text(config.read_text().replace(server.url, f"http://127.0.0.1:{port}"))
    failure = _only_failure(_verify(plan, config))
    assert failure.message.startswith(f"GET http://127.0.0.1:{port}/api/v1/nodes")
    assert "cannot connect" in failure.message and "refused" in failure.message.lower()
    assert failure.actual == "unreachable"


def test_a_slow_server_times_out_quickly(plan: KubernetesPlan, api: FakeApiServer, kubeconfig: Path) -> None:
    api.state.delay = 1.0
    failure = _only_failure(_verify(plan, kubeconfig, timeout=0.3))
    assert failure.message.endswith("no answer within 0.3 s")
    assert len(api.state.requests) == 1  # no retry


# --- usage errors ---------------------------------------------------------------------------------------


def test_a_declaration_without_kubernetes_is_a_usage_error(kubeconfig: Path, tmp_path: Path) -> None:
    program = tmp_path / "plain.py"
    program.write_text(
        textwrap.dedent(
            """
            from provisioner import Cluster, NodePool
            cluster = Cluster(name="plain", provider="aws", region="us-east-1",
                              pools=[NodePool(name="gpu", gpu="H100", nodes=2)])
            """
        )
    )
    code, output = _cli(str(program), "--kubeconfig", str(kubeconfig))
    assert code == 2, output
    assert "no cluster with a Kubernetes scheduler" in output and "it declares plain" in output


def test_a_missing_kubeconfig_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = _cli(str(EXAMPLE), "--kubeconfig", str(tmp_path / "nope"))
    assert code == 2 and f"kubeconfig {tmp_path / 'nope'} not found" in output
    monkeypatch.delenv("KUBECONFIG", raising=False)
    code, output = _cli(str(EXAMPLE))
    assert code == 2 and "no kubeconfig: pass --kubeconfig FILE or set $KUBECONFIG" in output
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    code, output = _cli(str(EXAMPLE))
    assert code == 2 and "no kubeconfig file found" in output


def test_an_unusable_kubeconfig_is_a_usage_error(
    plan: KubernetesPlan, kubeconfig: Path, tmp_path: Path
) -> None:
    with pytest.raises(KubeconfigError, match="context"):
        verify_cluster(plan, str(kubeconfig), context="elsewhere", timeout=TIMEOUT)
    broken = tmp_path / "broken"
    broken.write_text("clusters: [unclosed\n")
    code, output = _cli(str(EXAMPLE), "--kubeconfig", str(broken))
    assert code == 2, output
    assert f"cannot use the kubeconfig {broken}" in output and "Traceback" not in output


def test_an_unknown_component_is_a_usage_error(kubeconfig: Path) -> None:
    code, output = _cli(str(EXAMPLE), "--kubeconfig", str(kubeconfig), "--component", "other")
    assert code == 2, output
    assert "declares no cluster 'other'; it declares: eks-train" in output


def test_the_timeout_must_be_positive(kubeconfig: Path) -> None:
    code, output = _cli(str(EXAMPLE), "--kubeconfig", str(kubeconfig), "--timeout", "0")
    assert code == 2, output


# --- the fake API itself --------------------------------------------------------------------------------


def test_the_fake_api_filters_by_equality_selectors() -> None:
    labels = {"app": "x", "tier": "gpu"}
    assert matches(labels, "app=x,tier==gpu")
    assert matches(labels, "app,!missing,tier!=cpu")
    assert not matches(labels, "app=y")
    assert not matches(labels, "app!=x")
    assert not matches(labels, "!app")
    assert selector_labels("a=b, c=d") == {"a": "b", "c": "d"}


def test_the_device_plugin_charts_mps_daemon_is_not_the_device_plugin(tmp_path: Path) -> None:
    """NVIDIA's device plugin chart also runs an MPS control daemon with the same labels, on MPS nodes only
    (none here): verify judges the device plugin by its name, not that daemon's zero pods."""
    cluster = runpy.run_path(str(EXAMPLE))["cluster"]
    cluster = cluster.model_copy(
        update={"scheduler": cluster.scheduler.model_copy(update={"device_plugin": "device-plugin"})}
    )
    plan = plan_cluster(cluster, shipped_catalog()).kubernetes
    assert plan is not None
    release = plan.release("nvidia-device-plugin")
    assert release is not None and release.device_plugin_daemonset == "nvidia-device-plugin"
    state = healthy(plan)
    labels = selector_labels(str(release.device_plugin_selector))
    state.daemonsets.append(
        daemonset("nvidia-device-plugin-mps-control-daemon", release.namespace, labels, desired=0)
    )
    with FakeApiServer(state) as server:
        result = verify_cluster(plan, str(server.write_kubeconfig(tmp_path / "kc")), timeout=TIMEOUT)
        assert result.ok, [c.message for c in result.failures]
        state.daemonsets[:] = [d for d in state.daemonsets if d["metadata"]["name"] != "nvidia-device-plugin"]
        result = verify_cluster(plan, str(server.write_kubeconfig(tmp_path / "kc2")), timeout=TIMEOUT)
    failure = _only_failure(result)
    assert "no daemonset matching" in failure.message and "name nvidia-device-plugin" in failure.message
