"""A create killed for real: a child process runs `PoolProvider.create` of a 3-member pool against a fake
cloud API that this process serves on loopback, and is sent SIGKILL once the fake has acted on some but not
all of its launches. Then, as a `pulumi up` run again (the killed create reached no state) or a `pulumi
destroy` would, this process runs the create again, or a delete, and the cloud must hold exactly the
declared pool (each member launched once, one InfiniBand partition on Crusoe), or nothing.

Where the kill lands, for both Lambda and Crusoe:

* `between-launches`: the child paces its launches (two seconds apart) and is killed a moment after the fake
  made its first instance, while it waits to send the next launch.
* `answer-lost`: the fake carries out the second launch and holds its answer; the child dies waiting for it
  (a launch made that its sender never heard of).
* `request-lost`: the fake holds the second launch before acting on it, and drops it once the child is dead
  (a launch sent that never happened).

The kill point is checked (0 < launched < count when the child dies, the child still running then, killed
by the signal): a kill that came too early or too late fails the test rather than passing it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fake_crusoe import PROJECT, FakeCrusoe
from fake_crusoe import serve as serve_crusoe
from fake_lambda import FakeLambda
from fake_lambda import serve as serve_lambda

from provisioner.providers.lambda_cloud.api import OWNER_TAG
from provisioner.providers.rest.dynamic import PoolProvider

pytestmark = pytest.mark.timeout(90)
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
CHILD = HERE / "kill_child.py"
POOL = "llm-gpu"
COUNT = 3
DECLARED = [f"{POOL}-{i}" for i in range(COUNT)]
OWNER = "acme/gpu-clusters/prod"
CRUSOE_TYPE = "h100-80gb-sxm-ib.8x"
CRUSOE_LOCATIONS = ("us-east1-a", "us-southcentral1-a")
LAMBDA_REGIONS = ("us-east-1", "us-west-1")
PACED_GAP_S = 2.0
"""The child's launch pacing in `between-launches`: the window in which the kill must land."""
PAUSE_S = 0.3
"""In `between-launches`, how long after the first instance the kill comes (its launch has returned by then:
on Crusoe, its operation was awaited)."""
REACH_S = 30.0
"""Longest wait for the child to reach the kill point (it imports Pulumi first)."""

Answer = tuple[int, Any]


class Gate:
    """Holds the `at`-th launch request the fake receives (1-based) until `opened`: after carrying it out
    (`acted`) or before, in which case it is dropped, never carried out (its sender is dead by then)."""

    def __init__(self, at: int, acted: bool) -> None:
        self.at, self.acted = at, acted
        self.seen = 0
        self.held = threading.Event()
        """The held request has arrived (and, when `acted`, was carried out)."""
        self.opened = threading.Event()
        self.finished = threading.Event()
        """The held request's handler is done with the fake's state."""
        self._lock = threading.Lock()

    def launch(self, act: Callable[[], Answer]) -> Answer:
        with self._lock:
            self.seen += 1
            mine = self.seen == self.at
        if not mine:
            return act()
        try:
            answer: Answer = act() if self.acted else (503, {"code": "dropped", "message": "dropped"})
            self.held.set()
            self.opened.wait(REACH_S * 2)
            return answer
        finally:
            self.finished.set()


