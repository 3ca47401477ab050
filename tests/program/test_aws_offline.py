"""The real AWS emitter under the runner (skipped until the AWS adapter's emit side is importable)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("provisioner.providers.aws.resources")

from provisioner.program.runner import run_program


def _counts(path: Path) -> tuple[dict[str, int], int]:
    result = run_program(path)
    assert result.exit_code == 0, (result.failure, result.all_findings())
    (run,) = result.clusters
    groups = [r for r in run.resources if r.type == "aws:autoscaling/group:Group"]
    return run.resource_counts(), int(groups[0].inputs["desiredCapacity"])


def test_resources_do_not_grow_with_nodes(declaration: Callable[..., Path]) -> None:
    small, small_nodes = _counts(declaration(nodes=8, name="small.py"))
    large, large_nodes = _counts(declaration(nodes=128, name="large.py"))
    assert (small_nodes, large_nodes) == (8, 128)
    assert small == large
