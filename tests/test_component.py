"""The GpuCluster component and the helpers a Pulumi program uses, in a real (mocked) Pulumi runtime."""

from __future__ import annotations

import pulumi
import pytest

from provisioner import Cluster, NodePool, declaration_errors


def test_a_bad_declaration_in_a_pulumi_program_is_a_pulumi_error_naming_the_field() -> None:
    with pytest.raises(pulumi.RunError) as raised, declaration_errors():
        Cluster(name="x", provider="aws", region="us-east-1", pools=[NodePool(name="g", gpu="H100", gpus=0)])
    message = str(raised.value)
    assert "NodePool.gpus" in message and "greater than or equal to 1" in message
    assert raised.value.__cause__ is None  # no chained pydantic traceback


def test_declaration_errors_lets_other_exceptions_through() -> None:
    with pytest.raises(KeyError), declaration_errors():
        raise KeyError("not a declaration problem")
