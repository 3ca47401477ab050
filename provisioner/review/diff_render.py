"""A `PlanDiff` as JSON (for CI), as a markdown pull-request comment section, and as terminal text.

The order is the same in all three: what loses data or GPU nodes first and loud, then the counts and the
cost, then the details. An unknown cost is 'unknown', never $0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from rich.text import Text

from provisioner.review.diff_model import (
    Action,
    CostChange,
    DiffWarning,
    EntityChange,
    KeyChange,
    PlanDiff,
    ResourceChange,
    Severity,
)
from provisioner.review.format import UNKNOWN, money, plural

DIFF_SCHEMA_VERSION = 1
ACTIONS = (Action.ADD, Action.DELETE, Action.UPDATE, Action.REPLACE)
SIGNS = {Action.ADD: "+", Action.DELETE: "-", Action.UPDATE: "~", Action.REPLACE: "+-"}
VALUE_WIDTH = 80


# --- JSON -----------------------------------------------------------------------------------------------


def _key(change: KeyChange) -> dict[str, Any]:
    data: dict[str, Any] = {"path": change.path}
    if change.before_present:
        data["before"] = change.before
    if change.after_present:
        data["after"] = change.after
    return data


def _cost(cost: CostChange) -> dict[str, Any]:
    return {
        "scope": cost.scope,
        "changed": cost.changed,
        "base": {"per_hour": cost.base_per_hour, "per_month": cost.base_per_month},
        "head": {"per_hour": cost.head_per_hour, "per_month": cost.head_per_month},
        "delta": {"per_hour": cost.delta_per_hour, "per_month": cost.delta_per_month},
        "changed_fields": [_key(k) for k in cost.changed_fields],
    }


def _resource(change: ResourceChange) -> dict[str, Any]:
    return {
        "urn": change.urn,
        "type": change.type,
        "kind": change.kind,
        "name": change.name,
        "cluster": change.cluster,
        "action": change.action.value,
        "stateful": change.stateful,
        "gpu_group": change.gpu_group,
        "protect": change.protect,
        "replace_known": change.replace_known,
        "replace_keys": list(change.replace_keys),
        "changed_keys": [_key(k) for k in change.keys],
    }


def diff_dict(diff: PlanDiff) -> dict[str, Any]:
    """The diff as plain data with a `schema_version`; lists in a fixed order, keys sorted on output."""
    return {
        "schema_version": DIFF_SCHEMA_VERSION,
        "base": diff.base,
        "head": diff.head,
        "has_changes": diff.has_changes,
        "exit_code": diff.exit_code,
        "summary": {action.value: diff.count(action) for action in ACTIONS},
        "warnings": [
            {"severity": w.severity.value, "subject": w.subject, "message": w.message, "urn": w.urn}
            for w in diff.warnings
        ],
        "cost": {"total": _cost(diff.cost), "clusters": [_cost(c) for c in diff.cluster_costs]},
        "clusters": {"added": list(diff.clusters_added), "removed": list(diff.clusters_removed)},
        "resources": [_resource(r) for r in diff.resources],
        "entities": [
            {
                "cluster": e.cluster,
                "section": e.section,
                "name": e.name,
                "action": e.action.value,
                "changed_keys": [_key(k) for k in e.keys],
            }
            for e in diff.entities
        ],
        "findings": [
            {
                "change": "added" if f.added else "removed",
                "cluster": f.cluster,
                "severity": f.severity,
                "code": f.code,
                "path": f.path,
                "message": f.message,
            }
            for f in diff.findings
        ],
    }


def diff_json(diff: PlanDiff) -> str:
    return json.dumps(diff_dict(diff), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- shared wording -------------------------------------------------------------------------------------


def signed_money(value: float | None, per: str) -> str:
    if value is None:
        return UNKNOWN
    return ("+" if value > 0 else "-" if value < 0 else "±") + money(abs(value), per)


def cost_sentence(cost: CostChange) -> str:
    """'$440.32/h -> $220.16/h (-$220.16/h, -$160,716.80/month)'; 'unchanged at $1.00/h' when the same."""
    if not cost.changed:
        return f"unchanged at {money(cost.head_per_hour, 'h')}"
    delta = f"{signed_money(cost.delta_per_hour, 'h')}, {signed_money(cost.delta_per_month, 'month')}"
    return f"{money(cost.base_per_hour, 'h')} → {money(cost.head_per_hour, 'h')} ({delta})"


def headline(diff: PlanDiff) -> str:
    if diff.incomplete:
        sides = " and ".join(f"the {side} plan" for side in diff.incomplete)
        return f"Incomplete: {sides} did not plan cleanly, so what changes cannot be told (see above)."
    if not diff.has_changes:
        return "No changes: the same resources with the same inputs, at the same cost."
    counts = ", ".join(f"{diff.count(a)} to {a.value}" for a in ACTIONS)
    total = len(diff.resources)
    text = f"{plural(total, 'resource')} {'changes' if total == 1 else 'change'} ({counts})"
    if not total:
        text = "No resource changes"
    return f"{text}; cost {cost_sentence(diff.cost)}."


def shown(value: Any, present: bool = True) -> str:
    if not present:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def key_line(change: KeyChange) -> str:
    before, after = shown(change.before, change.before_present), shown(change.after, change.after_present)
    if before == after and isinstance(change.before, list) and isinstance(change.after, list):
        # cut to the same prefix, the two would read alike: say how the list changed instead
        before, after = f"[{len(change.before)} items] {before}", f"[{len(change.after)} items] {after}"
    return f"{change.path}: {before} → {after}"


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in what it holds, so values cannot close it."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _entity_title(entity: EntityChange) -> str:
    section = {"pools": "pool", "storage": "storage", "cluster": "cluster settings"}.get(
        entity.section, entity.section
    )
    return (
        f"{entity.cluster}: {section} {entity.name}"
        if entity.section != "cluster"
        else f"{entity.cluster}: {section}"
    )


# --- markdown -------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _alerts(warnings: Sequence[DiffWarning]) -> Iterator[str]:
    for severity, alert in ((Severity.CAUTION, "CAUTION"), (Severity.WARNING, "WARNING")):
        chosen = [w for w in warnings if w.severity is severity]
        if chosen:
            yield f"> [!{alert}]"
            yield f"> **{plural(len(chosen), 'change')} to review before applying:**"
            yield from (f"> - {w.message}" for w in chosen)
            yield ""


def _cost_table(diff: PlanDiff) -> Iterator[str]:
    yield "| Cluster | Base | Head | Δ per hour | Δ per month |"
    yield "|---|---:|---:|---:|---:|"
    for cost in (*diff.cluster_costs, diff.cost):
        name = f"`{_cell(cost.scope)}`" if cost.scope is not None else "**total**"
        yield (
            f"| {name} | {money(cost.base_per_hour, 'h')} | {money(cost.head_per_hour, 'h')} | "
            f"{signed_money(cost.delta_per_hour, 'h')} | {signed_money(cost.delta_per_month, 'month')} |"
        )
    yield ""


def _resource_row(change: ResourceChange) -> str:
    keys = ", ".join(
        f"`{k.path}`" + (" (replaces)" if k.path in change.replace_keys else "") for k in change.keys
    )
    marks = " 🗄️ stateful" if change.stateful else ""
    marks += " 🖥️ GPU" if change.gpu_group else ""
    return (
        f"| {change.action.value}{marks} | `{_cell(change.name)}` | `{change.type}` | {_cell(keys) or '—'} |"
    )


def _details(diff: PlanDiff) -> Iterator[str]:
    if diff.resources:
        yield f"<details><summary>Resource changes ({len(diff.resources)})</summary>"
        yield ""
        yield "| Action | Resource | Type | Changed inputs |"
        yield "|---|---|---|---|"
        yield from (_resource_row(r) for r in diff.resources)
        yield ""
        for change in (r for r in diff.resources if r.keys):
            lines = [key_line(k) for k in change.keys]
            fence = _fence(lines)
            yield f"`{change.name}`:"
            yield fence
            yield from lines
            yield fence
        yield "</details>"
        yield ""
    if diff.entities:
        yield f"<details><summary>Pools, storage and cluster settings ({len(diff.entities)})</summary>"
        yield ""
        for entity in diff.entities:
            yield f"- {entity.action.value} **{_cell(_entity_title(entity))}**"
            yield from (f"  - `{key_line(k).replace('`', chr(39))}`" for k in entity.keys)  # not a table
        yield "</details>"
        yield ""


def _findings(diff: PlanDiff) -> Iterator[str]:
    if diff.findings:
        yield "**Findings**"
        yield ""
        for f in diff.findings:
            where = f" ({f.cluster})" if f.cluster else ""
            state = "new" if f.added else "gone"
            yield f"- {state} {f.severity} `{f.code}` at `{f.path}`{where}: {f.message}"
        yield ""


def diff_markdown(diff: PlanDiff) -> str:
    """A section of a pull-request comment (GitHub-flavoured: alert blocks, tables, <details>)."""
    lines = [f"### Plan diff: `{diff.base}` → `{diff.head}`", ""]
    lines += list(_alerts(diff.warnings))
    lines += [f"**{headline(diff)}**", ""]
    if not diff.has_changes and not diff.findings:
        return "\n".join(lines)
    if diff.resources:
        lines += ["| Change | Resources |", "|---|---:|"]
        lines += [f"| {SIGNS[a]} {a.value} | {diff.count(a)} |" for a in ACTIONS]
        lines += [""]
    if diff.clusters_added or diff.clusters_removed:
        lines += [
            f"Clusters added: {', '.join(diff.clusters_added) or 'none'}; "
            f"removed: {', '.join(diff.clusters_removed) or 'none'}.",
            "",
        ]
    lines += list(_cost_table(diff)) + list(_findings(diff)) + list(_details(diff))
    return "\n".join(lines).rstrip() + "\n"


# --- terminal -------------------------------------------------------------------------------------------

STYLES = {Action.ADD: "green", Action.DELETE: "red", Action.UPDATE: "yellow", Action.REPLACE: "magenta"}


def diff_rich(diff: PlanDiff) -> Text:
    """The diff for a terminal, styled with rich (print `.plain` where there is no terminal)."""
    text = Text()
    text.append(f"Plan diff: {diff.base} → {diff.head}\n", style="bold")
    for w in diff.warnings:
        style = "bold white on red" if w.severity is Severity.CAUTION else "bold yellow"
        text.append(f"{w.severity.value.upper()}", style=style)
        text.append(f" {w.message}\n")
    text.append(headline(diff) + "\n")
    for cost in (c for c in diff.cluster_costs if c.changed):
        text.append(f"  cost of {cost.scope}: {cost_sentence(cost)}\n")
    for change in diff.resources:
        marks = "".join(m for m, on in ((" [stateful]", change.stateful), (" [GPU]", change.gpu_group)) if on)
        text.append(f"{SIGNS[change.action]:>2} {change.action.value:<7}", style=STYLES[change.action])
        text.append(f" {change.name} ({change.type}){marks}\n")
        for key in change.keys:
            forced = "  (replaces)" if key.path in change.replace_keys else ""
            text.append(f"      {key_line(key)}{forced}\n", style="dim" if not forced else "magenta")
    for entity in diff.entities:
        text.append(f"{SIGNS[entity.action]:>2} {_entity_title(entity)}\n", style=STYLES[entity.action])
        text.append("".join(f"      {key_line(k)}\n" for k in entity.keys), style="dim")
    for f in diff.findings:
        text.append(f"  {'new' if f.added else 'gone'} {f.severity} {f.code} at {f.path}: {f.message}\n")
    return text


def diff_text(diff: PlanDiff) -> str:
    return diff_rich(diff).plain
