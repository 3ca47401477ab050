"""A run result as a pull-request comment: a one-line summary (nodes, GPUs, $/hour, $/month), per cluster a
table of its pools, its storage with their costs, its findings, a Mermaid diagram of its topology, and the
full resource list folded away. GitHub-flavoured markdown; the same program gives the same text. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from provisioner.plan import ClusterPlan, KubernetesPlan, PoolPlan, SlurmPlan, StorageCostPlan
from provisioner.review.format import cost_line, money, plural, total_cost
from provisioner.review.mermaid import cluster_mermaid
from provisioner.review.model import ClusterRun, RecordedResource, RunResult
from provisioner.validate import Finding

MARKER = "<!-- provisioner-plan -->"
"""The first line of the comment: how a workflow finds it again to update it."""
SEVERITY_MARK = {"error": "🛑 ERROR", "warning": "⚠️ warning", "info": "info"}


def cell(text: object) -> str:
    """Text safe in a table cell: pipes escaped (GitHub reads `\\|` as a pipe, in code spans too), newlines
    as <br>. Backslashes stay as they are: in a code span they are literal."""
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def prose(text: object) -> str:
    """User or finding text outside code spans: angle brackets as entities, so `<none>` is not HTML."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: object) -> str:
    shown = str(text).replace("`", "'")
    return f"`{shown}`"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], right: Sequence[str] = ()) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| " + " | ".join("---:" if h in right else "---" for h in headers) + " |")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _fabric(pool: PoolPlan) -> str:
    kind = pool.interconnect.value
    return kind if pool.fabric_interfaces == 0 else f"{kind} x{pool.fabric_interfaces}"


def _capacity(pool: PoolPlan) -> str:
    return "" if pool.capacity.value == "on-demand" else f" ({pool.capacity.value})"


LOOKUP_NOISE = frozenset({"latest", "ami-id", "image_id", "recommended", "release"})


def _image(pool: PoolPlan) -> str:
    """A custom image as given; a default one by the telling part of its lookup (an SSM path's image name,
    an image family), so the column stays narrow."""
    software = pool.software
    if software.image:
        return software.image
    lookup = software.image_lookup
    if not lookup:
        return f"{software.os.value} (provider default)"
    parts = [part for part in lookup.split("/") if part and part not in LOOKUP_NOISE]
    return parts[-1] if parts else lookup


def _runtime(pool: PoolPlan) -> str:
    software = pool.software
    parts = [software.container_runtime.value]
    if software.enroot:
        parts.append("enroot")
    if software.apptainer:
        parts.append("apptainer")
    stack = f"CUDA {software.cuda}" if software.cuda else f"ROCm {software.rocm}" if software.rocm else ""
    driver = software.nvidia_driver or software.image_driver
    if driver:
        stack = f"driver {driver}" + (f", {stack}" if stack else "")
    return " + ".join(parts) + (f" ({stack})" if stack else "")


def _scheduler(plan: ClusterPlan) -> str:
    scheduler = plan.scheduler
    if isinstance(scheduler, SlurmPlan):
        return f"Slurm {scheduler.version}"
    if isinstance(scheduler, KubernetesPlan):
        return f"{scheduler.service} {scheduler.version}"
    return "none"


def pools_section(plan: ClusterPlan) -> list[str]:
    headers = ("Pool", "GPU", "Shape", "Nodes", "GPUs", "Fabric", "Image", "Runtime", "Scheduler", "$/h")
    rows = [
        (
            pool.name,
            pool.gpu,
            code(pool.instance_type) + _capacity(pool),
            pool.nodes,
            f"{pool.total_gpus} ({pool.gpus_per_node}/node)",
            _fabric(pool),
            code(_image(pool)),
            _runtime(pool),
            _scheduler(plan),
            money(pool.price_per_hour),
        )
        for pool in plan.pools
    ]
    return table(headers, rows, right=("Nodes", "GPUs", "$/h"))


def _size(item: StorageCostPlan) -> str:
    if item.billing == "used":
        return "grows with use"
    return "unknown" if item.size_gib is None else f"{item.size_gib:,} GiB"


def _storage_cost(item: StorageCostPlan) -> str:
    if item.billing == "used":
        rate = "" if item.price_per_gib_month is None else f" at ${item.price_per_gib_month:g}/GiB-month"
        return f"billed by use{rate}"
    return money(item.per_month, "month")


