"""Lambda's Cloud API (REST, no Pulumi package) as a `PoolApi`: list, launch, terminate instances.

Shapes from ../shared/reference/provisioning.md (from the OpenAPI-generated client lambda-cloud-api-client
0.1.145): base `https://cloud.lambdalabs.com/api/v1`, `Authorization: Bearer <key>`; `GET /instances` ->
`data[] {id, name, status, region{name}}`; `POST /instance-operations/launch` `{region_name,
instance_type_name, ssh_key_names: [one], file_system_names?, quantity, name}`; `POST
/instance-operations/terminate {instance_ids}`. Errors: `{"error": {"code", "message", "suggestion"}}`;
capacity is `instance-operations/launch/insufficient-capacity` (the issue's text), quota codes contain
`quota` (recalled)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioner.providers.rest.client import RestClient
from provisioner.providers.rest.errors import ErrorKind
from provisioner.providers.rest.pool import Instance

BASE_URL = "https://cloud.lambdalabs.com/api/v1"
API_KEY_VARIABLE = "LAMBDA_API_KEY"
CAPACITY_CODE = "instance-operations/launch/insufficient-capacity"


def classify(status: int, code: str | None, message: str) -> ErrorKind | None:
    if code == CAPACITY_CODE or (code or "").endswith("insufficient-capacity"):
        return ErrorKind.CAPACITY
    if code and "quota" in code:
        return ErrorKind.QUOTA
    if code in ("global/invalid-api-key", "global/unauthorized"):
        return ErrorKind.AUTHENTICATION
    return None


def api_key() -> str:
    key = os.environ.get(API_KEY_VARIABLE, "")
    if not key:
        from provisioner.errors import ProvisionerError

        raise ProvisionerError(
            f"set {API_KEY_VARIABLE} to a Lambda Cloud API key (it is never stored in state)"
        )
    return key


@dataclass
class LambdaApi:
    instance_type: str
    ssh_key: str
    file_systems: Sequence[str] = ()
    base_url: str = BASE_URL
    key: str | None = None
    timeout_s: float = 15.0
    client_options: dict[str, Any] = field(default_factory=dict)
    provider: str = "lambda"

    def _client(self) -> RestClient:
        key = self.key or api_key()
        return RestClient(
            "lambda",
            self.base_url,
            headers=lambda method, path, body: {"Authorization": f"Bearer {key}"},
            timeout_s=self.timeout_s,
            classifier=classify,
            **self.client_options,
        )

    def list(self) -> list[Instance]:
        body = self._client().get("/instances") or {}
        return [
            Instance(
                str(i["id"]),
                str(i.get("name") or ""),
                str((i.get("region") or {}).get("name", "")),
                str(i["status"]),
            )
            for i in body.get("data", [])
        ]

    def launch(self, region: str, name: str) -> None:
        request: dict[str, Any] = {
            "region_name": region,
            "instance_type_name": self.instance_type,
            "ssh_key_names": [self.ssh_key],
            "quantity": 1,
            "name": name,
        }
        if self.file_systems:
            request["file_system_names"] = list(self.file_systems)
        self._client().post("/instance-operations/launch", request)

    def terminate(self, ids: Sequence[str]) -> None:
        # terminating twice is harmless: safe to retry
        self._client().post("/instance-operations/terminate", {"instance_ids": list(ids)}, idempotent=True)


def pool_api(props: Mapping[str, Any]) -> LambdaApi:
    """The dynamic provider's factory ("provisioner.providers.lambda_cloud.api:pool_api"): the key comes from
    LAMBDA_API_KEY at call time, never from the resource's inputs or state."""
    return LambdaApi(
        instance_type=str(props["instance_type"]),
        ssh_key=str(props["ssh_key"]),
        file_systems=tuple(props.get("file_systems") or ()),
        base_url=str(props.get("base_url") or BASE_URL),
    )
