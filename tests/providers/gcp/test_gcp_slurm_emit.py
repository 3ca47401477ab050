"""A Slurm cluster on Google Cloud under the Pulumi mock runtime: the Scheduler component, its secrets and who
may read them, the controller (hardened, protected, at its static address, its configuration in its own
metadata), the login group, and no secret value anywhere but in its secret version."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from gcp_slurm_harness import DB_PASSWORD, MUNGE_B64, Deployment, Registration, deploy
from test_gcp_slurm_plan import gcp_cluster

from provisioner.bootstrap.slurm import slurm_config_files
from provisioner.spec import Nfs, Slurm, SlurmController

SCHEDULER = "provisioner:gcp:Scheduler"
INSTANCE = "gcp:compute/instance:Instance"
ADDRESS = "gcp:compute/address:Address"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
MIG = "gcp:compute/instanceGroupManager:InstanceGroupManager"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
ACCOUNT = "gcp:serviceaccount/account:Account"
RANDOM_BYTES = "random:index/randomBytes:RandomBytes"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
NODES_EMAIL = "serviceAccount:slurm-gcp-nodes@provisioner-plan.iam.gserviceaccount.com"
CONTROLLER_EMAIL = "serviceAccount:slurm-gcp-slurmctl@provisioner-plan.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def example() -> Deployment:
    """Two A3 Mega nodes, a login node, accounting, a Filestore share holding /home, a bucket."""
    return deploy(gcp_cluster())


@pytest.fixture(scope="module")
def whole() -> Deployment:
    """The same cluster through GpuCluster and the Google Cloud emitter: the pools join the scheduler."""
    return deploy(gcp_cluster(), component=True)


@pytest.fixture(scope="module")
def minimal() -> Deployment:
    """No login nodes, no accounting, no shared filesystem, an unprotected controller at a fixed address."""
    return deploy(
        gcp_cluster(
            name="mini",
            storage=[],
            scheduler=Slurm(
                accounting=False,
                shared_home=False,
                controller=SlurmController(private_ip="10.0.8.8", protect=False),
            ),
        )
    )


def controller(d: Deployment) -> Registration:
    return d.one(INSTANCE)


def everything_but_secret_values(d: Deployment) -> str:
    """Every input of every resource, except the secret versions (which hold the values) and the random
    generators (which make them)."""
    kept = [r for r in d.resources if r.type not in (SECRET_VERSION, RANDOM_BYTES, RANDOM_PASSWORD)]
    return json.dumps([r.inputs for r in kept], default=str)


# --- the component ------------------------------------------------------------------------------------------


def test_one_scheduler_component_parents_every_slurm_resource(example: Deployment) -> None:
    scheduler = example.one(SCHEDULER)
    assert scheduler.name == "slurm-gcp-slurm"
    assert scheduler.parent == example.named("slurm-gcp").urn
    children = {r.name for r in example.resources if r.parent == scheduler.urn}
    assert children == {
        "slurm-gcp-slurm-controller-account",
        "slurm-gcp-slurm-controller-logging-logwriter",
        "slurm-gcp-slurm-controller-monitoring-metricwriter",
        "slurm-gcp-slurm-munge-key-random",
        "slurm-gcp-slurm-munge-key",
        "slurm-gcp-slurm-munge-key-value",
        "slurm-gcp-slurm-munge-key-reader-nodes",
        "slurm-gcp-slurm-munge-key-reader-controller",
        "slurm-gcp-slurm-db-password-random",
        "slurm-gcp-slurm-db-password",
        "slurm-gcp-slurm-db-password-value",
        "slurm-gcp-slurm-db-password-reader-controller",
        "slurm-gcp-slurm-controller-ip",
        "slurm-gcp-slurm-controller",
        "slurm-gcp-slurm-login-template",
        "slurm-gcp-slurm-login-group",
    }
    provider = example.named("slurm-gcp-gcp").urn
    children_of = [r for r in example.resources if r.parent == scheduler.urn and r.type.startswith("gcp:")]
    assert all(r.provider.startswith(provider) for r in children_of)


def test_outputs_name_the_controller_the_secret_and_the_login_group(example: Deployment) -> None:
    assert example.outputs == {
        "slurm_controller_ip": "10.0.0.10",
        "slurm_controller_name": "slurm-gcp-controller",
        "slurm_munge_secret_id": "slurm-gcp-munge-key",
        "slurm_login_group": "slurm-gcp-login",
    }


def test_minimal_has_no_login_group_and_no_database_password(minimal: Deployment) -> None:
    assert not minimal.of_type(MIG) and not minimal.of_type(TEMPLATE)
    assert [r.name for r in minimal.of_type(SECRET)] == ["mini-slurm-munge-key"]
    assert minimal.outputs["slurm_login_group"] is None


# --- secrets ------------------------------------------------------------------------------------------------


def test_each_secret_has_its_value_as_a_pulumi_secret(example: Deployment) -> None:
    versions = {r.name: r for r in example.of_type(SECRET_VERSION)}
    assert set(versions) == {"slurm-gcp-slurm-munge-key-value", "slurm-gcp-slurm-db-password-value"}
    munge, db = versions["slurm-gcp-slurm-munge-key-value"], versions["slurm-gcp-slurm-db-password-value"]
    assert munge.inputs["secretData"] == MUNGE_B64 and db.inputs["secretData"] == DB_PASSWORD
    assert "secretData" in munge.secret_inputs and "secretData" in db.secret_inputs
    assert munge.inputs["secret"] == "projects/provisioner-plan/secrets/slurm-gcp-munge-key"
    assert example.named("slurm-gcp-slurm-munge-key").urn in munge.dependencies


def test_secrets_are_replicated_in_the_clusters_region_only(example: Deployment) -> None:
    for secret in example.of_type(SECRET):
        replicas = secret.inputs["replication"]["userManaged"]["replicas"]
        assert replicas == [{"location": "us-central1"}], secret.name
        assert "auto" not in secret.inputs["replication"]
    ids = sorted(s.inputs["secretId"] for s in example.of_type(SECRET))
    assert ids == ["slurm-gcp-munge-key", "slurm-gcp-slurmdbd-password"]


def test_no_secret_value_is_anywhere_else(example: Deployment, minimal: Deployment) -> None:
    for d in (example, minimal):
        text = everything_but_secret_values(d)
        assert MUNGE_B64 not in text and DB_PASSWORD not in text
    metadata = controller(example).inputs["metadata"]
    assert not any(MUNGE_B64 in v or DB_PASSWORD in v for v in metadata.values())


def test_secret_readers_are_per_secret_and_only_the_right_accounts(example: Deployment) -> None:
    grants = {
        (r.inputs["secretId"], r.inputs["member"], r.inputs["role"]) for r in example.of_type(SECRET_MEMBER)
    }
    assert grants == {
        ("slurm-gcp-munge-key", NODES_EMAIL, "roles/secretmanager.secretAccessor"),
        ("slurm-gcp-munge-key", CONTROLLER_EMAIL, "roles/secretmanager.secretAccessor"),
        ("slurm-gcp-slurmdbd-password", CONTROLLER_EMAIL, "roles/secretmanager.secretAccessor"),
    }
    project_roles = [r.inputs["role"] for r in example.of_type(PROJECT_MEMBER)]
    assert not [role for role in project_roles if "secretmanager" in role], "no project-wide secret access"


def test_the_controller_has_its_own_account(example: Deployment) -> None:
    account = example.named("slurm-gcp-slurm-controller-account")
    assert account.inputs["accountId"] == "slurm-gcp-slurmctl"
    ctl = controller(example).inputs
    assert ctl["serviceAccount"]["email"] == CONTROLLER_EMAIL.removeprefix("serviceAccount:")
    roles = {
        r.inputs["role"] for r in example.of_type(PROJECT_MEMBER) if r.inputs["member"] == CONTROLLER_EMAIL
    }
    assert roles == {"roles/logging.logWriter", "roles/monitoring.metricWriter"}


# --- the controller -----------------------------------------------------------------------------------------


def test_the_controller_is_private_and_hardened(example: Deployment) -> None:
    i = controller(example).inputs
    assert i["name"] == "slurm-gcp-controller"
    assert (i["machineType"], i["zone"]) == ("n2-standard-8", "us-central1-a")
    (nic,) = i["networkInterfaces"]
    assert "accessConfigs" not in nic or not nic["accessConfigs"], "no external IP"
    assert "/subnetworks/slurm-gcp-subnet-host" in nic["subnetwork"]
    metadata = i["metadata"]
    assert metadata["enable-oslogin"] == "TRUE"
    assert metadata["block-project-ssh-keys"] == "TRUE"
    assert metadata["serial-port-enable"] == "FALSE"
    assert "startup-script" not in metadata and "metadataStartupScript" not in i, "would force replacement"
    assert "ssh-keys" not in metadata
    assert i["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableVtpm": True,
        "enableIntegrityMonitoring": True,
    }
    disk = i["bootDisk"]["initializeParams"]
    assert disk == {
        "image": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
        "size": 100,
        "type": "pd-balanced",
    }
    assert i["scheduling"]["onHostMaintenance"] == "MIGRATE"
    assert i["serviceAccount"]["scopes"] == ["https://www.googleapis.com/auth/cloud-platform"]


def test_the_controller_is_protected_twice(example: Deployment, minimal: Deployment) -> None:
    ctl = controller(example)
    assert ctl.protect and ctl.inputs["deletionProtection"] is True
    assert ctl.inputs["allowStoppingForUpdate"] is True
    assert ctl.delete_before_replace, "one static address and a fixed name"
    assert set(ctl.ignore_changes) == {
        "bootDisk.initializeParams.image",
        'metadata["user-data"]',
        'metadata["user-data-encoding"]',
    }
    loose = controller(minimal)
    assert not loose.protect and loose.inputs["deletionProtection"] is False


def test_the_controller_sits_at_its_static_internal_address(example: Deployment, minimal: Deployment) -> None:
    address = example.one(ADDRESS).inputs
    assert address["addressType"] == "INTERNAL"
    assert address["purpose"] == "GCE_ENDPOINT"
    assert address["address"] == "10.0.0.10"
    assert address["region"] == "us-central1"
    assert "/subnetworks/slurm-gcp-subnet-host" in address["subnetwork"]
    assert controller(example).inputs["networkInterfaces"][0]["networkIp"] == "10.0.0.10"
    assert minimal.one(ADDRESS).inputs["address"] == "10.0.8.8"
    assert minimal.outputs["slurm_controller_ip"] == "10.0.8.8"


def test_config_keys_in_metadata_match_the_rendered_slurm_files(example: Deployment) -> None:
    metadata = controller(example).inputs["metadata"]
    files = slurm_config_files(example.plan, "10.0.0.10")
    assert set(files) == {"slurm.conf", "gres.conf", "cgroup.conf", "slurmdbd.conf"}
    for name, text in files.items():
        assert metadata[f"provisioner-slurm-{name.replace('.', '-')}"] == text
    assert "SlurmctldHost=slurm-gcp-controller(10.0.0.10)" in metadata["provisioner-slurm-slurm-conf"]


def test_user_data_wires_the_controller_to_its_store(example: Deployment) -> None:
    user_data = controller(example).inputs["metadata"]["user-data"]
    assert user_data.startswith("#cloud-config")
    assert "slurm-gcp-munge-key" in user_data and "slurm-gcp-slurmdbd-password" in user_data
    assert "provisioner-slurm-${name//./-}" in user_data, "the timer reads the files from its metadata"
    assert "secretmanager.googleapis.com" in user_data


def test_metadata_is_within_googles_limits(example: Deployment) -> None:
    metadata: dict[str, Any] = controller(example).inputs["metadata"]
    sizes = [len(k.encode()) + len(v.encode()) for k, v in metadata.items()]
    assert max(sizes) <= 256 * 1024 and sum(sizes) <= 512 * 1024


def test_the_controller_boots_once_its_secrets_and_grants_exist(example: Deployment) -> None:
    deps = set(controller(example).dependencies)
    for name in (
        "slurm-gcp-slurm-munge-key-value",
        "slurm-gcp-slurm-db-password-value",
        "slurm-gcp-slurm-munge-key-reader-controller",
        "slurm-gcp-slurm-db-password-reader-controller",
        "slurm-gcp-slurm-controller-logging-logwriter",
    ):
        assert example.named(name).urn in deps, name


def test_the_filestore_share_is_mounted_on_the_support_nodes(example: Deployment) -> None:
    assert any(isinstance(s, Nfs) for s in example.cluster.storage)
    user_data = controller(example).inputs["metadata"]["user-data"]
    assert "/shared" in user_data and "nfs" in user_data


# --- login nodes --------------------------------------------------------------------------------------------


def test_login_nodes_are_one_group_from_one_template(example: Deployment) -> None:
    template, group = example.one(TEMPLATE), example.one(MIG)
    t = template.inputs
    assert t["namePrefix"] == "slurm-gcp-login-"
    assert t["machineType"] == "n2-standard-4"
    assert t["serviceAccount"]["email"] == NODES_EMAIL.removeprefix("serviceAccount:")
    assert t["metadata"]["enable-oslogin"] == "TRUE" and t["metadata"]["serial-port-enable"] == "FALSE"
    assert t["metadata"]["user-data"].startswith("#cloud-config")
    assert not any(key.startswith("provisioner-slurm-") for key in t["metadata"])
    assert t["shieldedInstanceConfig"]["enableSecureBoot"] is True
    (nic,) = t["networkInterfaces"]
    assert not nic.get("accessConfigs")
    g = group.inputs
    assert (g["name"], g["baseInstanceName"], g["zone"], g["targetSize"]) == (
        "slurm-gcp-login",
        "slurm-gcp-login",
        "us-central1-a",
        1,
    )
    assert g["versions"][0]["instanceTemplate"].startswith(
        "https://www.googleapis.com/compute/v1/projects/provisioner-plan/global/instanceTemplates/"
    )
    assert g["updatePolicy"]["type"] == "OPPORTUNISTIC"


def test_the_login_group_waits_for_the_munge_key_and_the_controller(example: Deployment) -> None:
    deps = set(example.one(MIG).dependencies)
    for name in ("slurm-gcp-slurm-munge-key-value", "slurm-gcp-slurm-munge-key-reader-nodes"):
        assert example.named(name).urn in deps, name
    assert controller(example).urn in deps
    assert example.named("slurm-gcp-nodes-logging-logwriter").urn in deps, "the emitter's launch deps"


# --- the pools, through the emitter -------------------------------------------------------------------------


def test_the_pools_boot_after_the_munge_key_and_join_the_controller(whole: Deployment) -> None:
    group = whole.named("slurm-gcp-gpu-group")
    deps = set(group.dependencies)
    for name in (
        "slurm-gcp-slurm-munge-key-value",
        "slurm-gcp-slurm-munge-key-reader-nodes",
        "slurm-gcp-slurm-controller",
    ):
        assert whole.named(name).urn in deps, name
    assert whole.outputs["slurm_controller_ip"] == "10.0.0.10"
    assert whole.outputs["slurm_munge_secret_id"] == "slurm-gcp-munge-key"


def test_no_secret_value_reaches_the_pools(whole: Deployment) -> None:
    text = everything_but_secret_values(whole)
    assert MUNGE_B64 not in text and DB_PASSWORD not in text
    template = whole.named("slurm-gcp-gpu-template").inputs
    user_data = template["metadata"]["user-data"]
    if template["metadata"].get("user-data-encoding") == "base64":
        raw = base64.b64decode(user_data)
        user_data = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
    assert "slurm-gcp-munge-key" in user_data, "the nodes get the secret's id"
    assert "slurm-gcp-slurmdbd-password" not in user_data, "not theirs"
