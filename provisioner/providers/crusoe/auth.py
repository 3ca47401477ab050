"""Crusoe Cloud's request signing, and its keys from the environment.

Every request carries `X-Crusoe-Timestamp` (RFC 3339 in UTC, `2026-12-03T10:00:00Z`, as
crusoecloud/terraform-provider-crusoe `internal/common/auth.go` writes it) and `Authorization: Bearer
1.0:<access key id>:<signature>`, the signature being the unpadded base64url HMAC-SHA256, keyed with the
base64url-decoded secret key, of `/v1alpha5{path}\\n{query sorted by key}\\n{METHOD}\\n{timestamp}\\n`
(dstackai/gpuhunt `providers/crusoe.py`; the Terraform provider's `generateMessageV1_0` signs the same
fields)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote_plus

from provisioner.errors import ProvisionerError

API_PREFIX = "/v1alpha5"
SIGNATURE_VERSION = "1.0"
ACCESS_KEY_VARIABLE = "CRUSOE_ACCESS_KEY_ID"
SECRET_KEY_VARIABLE = "CRUSOE_SECRET_KEY"


def timestamp(now: datetime | None = None) -> str:
    """`X-Crusoe-Timestamp`: RFC 3339, UTC, whole seconds (`2026-12-03T10:00:00Z`)."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_query(query: str) -> str:
    """The query sorted by key (values of one key kept in order), each part form-escaped."""
    pairs = parse_qsl(query, keep_blank_values=True)
    ordered = sorted(pairs, key=lambda kv: kv[0])  # stable: a key's values keep their order
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in ordered)


def signature_message(method: str, path: str, query: str, stamp: str, prefix: str = API_PREFIX) -> str:
    return f"{prefix}{path}\n{canonical_query(query)}\n{method.upper()}\n{stamp}\n"


def sign(
    access_key_id: str, secret_key: str, method: str, path: str, stamp: str, prefix: str = API_PREFIX
) -> dict[str, str]:
    """The two auth headers of one request. `path` is relative to the API base (`/projects/...`) and may
    carry its query (`?a=1&b=2`); `prefix` is the base's path (`/v1alpha5`)."""
    bare, _, query = path.partition("?")
    unpadded = secret_key.rstrip("=")  # the Go client decodes it as unpadded base64url; accept both
    try:
        key = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ProvisionerError(f"{SECRET_KEY_VARIABLE} is not a base64url Crusoe secret key") from exc
    message = signature_message(method, bare, query, stamp, prefix).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    return {
        "X-Crusoe-Timestamp": stamp,
        "Authorization": f"Bearer {SIGNATURE_VERSION}:{access_key_id}:{signature}",
    }


def credentials() -> tuple[str, str]:
    """(access key id, secret key) from the environment, read at call time; never stored in state."""
    access = os.environ.get(ACCESS_KEY_VARIABLE, "")
    secret = os.environ.get(SECRET_KEY_VARIABLE, "")
    if not access or not secret:
        missing = [
            name
            for name, value in ((ACCESS_KEY_VARIABLE, access), (SECRET_KEY_VARIABLE, secret))
            if not value
        ]
        raise ProvisionerError(
            f"set {ACCESS_KEY_VARIABLE} and {SECRET_KEY_VARIABLE} to a Crusoe Cloud access key "
            f"(missing: {', '.join(missing)}; the key is never stored in state)"
        )
    return access, secret
