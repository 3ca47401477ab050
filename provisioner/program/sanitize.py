"""Make recorded inputs JSON-safe and deterministic: secrets redacted, long blobs summarized."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.runtime import rpc

REDACTED = "[secret]"
UNKNOWN = "[unknown]"
LONG_TEXT = 2048
"""Strings longer than this (user data, policies) are shown by length and digest: still diffable."""


def summarize(text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"<{len(text)} characters, sha256 {digest}>"


def _asset(value: pulumi.Asset | pulumi.Archive) -> str:
    for attr in ("path", "uri", "text"):
        found = getattr(value, attr, None)
        if isinstance(found, str):
            shown = summarize(found) if attr == "text" else found
            return f"<{type(value).__name__} {shown}>"
    return f"<{type(value).__name__}>"


def json_safe(value: Any) -> Any:
    """Plain JSON data for a deserialized property value."""
    if rpc.is_rpc_secret(value):
        return REDACTED
    if isinstance(value, str):
        if value == rpc.UNKNOWN:
            return UNKNOWN
        return summarize(value) if len(value) > LONG_TEXT else value
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {
            str(k): json_safe(v)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
            if not _internal(k)
        }
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return _asset(value)
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    return str(value)


def _internal(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("__")
