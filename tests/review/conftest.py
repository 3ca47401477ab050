"""Run results built by hand from real plans: review is tested without running any program."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from provisioner import Cluster, NodePool, load_catalog, plan_cluster
from provisioner.catalog import Catalog
from provisioner.plan import ClusterPlan, cost_of
from provisioner.review.model import ClusterRun, ProgramSource, RecordedResource, RunResult

SOURCE = ProgramSource(path="cluster.py", kind="file", project="provisioner", stack="plan")
COMPONENT = "provisioner:index:GpuCluster"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


def _make_plan(catalog: Catalog, nodes: int = 2, name: str = "demo") -> ClusterPlan:
    cluster = Cluster(
        name=name, provider="aws", region="us-east-1", pools=[NodePool(name="gpu", gpu="H100", nodes=nodes)]
    )
    return plan_cluster(cluster, catalog)


def _without_price(plan: ClusterPlan) -> ClusterPlan:
    """The same plan, as if the catalog had no price for its shape."""
    pools = [p.model_copy(update={"price_per_node_hour": None, "price_as_of": None}) for p in plan.pools]
    return plan.model_copy(update={"pools": pools, "cost": cost_of(pools)})


def _resources(name: str) -> tuple[RecordedResource, ...]:
    root = f"urn:pulumi:plan::provisioner::{COMPONENT}::{name}"
    group = f"urn:pulumi:plan::provisioner::{COMPONENT}$aws:autoscaling/group:Group::{name}-gpu-asg"
    return (
        RecordedResource(urn=root, type=COMPONENT, name=name, parent=None, inputs={}, custom=False),
        RecordedResource(
            urn=group,
            type="aws:autoscaling/group:Group",
            name=f"{name}-gpu-asg",
            parent=root,
            inputs={"minSize": 2, "tags": {"b": "2", "a": "1"}, "password": "[secret]"},
            custom=True,
        ),
    )


def _make_result(plan: ClusterPlan, recorded: tuple[RecordedResource, ...] | None = None) -> RunResult:
    run = ClusterRun(
        component=plan.name,
        plan=plan,
        emitted=plan.ok,
        implicit=True,
        resources=_resources(plan.name) if recorded is None else recorded,
    )
    return RunResult(source=SOURCE, clusters=(run,))


@pytest.fixture
def make_plan(catalog: Catalog) -> Callable[..., ClusterPlan]:
    """make_plan(nodes=2, name="demo"): the real plan of one H100 pool on AWS."""
    return lambda **kwargs: _make_plan(catalog, **kwargs)


@pytest.fixture
def make_result() -> Callable[..., RunResult]:
    """make_result(plan, recorded=None): a run of one cluster, with two recorded resources by default."""
    return _make_result


@pytest.fixture
def without_price() -> Callable[[ClusterPlan], ClusterPlan]:
    return _without_price


@pytest.fixture
def recorded() -> Callable[[str], tuple[RecordedResource, ...]]:
    return _resources
