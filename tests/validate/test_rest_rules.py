"""The REST clouds' findings (Lambda, Crusoe), one declaration per row: the codes, paths and severities."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner import load_catalog
from provisioner.spec import Cluster, Severity
from provisioner.validate import validate

CATALOG = load_catalog()
E, W = Severity.ERROR, Severity.WARNING
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIrules rules@test"
PROJECT = "198e7c51-9ed2-41db-b3c8-baeee40d7592"
SSH = {"ssh_cidrs": ["203.0.113.0/24"]}


def lambda_(**over: Any) -> dict[str, Any]:
    return {
        "name": "c",
        "provider": "lambda",
        "region": "us-east-1",
        "pools": [{"name": "gpu", "gpu": "H100", "nodes": 1}],
        "network": SSH,
        "options": {"provider": "lambda", "ssh_key_name": "k"},
        **over,
    }


def crusoe(**over: Any) -> dict[str, Any]:
    return {
        "name": "c",
        "provider": "crusoe",
        "region": "us-east1-a",
        "pools": [{"name": "gpu", "gpu": "L40S", "nodes": 1}],
        "network": SSH,
        "options": {"provider": "crusoe", "project_id": PROJECT, "ssh_public_key": KEY},
        **over,
    }


ROWS: list[tuple[str, dict[str, Any], set[tuple[str, str, Severity]]]] = [
    ("lambda-clean", lambda_(), set()),
    ("crusoe-clean", crusoe(), set()),
    (
        "lambda-no-key",
        lambda_(options={"provider": "lambda"}),
        {("lambda-ssh-key-missing", "options.ssh_key_name", E)},
    ),
    (
        "lambda-no-options",
        lambda_(options=None),
        {("lambda-ssh-key-missing", "options.ssh_key_name", E)},
    ),
    (
        "crusoe-no-project-no-key",
        crusoe(options={"provider": "crusoe"}),
        {
            ("crusoe-project-missing", "options.project_id", E),
            ("crusoe-ssh-key-missing", "options.ssh_public_key", E),
        },
    ),
    (
        "lambda-two-filesystems",
        lambda_(storage=[{"kind": "nfs", "name": "a"}, {"kind": "nfs", "name": "b", "mount_point": "/b"}]),
        {("lambda-one-filesystem", "storage[1]", E)},
    ),
    (
        "fallbacks-pinned-by-storage",
        lambda_(
            storage=[{"kind": "nfs"}],
            options={"provider": "lambda", "ssh_key_name": "k", "fallback_regions": ["us-west-1"]},
        ),
        {("rest-failover-pinned", "options.fallback_regions", W)},
    ),
    (
        "fallback-without-the-shape",
        crusoe(
            options={
                "provider": "crusoe",
                "project_id": PROJECT,
                "ssh_public_key": KEY,
                "fallback_locations": ["mars-1a"],
            }
        ),
        {("rest-fallback-region-unknown", "options.fallback_locations", W)},
    ),
    (
        "crusoe-h100-on-demand",
        crusoe(pools=[{"name": "gpu", "gpu": "H100", "nodes": 1}]),
        {("crusoe-reserved-only", "pools[0].capacity", W)},
    ),
    (
        "crusoe-reservation-needs-no-id",
        crusoe(pools=[{"name": "gpu", "gpu": "H100", "nodes": 1, "capacity": "reservation"}]),
        set(),
    ),
    ("no-ssh-range", lambda_(network={}), {("rest-ssh-closed", "network.ssh_cidrs", W)}),
    (
        "lambda-no-fabric",
        lambda_(pools=[{"name": "gpu", "gpu": "H100", "nodes": 2}]),
        {("multi-node-without-fabric", "pools[0].interconnect", W)},
    ),
    (
        "lambda-unsupported",
        lambda_(
            storage=[{"kind": "bucket"}],
            pools=[{"name": "gpu", "gpu": "H100", "nodes": 1, "capacity": "spot"}],
        ),
        {("provider-unsupported", "storage[0]", E), ("provider-unsupported", "pools[0].capacity", E)},
    ),
    (
        "lambda-tag-refused",
        lambda_(tags={"Team": "ml", "ok-key": "v"}),
        {("lambda-tag-invalid", "tags.Team", E)},
    ),
    ("crusoe-takes-any-tag", crusoe(tags={"Team": "ml"}), set()),
    (
        "crusoe-infiniband-on-a-pcie-shape",
        crusoe(pools=[{"name": "gpu", "gpu": "L40S", "nodes": 2, "interconnect": "infiniband"}]),
        {("interconnect-unavailable", "pools[0].interconnect", E)},
    ),
]


@pytest.mark.parametrize(("declaration", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_rest_rule(declaration: dict[str, Any], expected: set[tuple[str, str, Severity]]) -> None:
    findings = validate(Cluster.model_validate(declaration), CATALOG)
    assert {(f.code, f.path, f.severity) for f in findings} == expected, [f.render() for f in findings]


def test_the_messages_say_what_to_do() -> None:
    [missing] = validate(Cluster.model_validate(lambda_(options=None)), CATALOG)
    assert "exactly one SSH key" in missing.message and 'ssh_key_name="' in missing.fix
    [closed] = validate(Cluster.model_validate(lambda_(network={})), CATALOG)
    assert "never 0.0.0.0/0" in closed.fix