@dataclass
class Cloud:
    """One fake cloud on loopback, the props of its pool, and how to read it."""

    name: str
    fake: Any
    url: str
    factory: str
    props: dict[str, Any] = field(default_factory=dict)

    def launches(self) -> int:
        return int(self.fake.launches)

    def live_names(self) -> list[str]:
        return sorted(str(i["name"]) for i in self.fake.live())

    def hold(self, gate: Gate) -> None:
        """Route the fake's launches through `gate` (a wrapper: the fakes themselves are not changed)."""
        if isinstance(self.fake, FakeLambda):
            launch = self.fake.launch
            self.fake.launch = lambda body: gate.launch(lambda: launch(body))  # type: ignore[method-assign]
            return
        act = self.fake.act

        def gated(method: str, route: str, ident: str | None, body: Any) -> Answer:
            if (method, route) == ("POST", "instances"):
                return gate.launch(lambda: act(method, route, ident, body))
            result: Answer = act(method, route, ident, body)
            return result

        self.fake.act = gated

    def check_pool(self) -> None:
        """Exactly the declared members, each once, running in one region, with what each cloud adds."""
        live = self.fake.live()
        names = [str(i["name"]) for i in live]
        assert len(names) == len(set(names)), f"{self.name}: duplicate members {sorted(names)}"
        assert sorted(names) == DECLARED, f"{self.name}: live set {sorted(names)} != declared {DECLARED}"
        if isinstance(self.fake, FakeLambda):
            assert all(i["status"] == "active" for i in live), [i["status"] for i in live]
            assert len({i["region"]["name"] for i in live}) == 1, "a pool lives in one region"
            assert all({"key": OWNER_TAG, "value": OWNER} in i["tags"] for i in live), "owner tags"
            return
        fake: FakeCrusoe = self.fake
        assert all(i["state"] == "STATE_RUNNING" for i in live), [i["state"] for i in live]
        locations = {i["location"] for i in live}
        assert len(locations) == 1, f"a pool lives in one location, not {locations}"
        partitions = list(fake.partitions.values())
        assert len(partitions) == 1, f"want exactly one InfiniBand partition, found {partitions}"
        (partition,) = partitions
        assert partition["name"] == POOL
        assert {fake.network_location(partition["ib_network_id"])} == locations
        for vm in live:
            on = [h["ib_partition_id"] for h in vm["host_channel_adapters"]]
            assert on == [partition["id"]], f"{vm['name']} is on {on}, not the pool's {partition['id']}"

    def check_gone(self) -> None:
        assert self.fake.live() == [], f"{self.name}: left running: {self.live_names()}"
        if isinstance(self.fake, FakeCrusoe):
            assert self.fake.instances == {}, f"VMs left: {sorted(self.fake.instances)}"
            assert self.fake.partitions == {}, f"InfiniBand partitions left: {self.fake.partitions}"


def common_props(url: str) -> dict[str, Any]:
    return {
        "pool": POOL,
        "count": COUNT,
        "owner": OWNER,
        "base_url": url,
        "timeout_s": 2.0,
        "interval_s": 0.0,
        "wait_s": 10.0,
        "settle_s": 0.5,
        "launch_gap_s": 0.0,
    }


@contextmanager
def serve_cloud(name: str) -> Iterator[Cloud]:
    """A fake Lambda or Crusoe API with room for the pool in each region, and the pool's props."""
    if name == "lambda":
        fake_lambda = FakeLambda(capacity={r: 2 * COUNT for r in LAMBDA_REGIONS})
        with serve_lambda(fake_lambda) as url:
            yield Cloud(
                "lambda",
                fake_lambda,
                url,
                "fast_factories:lambda_pool_api",
                {
                    **common_props(url),
                    "provider": "lambda",
                    "regions": list(LAMBDA_REGIONS),
                    "instance_type": "gpu_8x_h100_sxm5",
                    "ssh_key": "deploy-key",
                },
            )
        return
    fake_crusoe = FakeCrusoe(
        capacity={(loc, CRUSOE_TYPE): 2 * COUNT for loc in CRUSOE_LOCATIONS}, ib_locations=CRUSOE_LOCATIONS
    )
    with serve_crusoe(fake_crusoe) as url:
        yield Cloud(
            "crusoe",
            fake_crusoe,
            url,
            "fast_factories:crusoe_pool_api",
            {
                **common_props(url),
                "provider": "crusoe",
                "regions": list(CRUSOE_LOCATIONS),
                "instance_type": CRUSOE_TYPE,
                "ssh_key": "ssh-ed25519 AAAA deploy",
                "project_id": PROJECT,
                "ib_partition": True,
            },
        )


@pytest.fixture(params=["lambda", "crusoe"])
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    with serve_cloud(request.param) as served:
        yield served


@pytest.fixture(autouse=True)
def instant_cleanup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PoolProvider, "cleanup_sleep", staticmethod(lambda s: None))


@dataclass
class Killed:
    launched: int
    """Instances the fake had made when the child died."""
    output: str


