"""Real munged, slurmctld and slurmd on loopback, run from the configuration provisioner renders.

Only host names, ports and paths differ from a node's: every path lives under a temporary root, the
controller is 127.0.0.1, and the GPUs are character devices made with `mknod NAME c 195 N` (NVIDIA's major).
Every daemon is stopped by its pid when the harness closes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.bootstrap.slurm import SlurmLayout

BINARIES = ("munged", "munge", "unmunge", "slurmctld", "slurmd", "scontrol", "sinfo", "srun")
ACCOUNTING_BINARIES = ("slurmdbd", "sacctmgr", "sacct", "mariadbd", "mariadb-install-db", "mariadb")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
"""slurmd fetches its configuration (configless) before it has read any, so it uses munge's default socket."""
CONFIGLESS_LINK = Path("/run/slurm/conf")
"""Where a configless slurmd points client commands at the configuration it fetched."""


def missing_binaries(names: tuple[str, ...] = BINARIES) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30.0, every: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class SlurmLab:
    root: Path
    layout: SlurmLayout = field(init=False)
    pids: dict[str, int] = field(default_factory=dict)
    own_munged: bool = False
    db_socket: Path | None = None

    def __post_init__(self) -> None:
        self.layout = SlurmLayout(
            root=str(self.root),
            slurmctld_port=free_port(),
            slurmd_port=free_port(),
            slurmdbd_port=free_port(),
            db_host="127.0.0.1",
            db_port=free_port(),
        )

    @property
    def conf(self) -> Path:
        return Path(self.layout.conf_dir) / "slurm.conf"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(args), env=self.env(), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    # --- munge --------------------------------------------------------------------------------------------

    def _munge_answers(self) -> bool:
        encoded = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=False)
        if encoded.returncode != 0:
            return False
        decoded = subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True, timeout=10)
        return decoded.returncode == 0

    def start_munge(self) -> None:
        """Use a munged that already answers on the default socket, else start one with a fresh key."""
        if MUNGE_SOCKET.exists() and self._munge_answers():
            return
        base = self.root / "munge"
        for sub in ("etc", "run", "log", "lib"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        key = base / "etc" / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        pid_file = base / "run" / "munged.pid"
        subprocess.run(
            [
                "munged",
                "--force",
                f"--key-file={key}",
                f"--socket={MUNGE_SOCKET}",
                f"--pid-file={pid_file}",
                f"--log-file={base / 'log' / 'munged.log'}",
                f"--seed-file={base / 'lib' / 'seed'}",
            ],
            check=True,
            timeout=20,
        )
        wait_until("munged's pid file", pid_file.exists, timeout=10)
        self.pids["munged"] = int(pid_file.read_text().split()[0])
        self.own_munged = True
        wait_until("munged to answer", self._munge_answers, timeout=10)

    # --- slurm --------------------------------------------------------------------------------------------

    def prepare(self, configs: dict[str, str], health_script: str) -> None:
        layout = self.layout
        for folder in (layout.conf_dir, layout.state_dir, layout.spool_dir, layout.log_dir, layout.run_dir):
            Path(folder).mkdir(parents=True, exist_ok=True)
        for folder in (layout.state_dir, layout.log_dir, layout.run_dir):
            shutil.chown(folder, user=layout.slurm_user, group=layout.slurm_user)
        for name, content in configs.items():
            (Path(layout.conf_dir) / name).write_text(content)
        health = Path(layout.health_program)
        health.parent.mkdir(parents=True, exist_ok=True)
        health.write_text(health_script)
        health.chmod(0o755)

    def make_gpus(self, count: int) -> None:
        dev = self.root / "dev"
        dev.mkdir(exist_ok=True)
        for index in range(count):
            path = dev / f"nvidia{index}"
            if not path.exists():
                os.mknod(path, 0o666 | 0o020000, os.makedev(195, index))

    def remove_gpu(self, index: int) -> None:
        (self.root / "dev" / f"nvidia{index}").unlink()

    def _pid_from(self, name: str) -> int:
        pid_file = Path(self.layout.run_dir) / f"{name}.pid"
        wait_until(f"{name}'s pid file", lambda: pid_file.exists() and pid_file.read_text().strip() != "")
        return int(pid_file.read_text().split()[0])

    def start_controller(self) -> None:
        self.run("slurmctld", "-f", str(self.conf), "-i")
        self.pids["slurmctld"] = self._pid_from("slurmctld")
        wait_until("slurmctld to answer", lambda: self.run("scontrol", "ping", check=False).returncode == 0)

    def start_dynamic_node(self, name: str, node_conf: str) -> None:
        """A compute node as the nodes join: configless, `slurmd -Z` with the pool's GRES and features."""
        # what the join step of a node writes: the health check finds its node by it outside a job
        name_file = Path(self.layout.path("/etc/provisioner/slurm-node-name"))
        name_file.parent.mkdir(parents=True, exist_ok=True)
        name_file.write_text(name + "\n")
        server = f"127.0.0.1:{self.layout.slurmctld_port}"
        conf = f"{node_conf} NodeAddr=127.0.0.1"
        self.run("slurmd", "--conf-server", server, "-Z", "--conf", conf, "-N", name)
        self.pids["slurmd"] = self._pid_from("slurmd")

    def stop_node(self) -> None:
        """What a terminated instance does to Slurm: its slurmd is gone without a word."""
        pid = self.pids.pop("slurmd")
        os.kill(pid, signal.SIGKILL)
        wait_until("slurmd to be gone", lambda: not _alive(pid), timeout=15)

    def node(self, name: str) -> str:
        """`scontrol -o show node NAME`; '' while the node is not registered."""
        return self.run("scontrol", "-o", "show", "node", name, check=False).stdout

    def logs(self) -> str:
        texts = []
        for log in sorted(Path(self.layout.log_dir).glob("*.log")):
            texts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-25:]))
        return "\n".join(texts)

    # --- accounting -----------------------------------------------------------------------------------------

    def start_database(self) -> None:
        """A MariaDB server of our own: data, socket and pid under the root, TCP on a free loopback port."""
        base = self.root / "mysql"
        base.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mariadb-install-db", f"--datadir={base / 'data'}", "--user=root"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.db_socket = base / "mysqld.sock"
        pid_file = base / "mysqld.pid"
        subprocess.Popen(
            [
                "mariadbd",
                f"--datadir={base / 'data'}",
                f"--socket={self.db_socket}",
                f"--port={self.layout.db_port}",
                "--bind-address=127.0.0.1",
                "--user=root",
                f"--pid-file={pid_file}",
                f"--log-error={base / 'error.log'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until("MariaDB's pid file", lambda: pid_file.exists() and pid_file.read_text().strip() != "")
        self.pids["mariadbd"] = int(pid_file.read_text().split()[0])
        wait_until("MariaDB to answer", lambda: self.sql("SELECT 1").returncode == 0, timeout=60)

    def sql(self, statements: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["mariadb", f"--socket={self.db_socket}", "--user=root"],
            input=statements,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def start_dbd(self, slurmdbd_conf: str, password: str) -> None:
        """slurmdbd as the controller runs it: the rendered file plus the password, 0600, owned by slurm."""
        conf = Path(self.layout.conf_dir) / "slurmdbd.conf"
        conf.write_text(f"{slurmdbd_conf}StoragePass={password}\n")
        conf.chmod(0o600)
        shutil.chown(conf, user=self.layout.slurm_user, group=self.layout.slurm_user)
        subprocess.run(["slurmdbd"], env={**self.env(), "SLURM_CONF": str(self.conf)}, check=True, timeout=30)
        self.pids["slurmdbd"] = self._pid_from("slurmdbd")
        ready = lambda: self.run("sacctmgr", "-n", "list", "cluster", check=False).returncode == 0  # noqa: E731
        wait_until("slurmdbd to answer", ready, timeout=60)

    # --- teardown -----------------------------------------------------------------------------------------

    def stop(self) -> None:
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if CONFIGLESS_LINK.is_symlink() and str(os.readlink(CONFIGLESS_LINK)).startswith(str(self.root)):
            CONFIGLESS_LINK.unlink()


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status
