"""Lambda's Cloud API (REST, no Pulumi package) as a `PoolApi`: list, launch, terminate instances.

Shapes verified against Lambda's own OpenAPI document, "Lambda Cloud API" version 1.8.3 (the file
`openapi-1.8.3.json` of the generated client github.com/alexandervaneck/lambda-ai-cloud-api-client, which
docs-api.lambda.ai/api/cloud renders):

* servers `https://cloud.lambda.ai/` (production) and `https://cloud.lambdalabs.com/` ("secondary production
  server (deprecated)"); every path under `/api/v1`. Auth `Authorization: Bearer <key>` (HTTP basic with the
  key as user name also works).
* `GET /instances` -> `data[] {id, name, status, region{name, description}, file_system_names, tags[]...}`;
  status is one of `booting, active, unhealthy, terminated, terminating, preempted`.
* `POST /instance-operations/launch` `{region_name, instance_type_name, ssh_key_names (exactly one),
  file_system_names?, file_system_mounts?, hostname?, name? (<= 64 chars), image?, user_data?, tags?,
  firewall_rulesets?}` -> `data {instance_ids}`. `user_data` is "an instance configuration string specified
  in a valid cloud-init user-data format ... must be plain text and cannot exceed 1MB in size" (write-only:
  never returned). `tags` is `[{key, value}]`, key `^[a-z][a-z0-9-:]+$` of at most 55 characters, value at
  most 128. `quantity` is no longer in the request schema of 1.8.3, but the document's own curl example
  still sends `"quantity":1` and the schema does not forbid extra fields: it is sent, explicit, as 1.
* `POST /instance-operations/terminate {instance_ids}` -> `data {terminated_instances}`.
* Errors: `{"error": {"code", "message", "suggestion"?}}`. Launch answers 400 with
  `instance-operations/launch/insufficient-capacity`,
  `instance-operations/launch/file-system-in-wrong-region`, `global/invalid-parameters`,
  `global/object-does-not-exist` or `global/quota-exceeded`; 401 `global/invalid-api-key`; 403
  `global/account-inactive` or `global/invalid-address`; 404 `global/object-does-not-exist`. Codes
  prefixed `provider/` come from Lambda's upstream providers.
* An instance in the list also carries `ip` (public), `private_ip` and `tags` (the document's example:
  `"private_ip": "10.0.2.100"`).
* Rate limits (from the document's description): about one request per second, and launch one per 12
  seconds or five per minute (Lambda's older docs: one per 10 s); launches are paced at 12 s, and the
  client honours a 429's Retry-After."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioner.providers.rest.client import RestClient
from provisioner.providers.rest.errors import ErrorKind, RestError
from provisioner.providers.rest.pool import Instance

BASE_URL = "https://cloud.lambda.ai/api/v1"
API_KEY_VARIABLE = "LAMBDA_API_KEY"
CAPACITY_CODE = "instance-operations/launch/insufficient-capacity"
WRONG_REGION_CODE = "instance-operations/launch/file-system-in-wrong-region"
LAUNCH_PATH = "/instance-operations/launch"

USER_DATA_LIMIT_BYTES = 1_000_000
"""The spec says user data "cannot exceed 1MB": read as 10**6 bytes, the stricter of the two readings
(whether Lambda means 10**6 or 2**20 is unverified), so what passes here passes there."""
LAUNCH_GAP_S = 12.0
"""At least this long between two launches (the stricter of the published rates)."""
OWNER_TAG = "provisioner:stack"
"""The tag naming the Pulumi stack that launched an instance: only those carrying ours are adopted or
terminated."""
TAG_KEY = re.compile(r"[a-z][a-z0-9-:]+")
TAG_KEY_MAX = 55
TAG_VALUE_MAX = 128


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


def rest_client(
    base_url: str = BASE_URL,
    key: str | None = None,
    timeout_s: float = 15.0,
    client_options: Mapping[str, Any] | None = None,
) -> RestClient:
    """A client of Lambda's API; the key is `key` or, when None, LAMBDA_API_KEY read now."""
    token = key or api_key()
    return RestClient(
        "lambda",
        base_url,
        headers=lambda method, path, body: {"Authorization": f"Bearer {token}"},
        timeout_s=timeout_s,
        classifier=classify,
        **dict(client_options or {}),
    )


