"""The JSON report: its shape, its determinism, and unknown prices as null (never 0)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from provisioner.plan import ClusterPlan
from provisioner.review.model import Failure, RecordedResource, RunResult
from provisioner.review.report import REPORT_SCHEMA_VERSION, report_dict, report_json, validation_dict
from provisioner.validate import error

REPO = Path(__file__).resolve().parents[2]
MakePlan = Callable[..., ClusterPlan]
MakeResult = Callable[..., RunResult]


def test_the_report_has_the_documented_keys(make_plan: MakePlan, make_result: MakeResult) -> None:
    data = json.loads(report_json(make_result(make_plan())))

    assert data["schema_version"] == REPORT_SCHEMA_VERSION
    assert {"source", "ok", "exit_code", "failure", "findings", "clusters", "cost", "exports"} <= set(data)
    (cluster,) = data["clusters"]
    assert {"name", "provider", "region", "pools", "resources", "cost", "findings"} <= set(cluster)
    (pool,) = cluster["pools"]
    assert {"name", "instance_type", "nodes", "gpus_per_node", "total_gpus", "interconnect", "labels"} <= set(
        pool
    )
    assert (pool["instance_type"], pool["nodes"], pool["gpus_per_node"]) == ("p5.48xlarge", 2, 8)
    assert {"type", "name", "parent", "inputs"} <= set(cluster["resources"][0])
    assert {"per_hour", "per_month", "known_per_hour", "unpriced_pools"} <= set(cluster["cost"])


def test_findings_carry_severity_code_path_message_fix(make_plan: MakePlan, make_result: MakeResult) -> None:
    finding = error("gpu-count", "pools[0].gpus", "12 is not a multiple of 8", "use 8 or 16")
    result = make_result(make_plan().model_copy(update={"findings": [finding]}))
    (cluster,) = report_dict(result)["clusters"]
    assert cluster["findings"] == [
        {
            "severity": "error",
            "code": "gpu-count",
            "path": "pools[0].gpus",
            "message": "12 is not a multiple of 8",
            "fix": "use 8 or 16",
        }
    ]
    assert report_dict(result)["exit_code"] == 2


def test_the_same_run_gives_the_same_text_whatever_the_registration_order(
    make_plan: MakePlan, make_result: MakeResult, recorded: Callable[[str], tuple[RecordedResource, ...]]
) -> None:
    plan = make_plan()
    forward = make_result(plan, recorded("demo"))
    backward = make_result(plan, tuple(reversed(recorded("demo"))))
    assert report_json(forward) == report_json(backward)
    group = report_dict(forward)["clusters"][0]["resources"][0]
    assert list(group["inputs"]) == ["minSize", "password", "tags"]
    assert list(group["inputs"]["tags"]) == ["a", "b"]


def test_an_unknown_price_is_null_never_zero(
    make_plan: MakePlan, make_result: MakeResult, without_price: Callable[[ClusterPlan], ClusterPlan]
) -> None:
    data = report_dict(make_result(without_price(make_plan())))
    (cluster,) = data["clusters"]
    assert cluster["pools"][0]["price_per_hour"] is None
    assert cluster["cost"]["per_hour"] is None and cluster["cost"]["per_month"] is None
    assert cluster["cost"]["unpriced_pools"] == ["gpu"]
    assert data["cost"]["per_hour"] is None and data["cost"]["unpriced_pools"] == ["demo/gpu"]


def test_known_prices_add_up(make_plan: MakePlan, make_result: MakeResult) -> None:
    one, two = make_plan(nodes=1, name="one"), make_plan(nodes=2, name="two")
    base = make_result(one)
    data = report_dict(RunResult(source=base.source, clusters=base.clusters + make_result(two).clusters))
    node_hour = one.pools[0].price_per_node_hour
    assert node_hour is not None
    assert data["cost"]["per_hour"] == round(3 * node_hour, 4)


def test_a_failure_is_reported_with_its_location_but_no_traceback(
    make_plan: MakePlan, make_result: MakeResult
) -> None:
    failure = Failure("x.py:3: ValueError: no", 1, "x.py:3", "Traceback (most recent call last): ...")
    result = RunResult(source=make_result(make_plan()).source, failure=failure)
    data = report_dict(result)
    assert data["failure"] == {"message": "x.py:3: ValueError: no", "location": "x.py:3"}
    assert "Traceback" not in report_json(result)
    assert data["exit_code"] == 1 and data["clusters"] == []


def test_the_validation_report_is_findings_only(make_plan: MakePlan, make_result: MakeResult) -> None:
    data = validation_dict(make_result(make_plan()))
    assert set(data["clusters"][0]) == {"name", "component", "provider", "region", "findings"}


def test_review_never_imports_pulumi() -> None:
    code = (
        "import sys, provisioner.review.report, provisioner.review.table, provisioner.review.catalog_view;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_slurm_cluster_reports_its_scheduler_and_prices_its_support_nodes(
    make_plan: MakePlan, make_result: MakeResult
) -> None:
    from provisioner.catalog import shipped_catalog
    from provisioner.plan import plan_cluster
    from provisioner.spec import Cluster, NodePool, Slurm, SlurmLogin

    bare = make_plan()
    cluster = Cluster(
        name="demo",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", nodes=2)],
        scheduler=Slurm(login=SlurmLogin(count=2)),
    )
    plan = plan_cluster(cluster, shipped_catalog())
    (data,) = json.loads(report_json(make_result(plan)))["clusters"]
    slurm = data["scheduler"]
    assert slurm["controller"]["instance_type"] == "m7i.2xlarge" and slurm["login"]["count"] == 2
    assert slurm["partitions"] == [
        {
            "name": "gpu",
            "pools": ["gpu"],
            "nodesets": ["ns-gpu"],
            "default": True,
            "max_time": "INFINITE",
            "default_time": None,
            "exclusive": False,
        }
    ]
    assert slurm["nodesets"][0]["gres"] == "gpu:h100:8"
    support = 0.4032 + 2 * 0.2016  # controller m7i.2xlarge, 2 x login m7i.xlarge (catalog prices)
    assert data["cost"]["per_hour"] == round(bare.cost.per_hour + support, 4)  # type: ignore[operator]
    assert json.loads(report_json(make_result(bare)))["clusters"][0]["scheduler"] is None
