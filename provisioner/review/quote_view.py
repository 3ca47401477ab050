"""A quote as a rich table (terminal), a GitHub markdown table (PR comments) and JSON (scripts, diffs).

All three show the same facts in the same order: hostable providers cheapest first (unpriced after, shown as
'unknown', never $0), then every other provider with the planner's reasons. Nothing here decides anything;
`quote` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from provisioner.review.format import UNKNOWN, money
from provisioner.review.quote import ProviderQuote, Quote, QuotedPool
from provisioner.review.report import finding_dict
from provisioner.review.table import cells
from provisioner.validate import Finding

QUOTE_SCHEMA_VERSION = 1
HOSTABLE_COLUMNS = ("#", "Provider", "Region", "Pool", "Shape per node", "Nodes", "GPUs/node", "Fabric")
PRICE_COLUMNS = ("$/h", "$/month", "Price date", "Notes")
_NUMERIC = {"#", "Nodes", "GPUs/node", "$/h", "$/month"}


def pool_fabric(pool: QuotedPool) -> str:
    """'efa x32' (fabric and interfaces per node), or 'none'."""
    if pool.fabric.value == "none" or pool.fabric_interfaces == 0:
        return pool.fabric.value
    return f"{pool.fabric.value} x{pool.fabric_interfaces}"


def provider_label(option: ProviderQuote) -> str:
    return f"{option.provider.value} (declared)" if option.declared else option.provider.value


def notes(option: ProviderQuote) -> str:
    """Short: which settings the move needs and which warnings the plan has (codes; details below)."""
    parts = []
    if option.unpriced:
        known = f" (known part {money(option.known_per_hour, 'h')})" if option.known_per_hour else ""
        parts.append(f"no price: {', '.join(option.unpriced)}{known}")
    if option.usage_billed:
        parts.append(f"+ billed by use: {', '.join(option.usage_billed)}")
    if option.needs:
        parts.append(f"needs {', '.join(f.path for f in option.needs)}")
    if option.warnings:
        parts.append(f"warns: {', '.join(dict.fromkeys(f.code for f in option.warnings))}")
    return "; ".join(parts)


def reason_text(finding: Finding) -> str:
    return f"{finding.code}: {finding.message}"


def _pool_cells(option: ProviderQuote) -> list[list[str]]:
    """Per pool cells: name, shape, nodes, GPUs per node, fabric (one line per pool in each cell)."""
    return [
        [pool.name, pool.instance_type, str(pool.nodes), str(pool.gpus_per_node), pool_fabric(pool)]
        for pool in option.pools
    ]


def _rows(quote: Quote) -> list[list[str]]:
    """The hostable table as text cells; a cell of several pools has one line per pool."""
    rows = []
    for rank, option in enumerate(quote.hostable, start=1):
        per_pool = list(zip(*_pool_cells(option), strict=True))
        rows.append(
            [
                str(rank),
                provider_label(option),
                option.region or "",
                *("\n".join(column) for column in per_pool),
                money(option.per_hour),
                money(option.per_month),
                ", ".join(option.price_dates) or UNKNOWN,
                notes(option),
            ]
        )
    return rows


def _details(option: ProviderQuote) -> list[str]:
    lines = [f"needs {f.path}: {f.message}" for f in option.needs]
    lines += [f"{f.code} ({f.path}): {f.message}" for f in option.warnings]
    if option.not_carried:
        lines.append(f"not carried over: {', '.join(option.not_carried)}")
    return lines


def regions_tried(option: ProviderQuote) -> str:
    """'asia-northeast-1 (+16 more)': where the reasons were found, and how many other regions failed too."""
    if option.region is None:
        return "-"
    others = len(option.regions_tried) - 1
    return f"{option.region} (+{others} more)" if others > 0 else option.region


def _title(quote: Quote) -> str:
    return (
        f"Quote for {quote.cluster} (declared on {quote.declared_provider.value} in {quote.declared_region})"
    )


def quote_view(quote: Quote) -> RenderableType:
    """Terminal: the hostable providers, the others with their reasons, then each option's notes."""
    hostable = Table(title=_title(quote), title_justify="left")
    for header in (*HOSTABLE_COLUMNS, *PRICE_COLUMNS):
        hostable.add_column(header, justify="right" if header in _NUMERIC else "left", overflow="fold")
    for row in _rows(quote):
        hostable.add_row(*cells(*row))
    parts: list[RenderableType] = [hostable]
    if quote.impossible:
        others = Table(title="Cannot host it", title_justify="left", show_lines=True)
        others.add_column("Provider")
        others.add_column("Region tried")
        others.add_column("Why not", overflow="fold")
        for option in quote.impossible:
            why = "\n".join(reason_text(f) for f in option.reasons)
            others.add_row(*cells(provider_label(option), regions_tried(option), why))
        parts.append(others)
    for option in quote.hostable:
        details = _details(option)
        if details:
            parts.append(Text(f"{provider_label(option)}:", style="bold"))
            parts.extend(Text(f"  - {line}") for line in details)
    return Group(*parts)


