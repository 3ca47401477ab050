"""docs/plan-schema.json describes what `plan --format json` writes: every example and stack, a plan with an
ERROR finding and a failed program validate against it; planning twice gives the same bytes; the key order
of the closed objects is the schema's; a doctored plan fails (so these tests can fail)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from provisioner.program.runner import run_program
from provisioner.review.model import RecordedResource
from provisioner.review.report import REPORT_SCHEMA_VERSION, report_json

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "docs" / "plan-schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)
PROGRAMS = sorted(
    [*ROOT.glob("examples/*.py"), *(p.parent for p in ROOT.glob("stacks/*/Pulumi.yaml"))],
    key=lambda p: str(p),
)


def _id(path: Path) -> str:
    return f"{path.parent.name}-{path.stem}" if path.suffix else f"stack-{path.name}"


def _plan_text(path: Path, display: str | None = None) -> str:
    shown = display if display is not None else str(path.relative_to(ROOT))
    return report_json(run_program(path, display=shown))


def _errors(document: Any) -> list[str]:
    found = sorted(VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found]


def _closed_keys(name: str | None = None) -> list[str]:
    """The keys of a closed object, in the schema's order: the order report.py writes them in."""
    node = SCHEMA if name is None else SCHEMA["$defs"][name]
    assert node["additionalProperties"] is False
    return list(node["properties"])


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _assert_sorted_maps(value: Any, where: str) -> None:
    for node in _walk(value):
        if isinstance(node, dict):
            assert list(node) == sorted(node), f"{where}: keys not sorted: {list(node)}"


def _assert_resources_sorted(resources: list[dict[str, Any]], where: str) -> None:
    keys = [(r["type"], r["name"], r["urn"]) for r in resources]
    assert keys == sorted(keys), f"{where}: resources not sorted by (type, name, urn)"


def _assert_documented_shape(document: dict[str, Any]) -> None:
    """What JSON Schema cannot say: key order, sorted maps, sorted resources, counts that add up."""
    assert list(document) == _closed_keys()
    assert list(document["source"]) == _closed_keys("source")
    if document["failure"] is not None:
        assert list(document["failure"]) == _closed_keys("failure")
    assert list(document["cost"]) == _closed_keys("total_cost")
    for line in document["log"]:
        assert list(line) == _closed_keys("log_line")
    _assert_sorted_maps(document["exports"], "exports")
    findings = [*document["findings"], *(f for c in document["clusters"] for f in c["findings"])]
    for finding in findings:
        assert list(finding) == _closed_keys("finding")
    resources = [*document["other_resources"], *(r for c in document["clusters"] for r in c["resources"])]
    for resource in resources:
        assert list(resource) == _closed_keys("resource")
        _assert_sorted_maps(resource["inputs"], f"inputs of {resource['urn']}")
    _assert_resources_sorted(document["other_resources"], "other_resources")
    assert document["resource_count"] == len(resources)
    for cluster in document["clusters"]:
        name = cluster["name"]
        assert list(cluster) == _closed_keys("cluster")
        assert list(cluster["cost"]) == _closed_keys("cluster_cost")
        for item in cluster["storage_costs"]:
            assert list(item) == _closed_keys("storage_cost")
        _assert_resources_sorted(cluster["resources"], f"{name}.resources")
        _assert_sorted_maps(cluster["tags"], f"{name}.tags")
        _assert_sorted_maps(cluster["resource_counts"], f"{name}.resource_counts")
        for pool in cluster["pools"]:
            _assert_sorted_maps(pool["labels"], f"{name}.pools.{pool['name']}.labels")
        counted = sum(cluster["resource_counts"].values())
        assert counted == len(cluster["resources"]), f"{name}: resource_counts do not add up"
        priced = [s["name"] for s in cluster["storage"] if s["kind"] != "scratch"]
        assert [s["name"] for s in cluster["storage_costs"]] == priced, f"{name}: storage_costs order"


