"""Every example and stack plans offline, and the URNs it registers are pinned.

A changed URN makes `pulumi up` delete and recreate the resource: for a running GPU cluster that means
losing it. When a change is intended (and comes with aliases for existing stacks), regenerate with
`PROVISIONER_UPDATE_GOLDEN=1 python -m pytest tests/test_examples_and_stacks.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioner.program.runner import run_program
from provisioner.providers.base import implemented
from provisioner.review.model import EXIT_OK, RunResult

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "urns"
PROGRAMS = sorted(
    [*ROOT.glob("examples/*.py"), *(p.parent for p in ROOT.glob("stacks/*/Pulumi.yaml"))],
    key=lambda p: str(p),
)


def _id(path: Path) -> str:
    return f"{path.parent.name}-{path.stem}" if path.suffix else f"stack-{path.name}"


@pytest.fixture(scope="module", params=PROGRAMS, ids=[_id(p) for p in PROGRAMS])
def planned(request: pytest.FixtureRequest) -> tuple[Path, RunResult]:
    path: Path = request.param
    return path, run_program(path, display=str(path.relative_to(ROOT)))


def test_there_are_examples_and_stacks() -> None:
    assert len([p for p in PROGRAMS if p.suffix == ".py"]) >= 3
    assert any(p.name == "aws-h100-training" for p in PROGRAMS)


def test_it_plans_offline_without_errors(planned: tuple[Path, RunResult]) -> None:
    _, result = planned
    assert result.failure is None, result.failure
    assert result.exit_code == EXIT_OK, [f.render() for f in result.all_findings()]
    assert result.clusters and all(run.emitted for run in result.clusters)
    for run in result.clusters:
        groups = {  # bare and Slurm pools, EKS/GKE node pools, REST pools: groups, never one per node
            "aws:autoscaling/group:Group",
            "aws:eks/nodeGroup:NodeGroup",
            "gcp:compute/instanceGroupManager:InstanceGroupManager",
            "gcp:container/nodePool:NodePool",
        }
        dynamic = "pulumi-python:dynamic:Resource"
        rest_pools = [r for r in run.resources if r.type == dynamic and "pool" in r.inputs]
        assert rest_pools or any(r.type in groups for r in run.resources)
        cost = run.plan.cost
        assert cost.known_per_hour > 0
        # priced, or unknown only for storage the catalog has no price for there yet (never $0)
        assert cost.per_hour is not None or all(u.startswith("storage ") for u in cost.unpriced_pools), cost


def test_urns_are_pinned(planned: tuple[Path, RunResult]) -> None:
    path, result = planned
    urns = sorted(r.urn for run in result.clusters for r in run.resources)
    golden = GOLDEN / f"{_id(path)}.txt"
    text = "\n".join(urns) + "\n"
    if os.environ.get("PROVISIONER_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert golden.exists(), f"no golden URNs for {path}; generate them with PROVISIONER_UPDATE_GOLDEN=1"
    expected = golden.read_text().splitlines()
    missing = sorted(set(expected) - set(urns))
    added = sorted(set(urns) - set(expected))
    assert not missing and not added, (
        f"URNs changed for {path.name}: a changed URN replaces the resource on `pulumi up`.\n"
        f"gone: {missing}\nnew: {added}"
    )


@pytest.mark.parametrize("path", PROGRAMS, ids=[_id(p) for p in PROGRAMS])
def test_the_cli_plans_it_offline(path: Path) -> None:
    """`provisioner plan` as a user runs it: a fresh process, no credentials, no Pulumi CLI on PATH."""
    import json
    import subprocess
    import sys

    credentials = ("AWS_", "PULUMI_", "GOOGLE_", "CLOUDSDK_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(credentials)}
    env["PATH"] = str(Path(sys.executable).parent)
    done = subprocess.run(
        [sys.executable, "-m", "provisioner.cli", "plan", str(path.relative_to(ROOT)), "--format", "json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["schema_version"] >= 1
    for cluster in report["clusters"]:
        assert cluster["provider"] in implemented()
        assert cluster["pools"] and cluster["resources"] and cluster["cost"]["known_per_hour"] > 0
