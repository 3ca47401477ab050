"""API factories for `PoolProvider` in tests, loaded by dotted name ('fast_factories:crusoe_pool_api', this
folder being on sys.path as it is for the fakes): they build the same API classes as the production
factories (`provisioner.providers.<cloud>.api:pool_api`) from a resource's props, but with the fakes'
credentials instead of the environment and with retry timings fit for loopback (no backoff, no sleep).

Props they read besides the production ones: `timeout_s` (each HTTP request's timeout) and, for Lambda,
`launch_gap_s` (the API's own pacing; PoolProvider reads the same key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fake_crusoe import KEYS, ReusableTransport

from provisioner.providers.crusoe.api import BASE_URL as CRUSOE_URL
from provisioner.providers.crusoe.api import CrusoeApi
from provisioner.providers.lambda_cloud.api import BASE_URL as LAMBDA_URL
from provisioner.providers.lambda_cloud.api import LambdaApi
from provisioner.providers.rest import RetryPolicy

LAMBDA_KEY = "test-key"
"""What the fake Lambda API expects (`Authorization: Bearer test-key`)."""


def fast_options() -> dict[str, Any]:
    """Client options for loopback: six tries without backoff (a 429's Retry-After is not slept either),
    over a transport that keeps one TLS context (real HTTP all the same)."""
    return {
        "policy": RetryPolicy(attempts=6, base_s=0.0, cap_s=0.0, deadline_s=20.0),
        "sleep": lambda s: None,
        "transport": ReusableTransport(),
    }


def crusoe_pool_api(props: Mapping[str, Any]) -> CrusoeApi:
    """`provisioner.providers.crusoe.api:pool_api` with the fake's keys and fast timings."""
    return CrusoeApi(
        project_id=str(props["project_id"]),
        base_url=str(props.get("base_url") or CRUSOE_URL),
        keys=KEYS,
        timeout_s=float(props.get("timeout_s", 0.3)),
        client_options=fast_options(),
        wait_s=float(props.get("wait_s", 5.0)),
        interval_s=float(props.get("interval_s", 0.0)),
        sleep=lambda s: None,
        pool=str(props["pool"]),
        instance_type=str(props["instance_type"]),
        ssh_key=str(props["ssh_key"]),
        user_data=str(props.get("user_data") or ""),
        image=str(props["image"]) if props.get("image") else None,
        ib_partition=bool(props.get("ib_partition")),
        disks=tuple(str(d) for d in props.get("disks") or ()),
    )


def lambda_pool_api(props: Mapping[str, Any]) -> LambdaApi:
    """`provisioner.providers.lambda_cloud.api:pool_api` with the fake's key and fast timings."""
    return LambdaApi(
        instance_type=str(props["instance_type"]),
        ssh_key=str(props["ssh_key"]),
        file_systems=tuple(props.get("file_systems") or ()),
        base_url=str(props.get("base_url") or LAMBDA_URL),
        key=LAMBDA_KEY,
        timeout_s=float(props.get("timeout_s", 0.3)),
        client_options=fast_options(),
        user_data=str(props.get("user_data") or ""),
        tags={str(k): str(v) for k, v in (props.get("tags") or {}).items()},
        owner=str(props.get("owner") or ""),
        launch_gap_s=float(props.get("launch_gap_s", 0.0)),
    )
