"""A Pulumi dynamic provider for one pool of instances on a REST cloud: the resource owns its N instances.

create launches the pool and waits for it (on any failure it terminates what it launched, so a failed `pulumi
up` leaves nothing billed behind); delete terminates every member and confirms; update resizes in place;
diff says which inputs replace the pool (its shape, region choice, SSH key) and which only resize it. The
provider object holds only the dotted name of the API factory: it is pickled with the program, and every
client is built inside the methods, with credentials from the environment, never from the state."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from provisioner.errors import ProvisionerError
from provisioner.providers.rest.errors import ErrorKind, RestError
from provisioner.providers.rest.pool import Instance, PoolApi, PoolDriver, members, shared_pacer

REPLACES = (
    "pool",
    "owner",
    "instance_type",
    "regions",
    "ssh_key",
    "file_systems",
    "provider",
    "project_id",
    "image",
    "ib_partition",
    "disks",
)
"""Inputs whose change replaces the pool (what a member is made with and cannot change in place; its
name and owner: the old members are found, and terminated, only under the old ones); `count`
resizes it, and a new `user_data` or `tags` reaches the members launched from then on (as a new launch
template does on AWS), never the running ones."""


def load_factory(path: str) -> Callable[[Mapping[str, Any]], Any]:
    """'package.module:function' -> the function that builds an API client (a PoolApi, a VolumeApi) from a
    resource's inputs."""
    module, _, name = path.partition(":")
    factory: Callable[[Mapping[str, Any]], Any] = getattr(importlib.import_module(module), name)
    return factory


def _outs(props: Mapping[str, Any], instances: list[Instance]) -> dict[str, Any]:
    return {
        **props,
        "instances": [
            {
                "id": i.id,
                "name": i.name,
                "region": i.region,
                "status": i.status,
                "address": i.address,
                "private_address": i.private_address,
            }
            for i in instances
        ],
        "region": instances[0].region if instances else None,
    }


RELEASE_ATTEMPTS = 4


def release_or_say_what_is_left(
    driver: PoolDriver, failure: BaseException, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Release what a failed create launched, trying a few times (the outage that failed the create may
    fail the first release too). When it cannot, one error names the members still running, since nothing
    of this create reaches Pulumi's state and `pulumi destroy` would not find them."""
    refused = failure.kind is ErrorKind.AUTHENTICATION if isinstance(failure, RestError) else False
    no_keys = isinstance(failure, ProvisionerError) and not isinstance(failure, RestError)
    if (refused or no_keys) and not driver.touched:
        return  # no or refused credentials before anything was launched or found: nothing to release
    for attempt in range(RELEASE_ATTEMPTS):
        try:
            driver.release()
            return
        except Exception as exc:  # every failure of the cleanup is reported below
            last = exc
            sleep(min(30.0, 2.0 * 2**attempt))
    try:
        left = [f"{i.name} ({i.id})" for i in members(driver.api, driver.pool)]
    except Exception:
        left = ["(the cloud could not be listed)"]
    raise ProvisionerError(
        f"creating pool {driver.pool!r} failed ({failure}) and terminating what it launched failed too "
        f"({last}); still running, billed and not in Pulumi's state: {', '.join(left) or 'nothing'}. Run "
        "`pulumi up` again (it adopts the members by name) or terminate them by hand"
    ) from failure


OUTPUTS_AND_PROVIDER = ("instances", "region", "__provider")
"""Keys of the state that are not the user's inputs: our outputs, and the pickled provider (its bytes may
differ between dill versions without anything having changed)."""


class PoolProvider(dynamic.ResourceProvider):
    cleanup_sleep: Callable[[float], None] = staticmethod(time.sleep)
    """How a failed create's cleanup waits between its tries (tests make it instant)."""

    def __init__(self, factory: str) -> None:
        self.factory = factory

    def _driver(self, props: Mapping[str, Any]) -> PoolDriver:
        api: PoolApi = load_factory(self.factory)(props)
        gap = float(props.get("launch_gap_s", getattr(api, "launch_gap_s", 0.0)))
        return PoolDriver(
            api,
            str(props["pool"]),
            int(props["count"]),
            list(props["regions"]),
            wait_s=float(props.get("wait_s", 1200.0)),
            interval_s=float(props.get("interval_s", 10.0)),
            settle_s=float(props.get("settle_s", 120.0)),
            pacer=shared_pacer(api.provider, gap),
        )

    def create(self, props: Any) -> dynamic.CreateResult:
        driver = self._driver(props)
        try:
            instances = driver.ensure()
        except BaseException as failure:
            # nothing billed is left behind by a failed create
            release_or_say_what_is_left(driver, failure, type(self).cleanup_sleep)
            raise
        return dynamic.CreateResult(id_=str(props["pool"]), outs=_outs(props, instances))

    def update(self, _id: str, _olds: Any, news: Any) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=_outs(news, self._driver(news).ensure(in_place=True)))

    def delete(self, _id: str, props: Any) -> None:
        self._driver(props).release()

    def diff(self, _id: str, olds: Any, news: Any) -> dynamic.DiffResult:
        keys = sorted(
            k
            for k in set(olds) | set(news)
            if k not in OUTPUTS_AND_PROVIDER and olds.get(k) != news.get(k)
        )
        replaces = [k for k in keys if k in REPLACES]
        if "regions" in replaces and olds.get("region") in (news.get("regions") or []):
            replaces.remove("regions")  # the pool still runs in an allowed region: new fallbacks move nothing
        return dynamic.DiffResult(changes=bool(keys), replaces=replaces, delete_before_replace=bool(replaces))


class RestPool(dynamic.Resource):
    """One pool of `count` instances named `{pool}-<i>`, in the first of `regions` that can host them all."""

    instances: pulumi.Output[list[dict[str, Any]]]
    region: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        factory: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(PoolProvider(factory), name, {**props, "instances": None, "region": None}, opts)
