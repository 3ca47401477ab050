"""Shape selection: which instance type and how many nodes a pool becomes."""

from __future__ import annotations

import pytest

from provisioner.catalog import load_catalog
from provisioner.catalog.select import Selection, SelectionProblem, select_offer

CATALOG = load_catalog()


def pick(
    gpu: str,
    gpus: int | None = None,
    nodes: int | None = None,
    instance_type: str | None = None,
    region: str | None = None,
) -> Selection | SelectionProblem:
    return select_offer(CATALOG, "aws", gpu, gpus, nodes, instance_type, region=region)


def chosen(*args: object, **kwargs: object) -> tuple[str, int]:
    result = pick(*args, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, Selection), result
    return result.offer.instance_type, result.nodes


def problem(*args: object, **kwargs: object) -> SelectionProblem:
    result = pick(*args, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, SelectionProblem), result
    return result


@pytest.mark.parametrize(
    ("gpu", "gpus", "nodes", "expected"),
    [
        ("H100", 64, None, ("p5.48xlarge", 8)),
        ("H100", 8, None, ("p5.48xlarge", 1)),
        ("H100", 1, None, ("p5.4xlarge", 1)),
        ("H100", None, 3, ("p5.48xlarge", 3)),
        ("H100", None, None, ("p5.48xlarge", 1)),
        ("T4", 4, None, ("g4dn.12xlarge", 1)),
        ("T4", 1, None, ("g4dn.xlarge", 1)),  # the cheapest known single-T4 shape
        ("T4", 16, None, ("g4dn.metal", 2)),
        ("B200", 16, None, ("p6-b200.48xlarge", 2)),
        ("A100-80GB", None, 2, ("p4de.24xlarge", 2)),
        ("H200", 32, None, ("p5en.48xlarge", 4)),  # the priced one wins over p5e (unknown price)
    ],
)
def test_selection(gpu: str, gpus: int | None, nodes: int | None, expected: tuple[str, int]) -> None:
    assert chosen(gpu, gpus, nodes) == expected


def test_count_not_a_multiple_explains_the_shape_and_the_single_gpu_option() -> None:
    found = problem("H100", 12)
    assert found.code == "gpu-count-not-multiple"
    assert found.field == "gpus"
    assert found.message.startswith("12: H100 on aws comes as p5.48xlarge with 8 GPUs per node")
    assert "1, 8" in found.message
    assert "multiple of 8" in found.fix
    assert 'instance_type="p5.4xlarge"' in found.fix


def test_count_not_a_multiple_without_single_gpu_shapes_has_no_single_gpu_hint() -> None:
    found = problem("A100-80GB", 4)
    assert found.code == "gpu-count-not-multiple"
    assert "p4de.24xlarge" in found.message
    assert "single-GPU" not in found.fix


def test_gpu_not_offered_names_where_it_is() -> None:
    found = problem("MI325X", 8)
    assert found.code == "gpu-not-offered"
    assert found.field == "gpu"
    assert "nor by any other provider in the catalog" in found.message
    assert "provider=" not in found.fix
    other = select_offer(CATALOG, "azure", "H100", 8, None, None)
    assert isinstance(other, SelectionProblem)
    assert other.message == "H100 is not offered on azure; in the catalog it is on: aws, crusoe, gcp, lambda"


def test_explicit_shape() -> None:
    assert chosen("L40S", None, 4, "g6e.xlarge") == ("g6e.xlarge", 4)
    assert chosen("H100", 16, None, "p5.4xlarge") == ("p5.4xlarge", 16)
    assert chosen("H100", None, None, "p5.48xlarge") == ("p5.48xlarge", 1)


def test_explicit_shape_problems() -> None:
    unknown = problem("H100", 8, None, "p5.96xlarge")
    assert unknown.code == "instance-type-unknown"
    assert unknown.field == "instance_type"
    assert "'p5.96xlarge'" in unknown.message
    assert "p5.48xlarge" in unknown.fix and "p5.4xlarge" in unknown.fix

    mismatch = problem("H100", 8, None, "p4d.24xlarge")
    assert mismatch.code == "instance-type-gpu-mismatch"
    assert mismatch.message == "p4d.24xlarge carries 8 x A100-40GB, not H100"
    assert 'gpu="A100-40GB"' in mismatch.fix

    trainium = problem("H100", None, 1, "trn1.32xlarge")
    assert trainium.code == "instance-type-gpu-mismatch"
    assert "AWS Trainium" in trainium.message

    count = problem("H100", 12, None, "p5.48xlarge")
    assert count.code == "gpu-count-not-multiple"
    assert count.message == "12: p5.48xlarge has 8 GPUs per node"


def test_a_shape_offered_in_the_region_wins_among_equal_gpu_counts() -> None:
    assert chosen("H200", 16, region="us-east-1") == ("p5en.48xlarge", 2)
    # p5en.48xlarge is not sold in sa-east-1, p5e.48xlarge is
    assert chosen("H200", 16, region="sa-east-1") == ("p5e.48xlarge", 2)
    assert chosen("H200", None, 1, region="eu-west-2") == ("p5e.48xlarge", 1)


def test_the_region_never_changes_the_gpus_per_node() -> None:
    # p5.4xlarge is not in us-west-1 but p5.48xlarge is: 1 GPU still means the 1-GPU shape
    assert chosen("H100", 1, region="us-west-1") == ("p5.4xlarge", 1)
    # nothing with H100 in af-south-1: the usual choice, reported later as shape-not-in-region
    assert chosen("H100", 64, region="af-south-1") == ("p5.48xlarge", 8)


def test_a_named_fabric_narrows_the_choice_to_shapes_that_have_it() -> None:
    from provisioner.catalog.select import select_for_pool
    from provisioner.spec import NodePool

    def shape_of(**fields: object) -> str:
        result = select_for_pool(
            CATALOG, "aws", "us-east-1", NodePool.model_validate({"name": "p", **fields})
        )
        assert isinstance(result, Selection)
        return result.offer.instance_type

    assert shape_of(gpu="T4", gpus=1) == "g4dn.xlarge"  # cheapest single T4, no EFA
    assert shape_of(gpu="T4", gpus=1, interconnect="efa") == "g4dn.8xlarge"  # cheapest 1-T4 with EFA
    assert shape_of(gpu="T4", gpus=1, interconnect="none") == "g4dn.xlarge"
    assert select_for_pool(CATALOG, "aws", "us-east-1", NodePool(name="p", gpu="nope")) is None