def kill_mid_create(cloud: Cloud, where: str, tmp_path: Path) -> Killed:
    """Run the create in a child process and SIGKILL it at `where`; fail unless it died mid-create."""
    props = {**cloud.props, "timeout_s": 4 * REACH_S}  # a held answer never times out before the kill
    gate: Gate | None = None
    pause = 0.0
    if where == "between-launches":
        pause = PAUSE_S
        props["launch_gap_s"] = PACED_GAP_S

        def reached() -> bool:
            return cloud.launches() >= 1

    else:
        gate = Gate(at=2, acted=where == "answer-lost")
        cloud.hold(gate)
        reached = gate.held.is_set
    log = tmp_path / f"child-{cloud.name}-{where}.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), str(HERE), os.environ.get("PYTHONPATH")) if p),
    }
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), cloud.factory, json.dumps(props)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + REACH_S
            while not reached():
                if child.poll() is not None:
                    pytest.fail(
                        f"the child ended (rc {child.returncode}) before the kill point {where}:\n"
                        + log.read_text()
                    )
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"the child did not reach the kill point {where} in {REACH_S} s:\n{log.read_text()}"
                    )
                time.sleep(0.005)
            time.sleep(pause)
            assert child.poll() is None, f"the child finished before it was killed:\n{log.read_text()}"
            at_kill = cloud.launches()
            os.kill(child.pid, signal.SIGKILL)
            returncode = child.wait(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
            if gate is not None:
                gate.opened.set()
    if gate is not None:
        assert gate.finished.wait(10), "the held launch's handler did not finish"
    output = log.read_text()
    assert returncode == -signal.SIGKILL, f"the child was not killed by SIGKILL (rc {returncode}):\n{output}"
    lines = output.splitlines()
    assert "creating" in lines and not any(line.startswith("created") for line in lines), output
    launched = cloud.launches()
    assert 0 < at_kill < COUNT, (
        f"the kill did not land mid-create: {at_kill} of {COUNT} launched when the child died ({where})"
    )
    assert launched == at_kill, f"{launched - at_kill} launch(es) acted on after the kill ({where})"
    expected = {"between-launches": None, "answer-lost": 2, "request-lost": 1}[where]
    assert expected is None or launched == expected, f"{where}: {launched} launched, want {expected}"
    assert cloud.live_names() == DECLARED[:launched], cloud.live_names()
    if isinstance(cloud.fake, FakeCrusoe):
        assert len(cloud.fake.partitions) == 1, "the child made the pool's partition before its first VM"
    return Killed(launched, output)


WHERE = ["between-launches", "answer-lost", "request-lost"]


@pytest.mark.parametrize("where", WHERE)
def test_a_create_killed_mid_way_and_run_again_makes_exactly_the_pool(
    cloud: Cloud, where: str, tmp_path: Path
) -> None:
    killed = kill_mid_create(cloud, where, tmp_path)
    created = PoolProvider(cloud.factory).create(cloud.props)
    assert created.outs is not None and [i["name"] for i in created.outs["instances"]] == DECLARED
    cloud.check_pool()
    assert cloud.launches() == COUNT, (
        f"the {killed.launched} member(s) the killed create launched were adopted, not launched again"
    )
    if isinstance(cloud.fake, FakeCrusoe):
        assert cloud.fake.partition_creates == 1, "the killed create's partition was found by name"


@pytest.mark.parametrize("where", WHERE)
def test_a_create_killed_mid_way_then_deleted_leaves_nothing(
    cloud: Cloud, where: str, tmp_path: Path
) -> None:
    kill_mid_create(cloud, where, tmp_path)
    PoolProvider(cloud.factory).delete(POOL, cloud.props)
    cloud.check_gone()


# --- Lambda's lagging list ------------------------------------------------------------------------------

LAG = 3
"""Lists that do not show a new instance yet (the fake's `list_lag`): more than the rerun's first lists."""


@pytest.mark.parametrize("where", WHERE)
def test_a_killed_create_run_again_over_a_lagging_list_still_converges(where: str, tmp_path: Path) -> None:
    """The members the killed create launched show only after a few lists: the rerun may not see them at
    first, but whatever it launches beside them is terminated, and the pool ends exactly as declared."""
    with serve_cloud("lambda") as lagging:
        lagging.fake.list_lag = LAG
        kill_mid_create(lagging, where, tmp_path)
        PoolProvider(lagging.factory).create(lagging.props)
        lagging.check_pool()
        launched = lagging.launches()
        terminated = [
            i for i in lagging.fake.instances.values() if i["status"] in ("terminating", "terminated")
        ]
        assert len(terminated) == launched - COUNT, "every extra launch was terminated, none left running"


@pytest.mark.xfail(
    reason="the wait for launches a lagging list does not show yet is held in the creating process "
    "(PoolDriver._pending): the rerun after a kill does not know what the killed create launched, and "
    "launches those names again (terminated once the list shows them: billed, not leaked)",
    strict=False,
)
@pytest.mark.parametrize("where", ["answer-lost"])
def test_a_killed_create_run_again_over_a_lagging_list_launches_nothing_twice(
    where: str, tmp_path: Path
) -> None:
    with serve_cloud("lambda") as lagging:
        lagging.fake.list_lag = LAG
        killed = kill_mid_create(lagging, where, tmp_path)
        PoolProvider(lagging.factory).create(lagging.props)
        lagging.check_pool()
        assert lagging.launches() == COUNT, (
            f"{lagging.launches() - COUNT} of the {killed.launched} member(s) launched before the kill were "
            "launched again"
        )
