"""Run every rule and collect the findings."""

from __future__ import annotations

import re

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


_STORAGE_KINDS = frozenset(("lustre", "nfs", "bucket", "scratch"))
"""The discriminator value pydantic puts after `storage, <index>` in an error's location."""
_SCHEMA_STEP = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*\[.*\]$")
"""Other union members in a location, e.g. 'lax-or-strict[...]' for an IPv4Network | IPv6Network item."""


def _loc_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif (i >= 2 and loc[i - 2] == "storage" and part in _STORAGE_KINDS) or _SCHEMA_STEP.match(part):
            continue
        else:
            path += f".{part}" if path else part
    return path or "(declaration)"


def _shown(value: object) -> str:
    """A short repr of the bad value; never fails (a huge int has no repr in Python >= 3.11)."""
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, int) and abs(value) > 10**30:
        return f"an integer of {value.bit_length()} bits"
    try:
        shown = repr(value)
    except Exception:
        return f"a {type(value).__name__}"
    return shown if len(shown) <= 80 else shown[:77] + "..."


def findings_from_validation_error(exc: ValidationError, prefix: str = "") -> list[Finding]:
    """Turn pydantic's errors into findings that name the field, the bad value and what is allowed."""
    findings = []
    for item in exc.errors(include_url=False):
        path = _loc_path(tuple(item["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path != "(declaration)" else prefix
        shown = _shown(item.get("input"))
        message = item["msg"].removeprefix("Value error, ")
        kind = item["type"]
        fix = {
            "extra_forbidden": "remove this field (or check its spelling against the documented fields)",
            "missing": "add this field",
        }.get(kind, "give a value of the documented type and range")
        text = message if kind in ("value_error", "missing") else f"{shown}: {message}"
        findings.append(error(f"spec-{kind.replace('_', '-')}", path, text, fix))
    return findings
