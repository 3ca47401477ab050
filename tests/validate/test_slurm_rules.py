"""The Slurm rules as a table: a small change to a valid Slurm declaration -> the slurm-* findings it causes.

Each row lists every slurm-* (code, path, severity) the change must produce, and nothing else of that family,
plus a piece of text the first one's message must contain (the bad value, so the user sees what to change).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import pytest

from provisioner.catalog import shipped_catalog
from provisioner.providers import base
from provisioner.spec import Cluster, Severity
from provisioner.validate import Finding, validate
from provisioner.validate.rules.slurm import slurm_time_seconds

CATALOG = shipped_catalog()

BASE: dict[str, Any] = {
    "name": "llm-train",
    "provider": "aws",
    "region": "us-east-1",
    "pools": [{"name": "gpu", "gpu": "H100", "nodes": 2}],
    "storage": [{"kind": "lustre", "name": "shared", "mount_point": "/fsx", "capacity_gib": 2400}],
    "software": {"nvidia_driver": "580", "cuda": "12.8"},
    "network": {"ssh_cidrs": ["203.0.113.0/24"]},
    "scheduler": {"kind": "slurm"},
}

Mutation = Callable[[dict[str, Any]], None]
E, W = Severity.ERROR, Severity.WARNING


def declare(*mutations: Mutation) -> Cluster:
    raw = copy.deepcopy(BASE)
    for mutation in mutations:
        mutation(raw)
    return Cluster.model_validate(raw)


def slurm(**fields: Any) -> Mutation:
    def apply(raw: dict[str, Any]) -> None:
        raw["scheduler"].update(fields)

    return apply


def partitions(*parts: dict[str, Any]) -> Mutation:
    return slurm(partitions=list(parts))


def top(**fields: Any) -> Mutation:
    def apply(raw: dict[str, Any]) -> None:
        raw.update(fields)

    return apply


def second_pool(**fields: Any) -> Mutation:
    def apply(raw: dict[str, Any]) -> None:
        raw["pools"].append({"name": "gpu2", "gpu": "H100", "nodes": 1, **fields})

    return apply


def slurm_found(findings: list[Finding]) -> set[tuple[str, str, Severity]]:
    return {(f.code, f.path, f.severity) for f in findings if f.code.startswith("slurm-")}


# id, mutations, expected slurm-* {(code, path, severity)}, text in the message of the first expected finding
ROWS: list[tuple[str, list[Mutation], list[tuple[str, str, Severity]], str]] = [
    (
        "partition-unknown-pool",
        [partitions({"name": "batch", "pools": ["gpu", "gpux"]})],
        [("slurm-partition-unknown-pool", "scheduler.partitions[0].pools[1]", E)],
        "'gpux' is not a pool of this cluster; allowed: 'gpu'",
    ),
    (
        "partition-pool-name-is-case-sensitive",
        [partitions({"name": "batch", "pools": ["GPU"]})],
        [
            ("slurm-partition-unknown-pool", "scheduler.partitions[0].pools[0]", E),
            ("slurm-pool-without-partition", "pools[0]", W),
        ],
        "'GPU'",
    ),
    (
        "partition-duplicate-ignoring-case",
        [partitions({"name": "batch", "pools": ["gpu"]}, {"name": "Batch", "pools": ["gpu"]})],
        [("slurm-partition-duplicate", "scheduler.partitions[1].name", E)],
        "'Batch' is already the name of scheduler.partitions[0]",
    ),
    (
        "partition-default-many",
        [
            partitions(
                {"name": "a", "pools": ["gpu"], "default": True},
                {"name": "b", "pools": ["gpu"]},
                {"name": "c", "pools": ["gpu"], "default": True},
            )
        ],
        [("slurm-partition-default-many", "scheduler.partitions[2].default", E)],
        "'c' is default but so is scheduler.partitions[0] ('a')",
    ),
    (
        "pool-without-partition",
        [second_pool(), partitions({"name": "batch", "pools": ["gpu"]})],
        [("slurm-pool-without-partition", "pools[1]", W)],
        "'gpu2' is in no partition",
    ),
    (
        "max-nodes-too-small",
        [second_pool(), slurm(max_nodes=2)],
        [("slurm-max-nodes-too-small", "scheduler.max_nodes", E)],
        "2: the pools have 3 nodes in all",
    ),
    (
        "max-nodes-counts-gpus-as-nodes",
        [lambda raw: raw["pools"][0].update(nodes=None, gpus=32), slurm(max_nodes=3)],
        [("slurm-max-nodes-too-small", "scheduler.max_nodes", E)],
        "4 nodes",
    ),
    (
        "pyxis-without-enroot",
        [slurm(pyxis=True)],
        [("slurm-pyxis-without-enroot", "scheduler.pyxis", E)],
        "True: Pyxis runs jobs in Enroot containers",
    ),
    (
        "shared-home-without-filesystem",
        [top(storage=[{"kind": "bucket", "name": "checkpoints"}])],
        [("slurm-shared-home-without-filesystem", "scheduler.shared_home", W)],
        "no Lustre or NFS storage",
    ),
    (
        "controller-shape-unknown",
        [slurm(controller={"instance_type": "m7i.3xlarge"})],
        [("slurm-controller-shape-unknown", "scheduler.controller.instance_type", W)],
        "'m7i.3xlarge'",
    ),
    (
        "login-shape-unknown",
        [slurm(login={"count": 2, "instance_type": "c9.huge"})],
        [("slurm-controller-shape-unknown", "scheduler.login.instance_type", W)],
        "'c9.huge'",
    ),
    (
        "default-time-over-max",
        [partitions({"name": "batch", "pools": ["gpu"], "max_time": "1-00", "default_time": "2-00:00:00"})],
        [("slurm-default-time-over-max", "scheduler.partitions[0].default_time", E)],
        "'2-00:00:00' is longer than max_time='1-00'",
    ),
    (
        "default-time-infinite-over-finite-max",
        [partitions({"name": "batch", "pools": ["gpu"], "max_time": "90", "default_time": "UNLIMITED"})],
        [("slurm-default-time-over-max", "scheduler.partitions[0].default_time", E)],
        "'UNLIMITED'",
    ),
    (
        "version-too-old",
        [slurm(version="23.02.7")],
        [("slurm-version-too-old", "scheduler.version", E)],
        "'23.02.7' is older than Slurm 23.11",
    ),
    (
        "version-too-old-major",
        [slurm(version="22.05.11")],
        [("slurm-version-too-old", "scheduler.version", E)],
        "'22.05.11'",
    ),
    (
        "mixed-gpu-vendors",
        [second_pool(gpu="MI300X", nodes=1, software={"rocm": "6.4"})],
        [("slurm-mixed-gpu-vendors", "pools", W)],
        "NVIDIA pools ('gpu') and AMD pools ('gpu2')",
    ),
    (
        "several-at-once",
        [
            slurm(version="23.02.7", pyxis=True, max_nodes=1),
            partitions({"name": "batch", "pools": ["nope"]}),
        ],
        [
            ("slurm-version-too-old", "scheduler.version", E),
            ("slurm-pyxis-without-enroot", "scheduler.pyxis", E),
            ("slurm-max-nodes-too-small", "scheduler.max_nodes", E),
            ("slurm-partition-unknown-pool", "scheduler.partitions[0].pools[0]", E),
            ("slurm-pool-without-partition", "pools[0]", W),
        ],
        "'23.02.7'",
    ),
]

WARNING_ROWS = [row for row in ROWS if all(severity is W for _, _, severity in row[2])]


def test_the_base_slurm_declaration_is_valid() -> None:
    assert validate(declare(), CATALOG) == []


@pytest.mark.parametrize(
    "valid",
    [
        pytest.param([second_pool()], id="two-pools-default-partitions"),
        pytest.param(
            [second_pool(), partitions({"name": "batch", "pools": ["gpu", "gpu2"], "default": True})],
            id="one-partition-over-both-pools",
        ),
        pytest.param(
            [partitions({"name": "a", "pools": ["gpu"]}, {"name": "b", "pools": ["gpu"]})],
            id="no-default-partition-first-one-is",
        ),
        pytest.param([slurm(max_nodes=2)], id="max-nodes-exactly-the-pools"),
        pytest.param(
            [slurm(pyxis=True), lambda raw: raw["software"].update(enroot=True)], id="pyxis-with-enroot"
        ),
        pytest.param(
            [slurm(pyxis=True), second_pool(software={"enroot": True})], id="pyxis-with-enroot-on-one-pool"
        ),
        pytest.param([slurm(pyxis=False)], id="pyxis-off"),
        pytest.param([slurm(shared_home=False), top(storage=[])], id="local-home-without-storage"),
        pytest.param(
            [slurm(controller={"instance_type": "m7i.4xlarge"}, login={"instance_type": "m7i.xlarge"})],
            id="known-support-shapes",
        ),
        pytest.param([slurm(login={"count": 2})], id="login-default-shape"),
        pytest.param(
            [partitions({"name": "batch", "pools": ["gpu"], "max_time": "2-00", "default_time": "48:00:00"})],
            id="default-time-equal-to-max",
        ),
        pytest.param(
            [partitions({"name": "batch", "pools": ["gpu"], "default_time": "1-00:00:00"})],
            id="default-time-under-infinite",
        ),
        pytest.param([slurm(version="23.11.10")], id="oldest-supported-version"),
        pytest.param([slurm(version="24.05.8")], id="version-24-05"),
    ],
)
def test_small_valid_changes_keep_the_slurm_declaration_valid(valid: list[Mutation]) -> None:
    assert validate(declare(*valid), CATALOG) == []


def test_no_slurm_rule_runs_without_a_scheduler() -> None:
    cluster = declare(top(scheduler=None, storage=[]), second_pool(gpu="MI300X", software={"rocm": "6.4"}))
    assert slurm_found(validate(cluster, CATALOG)) == set()


@pytest.mark.parametrize(
    ("mutations", "expected", "shows"), [pytest.param(*row[1:], id=row[0]) for row in ROWS]
)
def test_slurm_rule(mutations: list[Mutation], expected: list[tuple[str, str, Severity]], shows: str) -> None:
    findings = validate(declare(*mutations), CATALOG)
    assert slurm_found(findings) == set(expected)
    first = next(f for f in findings if (f.code, f.path) == expected[0][:2])
    assert shows in first.message
    for finding in findings:
        assert finding.fix.strip(), finding
        assert finding.message.strip(), finding


@pytest.mark.parametrize(
    ("mutations", "expected"), [pytest.param(*row[1:3], id=row[0]) for row in WARNING_ROWS]
)
def test_slurm_warnings_can_be_suppressed(
    mutations: list[Mutation], expected: list[tuple[str, str, Severity]]
) -> None:
    codes = [code for code, _, _ in expected]
    assert slurm_found(validate(declare(*mutations, top(suppress=codes)), CATALOG)) == set()


def test_fixes_name_concrete_values() -> None:
    (too_small,) = validate(declare(second_pool(), slurm(max_nodes=2)), CATALOG)
    assert "raise max_nodes to at least 3" in too_small.fix
    (pyxis,) = validate(declare(slurm(pyxis=True)), CATALOG)
    assert "software.enroot=True" in pyxis.fix
    (home,) = validate(declare(top(storage=[])), CATALOG)
    assert "Lustre(" in home.fix and "shared_home=False" in home.fix
    (shape,) = validate(declare(slurm(controller={"instance_type": "m7i.3xlarge"})), CATALOG)
    assert "m7i.2xlarge" in shape.fix


def test_slurm_unsupported_when_the_provider_lacks_the_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    info = base.provider_info("aws")
    assert info is not None
    without = {cap: why for cap, why in info.capabilities.items() if cap is not base.Capability.SLURM}
    monkeypatch.setitem(base._REGISTRY, "aws", dataclasses.replace(info, capabilities=without))
    findings = validate(declare(), CATALOG)
    assert slurm_found(findings) == {("slurm-unsupported", "scheduler", E)}
    (finding,) = findings
    assert "'aws'" in finding.message and "slurm" in finding.message
    assert "scheduler=None" in finding.fix
    assert slurm_found(validate(declare(top(scheduler=None)), CATALOG)) == set()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("90", 90 * 60),
        ("5:30", 5 * 60 + 30),
        ("120:00", 120 * 60),
        ("1:00:00", 3600),
        ("48:00:00", 48 * 3600),
        ("2-00", 2 * 86400),
        ("1-12", 86400 + 12 * 3600),
        ("1-12:30", 86400 + 12 * 3600 + 30 * 60),
        ("1-00:00:01", 86400 + 1),
        ("7-0:00:00", 7 * 86400),
        ("INFINITE", math.inf),
        ("UNLIMITED", math.inf),
        ("infinite", math.inf),
    ],
)
def test_slurm_time_seconds(text: str, seconds: float) -> None:
    assert slurm_time_seconds(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "abc", "1:2", "1-", "-1", "1:00:00:00", "1-00:00:00:00", "1.5", "1 day"]
)
def test_slurm_time_seconds_rejects_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a Slurm time limit"):
        slurm_time_seconds(text)
