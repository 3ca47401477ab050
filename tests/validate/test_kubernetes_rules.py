"""The Kubernetes rules as a table: a small change to a valid EKS declaration -> the kubernetes-* findings
it causes (every one, and nothing else of that family), with a piece of text the first message must carry."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from provisioner.catalog import shipped_catalog
from provisioner.providers import base
from provisioner.spec import Cluster, Severity
from provisioner.validate import Finding, validate
from provisioner.validate.rules import kubernetes as rules

CATALOG = shipped_catalog()
BASE: dict[str, Any] = {
    "name": "eks-train",
    "provider": "aws",
    "region": "us-east-1",
    "pools": [{"name": "gpu", "gpu": "H100", "nodes": 2}],
    "scheduler": {"kind": "kubernetes", "version": "1.35", "api_public_cidrs": ["203.0.113.0/24"]},
}
Mutation = Callable[[dict[str, Any]], None]
E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


def declare(*mutations: Mutation) -> Cluster:
    raw = copy.deepcopy(BASE)
    for mutation in mutations:
        mutation(raw)
    return Cluster.model_validate(raw)


def k8s(**fields: Any) -> Mutation:
    return lambda raw: raw["scheduler"].update(fields)


def top(**fields: Any) -> Mutation:
    return lambda raw: raw.update(fields)


def pool(**fields: Any) -> Mutation:
    return lambda raw: raw["pools"][0].update(fields)


def found(findings: list[Finding]) -> set[tuple[str, str, Severity]]:
    return {(f.code, f.path, f.severity) for f in findings if f.code.startswith("kubernetes-")}


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "today", lambda: date(2026, 12, 1))


ROWS: list[tuple[str, list[Mutation], list[tuple[str, str, Severity]], str]] = [
    ("valid", [], [], ""),
    (
        "api-unreachable",
        [k8s(api_public_cidrs=[])],
        [("kubernetes-api-unreachable", "scheduler.api_private_cidrs", E)],
        "only the cluster's own nodes may reach",
    ),
    (
        "private-endpoint-is-said",
        [k8s(api_public_cidrs=[], api_private_cidrs=["10.8.0.0/16"])],
        [("kubernetes-private-endpoint", "scheduler.api_private_cidrs", INFO)],
        "run `pulumi up` from 10.8.0.0/16",
    ),
    (
        "private-range-open-to-world",
        [k8s(api_public_cidrs=[], api_private_cidrs=["0.0.0.0/0"])],
        [
            ("kubernetes-api-open-to-world", "scheduler.api_private_cidrs[0]", E),
            ("kubernetes-private-endpoint", "scheduler.api_private_cidrs", INFO),
        ],
        "0.0.0.0/0",
    ),
    (
        "pool-named-system",
        [pool(name="system")],
        [("kubernetes-pool-name-reserved", "pools[0].name", E)],
        "'system' is the name of the cluster's own system node group",
    ),
    (
        "admin-assumed-role",
        [k8s(admins=["arn:aws:sts::123456789012:assumed-role/admin/me"])],
        [("kubernetes-admin-invalid", "scheduler.admins[0]", E)],
        "no assumed-role or STS ARN",
    ),
    (
        "admin-service-linked",
        [
            k8s(
                admins=[
                    "arn:aws:iam::123456789012:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS"
                ]
            )
        ],
        [("kubernetes-admin-invalid", "scheduler.admins[0]", E)],
        "service-linked",
    ),
    (
        "admin-twice",
        [k8s(admins=["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/a"])],
        [("kubernetes-admin-invalid", "scheduler.admins[1]", E)],
        "listed twice",
    ),
    (
        "api-open-to-world",
        [k8s(api_public_cidrs=["203.0.113.0/24", "0.0.0.0/0"])],
        [("kubernetes-api-open-to-world", "scheduler.api_public_cidrs[1]", E)],
        "0.0.0.0/0 lets the whole internet",
    ),
    (
        "version-retired",
        [k8s(version="1.27")],
        [("kubernetes-version-retired", "scheduler.version", E)],
        "'1.27' is older than every version",
    ),
    (
        "version-unknown-newer",
        [k8s(version="1.36")],
        [("kubernetes-version-unknown", "scheduler.version", W)],
        "'1.36' is not in provisioner's data",
    ),
    (
        "extended-support",
        [k8s(version="1.33")],
        [("kubernetes-extended-support", "scheduler.version", W)],
        "left standard support on 2026-07-29",
    ),
    (
        "label-key-invalid",
        [pool(labels={"team name": "research"})],
        [("kubernetes-label-invalid", "pools[0].labels['team name']", E)],
        "'team name'",
    ),
    (
        "label-value-invalid",
        [pool(labels={"team": "research/nlp"})],
        [("kubernetes-label-invalid", "pools[0].labels['team']", E)],
        "'research/nlp'",
    ),
    (
        "label-reserved-prefix",
        [pool(labels={"node.kubernetes.io/role": "gpu"})],
        [("kubernetes-label-invalid", "pools[0].labels['node.kubernetes.io/role']", E)],
        "reserved",
    ),
    (
        "software-ignored",
        [top(software={"nvidia_driver": "580", "cuda": "12.8"})],
        [
            ("kubernetes-software-ignored", "software.nvidia_driver", W),
            ("kubernetes-software-ignored", "software.cuda", W),
        ],
        "nvidia_driver is not applied",
    ),
    (
        "system-shape-unknown",
        [k8s(system_pool={"instance_type": "m99.huge"})],
        [("kubernetes-system-shape-unknown", "scheduler.system_pool.instance_type", W)],
        "'m99.huge'",
    ),
    (
        "admin-not-an-arn",
        [k8s(admins=["platform-admins"])],
        [("kubernetes-admin-invalid", "scheduler.admins[0]", E)],
        "'platform-admins' is not an IAM role or user ARN",
    ),
    (
        "existing-network-one-subnet",
        [top(network={"vpc_id": "vpc-0abc", "subnet_ids": ["subnet-0abc"]})],
        [("kubernetes-subnets-one-zone", "network.subnet_ids", E)],
        "at least two availability zones",
    ),
    (
        "storage-not-mounted",
        [top(storage=[{"kind": "lustre", "name": "shared"}, {"kind": "scratch"}])],
        [
            ("kubernetes-storage-not-mounted", "storage[0]", W),
            ("kubernetes-scratch-ephemeral", "storage[1]", W),
        ],
        "lustre filesystem 'shared' is created, but pods do not get it",
    ),
]


@pytest.mark.parametrize(("mutations", "expected", "text"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_rule_table(mutations: list[Mutation], expected: list[tuple[str, str, Severity]], text: str) -> None:
    findings = validate(declare(*mutations), CATALOG)
    assert found(findings) == set(expected), [f.render() for f in findings]
    if expected:
        first = next(f for f in findings if (f.code, f.path, f.severity) == expected[0])
        assert text in first.message, first.render()
        assert first.fix, "every finding says how to fix it"


def test_a_provider_without_kubernetes_support_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    info = base.provider_info("aws")
    assert info is not None
    capabilities = {k: v for k, v in info.capabilities.items() if k is not base.Capability.KUBERNETES}
    monkeypatch.setitem(base._REGISTRY, "aws", dataclasses.replace(info, capabilities=capabilities))
    findings = validate(declare(), CATALOG)
    assert ("kubernetes-unsupported", "scheduler", E) in found(findings)


def test_a_valid_label_set_passes() -> None:
    cluster = declare(pool(labels={"team": "research", "example.com/cost-center": "ml-42", "empty": ""}))
    assert not found(validate(cluster, CATALOG))


def test_the_scheduler_is_told_apart_by_kind() -> None:
    cluster = declare()
    assert type(cluster.scheduler).__name__ == "Kubernetes"
    with pytest.raises(ValueError, match="device_plugin"):
        declare(k8s(device_plugin="nvdp"))