def quotes_view(quotes: Sequence[Quote]) -> RenderableType:
    return Group(*(quote_view(quote) for quote in quotes))


def _md(text: str) -> str:
    """A markdown table cell: pipes escaped, lines joined with <br>."""
    return text.replace("|", "\\|").replace("\n", "<br>")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[str]) -> list[str]:
    align = ["---:" if header in numeric else "---" for header in headers]
    lines = [f"| {' | '.join(headers)} |", f"| {' | '.join(align)} |"]
    lines += [f"| {' | '.join(_md(cell) for cell in row)} |" for row in rows]
    return lines


def quote_markdown(quote: Quote) -> str:
    """A GitHub comment: the hostable table, the others with their reasons, the notes folded away."""
    lines = [f"### {_title(quote)}", ""]
    if quote.hostable:
        lines += _md_table((*HOSTABLE_COLUMNS, *PRICE_COLUMNS), _rows(quote), _NUMERIC)
    else:
        lines.append("No provider in the catalog can host this cluster.")
    if quote.impossible:
        rows = [
            [provider_label(o), regions_tried(o), "\n".join(reason_text(f) for f in o.reasons)]
            for o in quote.impossible
        ]
        lines += [
            "",
            "**Cannot host it**",
            "",
            *_md_table(("Provider", "Region tried", "Why not"), rows, set()),
        ]
    noted = [(option, _details(option)) for option in quote.hostable]
    if any(details for _, details in noted):
        lines += ["", "<details><summary>Notes per provider</summary>", ""]
        for option, details in noted:
            if details:
                lines.append(f"- **{provider_label(option)}**")
                lines += [f"  - {_md(line)}" for line in details]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def quotes_markdown(quotes: Sequence[Quote]) -> str:
    return "\n".join(quote_markdown(quote) for quote in quotes)


def _pool_json(pool: QuotedPool) -> dict[str, Any]:
    return {
        "name": pool.name,
        "gpu": pool.gpu,
        "instance_type": pool.instance_type,
        "nodes": pool.nodes,
        "gpus_per_node": pool.gpus_per_node,
        "total_gpus": pool.total_gpus,
        "fabric": pool.fabric.value,
        "fabric_interfaces": pool.fabric_interfaces,
        "price_per_node_hour": pool.price_per_node_hour,
        "price_as_of": pool.price_as_of,
    }


def _option_json(option: ProviderQuote) -> dict[str, Any]:
    return {
        "provider": option.provider.value,
        "declared": option.declared,
        "standing": option.standing.value,
        "region": option.region,
        "pools": [_pool_json(pool) for pool in option.pools],
        "per_hour": option.per_hour,
        "per_month": option.per_month,
        "known_per_hour": option.known_per_hour,
        "unpriced": list(option.unpriced),
        "usage_billed": list(option.usage_billed),
        "price_dates": list(option.price_dates),
        "reasons": [finding_dict(f) for f in option.reasons],
        "needs": [finding_dict(f) for f in option.needs],
        "warnings": [finding_dict(f) for f in option.warnings],
        "not_carried": list(option.not_carried),
        "regions_tried": list(option.regions_tried),
    }


def quote_json(quote: Quote) -> dict[str, Any]:
    """JSON-able, in the quote's order (cheapest first); prices are null when unknown, never 0."""
    return {
        "schema_version": QUOTE_SCHEMA_VERSION,
        "cluster": quote.cluster,
        "declared": {"provider": quote.declared_provider.value, "region": quote.declared_region},
        "options": [_option_json(option) for option in quote.options],
    }


def quotes_json(quotes: Sequence[Quote]) -> dict[str, Any]:
    return {"schema_version": QUOTE_SCHEMA_VERSION, "quotes": [quote_json(quote) for quote in quotes]}
