"""One HTTP client for the GPU clouds without a Pulumi package: a timeout on every call, bounded retries of
what is safe to retry, errors classified with the provider's message kept.

A request that may already have been carried out is never retried blindly: a non-idempotent call (a launch)
is retried only when the server provably did not act on it (it refused the connection or answered 429); after
a timeout, a reset or a 5xx it fails as `ambiguous`, and the caller reconciles (lists what exists) before
trying again. Clients are cheap and hold no state worth keeping: build one inside each provider method (a
Pulumi dynamic provider is pickled)."""

from __future__ import annotations

import functools
import json
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from provisioner.providers.rest.errors import Classifier, ErrorKind, RestError, classify
from provisioner.providers.rest.retry import RetryPolicy, backoff, retry_after

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
MessageReader = Callable[[Any], tuple[str | None, str]]
"""A decoded error body -> (provider code, message)."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: httpx would build one per client (~15 ms each, on every call,
    since clients are built inside each provider method)."""
    return ssl.create_default_context()


def default_message(body: Any) -> tuple[str | None, str]:
    """`{"error": {"code", "message"}}`, `{"code", "message"}` or `{"message"}`; else the text."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return _text(error.get("code")), str(error.get("message") or error.get("suggestion") or error)
        if "message" in body or "code" in body:
            return _text(body.get("code")), str(body.get("message") or "")
    return None, str(body)[:500]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass
class RestClient:
    provider: str
    base_url: str
    headers: Callable[[str, str, bytes], dict[str, str]] = field(default=lambda method, path, body: {})
    """Headers of one request (auth), from its method, path and body (Crusoe signs them)."""
    timeout_s: float = 15.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    classifier: Classifier | None = None
    messages: MessageReader = default_message
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    transport: httpx.BaseTransport | None = None

    def get(self, path: str, **params: str) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: Mapping[str, Any], idempotent: bool = False) -> Any:
        return self.request("POST", path, body=body, idempotent=idempotent)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty one); `RestError` when it failed for good."""
        safe = method in IDEMPOTENT if idempotent is None else idempotent
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        started = self.clock()
        tries = 0
        with httpx.Client(
            base_url=self.base_url, timeout=self.timeout_s, transport=self.transport, verify=tls_context()
        ) as http:
            while True:
                tries += 1
                error, wait = self._once(http, method, path, payload, params, safe)
                if error is None:
                    return wait
                pause = wait if wait is not None else backoff(self.policy, tries - 1)
                left = self.policy.deadline_s - (self.clock() - started)
                if not self._retry(error, tries, pause, left):
                    raise error
                self.sleep(pause)

    def _retry(self, error: RestError, tries: int, pause: float, left: float) -> bool:
        """Only transient, unambiguous failures, within the tries, the Retry-After bound and the deadline."""
        if error.kind is not ErrorKind.TRANSIENT or error.ambiguous or tries >= self.policy.attempts:
            return False
        return pause <= self.policy.max_retry_after_s and pause < left

    def _once(
        self,
        http: httpx.Client,
        method: str,
        path: str,
        payload: bytes,
        params: Mapping[str, str] | None,
        safe: bool,
    ) -> tuple[RestError | None, Any]:
        """(None, decoded answer) or (the error, the Retry-After wait if the server gave one)."""
        signed = f"{path}?{urlencode(params)}" if params else path  # a signature covers the query too
        headers = {"Accept": "application/json", **self.headers(method, signed, payload)}
        if payload:
            headers["Content-Type"] = "application/json"
        try:
            response = http.request(method, path, content=payload or None, params=params, headers=headers)
        except httpx.ConnectError as exc:  # nothing reached the server: always safe to retry
            return self._error(ErrorKind.TRANSIENT, method, path, f"cannot connect: {exc}"), None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            what = "timed out" if isinstance(exc, httpx.TimeoutException) else f"connection failed: {exc}"
            return self._error(ErrorKind.TRANSIENT, method, path, what, ambiguous=not safe), None
        if response.is_success:
            return None, _decode(response) if response.content else None
        code, message = self.messages(_decode(response))
        kind = classify(response.status_code, code, message, self.classifier)
        # a 429 was refused, not carried out; a 5xx may have been carried out half-way
        ambiguous = not safe and kind is ErrorKind.TRANSIENT and response.status_code != 429
        error = self._error(kind, method, path, message, response.status_code, code, ambiguous)
        return error, retry_after(response.headers.get("Retry-After"))

    def _error(
        self,
        kind: ErrorKind,
        method: str,
        path: str,
        message: str,
        status: int | None = None,
        code: str | None = None,
        ambiguous: bool = False,
    ) -> RestError:
        return RestError(kind, self.provider, method, path, message, status, code, ambiguous)


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


class WaitTimeoutError(RestError):
    """A bounded wait ran out."""


def wait_for(
    fetch: Callable[[], Any],
    done: Callable[[Any], bool],
    what: str,
    timeout_s: float,
    interval_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Poll `fetch` until `done` says so; `WaitTimeoutError` (transient) after `timeout_s`."""
    started = clock()
    while True:
        value = fetch()
        if done(value):
            return value
        if clock() - started + interval_s > timeout_s:
            raise WaitTimeoutError(
                ErrorKind.TRANSIENT, "wait", "", what, f"not done after {timeout_s:.0f} s: {what}"
            )
        sleep(interval_s)
