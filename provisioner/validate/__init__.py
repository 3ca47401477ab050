"""Rules over a declaration and the catalog -> findings. Pure: no Pulumi, no network."""

from provisioner.validate.engine import findings_from_validation_error, validate
from provisioner.validate.findings import Finding, error, has_errors, warning

__all__ = ["Finding", "error", "findings_from_validation_error", "has_errors", "validate", "warning"]