def _invalid(message: str, path: str = LAUNCH_PATH) -> RestError:
    return RestError(ErrorKind.INVALID_REQUEST, "lambda", "POST", path, message)


def lambda_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """`{key: value}` -> the launch request's `[{key, value}]` (sorted by key); RestError(INVALID_REQUEST)
    naming the tag when Lambda's rules would refuse it, so nothing is sent that cannot launch."""
    entries = []
    for key, value in sorted(tags.items()):
        if len(key) > TAG_KEY_MAX or not TAG_KEY.fullmatch(key):
            raise _invalid(
                f"tag key {key!r} is not valid on Lambda: it must match ^[a-z][a-z0-9-:]+$ (lower case, "
                f"starting with a letter, at least 2 characters) and be at most {TAG_KEY_MAX} characters"
            )
        text = str(value)
        if len(text) > TAG_VALUE_MAX:
            raise _invalid(f"tag {key!r}: its value is longer than Lambda's {TAG_VALUE_MAX} characters")
        entries.append({"key": key, "value": text})
    return entries


def owner_tag(tags: object) -> str:
    """The value of an instance's `provisioner:stack` tag ('' when it has none)."""
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, Mapping) and tag.get("key") == OWNER_TAG:
            return str(tag.get("value") or "")
    return ""


def check_user_data(user_data: str) -> None:
    size = len(user_data.encode())
    if size > USER_DATA_LIMIT_BYTES:
        raise _invalid(
            f"user data is {size} bytes; Lambda accepts at most 1MB ({USER_DATA_LIMIT_BYTES} bytes here)"
        )


@dataclass
class LambdaApi:
    instance_type: str
    ssh_key: str
    """The NAME of an SSH key in the Lambda account."""
    file_systems: Sequence[str] = ()
    """Names of Lambda filesystems to mount (in the launch region; Lambda mounts each at
    `/lambda/nfs/<name>`)."""
    base_url: str = BASE_URL
    key: str | None = None
    timeout_s: float = 15.0
    client_options: dict[str, Any] = field(default_factory=dict)
    provider: str = "lambda"
    user_data: str = ""
    """cloud-init user data for every instance launched (plain text, not base64); not sent when empty."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of every instance launched; not sent when empty."""
    owner: str = ""
    """The stack this client acts for, sent as the `provisioner:stack` tag: an instance without it is
    another's, never adopted or terminated ('' = no check)."""
    launch_gap_s: float = LAUNCH_GAP_S

    def __post_init__(self) -> None:
        check_user_data(self.user_data)
        lambda_tags(self._tags())

    def _tags(self) -> dict[str, str]:
        return {**self.tags, OWNER_TAG: self.owner} if self.owner else dict(self.tags)

    def _client(self) -> RestClient:
        return rest_client(self.base_url, self.key, self.timeout_s, self.client_options)

    def list(self) -> list[Instance]:
        body = self._client().get("/instances") or {}
        return [
            Instance(
                str(i["id"]),
                str(i.get("name") or ""),
                str((i.get("region") or {}).get("name", "")),
                str(i["status"]),
                str(i["ip"]) if i.get("ip") else None,  # the public IPv4 address, once it has one
                str(i["private_ip"]) if i.get("private_ip") else None,
                owner_tag(i.get("tags")),
            )
            for i in body.get("data", [])
        ]

    def launch_request(self, region: str, name: str) -> dict[str, Any]:
        """The body of one launch: one instance named `name` in `region`."""
        request: dict[str, Any] = {
            "region_name": region,
            "instance_type_name": self.instance_type,
            "ssh_key_names": [self.ssh_key],
            "quantity": 1,
            "name": name,
        }
        if self.file_systems:
            request["file_system_names"] = list(self.file_systems)
        if self.user_data:
            request["user_data"] = self.user_data
        if self._tags():
            request["tags"] = lambda_tags(self._tags())
        return request

    def launch(self, region: str, name: str) -> Sequence[str]:
        """The ids Lambda answers with (`data.instance_ids`)."""
        answer = self._client().post(LAUNCH_PATH, self.launch_request(region, name)) or {}
        ids = (answer.get("data") or {}).get("instance_ids") if isinstance(answer, dict) else None
        return [str(i) for i in ids] if isinstance(ids, list) else []

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
        user_data=str(props.get("user_data") or ""),
        tags={str(k): str(v) for k, v in (props.get("tags") or {}).items()},
        owner=str(props.get("owner") or ""),
    )
