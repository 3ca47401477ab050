"""Lambda persistent filesystems as a `VolumeApi` (the shared storage of a Lambda cluster).

Shapes verified against Lambda's OpenAPI document "Lambda Cloud API" 1.8.3 (`openapi-1.8.3.json` of
github.com/alexandervaneck/lambda-ai-cloud-api-client; rendered at docs-api.lambda.ai/api/cloud):

* `GET /file-systems` (with a hyphen) -> `data[] {id, name, mount_point, created, created_by, is_in_use,
  region{name, description}, bytes_used?}`; `is_in_use`: "whether the filesystem is currently mounted to
  an instance. Filesystems that are mounted cannot be deleted."
* `POST /filesystems` (no hyphen) `{name, region}` -> `data` one filesystem; `name` matches
  `^[a-zA-Z]+[0-9a-zA-Z-]*$`, 1 to 60 characters. 400 `global/duplicate`, `global/quota-exceeded` or
  `global/invalid-parameters`. No size: a filesystem grows with its content.
* `DELETE /filesystems/{id}` -> `data {deleted_ids}`; 400 `filesystems/filesystem-in-use` while mounted,
  404 `global/object-does-not-exist` when there is no such filesystem.
* A filesystem named in a launch's `file_system_names` is mounted at its `mount_point`, by default
  `/lambda/nfs/<name>` (the document's examples: filesystem `my-filesystem`, mount point
  `/lambda/nfs/my-filesystem`; `mount_point` is "the DEFAULT absolute path"). A launch may instead give
  `file_system_mounts [{mount_point, file_system_id}]` with a path under `/home`, `/lambda/nfs` or `/data`;
  this adapter uses the default and the bootstrap bind-mounts it where the user wants.

Creating is not idempotent: an ambiguous failure (a 5xx, a reset, a timeout) propagates and `ensure_volume`
reconciles by name. Whether a name is unique per account or per region is unverified: a duplicate answer is
reconciled by name the same way."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from provisioner.providers.lambda_cloud.api import BASE_URL, rest_client
from provisioner.providers.rest.client import RestClient
from provisioner.providers.rest.errors import ErrorKind, RestError
from provisioner.providers.rest.volume import Volume

MOUNT_ROOT = "/lambda/nfs"
NAME = re.compile(r"[a-zA-Z]+[0-9a-zA-Z-]*")
NAME_MAX = 60
DUPLICATE_CODE = "global/duplicate"
IN_USE_CODE = "filesystems/filesystem-in-use"
NOT_FOUND_CODE = "global/object-does-not-exist"
LIST_PATH = "/file-systems"
CREATE_PATH = "/filesystems"


def mount_point(name: str) -> str:
    """Where Lambda mounts filesystem `name` on an instance launched with it (the API's default)."""
    return f"{MOUNT_ROOT}/{name}"


def check_name(name: str) -> None:
    if not NAME.fullmatch(name) or len(name) > NAME_MAX:
        raise RestError(
            ErrorKind.INVALID_REQUEST,
            "lambda",
            "POST",
            CREATE_PATH,
            f"filesystem name {name!r} is not valid on Lambda: letters first, then letters, digits or "
            f"hyphens, at most {NAME_MAX} characters",
        )


def _volume(body: Mapping[str, Any]) -> Volume:
    return Volume(
        id=str(body["id"]),
        name=str(body.get("name") or ""),
        region=str((body.get("region") or {}).get("name", "")),
        size_gib=None,
        attached=bool(body.get("is_in_use")),
    )


@dataclass
class LambdaFilesystems:
    base_url: str = BASE_URL
    key: str | None = None
    """None: LAMBDA_API_KEY, read at each call."""
    timeout_s: float = 15.0
    client_options: dict[str, Any] = field(default_factory=dict)
    provider: str = "lambda"

    def _client(self) -> RestClient:
        return rest_client(self.base_url, self.key, self.timeout_s, self.client_options)

    def list(self) -> list[Volume]:
        body = self._client().get(LIST_PATH) or {}
        return [_volume(item) for item in body.get("data", [])]

    def find(self, name: str) -> Volume | None:
        found = [v for v in self.list() if v.name == name]
        if len(found) > 1:
            regions = ", ".join(sorted(v.region for v in found))
            raise RestError(
                ErrorKind.INVALID_REQUEST,
                self.provider,
                "GET",
                LIST_PATH,
                f"{len(found)} Lambda filesystems are named {name!r} (in {regions}): delete or rename all "
                "but one",
            )
        return found[0] if found else None

    def create(self, name: str, region: str, size_gib: int | None) -> Volume:
        if size_gib is not None:
            raise RestError(
                ErrorKind.INVALID_REQUEST,
                self.provider,
                "POST",
                CREATE_PATH,
                f"Lambda filesystems are not sized (they grow with their content): leave the size of "
                f"{name!r} unset, not {size_gib} GiB",
            )
        check_name(name)
        try:
            body = self._client().post(CREATE_PATH, {"name": name, "region": region})
        except RestError as exc:
            if exc.code != DUPLICATE_CODE:
                raise
            # it exists already (made by a try that timed out, or elsewhere): reconcile by name
            raise RestError(
                exc.kind, exc.provider, exc.method, exc.path, exc.provider_message, exc.status, exc.code, True
            ) from exc
        return _volume((body or {}).get("data") or {})

    def delete(self, volume_id: str) -> None:
        try:
            self._client().delete(f"{CREATE_PATH}/{quote(volume_id, safe='')}")
        except RestError as exc:
            if exc.status == 404 and exc.code == NOT_FOUND_CODE:
                return  # already gone (a retried delete that had acted): deleting twice is harmless
            raise

    def resize(self, volume_id: str, size_gib: int) -> Volume:
        raise RestError(
            ErrorKind.INVALID_REQUEST,
            self.provider,
            "PATCH",
            f"{CREATE_PATH}/{volume_id}",
            "Lambda filesystems are not sized",
        )


def volume_api(props: Mapping[str, Any]) -> LambdaFilesystems:
    """The volume resource's factory ("provisioner.providers.lambda_cloud.filesystems:volume_api"); props
    `name`, `region`, `size_gib` (None), `kind`, `provider`, optional `base_url`. The key comes from
    LAMBDA_API_KEY at call time, never from the inputs or the state."""
    return LambdaFilesystems(base_url=str(props.get("base_url") or BASE_URL))