def _assert_valid(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(text)
    assert not _errors(document), "\n".join(_errors(document))
    _assert_documented_shape(document)
    return document


# --- the schema itself ---------------------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == f"https://provisioner.dev/schemas/plan-{REPORT_SCHEMA_VERSION}.json"


def test_the_schema_is_of_the_version_the_report_writes() -> None:
    assert SCHEMA["properties"]["schema_version"] == {
        "const": REPORT_SCHEMA_VERSION,
        "description": SCHEMA["properties"]["schema_version"]["description"],
    }


CLOSED = [
    "source",
    "failure",
    "finding",
    "log_line",
    "resource",
    "cluster_cost",
    "total_cost",
    "storage_cost",
    "cluster",
]


def test_closed_objects_require_every_key_and_describe_it() -> None:
    for name in [None, *CLOSED]:
        node = SCHEMA if name is None else SCHEMA["$defs"][name]
        assert node["additionalProperties"] is False, name
        assert node["required"] == list(node["properties"]), name
        shared = SCHEMA["$defs"]["cost_fields"]["properties"]
        for key, prop in node["properties"].items():
            prop = shared[key] if prop is True else prop  # the cost keys are described once, in cost_fields
            assert "description" in prop or "$ref" in prop, f"{name or '<root>'}.{key} is not described"


# --- real plans ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=PROGRAMS, ids=[_id(p) for p in PROGRAMS])
def planned(request: pytest.FixtureRequest) -> tuple[Path, str]:
    path: Path = request.param
    return path, _plan_text(path)


def test_there_are_examples_and_stacks_to_check() -> None:
    assert len([p for p in PROGRAMS if p.suffix == ".py"]) >= 3
    assert len([p for p in PROGRAMS if not p.suffix]) >= 3


def test_every_example_and_stack_plan_validates(planned: tuple[Path, str]) -> None:
    _, text = planned
    document = _assert_valid(text)
    assert document["ok"] and document["clusters"]


def test_planning_twice_gives_byte_identical_json(planned: tuple[Path, str]) -> None:
    path, text = planned
    assert _plan_text(path) == text
    assert text.endswith("}\n") and not text.endswith("\n\n")


def test_the_plan_does_not_depend_on_the_process_hash_seed() -> None:
    """Set and dict order must never leak into the file: two processes with different hash seeds agree."""
    program = "examples/h100_training.py"
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-m", "provisioner.cli", "plan", program, "--format", "json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    _assert_valid(outputs[0])


def test_the_plans_cover_the_open_shapes_the_schema_describes() -> None:
    """The examples exercise both schedulers, every storage kind and an unknown price, so the schema's
    branches are tested against real output rather than only written down."""
    documents = [json.loads(_plan_text(p)) for p in PROGRAMS]
    clusters = [c for d in documents for c in d["clusters"]]
    kinds = {(c["scheduler"] or {}).get("kind") for c in clusters}
    assert kinds == {None, "slurm", "kubernetes"}
    assert {s["kind"] for c in clusters for s in c["storage"]} == {"lustre", "nfs", "bucket", "scratch"}
    assert {s["billing"] for c in clusters for s in c["storage_costs"]} >= {"provisioned", "used"}
    assert any(d["cost"]["per_hour"] is None for d in documents)


# --- plans that are not fine -------------------------------------------------------------------------


@pytest.fixture
def program(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(name: str, source: str) -> Path:
        path = tmp_path / name
        path.write_text(dedent(source).lstrip(), encoding="utf-8")
        return path

    return write


def test_a_plan_with_an_error_finding_validates(program: Callable[[str, str], Path]) -> None:
    path = program(
        "bad.py",
        """
        from provisioner import Cluster, NodePool
        cluster = Cluster(name="demo", provider="aws", region="us-east-1",
                          pools=[NodePool(name="gpu", gpu="H100", gpus=12)])
        """,
    )
    text = _plan_text(path, display="bad.py")
    document = _assert_valid(text)
    assert (document["ok"], document["exit_code"], document["failure"]) == (False, 2, None)
    (cluster,) = document["clusters"]
    assert not cluster["emitted"]
    assert any(f["severity"] == "error" and f["path"] == "pools[0].gpus" for f in cluster["findings"])
    assert cluster["cost"]["per_hour"] is None and cluster["cost"]["unpriced_pools"] == ["gpu"]
    assert _plan_text(path, display="bad.py") == text


def test_a_failed_program_validates(program: Callable[[str, str], Path]) -> None:
    path = program(
        "boom.py",
        """
        import pulumi
        pulumi.log.warn("about to fail")
        raise ValueError("boom")
        """,
    )
    text = _plan_text(path, display="boom.py")
    document = _assert_valid(text)
    assert (document["ok"], document["exit_code"], document["clusters"]) == (False, 2, [])
    assert document["failure"]["location"] == "boom.py:3"
    assert document["log"] == [{"severity": "warning", "message": "about to fail"}]
    assert _plan_text(path, display="boom.py") == text


def test_an_invalid_declaration_validates(program: Callable[[str, str], Path]) -> None:
    path = program(
        "typo.py",
        """
        from provisioner import NodePool
        pool = NodePool(name="gpu", gpu="H100", nodes=1, colour="red")
        """,
    )
    document = _assert_valid(_plan_text(path, display="typo.py"))
    assert document["exit_code"] == 2 and document["failure"] is not None
    assert [(f["severity"], f["code"]) for f in document["findings"]] == [("error", "spec-extra-forbidden")]


# --- doctored plans fail ---------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def doctor(document: dict[str, Any]) -> None:
        node: Any = document
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return doctor


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def doctor(document: dict[str, Any]) -> None:
        node: Any = document
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]

    return doctor


def _all(*doctors: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def doctor(document: dict[str, Any]) -> None:
        for one in doctors:
            one(document)

    return doctor


DOCTORED = {
    "per_hour as a string": _set("clusters.0.cost.per_hour", "441.70"),
    "total per_month as a string": _set("cost.per_month", "$322,441.58"),
    "a missing top-level key": _delete("exports"),
    "a missing cluster key": _delete("clusters.0.storage_costs"),
    "a missing cost key": _delete("clusters.0.cost.known_per_hour"),
    "an extra cost key": _set("clusters.0.cost.discount", 0.1),
    "an extra top-level key": _set("generated_at", "2026-01-01T00:00:00Z"),
    "another schema version": _set("schema_version", REPORT_SCHEMA_VERSION + 1),
    "a known total despite an unpriced pool": _set("clusters.0.cost.unpriced_pools", ["gpu"]),
    "an unknown total written as 0": _all(
        _set("cost.unpriced_pools", ["llm-train/gpu"]),
        _set("cost.per_hour", 0.0),
        _set("cost.per_month", 0.0),
    ),
    "ok while exit_code says error": _set("exit_code", 2),
    "a negative price": _set("clusters.0.pools.0.price_per_node_hour", -1.0),
    "an unknown currency": _set("cost.currency", "EUR"),
    "a resource without a urn": _delete("clusters.0.resources.0.urn"),
    "a resource urn that is no urn": _set("clusters.0.resources.0.urn", "llm-train"),
    "a pool without instance_type": _delete("clusters.0.pools.0.instance_type"),
    "an unknown storage billing": _set("clusters.0.storage_costs.0.billing", "free"),
    "a used storage item with a monthly price": _set("clusters.0.storage_costs.1.per_month", 12.0),
    "an unknown scheduler kind": _set("clusters.0.scheduler", {"kind": "nomad"}),
    "a storage item of an unknown kind": _set("clusters.0.storage.0.kind", "tape"),
    "a finding of an unknown severity": _set(
        "findings", [{"severity": "fatal", "code": "x", "path": "", "message": "", "fix": ""}]
    ),
    "a finding without fix": _set(
        "findings", [{"severity": "error", "code": "x", "path": "", "message": ""}]
    ),
    "a source of an unknown kind": _set("source.kind", "notebook"),
}


@pytest.fixture(scope="module")
def training_plan() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_plan_text(ROOT / "examples" / "h100_training.py"))
    assert not _errors(document)
    assert [s["billing"] for s in document["clusters"][0]["storage_costs"]] == ["provisioned", "used"]
    return document


@pytest.mark.parametrize("doctor", list(DOCTORED.values()), ids=list(DOCTORED))
def test_a_doctored_plan_fails_validation(
    training_plan: dict[str, Any], doctor: Callable[[dict[str, Any]], None]
) -> None:
    document = copy.deepcopy(training_plan)
    doctor(document)
    assert _errors(document), "the schema accepted a doctored plan"


def test_open_objects_accept_an_added_key(training_plan: dict[str, Any]) -> None:
    """Pools, storage, network and scheduler are model dumps: a field added to them is no breaking change."""
    document = copy.deepcopy(training_plan)
    cluster = document["clusters"][0]
    cluster["pools"][0]["spare_capacity"] = 2
    cluster["storage"][0]["backup"] = True
    cluster["network"]["ipv6"] = False
    assert not _errors(document)


def test_the_sort_key_the_schema_documents_is_the_reports() -> None:
    resource = RecordedResource(
        urn="urn:pulumi:s::p::t::n", type="t", name="n", parent=None, inputs={}, custom=True
    )
    assert resource.sort_key() == ("t", "n", "urn:pulumi:s::p::t::n")
    assert "(type, name, urn)" in SCHEMA["$defs"]["resources"]["description"]
