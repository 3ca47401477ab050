"""What an offline run of a Pulumi program produced: the data `review` renders. Pure: no Pulumi.

The runner (`provisioner.program.runner`) builds a `RunResult`; the renderers (`table`, `report`) read it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.plan import ClusterPlan
from provisioner.spec import Cluster, Severity
from provisioner.validate import Finding

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER_ERROR = 2


@dataclass(frozen=True, slots=True)
class RecordedResource:
    """One registration `pulumi up` would make. `inputs` is JSON-safe, with secrets redacted."""

    urn: str
    type: str
    name: str
    parent: str | None
    """URN of the parent resource; None for children of the stack."""
    inputs: Mapping[str, Any]
    custom: bool
    """False for component resources (groupings that create nothing in the cloud)."""
    protect: bool = False
    read: bool = False
    """True for `Resource.get(...)` lookups of existing resources (nothing is created)."""

    def sort_key(self) -> tuple[str, str, str]:
        return (self.type, self.name, self.urn)


@dataclass(frozen=True, slots=True)
class ClusterRun:
    """One GpuCluster of the program: its plan and the resources registered under it."""

    component: str
    """Name of the GpuCluster component (usually the cluster's name)."""
    plan: ClusterPlan
    emitted: bool
    """False when the plan had errors, so no resource was emitted for it."""
    implicit: bool
    """True when the runner created the GpuCluster for a bare `Cluster` declared in the file."""
    resources: tuple[RecordedResource, ...] = ()
    declaration: Cluster | None = None
    """The Cluster as the program declared it (before --provider moved it): what `quote` prices."""

    def resource_counts(self) -> dict[str, int]:
        """Resource type -> how many, sorted by type. Components are counted too."""
        return dict(sorted(Counter(r.type for r in self.resources).items()))


@dataclass(frozen=True, slots=True)
class Failure:
    """The program could not run to the end. `message` is one line and names the file and line."""

    message: str
    exit_code: int
    location: str | None = None
    """'path/to/file.py:12' of the user's code, when known."""
    traceback: str = ""
    """Shown only with --debug."""


@dataclass(frozen=True, slots=True)
class LogLine:
    severity: str
    message: str


@dataclass(frozen=True, slots=True)
class ProgramSource:
    path: str
    """The path as the user gave it (relative paths stay relative, so reports diff across machines)."""
    kind: str
    """'file' (a Python file declaring clusters) or 'stack' (a Pulumi project directory)."""
    project: str
    stack: str


@dataclass(frozen=True, slots=True)
class RunResult:
    source: ProgramSource
    clusters: tuple[ClusterRun, ...] = ()
    other_resources: tuple[RecordedResource, ...] = ()
    """Resources the program registered outside of any GpuCluster."""
    findings: tuple[Finding, ...] = ()
    """Findings about the program itself (e.g. an invalid declaration that stopped it)."""
    failure: Failure | None = None
    exports: Mapping[str, Any] = field(default_factory=dict)
    """Stack outputs (`pulumi.export`), JSON-safe, secrets redacted."""
    log: tuple[LogLine, ...] = ()

    def all_findings(self) -> list[Finding]:
        found = list(self.findings)
        for run in self.clusters:
            found.extend(run.plan.findings)
        return found

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.all_findings())

    @property
    def exit_code(self) -> int:
        """0 ok, 2 a finding is an error (the user's mistake), else the failure's code."""
        if self.has_errors:
            return EXIT_USER_ERROR
        if self.failure is not None:
            return self.failure.exit_code
        return EXIT_OK

    def resource_count(self) -> int:
        return sum(len(run.resources) for run in self.clusters) + len(self.other_resources)
