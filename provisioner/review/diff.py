"""`provisioner diff`: what changes between two JSON plans (resources, replacements, cost, findings).

Pure: it reads two report dicts (`review.report.report_dict`, or the JSON of `provisioner plan`) and never
imports Pulumi, so CI can diff two saved plans without credentials or SDKs. Resources are matched by URN, as
Pulumi matches them: a renamed or re-parented resource has a new URN and is a delete plus an add, which is
exactly what `pulumi up` would do to it. Keys are read with `.get` everywhere: the plan schema grows (new
cost fields, new sections) and an older plan must still diff against a newer one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from provisioner.errors import ProvisionerError
from provisioner.review.diff_model import (
    EXIT_CHANGES,
    EXIT_NO_CHANGES,
    Action,
    CostChange,
    EntityChange,
    FindingChange,
    KeyChange,
    PlanDiff,
    ResourceChange,
)
from provisioner.review.diff_rules import REPLACES, ReplaceRule, When, resource_kind
from provisioner.review.diff_warnings import classify, warnings_for

__all__ = [
    "EXIT_CHANGES",
    "EXIT_NO_CHANGES",
    "PlanLoadError",
    "changed_keys",
    "diff_plans",
    "load_plan",
    "replacing_keys",
]

LONG_TEXT = 2048
"""Longer strings are compared and shown by length and digest, as the plan recorder stores them."""
SETTINGS = ("component", "provider", "region", "emitted", "network", "scheduler", "tags")
"""Cluster fields compared as the 'cluster' entity (pools, storage, cost and resources have their own)."""


class PlanLoadError(ProvisionerError):
    """A diff input that is not a plan: a missing file, invalid JSON, or JSON of something else."""


def load_plan(source: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """A report dict from a dict (returned as a plain copy) or from the path of a `plan --format json`
    file. The CLI plans programs and stacks itself and passes their dicts here."""
    if isinstance(source, Mapping):
        data: Any = json.loads(json.dumps(source))
    else:
        path = Path(source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PlanLoadError(f"cannot read plan {str(path)!r}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise PlanLoadError(
                f"{str(path)!r} is not JSON ({exc.msg}, line {exc.lineno}); write a plan with "
                "`provisioner plan PATH --format json > plan.json`"
            ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), list):
        raise PlanLoadError(
            f"{_label(source)} is not a provisioner plan (no 'clusters' list); "
            "write one with `provisioner plan PATH --format json`"
        )
    return data


def _label(source: object) -> str:
    return "the plan" if isinstance(source, Mapping) else repr(str(source))


def describe_source(plan: Mapping[str, Any]) -> str:
    source = plan.get("source") or {}
    path = str(source.get("path") or "plan")
    return f"{path} ({source['stack']})" if source.get("kind") == "stack" and source.get("stack") else path


# --- inputs ---------------------------------------------------------------------------------------------


def summarize(value: Any) -> Any:
    """A long string as '<N characters, sha256 X>' (the recorder's own summary), anything else as is."""
    if isinstance(value, str) and len(value) > LONG_TEXT:
        digest = hashlib.sha256(value.encode()).hexdigest()[:16]
        return f"<{len(value)} characters, sha256 {digest}>"
    return value


def changed_keys(before: Any, after: Any, prefix: str = "") -> list[KeyChange]:
    """Every leaf that differs, as dotted paths. Maps recurse by key; lists of the same length by index
    (`tags[2].value`); a list that grew or shrank is one change at its own path, since index by index
    every later item would look changed."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        found: list[KeyChange] = []
        for key in sorted(set(before) | set(after), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in after:
                found.append(KeyChange(path, summarize(before[key]), None, after_present=False))
            elif key not in before:
                found.append(KeyChange(path, None, summarize(after[key]), before_present=False))
            else:
                found.extend(changed_keys(before[key], after[key], path))
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after) and before:
        return [
            c
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for c in changed_keys(b, a, f"{prefix}[{i}]")
        ]
    if summarize(before) == summarize(after):
        return []
    return [KeyChange(prefix, summarize(before), summarize(after))]


_ABSENT = object()


def _at(inputs: Any, path: str) -> Any:
    """The value at a dotted path; through a list, the list of its items' values (one `fileShares` block)."""
    value: Any = inputs
    for part in path.split("."):
        if isinstance(value, list):
            value = [v.get(part, _ABSENT) if isinstance(v, Mapping) else _ABSENT for v in value]
        elif isinstance(value, Mapping):
            value = value.get(part, _ABSENT)
        else:
            return _ABSENT
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _triggers(rule: ReplaceRule, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    before, after = _at(old, rule.path), _at(new, rule.path)
    if before == after:
        return False
    if rule.when is When.DECREASE:
        b, a = _number(before), _number(after)
        return b is not None and a is not None and a < b
    if rule.when is When.DROP:
        olds = before if isinstance(before, list) else [before]
        news = after if isinstance(after, list) else [after]
        return any(item not in news for item in olds if item is not _ABSENT)
    if rule.when is When.FLAG:
        return rule.flag is not None and new.get(rule.flag) is True
    return True


def replacing_keys(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """The inputs of a resource of `kind` whose change forces Pulumi to replace it (see `diff_rules`)."""
    rules = REPLACES.get(kind, ())
    if any(rule.path == "*" for rule in rules):
        return tuple(c.path for c in changed_keys(old, new))
    return tuple(rule.path for rule in rules if _triggers(rule, old, new))


# --- resources ------------------------------------------------------------------------------------------


def _resources(plan: Mapping[str, Any]) -> dict[str, tuple[str | None, Mapping[str, Any]]]:
    """URN -> (cluster name or None, resource)."""
    found: dict[str, tuple[str | None, Mapping[str, Any]]] = {}
    for cluster in _list(plan.get("clusters")):
        for resource in _list(cluster.get("resources")):
            found[str(resource.get("urn"))] = (str(cluster.get("name")), resource)
    for resource in _list(plan.get("other_resources")):
        found[str(resource.get("urn"))] = (None, resource)
    return found


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _clusters(plan: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("name")): c for c in _list(plan.get("clusters"))}


def _compare_resource(
    urn: str, cluster: str | None, old: Mapping[str, Any], new: Mapping[str, Any]
) -> ResourceChange | None:
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    keys = changed_keys(old_inputs, new_inputs)
    if bool(old.get("protect")) != bool(new.get("protect")):
        keys.append(KeyChange("options.protect", bool(old.get("protect")), bool(new.get("protect"))))
    if not keys:
        return None
    kind = resource_kind(new)
    replaces = replacing_keys(kind, old_inputs, new_inputs)
    return ResourceChange(
        urn=urn,
        type=str(new.get("type")),
        kind=kind,
        name=str(new.get("name")),
        cluster=cluster,
        action=Action.REPLACE if replaces else Action.UPDATE,
        keys=tuple(keys),
        replace_keys=replaces,
        protect=bool(old.get("protect")) or bool(new.get("protect")),
        replace_known=kind in REPLACES or not new.get("custom", True),
    )


def _one_sided(urn: str, cluster: str | None, resource: Mapping[str, Any], action: Action) -> ResourceChange:
    return ResourceChange(
        urn=urn,
        type=str(resource.get("type")),
        kind=resource_kind(resource),
        name=str(resource.get("name")),
        cluster=cluster,
        action=action,
        protect=bool(resource.get("protect")),
    )


def _resource_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> Iterator[ResourceChange]:
    olds, news = _resources(base), _resources(head)
    base_clusters, head_clusters = _clusters(base), _clusters(head)
    for urn in sorted(set(olds) | set(news)):
        if urn not in news:
            cluster, resource = olds[urn]
            change = _one_sided(urn, cluster, resource, Action.DELETE)
            yield classify(change, resource, base_clusters.get(cluster or ""))
        elif urn not in olds:
            cluster, resource = news[urn]
            change = _one_sided(urn, cluster, resource, Action.ADD)
            yield classify(change, resource, head_clusters.get(cluster or ""))
        else:
            (_, old), (cluster, new) = olds[urn], news[urn]
            found = _compare_resource(urn, cluster, old, new)
            if found is not None:
                yield classify(
                    found, new, head_clusters.get(cluster or ""), old, base_clusters.get(cluster or "")
                )


# --- cost, entities, findings ---------------------------------------------------------------------------


def _money(cost: Mapping[str, Any], key: str) -> float | None:
    value = cost.get(key)
    return None if isinstance(value, bool) or not isinstance(value, int | float) else float(value)


NOT_COST = ("note", "currency")
"""Cost fields that are words, not amounts: a new price date alone is not a cost change."""
ZERO_COST: Mapping[str, Any] = {
    "per_hour": 0.0,
    "per_month": 0.0,
    "known_per_hour": 0.0,
    "unpriced_pools": [],
}
"""What a cluster that does not exist costs: a known nothing."""


def cost_change(
    scope: str | None, base: Mapping[str, Any] | None, head: Mapping[str, Any] | None
) -> CostChange:
    old, new = base if base is not None else ZERO_COST, head if head is not None else ZERO_COST
    fields = [
        c
        for c in changed_keys(
            {k: v for k, v in old.items() if k not in NOT_COST},
            {k: v for k, v in new.items() if k not in NOT_COST},
        )
        if not _same_amount(c)
    ]
    return CostChange(
        scope=scope,
        base_per_hour=_money(old, "per_hour"),
        head_per_hour=_money(new, "per_hour"),
        base_per_month=_money(old, "per_month"),
        head_per_month=_money(new, "per_month"),
        changed_fields=tuple(fields),
    )


def _same_amount(change: KeyChange) -> bool:
    """0 and 0.0, or an absent list and an empty one, are the same cost."""
    if change.before_present and change.after_present:
        b, a = _number(change.before), _number(change.after)
        return b is not None and a is not None and b == a
    return change.before in ([], None, 0) and change.after in ([], None, 0)


def _cluster_costs(base: Mapping[str, Any], head: Mapping[str, Any]) -> tuple[CostChange, ...]:
    olds, news = _clusters(base), _clusters(head)
    return tuple(
        cost_change(name, _cost(olds.get(name)), _cost(news.get(name)))
        for name in sorted(set(olds) | set(news))
    )


def _cost(cluster: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if cluster is None:
        return None
    cost = cluster.get("cost")
    return cost if isinstance(cost, Mapping) else {}


def _named(items: Any) -> dict[str, Mapping[str, Any]]:
    return {str(item.get("name")): item for item in _list(items)}


def _entity_changes(
    cluster: str, section: str, olds: Mapping[str, Mapping[str, Any]], news: Mapping[str, Mapping[str, Any]]
) -> Iterator[EntityChange]:
    for name in sorted(set(olds) | set(news)):
        if name not in news:
            yield EntityChange(cluster, section, name, Action.DELETE)
        elif name not in olds:
            yield EntityChange(cluster, section, name, Action.ADD)
        elif keys := changed_keys(olds[name], news[name]):
            yield EntityChange(cluster, section, name, Action.UPDATE, tuple(keys))


def _entities(base: Mapping[str, Any], head: Mapping[str, Any]) -> tuple[EntityChange, ...]:
    olds, news = _clusters(base), _clusters(head)
    found: list[EntityChange] = []
    for name in sorted(set(olds) & set(news)):
        old, new = olds[name], news[name]
        settings = {name: {k: old.get(k) for k in SETTINGS}}, {name: {k: new.get(k) for k in SETTINGS}}
        found.extend(_entity_changes(name, "cluster", *settings))
        for section in ("pools", "storage"):
            found.extend(_entity_changes(name, section, _named(old.get(section)), _named(new.get(section))))
    return tuple(found)


SHOWN_SEVERITIES = ("error", "warning")


def _finding_keys(plan: Mapping[str, Any]) -> dict[tuple[str | None, str, str, str], str]:
    found: dict[tuple[str | None, str, str, str], str] = {}
    scopes: list[tuple[str | None, Any]] = [(None, plan.get("findings"))]
    scopes += [(str(c.get("name")), c.get("findings")) for c in _list(plan.get("clusters"))]
    for scope, findings in scopes:
        for f in _list(findings):
            severity = str(f.get("severity", "")).lower()
            if severity in SHOWN_SEVERITIES:
                found[(scope, severity, str(f.get("code")), str(f.get("path")))] = str(f.get("message", ""))
    return found


def _finding_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> tuple[FindingChange, ...]:
    olds, news = _finding_keys(base), _finding_keys(head)
    changes = [FindingChange(*key, olds[key], added=False) for key in olds.keys() - news.keys()]
    changes += [FindingChange(*key, news[key], added=True) for key in news.keys() - olds.keys()]
    return tuple(sorted(changes, key=lambda c: (not c.added, c.cluster or "", c.severity, c.code, c.path)))


# --- the diff -------------------------------------------------------------------------------------------


def diff_plans(base: Mapping[str, Any], head: Mapping[str, Any]) -> PlanDiff:
    """What applying `head` over a stack deployed from `base` does: resources added, deleted, updated or
    replaced (with the inputs that changed), warnings for lost data and GPU nodes, the cost delta per
    cluster and in total, and the findings that appeared or went away."""
    resources = tuple(_resource_changes(base, head))
    base_clusters, head_clusters = _clusters(base), _clusters(head)
    total = cost_change(None, _top_cost(base), _top_cost(head))
    failures = _failures(base, head)
    return PlanDiff(
        base=describe_source(base),
        head=describe_source(head),
        resources=resources,
        warnings=warnings_for(resources, failures),
        cost=total,
        cluster_costs=_cluster_costs(base, head),
        entities=_entities(base, head),
        findings=_finding_changes(base, head),
        clusters_added=tuple(sorted(set(head_clusters) - set(base_clusters))),
        clusters_removed=tuple(sorted(set(base_clusters) - set(head_clusters))),
        incomplete=tuple(dict.fromkeys(side for side, _ in failures)),
    )


def _top_cost(plan: Mapping[str, Any]) -> Mapping[str, Any]:
    cost = plan.get("cost")
    return cost if isinstance(cost, Mapping) else {}


def _failures(base: Mapping[str, Any], head: Mapping[str, Any]) -> Sequence[tuple[str, str]]:
    """(side, message) for a plan that did not run to the end: its resources are missing, not deleted."""
    found: list[tuple[str, str]] = []
    for side, plan in (("base", base), ("head", head)):
        failure = plan.get("failure")
        if isinstance(failure, Mapping) and failure.get("message"):
            found.append((side, str(failure["message"])))
        elif plan.get("ok") is False:
            found.append((side, f"the plan has errors (exit code {plan.get('exit_code')})"))
    return found
