"""A run result as rich tables for the terminal: pools, resources, findings and cost, per cluster."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from provisioner.plan import KubernetesPlan, PoolPlan, SlurmPlan
from provisioner.review.format import cost_line, money, plural, total_cost
from provisioner.review.model import ClusterRun, RecordedResource, RunResult
from provisioner.validate import Finding

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
NAMES_SHOWN = 3


def cells(*values: str | Text) -> list[Text]:
    """Table cells as Text, so user data such as '[secret]' is never read as rich markup."""
    return [value if isinstance(value, Text) else Text(value) for value in values]


def fabric(pool: PoolPlan) -> str:
    """'efa x32' (fabric and interfaces per node), or 'none'."""
    if pool.interconnect.value == "none" or pool.fabric_interfaces == 0:
        return pool.interconnect.value
    return f"{pool.interconnect.value} x{pool.fabric_interfaces}"


def pools_table(pools: Sequence[PoolPlan]) -> Table:
    table = Table(title="Pools", title_justify="left", expand=False)
    for header in ("Pool", "GPU", "Shape", "Nodes", "GPUs/node", "GPUs", "Fabric", "$/h"):
        table.add_column(
            header, justify="right" if header in ("Nodes", "GPUs/node", "GPUs", "$/h") else "left"
        )
    for pool in pools:
        table.add_row(
            *cells(
                pool.name,
                pool.gpu,
                pool.instance_type,
                str(pool.nodes),
                str(pool.gpus_per_node),
                str(pool.total_gpus),
                fabric(pool),
                money(pool.price_per_hour),
            )
        )
    return table


def _names(resources: list[RecordedResource]) -> str:
    names = sorted(r.name for r in resources)
    shown = ", ".join(names[:NAMES_SHOWN])
    return f"{shown}, +{len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else shown


def resources_table(resources: Iterable[RecordedResource], title: str = "Resources") -> Table:
    by_type: dict[str, list[RecordedResource]] = {}
    for resource in sorted(resources, key=RecordedResource.sort_key):
        by_type.setdefault(resource.type, []).append(resource)
    table = Table(title=title, title_justify="left")
    table.add_column("Type")
    table.add_column("Kind")
    table.add_column("Count", justify="right")
    table.add_column("Names")
    for type_, group in by_type.items():
        kind = "read" if group[0].read else "resource" if group[0].custom else "component"
        table.add_row(
            *cells(Text(type_, style="" if group[0].custom else "dim"), kind, str(len(group)), _names(group))
        )
    return table


def findings_table(findings: Sequence[Finding], title: str = "Findings") -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    for header in ("Severity", "Code", "Path", "Message", "Fix"):
        table.add_column(header, overflow="fold")
    for finding in findings:
        severity = finding.severity.value
        table.add_row(
            *cells(
                Text(severity.upper(), style=SEVERITY_STYLE.get(severity, "")),
                finding.code,
                finding.path,
                finding.message,
                finding.fix,
            )
        )
    return table


def _price(per_hour: float | None) -> str:
    return "unknown" if per_hour is None else f"${per_hour:,.2f}"


def slurm_table(slurm: SlurmPlan) -> Table:
    """The Slurm cluster: its support nodes and its partitions (what `sinfo` will show)."""
    table = Table(title=f"Slurm {slurm.version} (ClusterName={slurm.cluster_name})", title_justify="left")
    for column in ("Role", "Shape / nodes", "Count", "Details", "$/h"):
        table.add_column(column, justify="right" if column in ("Count", "$/h") else "left")
    for node in slurm.support_nodes:
        details = "slurmctld" + (" + slurmdbd (accounting)" if slurm.accounting else "")
        if node.role == "login":
            details = "sackd, submit jobs here"
        table.add_row(
            *cells(node.role, node.instance_type, str(node.count), details, _price(node.price_per_hour))
        )
    for part in slurm.partitions:
        sets = [ns for ns in slurm.nodesets if ns.pool in part.pools]
        shape = ", ".join(f"{ns.pool}: {ns.gres}" for ns in sets)
        details = f"MaxTime={part.max_time}" + (" default" if part.default else "")
        details += " exclusive" if part.exclusive else ""
        table.add_row(*cells(f"partition {part.name}", shape, str(sum(ns.nodes for ns in sets)), details, ""))
    return table


def kubernetes_table(k8s: KubernetesPlan) -> Table:
    """The managed Kubernetes cluster: control plane, node groups (what `kubectl get nodes` will show) and the
    pinned charts."""
    support = f", standard support until {k8s.end_of_standard_support}" if k8s.end_of_standard_support else ""
    endpoint = "private API" if not k8s.api_public_cidrs else f"API from {', '.join(k8s.api_public_cidrs)}"
    table = Table(title=f"{k8s.service} {k8s.version} ({endpoint}{support})", title_justify="left")
    for column in ("Part", "Shape / chart", "Count", "Details", "$/h"):
        table.add_column(column, justify="right" if column in ("Count", "$/h") else "left")
    fee = k8s.control_plane
    table.add_row(
        *cells(
            "control plane",
            k8s.service,
            "1",
            ", ".join(k8s.control_plane_logs) + " logs",
            _price(fee.price_per_hour),
        )
    )
    system = k8s.system
    table.add_row(
        *cells(
            "system nodes",
            system.instance_type,
            str(system.count),
            k8s.system_image,
            _price(system.price_per_hour),
        )
    )
    for group in k8s.node_groups:
        resources = f"{group.gpu_resource}: {group.gpus_per_node}"
        if group.fabric_resource:
            resources += f", {group.fabric_resource}: {group.fabric_devices_per_node}"
        taints = ", ".join(f"{t.key}={t.value}:{t.effect}" for t in group.taints) or "no taint"
        table.add_row(
            *cells(f"node group {group.pool}", group.image, str(group.nodes), f"{resources}; {taints}", "")
        )
    for release in k8s.releases:
        table.add_row(
            *cells(
                f"helm {release.name}",
                f"{release.chart} {release.version}",
                "",
                f"{release.namespace}: {release.purpose}",
                "",
            )
        )
    return table


def cluster_view(run: ClusterRun) -> RenderableType:
    plan = run.plan
    header = Text.assemble(
        ("Cluster ", "bold"),
        (plan.name, "bold cyan"),
        f"  {plan.provider.value} {plan.region}",
        f"  (GpuCluster {run.component!r}{', created for the bare declaration' if run.implicit else ''})",
    )
    parts: list[RenderableType] = [header]
    if plan.pools:
        parts.append(pools_table(plan.pools))
    if plan.slurm is not None:
        parts.append(slurm_table(plan.slurm))
    if plan.kubernetes is not None:
        parts.append(kubernetes_table(plan.kubernetes))
    if run.emitted:
        parts.append(
            resources_table(run.resources, f"Resources `pulumi up` would register ({len(run.resources)})")
        )
    else:
        parts.append(Text("No resources: the declaration has errors, so nothing would be deployed.", "red"))
    if plan.findings:
        parts.append(findings_table(plan.findings))
    parts.append(Text.assemble(("Cost: ", "bold"), cost_line(plan.cost), f"  ({plan.cost.note})"))
    return Group(*parts)


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def exports_table(exports: dict[str, Any]) -> Table:
    table = Table(title="Stack outputs", title_justify="left")
    table.add_column("Name")
    table.add_column("Value", overflow="fold")
    for name in sorted(exports):
        table.add_row(*cells(name, _short(exports[name])))
    return table


def summary(result: RunResult) -> Text:
    total = total_cost(result.clusters)
    if not result.clusters:
        cost = "n/a"
    elif total.per_hour is not None:
        cost = f"{money(total.per_hour, 'h')}, {money(total.per_month, 'month')}"
    else:
        cost = f"unknown (no price for {', '.join(total.unpriced)})" if total.unpriced else "unknown"
    errors = sum(1 for f in result.all_findings() if f.severity.value == "error")
    style = "bold red" if result.exit_code else "bold green"
    return Text.assemble(
        ("Summary: ", "bold"),
        f"{plural(len(result.clusters), 'cluster')}, {plural(result.resource_count(), 'resource')}, "
        f"cost {cost}; ",
        (plural(errors, "error") if errors else "no errors", style),
    )


def run_view(result: RunResult) -> RenderableType:
    """Everything about one run, for `provisioner plan`."""
    source = result.source
    parts: list[RenderableType] = [
        Text(f"Plan of {source.path} ({source.kind}, project {source.project}, stack {source.stack})", "dim")
    ]
    for run in result.clusters:
        parts.extend([Text(""), cluster_view(run)])
    if result.other_resources:
        parts.append(resources_table(result.other_resources, "Other resources (outside any GpuCluster)"))
    if result.exports:
        parts.append(exports_table(dict(result.exports)))
    parts.extend(program_problems(result))
    parts.extend([Text(""), summary(result)])
    return Group(*parts)


def program_problems(result: RunResult) -> list[RenderableType]:
    """Findings about the program, its failure and its warnings (everything not tied to one cluster)."""
    parts: list[RenderableType] = []
    if result.findings:
        parts.append(findings_table(result.findings, "Findings in the program"))
    for line in result.log:
        label = "note" if line.severity == "info" else line.severity
        parts.append(Text(f"{label}: {line.message}", SEVERITY_STYLE.get(line.severity, "dim")))
    if result.failure is not None:
        parts.append(Text(f"error: {result.failure.message}", "bold red"))
    if not result.clusters and result.failure is None and not result.findings:
        parts.append(
            Text("The program declares no cluster (no GpuCluster and no module-level Cluster).", "yellow")
        )
    return parts


def validation_view(result: RunResult) -> RenderableType:
    """Only the findings, for `provisioner validate`."""
    parts: list[RenderableType] = []
    for run in result.clusters:
        plan = run.plan
        if plan.findings:
            parts.append(
                findings_table(plan.findings, f"Cluster {plan.name} ({plan.provider.value} {plan.region})")
            )
        else:
            parts.append(Text(f"Cluster {plan.name}: no findings", "green"))
    parts.extend(program_problems(result))
    parts.append(summary(result))
    return Group(*parts)
