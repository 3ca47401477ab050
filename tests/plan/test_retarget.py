"""Moving a declaration to another cloud: intent stays, the original cloud's choices are dropped and listed,
and a Lustre filesystem is fitted to what the target can make."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from provisioner import load_catalog
from provisioner.plan import plan_cluster
from provisioner.plan.retarget import retarget
from provisioner.spec import (
    AwsOptions,
    Cluster,
    Lustre,
    NodePool,
    ProviderName,
    Severity,
    Slurm,
    SlurmController,
    SlurmLogin,
    Software,
)

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog()


def aws_cluster(**fields: object) -> Cluster:
    declared: dict[str, object] = {
        "name": "llm",
        "provider": "aws",
        "region": "us-east-1",
        "pools": [
            NodePool(
                name="gpu",
                gpu="H100",
                nodes=2,
                instance_type="p5.48xlarge",
                zone="us-east-1a",
                capacity="capacity-block",
                reservation_id="cr-0123456789abcdef0",
                interconnect="efa",
                software=Software(image="ami-0123456789abcdef0"),
            )
        ],
        "options": AwsOptions(kms_key_id="alias/k"),
        "tags": {"team": "research"},
    }
    declared.update(fields)
    return Cluster.model_validate(declared)


def test_the_original_clouds_choices_are_dropped_and_listed() -> None:
    moved = retarget(aws_cluster(), ProviderName.GCP, "us-central1")
    pool = moved.cluster.pools[0]
    assert (moved.cluster.provider, moved.cluster.region) == (ProviderName.GCP, "us-central1")
    assert (pool.instance_type, pool.zone, pool.reservation_id) == (None, None, None)
    assert pool.capacity.value == "on-demand" and pool.interconnect.value == "auto"
    assert pool.software is not None and pool.software.image is None
    assert moved.cluster.options is None
    assert moved.cluster.tags == {"team": "research"} and (pool.gpu, pool.nodes) == ("H100", 2)
    assert set(moved.dropped) == {
        "pools[0].instance_type=p5.48xlarge",
        "pools[0].zone=us-east-1a",
        "pools[0].reservation_id=cr-0123456789abcdef0",
        "pools[0].capacity=capacity-block",
        "pools[0].interconnect=efa",
        "pools[0].software.image=ami-0123456789abcdef0",
        "options.provider=aws",
    }


def test_the_moved_declaration_plans_on_the_target_with_its_own_shape() -> None:
    moved = retarget(aws_cluster(), ProviderName.GCP, "us-central1")
    plan = plan_cluster(moved.cluster, CATALOG)
    assert [f for f in plan.findings if f.severity is Severity.ERROR] == []
    (pool,) = plan.pools
    assert pool.instance_type.startswith("a3-") and pool.total_gpus == 16
    assert pool.zone is not None and pool.zone.startswith("us-central1-")


def test_support_node_shapes_give_way_to_the_targets_defaults() -> None:
    slurm = Slurm(
        controller=SlurmController(instance_type="m7i.2xlarge"), login=SlurmLogin(instance_type="m7i.xlarge")
    )
    moved = retarget(aws_cluster(scheduler=slurm), ProviderName.GCP, "us-central1")
    assert isinstance(moved.cluster.scheduler, Slurm)
    assert moved.cluster.scheduler.controller.instance_type is None
    assert moved.cluster.scheduler.login is not None and moved.cluster.scheduler.login.instance_type is None
    assert "scheduler.controller.instance_type=m7i.2xlarge" in moved.dropped


@pytest.mark.parametrize(
    ("size", "tier", "provider", "expected"),
    [
        (4800, 250, ProviderName.GCP, (9000, 1000)),  # below every GCP minimum: the smallest filesystem
        (72000, 250, ProviderName.GCP, (72000, 250)),  # already valid: unchanged
        (20000, 250, ProviderName.GCP, (36000, 500)),  # the first tier it meets, up to its step
        (9000, 1000, ProviderName.AWS, (9600, 1000)),  # up to a multiple of 2400
        (1200, 300, ProviderName.AWS, (1200, 500)),  # up to the next tier
    ],
)
def test_lustre_is_fitted_to_the_targets_sizes(
    size: int, tier: int, provider: ProviderName, expected: tuple[int, int]
) -> None:
    source = "gcp" if provider is ProviderName.AWS else "aws"
    region = "us-central1" if source == "gcp" else "us-east-1"
    cluster = Cluster(
        name="llm",
        provider=source,
        region=region,
        pools=[NodePool(name="gpu", gpu="H100", nodes=1)],
        storage=[Lustre(capacity_gib=size, throughput_mib_per_tib=tier)],
    )
    target = "us-east-1" if provider is ProviderName.AWS else "us-central1"
    moved = retarget(cluster, provider, target)
    (lustre,) = moved.cluster.storage
    assert isinstance(lustre, Lustre)
    assert (lustre.capacity_gib, lustre.throughput_mib_per_tib) == expected
    assert any(d.startswith("storage[0]=") for d in moved.dropped) == ((size, tier) != expected)


def test_the_same_cloud_is_left_alone() -> None:
    cluster = aws_cluster()
    assert retarget(cluster, ProviderName.AWS, "us-east-1").cluster is cluster


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
NOT_ON_GCP = {"inference_l40s.py": "gpu-not-offered"}
"""Examples whose GPU Google Cloud does not offer, and the finding that says so."""


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_plans_on_aws_and_on_gcp_where_both_offer_its_gpu(path: Path) -> None:
    namespace = runpy.run_path(str(path))
    clusters = [v for v in namespace.values() if isinstance(v, Cluster)]
    assert clusters, f"{path.name} declares no cluster"
    for cluster in clusters:
        for provider, region in ((ProviderName.AWS, "us-east-1"), (ProviderName.GCP, "us-central1")):
            plan = plan_cluster(retarget(cluster, provider, region).cluster, CATALOG)
            errors = [f.code for f in plan.findings if f.severity is Severity.ERROR]
            if provider is ProviderName.GCP and path.name in NOT_ON_GCP:
                assert errors == [NOT_ON_GCP[path.name]]
            else:
                assert errors == [], f"{path.name} on {provider.value}: {errors}"
                assert plan.cost.known_per_hour > 0
                # what has no price here is storage the catalog does not price in that region yet
                assert all(u.startswith("storage ") for u in plan.cost.unpriced_pools), plan.cost
