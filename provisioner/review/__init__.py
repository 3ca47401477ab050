"""Rendering of plans and runs: terminal tables and JSON. Pure: never imports Pulumi.

Submodules are imported by what needs them (`review.report` for JSON, `review.table` for rich tables), so
that importing one renderer does not pay for the others.
"""

from provisioner.review.model import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USER_ERROR,
    ClusterRun,
    Failure,
    LogLine,
    ProgramSource,
    RecordedResource,
    RunResult,
)

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USER_ERROR",
    "ClusterRun",
    "Failure",
    "LogLine",
    "ProgramSource",
    "RecordedResource",
    "RunResult",
]
