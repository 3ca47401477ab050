"""Run every rule and collect the findings."""

from __future__ import annotations

from pydantic import ValidationError

from provisioner.catalog import Catalog
from provisioner.spec import Cluster, Severity
from provisioner.validate.context import RuleContext
from provisioner.validate.findings import Finding, error
from provisioner.validate.rules import ALL_RULES

_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def validate(cluster: Cluster, catalog: Catalog) -> list[Finding]:
    """All findings for a declaration, errors first. Suppressed warnings are dropped; errors never are."""
    ctx = RuleContext(cluster=cluster, catalog=catalog)
    suppressed = set(cluster.suppress)
    findings: dict[tuple[str, str, str], Finding] = {}
    for rule in ALL_RULES:
        for finding in rule(ctx):
            if finding.severity is Severity.ERROR or finding.code not in suppressed:
                # cluster-wide settings are checked once per pool; report each problem once
                findings.setdefault((finding.code, finding.path, finding.message), finding)
    return sorted(findings.values(), key=lambda f: _ORDER[f.severity])


def _loc_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("lustre", "nfs", "bucket", "scratch", "IPv4Network", "IPv6Network", "function-after[_gpus_or_nodes()]"):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "(declaration)"


def findings_from_validation_error(exc: ValidationError, prefix: str = "") -> list[Finding]:
    """Turn pydantic's errors into findings that name the field, the bad value and what is allowed."""
    findings = []
    for item in exc.errors(include_url=False):
        path = _loc_path(tuple(item["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path != "(declaration)" else prefix
        value = item.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        message = item["msg"].removeprefix("Value error, ")
        kind = item["type"]
        fix = {
            "extra_forbidden": "remove this field (or check its spelling against the documented fields)",
            "missing": "add this field",
        }.get(kind, "give a value of the documented type and range")
        text = message if kind in ("value_error", "missing") else f"{shown}: {message}"
        findings.append(error(f"spec-{kind.replace('_', '-')}", path, text, fix))
    return findings
