"""Rules over a declaration and the catalog -> findings. Pure: no Pulumi, no network."""

from provisioner.validate.engine import findings_from_validation_error, validate
from provisioner.validate.findings import Finding, error, has_errors, warning
from provisioner.validate.rules.names import component_name_findings

__all__ = [
    "Finding",
    "component_name_findings",
    "error",
    "findings_from_validation_error",
    "has_errors",
    "validate",
    "warning",
]
