"""What a cloud's REST API said, classified so that callers act on the kind, and the user reads the
provider's own words."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from provisioner.errors import ProvisionerError


class ErrorKind(StrEnum):
    CAPACITY = "capacity"
    """No machines of that type there now: try another region, or later."""
    QUOTA = "quota"
    """The account's limit: raise the quota."""
    AUTHENTICATION = "authentication"
    """The key is missing, wrong or lacks the permission."""
    INVALID_REQUEST = "invalid-request"
    """The request is wrong: retrying it cannot help."""
    TRANSIENT = "transient"
    """Rate limits, server errors, broken connections, timeouts: worth retrying."""


class RestError(ProvisionerError):
    """A failed call, with the provider's code and message kept as they were."""

    def __init__(
        self,
        kind: ErrorKind,
        provider: str,
        method: str,
        path: str,
        message: str,
        status: int | None = None,
        code: str | None = None,
        ambiguous: bool = False,
    ) -> None:
        self.kind, self.provider, self.method, self.path = kind, provider, method, path
        self.status, self.code, self.provider_message = status, code, message
        self.ambiguous = ambiguous
        """The request may have been carried out (a create that timed out): reconcile before retrying."""
        where = f"{method} {path}"
        said = f"HTTP {status}" if status is not None else "no response"
        detail = f"{code}: {message}" if code else message
        super().__init__(f"{provider} {where}: {kind.value} ({said}): {detail}")


Classifier = Callable[[int, str | None, str], ErrorKind | None]
"""(status, provider code, message) -> a kind, or None for the default by status."""


def kind_by_status(status: int) -> ErrorKind:
    if status in (401, 403):
        return ErrorKind.AUTHENTICATION
    if status == 429 or status >= 500 or status == 408:
        return ErrorKind.TRANSIENT
    return ErrorKind.INVALID_REQUEST


def classify(status: int, code: str | None, message: str, provider: Classifier | None = None) -> ErrorKind:
    """The provider's own classification first (its capacity and quota codes), then by HTTP status."""
    if provider is not None:
        kind = provider(status, code, message)
        if kind is not None:
            return kind
    return kind_by_status(status)
