"""Errors users see. Messages are complete sentences; no traceback is needed to act on them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.validate import Finding


class ProvisionerError(Exception):
    """Base of the errors that are the user's to fix."""


class DeclarationError(ProvisionerError):
    def __init__(self, cluster: str, findings: list[Finding]) -> None:
        self.cluster = cluster
        self.findings = findings
        lines = "\n".join(f"  - {f.render()}" for f in findings)
        super().__init__(f"cluster {cluster!r} cannot be deployed; fix these first:\n{lines}")
