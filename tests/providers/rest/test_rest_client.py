"""The shared REST client against a real HTTP server on loopback, with faults: 429 bursts with Retry-After,
500s, connection resets, answers slower than the timeout, and classified errors that keep the provider's
message. Waits are recorded, not slept, so the tests are fast; the timeouts are real."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from scripted_server import Script, Step, serve

from provisioner.providers.rest import (
    ErrorKind,
    RestClient,
    RestError,
    RetryPolicy,
    WaitTimeoutError,
    wait_for,
)
from provisioner.providers.rest.retry import backoff, retry_after

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def url(script: Script) -> Iterator[str]:
    with serve(script) as base:
        yield base


def client(url: str, sleeps: list[float], **fields: object) -> RestClient:
    policy = fields.pop("policy", RetryPolicy(attempts=5, base_s=0.2, cap_s=2.0, deadline_s=30.0))
    return RestClient(
        "fake",
        url,
        timeout_s=float(fields.pop("timeout_s", 2.0)),
        policy=policy,
        sleep=sleeps.append,
        **fields,  # type: ignore[arg-type]
    )


def test_a_429_burst_is_waited_out_as_retry_after_says(script: Script, url: str) -> None:
    busy = Step(429, {"error": {"code": "rate-limited", "message": "slow down"}}, {"Retry-After": "3"})
    script.then("GET", "/instances", busy, busy, Step(200, {"data": [1]}))
    sleeps: list[float] = []
    assert client(url, sleeps).get("/instances") == {"data": [1]}
    assert sleeps == [3.0, 3.0] and script.count("GET", "/instances") == 3


def test_5xx_and_resets_are_retried_with_bounded_jittered_backoff_on_reads(script: Script, url: str) -> None:
    script.then(
        "GET", "/x", Step(500, {"message": "oops"}), Step(reset=True), Step(503), Step(200, {"ok": 1})
    )
    sleeps: list[float] = []
    assert client(url, sleeps).get("/x") == {"ok": 1}
    assert len(sleeps) == 3 and all(0 <= s <= 2.0 for s in sleeps)


def test_retries_stop_after_the_attempts_and_keep_the_last_error(script: Script, url: str) -> None:
    script.always("GET", "/x", Step(502, {"error": {"code": "bad-gateway", "message": "upstream down"}}))
    sleeps: list[float] = []
    with pytest.raises(RestError) as caught:
        client(url, sleeps).get("/x")
    assert caught.value.kind is ErrorKind.TRANSIENT and caught.value.status == 502
    assert "upstream down" in str(caught.value) and script.count("GET", "/x") == 5 and len(sleeps) == 4


def test_a_retry_after_beyond_the_bound_ends_the_retries(script: Script, url: str) -> None:
    script.always("GET", "/x", Step(429, {"message": "later"}, {"Retry-After": "3600"}))
    with pytest.raises(RestError, match="later"):
        client(url, []).get("/x")
    assert script.count("GET", "/x") == 1


def test_an_answer_slower_than_the_timeout_is_a_transient_error(script: Script, url: str) -> None:
    script.then("GET", "/slow", Step(delay_s=1.5), Step(200, {"ok": True}))
    sleeps: list[float] = []
    assert client(url, sleeps, timeout_s=0.5).get("/slow") == {"ok": True}
    assert len(sleeps) == 1


def test_a_launch_is_never_retried_once_the_server_may_have_acted(script: Script, url: str) -> None:
    for fault in (Step(500, {"message": "internal"}), Step(reset=True), Step(delay_s=1.5)):
        script.then("POST", "/launch", fault)
        with pytest.raises(RestError) as caught:
            client(url, [], timeout_s=0.5).post("/launch", {"quantity": 1})
        assert caught.value.ambiguous and caught.value.kind is ErrorKind.TRANSIENT
    assert script.count("POST", "/launch") == 3, "one request per fault: nothing launched twice"


def test_a_refused_launch_is_retried(script: Script, url: str) -> None:
    script.then(
        "POST", "/launch", Step(429, {"message": "busy"}, {"Retry-After": "1"}), Step(200, {"id": "i-1"})
    )
    assert client(url, []).post("/launch", {"quantity": 1}) == {"id": "i-1"}
    assert script.received[-1].body == {"quantity": 1}


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "unauthorized", ErrorKind.AUTHENTICATION),
        (403, "forbidden", ErrorKind.AUTHENTICATION),
        (400, "invalid-parameters", ErrorKind.INVALID_REQUEST),
        (400, "instance-operations/launch/insufficient-capacity", ErrorKind.CAPACITY),
        (400, "quota-exceeded", ErrorKind.QUOTA),
    ],
)
def test_errors_are_classified_and_never_retried(
    script: Script, url: str, status: int, code: str, kind: ErrorKind
) -> None:
    def provider(status: int, code: str | None, message: str) -> ErrorKind | None:
        if code and "insufficient-capacity" in code:
            return ErrorKind.CAPACITY
        return ErrorKind.QUOTA if code == "quota-exceeded" else None

    script.always("POST", "/launch", Step(status, {"error": {"code": code, "message": f"said: {code}"}}))
    with pytest.raises(RestError) as caught:
        client(url, [], classifier=provider).post("/launch", {})
    assert (caught.value.kind, caught.value.code) == (kind, code)
    assert caught.value.provider_message == f"said: {code}" and script.count("POST", "/launch") == 1


def test_a_refused_connection_is_retried_and_then_reported() -> None:
    sleeps: list[float] = []
    with pytest.raises(RestError, match="cannot connect") as caught:
        client("http://127.0.0.1:9", sleeps, policy=RetryPolicy(attempts=3, base_s=0.01)).post("/launch", {})
    assert caught.value.kind is ErrorKind.TRANSIENT and not caught.value.ambiguous and len(sleeps) == 2


def test_the_deadline_bounds_the_retries(script: Script, url: str) -> None:
    script.always("GET", "/x", Step(503))
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    policy = RetryPolicy(attempts=100, base_s=4.0, cap_s=4.0, deadline_s=10.0)
    rest = RestClient("fake", url, policy=policy, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(RestError):
        rest.get("/x")
    assert now[0] <= 10.0 and script.count("GET", "/x") < 100


def test_headers_sign_each_request(script: Script, url: str) -> None:
    script.always("GET", "/me", Step(200, {}))
    RestClient("fake", url, headers=lambda m, p, b: {"Authorization": f"Bearer k {m} {p}"}).get("/me")
    assert script.received[0].headers["Authorization"] == "Bearer k GET /me"


def test_backoff_and_retry_after_parsing() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=8.0)
    assert all(0 <= backoff(policy, n) <= min(8.0, 0.5 * 2**n) for n in range(10) for _ in range(20))
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert retry_after("7") == 7.0
    assert retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_bounded_waits() -> None:
    states = iter(["booting", "booting", "active"])
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    assert (
        wait_for(lambda: next(states), lambda s: s == "active", "i-1 active", 60, 5, sleep, lambda: now[0])
        == "active"
    )
    with pytest.raises(WaitTimeoutError, match="not done after 20 s"):
        wait_for(lambda: "booting", lambda s: s == "active", "i-1 active", 20, 5, sleep, lambda: now[0])
