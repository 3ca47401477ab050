"""Fixtures for running programs offline: tmp programs, and a fake emitter independent of any provider."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

DECLARATION = """
from provisioner import Cluster, NodePool

cluster = Cluster(
    name="demo",
    provider="aws",
    region="us-east-1",
    pools=[NodePool(name="gpu", gpu="H100", nodes={nodes})],
)
"""


class FakeEmitter:
    """Registers a small tree like a real emitter: a component, a VPC with a secret input, a group."""

    def emit(self, name: str, plan: Any, parent: Any) -> dict[str, Any]:
        network = pulumi.ComponentResource(
            "provisioner:fake:Network", f"{name}-network", None, pulumi.ResourceOptions(parent=parent)
        )
        vpc = pulumi.CustomResource(
            "aws:ec2/vpc:Vpc",
            f"{name}-vpc",
            {"cidrBlock": "10.0.0.0/16", "password": pulumi.Output.secret("hunter2")},
            pulumi.ResourceOptions(parent=network),
        )
        ami = pulumi.runtime.invoke("aws:ssm/getParameter:getParameter", {"name": "/gpu/ami"}).value["value"]
        for pool in plan.pools:
            pulumi.CustomResource(
                "aws:autoscaling/group:Group",
                f"{name}-{pool.name}-asg",
                {"desiredCapacity": pool.nodes, "imageId": ami, "vpcId": vpc.id},
                pulumi.ResourceOptions(parent=parent),
            )
        return {"vpc_id": vpc.id}


class _FakeInfo:
    def load_emitter(self) -> FakeEmitter:
        return FakeEmitter()


@pytest.fixture
def fake_emitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """GpuCluster emits through FakeEmitter, whatever the provider."""
    import provisioner.component

    monkeypatch.setattr(provisioner.component, "provider_info", lambda name: _FakeInfo())


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write('name.py', source) -> path under tmp_path (dedented)."""

    def _write(name: str, source: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def declaration(write: Callable[[str, str], Path]) -> Callable[..., Path]:
    def _declaration(nodes: int = 2, name: str = "cluster.py") -> Path:
        return write(name, DECLARATION.format(nodes=nodes))

    return _declaration