def storage_section(plan: ClusterPlan) -> list[str]:
    costs = {item.name: item for item in plan.storage_costs}
    rows = []
    for storage in plan.storage:
        name = getattr(storage, "name", storage.kind)
        mount = getattr(storage, "mount_point", None) or "-"
        item = costs.get(name)
        protect = "protected" if getattr(storage, "protect", False) else ""
        if item is None:  # node-local scratch: part of the node's price
            rows.append((name, storage.kind, mount, "local NVMe of each node", "in the node price", protect))
            continue
        rows.append((name, storage.kind, mount, _size(item), _storage_cost(item), protect))
    if not rows:
        return []
    return table(("Storage", "Kind", "Mount", "Size", "Cost", "Deletion"), rows, right=("Cost",))


def findings_section(findings: Sequence[Finding]) -> list[str]:
    if not findings:
        return ["No findings."]
    order = {"error": 0, "warning": 1, "info": 2}
    ranked = sorted(findings, key=lambda f: (order.get(f.severity.value, 3), f.code, f.path))
    rows = [
        (
            SEVERITY_MARK.get(f.severity.value, f.severity.value),
            code(f.code),
            code(f.path),
            prose(f.message),
            prose(f.fix),
        )
        for f in ranked
    ]
    return table(("Severity", "Code", "Path", "Message", "Fix"), rows)


def resources_section(resources: Sequence[RecordedResource]) -> list[str]:
    ordered = sorted(resources, key=RecordedResource.sort_key)
    rows = [
        (code(r.type), code(r.name), "read" if r.read else "yes" if r.protect else "") for r in ordered
    ]
    lines = ["<details>", f"<summary>All {plural(len(ordered), 'resource')}</summary>", ""]
    lines += table(("Type", "Name", "Protected"), rows)
    return [*lines, "", "</details>"]


def _counts(plan: ClusterPlan) -> str:
    nodes = sum(p.nodes for p in plan.pools)
    gpus = sum(p.total_gpus for p in plan.pools)
    return f"{plural(nodes, 'node')}, {plural(gpus, 'GPU')}"


def cluster_section(run: ClusterRun, index: int) -> list[str]:
    plan = run.plan
    lines = [
        f"### `{run.component}`: {plan.provider.value} {plan.region}",
        "",
        f"{_counts(plan)}, {plural(len(plan.pools), 'pool')}; {cost_line(plan.cost)}. _{plan.cost.note}._",
        "",
        *pools_section(plan),
        "",
    ]
    storage = storage_section(plan)
    if storage:
        lines += [*storage, ""]
    lines += ["**Findings**", "", *findings_section(plan.findings), ""]
    if plan.pools:
        lines += ["```mermaid", cluster_mermaid(plan, f"c{index}").rstrip("\n"), "```", ""]
    if run.resources:
        lines += [*resources_section(run.resources), ""]
    elif not run.emitted:
        lines += ["_No resources: the cluster was not emitted (fix its errors first)._", ""]
    return lines


def summary_line(result: RunResult) -> str:
    runs = result.clusters
    total = total_cost(runs)
    nodes = sum(p.nodes for run in runs for p in run.plan.pools)
    gpus = sum(p.total_gpus for run in runs for p in run.plan.pools)
    errors = sum(1 for f in result.all_findings() if f.severity.value == "error")
    warnings = sum(1 for f in result.all_findings() if f.severity.value == "warning")
    status = "🛑" if result.exit_code else "✅"
    cost = f"{money(total.per_hour, 'h')}, {money(total.per_month, 'month')}"
    if total.per_hour is None:
        known = money(total.known_per_hour, "h")
        cost += f" (known part {known}; without a price: {', '.join(total.unpriced)})"
    if total.usage_billed:
        cost += f" + billed by use: {', '.join(total.usage_billed)}"
    return (
        f"{status} **{plural(len(runs), 'cluster')} · {plural(nodes, 'node')} · {plural(gpus, 'GPU')} · "
        f"{cost}** · {plural(errors, 'error')}, {plural(warnings, 'warning')}, "
        f"{plural(result.resource_count(), 'resource')}"
    )


def plan_markdown(result: RunResult) -> str:
    """The whole comment, starting with MARKER."""
    lines = [MARKER, f"## Plan of `{result.source.path}`", "", summary_line(result), ""]
    if result.failure is not None:
        lines += ["> [!CAUTION]", f"> The program failed: {cell(prose(result.failure.message))}", ""]
    if result.findings:
        lines += ["**Findings in the program**", "", *findings_section(result.findings), ""]
    for index, run in enumerate(result.clusters):
        lines += cluster_section(run, index)
    if result.other_resources:
        lines += ["**Other resources** (outside any cluster)", ""]
        lines += [*resources_section(result.other_resources), ""]
    lines.append("<sub>Planned offline by provisioner: no credentials, nothing created.</sub>")
    return "\n".join(lines) + "\n"
