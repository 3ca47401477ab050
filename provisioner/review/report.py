"""A run result as JSON: stable keys and order, so that a pull request can diff two plans."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from provisioner.plan import ClusterPlan, PoolPlan, StorageCostPlan
from provisioner.review.format import total_cost
from provisioner.review.model import ClusterRun, RecordedResource, RunResult
from provisioner.validate import Finding

REPORT_SCHEMA_VERSION = 2
"""2: storage costs (`clusters[].storage_costs`, `cost.usage_billed`); see docs/plan-schema.json."""
CURRENCY = "USD"


def canonical(value: Any) -> Any:
    """Dicts with sorted keys, all the way down; tuples as lists. Key order then never depends on timing."""
    if isinstance(value, Mapping):
        return {str(k): canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "severity": finding.severity.value,
        "code": finding.code,
        "path": finding.path,
        "message": finding.message,
        "fix": finding.fix,
    }


def pool_dict(pool: PoolPlan) -> dict[str, Any]:
    data = pool.model_dump(mode="json")
    data["price_per_hour"] = None if pool.price_per_hour is None else round(pool.price_per_hour, 4)
    data["labels"] = canonical(data["labels"])
    return data


def resource_dict(resource: RecordedResource) -> dict[str, Any]:
    return {
        "type": resource.type,
        "name": resource.name,
        "urn": resource.urn,
        "parent": resource.parent,
        "custom": resource.custom,
        "protect": resource.protect,
        "read": resource.read,
        "inputs": canonical(resource.inputs),
    }


def resources_list(resources: Iterable[RecordedResource]) -> list[dict[str, Any]]:
    return [resource_dict(r) for r in sorted(resources, key=RecordedResource.sort_key)]


def cost_dict(plan: ClusterPlan) -> dict[str, Any]:
    cost = plan.cost
    return {
        "currency": CURRENCY,
        "per_hour": cost.per_hour,
        "per_month": cost.per_month,
        "known_per_hour": cost.known_per_hour,
        "unpriced_pools": list(cost.unpriced_pools),
        "usage_billed": list(cost.usage_billed),
        "note": cost.note,
    }


def storage_cost_dict(item: StorageCostPlan) -> dict[str, Any]:
    return {
        "name": item.name,
        "kind": item.kind,
        "billing": item.billing,
        "size_gib": item.size_gib,
        "price_per_gib_month": item.price_per_gib_month,
        "per_month": item.per_month,
        "per_hour": item.price_per_hour,
        "price_as_of": item.price_as_of,
        "price_source": item.price_source,
    }


def cluster_dict(run: ClusterRun) -> dict[str, Any]:
    plan = run.plan
    return {
        "name": plan.name,
        "component": run.component,
        "provider": plan.provider.value,
        "region": plan.region,
        "emitted": run.emitted,
        "implicit": run.implicit,
        "pools": [pool_dict(p) for p in plan.pools],
        "storage": [s.model_dump(mode="json") for s in plan.storage],
        "network": plan.network.model_dump(mode="json"),
        "scheduler": None if plan.scheduler is None else plan.scheduler.model_dump(mode="json"),
        "tags": canonical(plan.tags),
        "resource_counts": run.resource_counts(),
        "resources": resources_list(run.resources),
        "cost": cost_dict(plan),
        "storage_costs": [storage_cost_dict(item) for item in plan.storage_costs],
        "findings": [finding_dict(f) for f in plan.findings],
    }


def report_dict(result: RunResult) -> dict[str, Any]:
    source, failure, total = result.source, result.failure, total_cost(result.clusters)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "source": {
            "path": source.path,
            "kind": source.kind,
            "project": source.project,
            "stack": source.stack,
        },
        "ok": result.exit_code == 0,
        "exit_code": result.exit_code,
        "failure": None if failure is None else {"message": failure.message, "location": failure.location},
        "findings": [finding_dict(f) for f in result.findings],
        "clusters": [cluster_dict(run) for run in result.clusters],
        "other_resources": resources_list(result.other_resources),
        "resource_count": result.resource_count(),
        "cost": {
            "currency": CURRENCY,
            "per_hour": total.per_hour,
            "per_month": total.per_month,
            "known_per_hour": total.known_per_hour,
            "unpriced_pools": list(total.unpriced),
            "usage_billed": list(total.usage_billed),
        },
        "exports": canonical(result.exports),
        "log": [{"severity": line.severity, "message": line.message} for line in result.log],
    }


def report_json(result: RunResult) -> str:
    """The JSON text of a run, ending in a newline. Same program, same text."""
    return json.dumps(report_dict(result), indent=2, ensure_ascii=False) + "\n"


def validation_dict(result: RunResult) -> dict[str, Any]:
    """Only what `provisioner validate` reports: the findings, per cluster and for the program."""
    full = report_dict(result)
    keep = ("schema_version", "source", "ok", "exit_code", "failure", "findings")
    data = {key: full[key] for key in keep}
    data["clusters"] = [
        {
            "name": c["name"],
            "component": c["component"],
            "provider": c["provider"],
            "region": c["region"],
            "findings": c["findings"],
        }
        for c in full["clusters"]
    ]
    return data


def validation_json(result: RunResult) -> str:
    return json.dumps(validation_dict(result), indent=2, ensure_ascii=False) + "\n"
