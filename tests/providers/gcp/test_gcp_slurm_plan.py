"""The Google Cloud side of a Slurm cluster as data: the controller and login specs, the static address, the
secrets and who reads them, the controller's account, and the controller's metadata within Google's limits."""

from __future__ import annotations

import base64
import gzip
import re
from typing import Any

import pytest

from provisioner.bootstrap.slurm import gcp_metadata_key, slurm_config_files
from provisioner.catalog import shipped_catalog
from provisioner.errors import ProvisionerError
from provisioner.plan import ClusterPlan, plan_cluster
from provisioner.providers.gcp.compute_plan import METADATA_TOTAL_LIMIT, METADATA_VALUE_LIMIT
from provisioner.providers.gcp.plan import gcp_plan
from provisioner.providers.gcp.slurm_plan import (
    CONFIG_PREFIX,
    SECRET_ACCESSOR,
    USER_DATA_LIMIT,
    GcpSlurmSpec,
    config_metadata,
    controller_account_id,
    controller_address,
    controller_metadata,
    secret_id,
    slurm_spec,
    user_data_metadata,
)
from provisioner.providers.gcp.specs import GcpPlan, GcpPlanError
from provisioner.spec import (
    Bucket,
    Cluster,
    GcpOptions,
    Network,
    Nfs,
    NodePool,
    OperatingSystem,
    Slurm,
    SlurmController,
    SlurmLogin,
    Software,
)

GPU_IMAGE = "projects/my-images/global/images/family/a3-gpu"
"""A custom GPU image: the catalog has no Google Cloud GPU image yet, and the support nodes ignore it."""
KMS_KEY = "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"
ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def gcp_cluster(name: str = "slurm-gcp", **fields: Any) -> Cluster:
    os = fields.pop("os", OperatingSystem.UBUNTU_22_04)
    values: dict[str, Any] = {
        "name": name,
        "provider": "gcp",
        "region": "us-central1",
        "pools": [
            NodePool(name="gpu", gpu="H100", nodes=2, instance_type="a3-megagpu-8g", zone="us-central1-a")
        ],
        "storage": [Nfs(name="home", mount_point="/shared"), Bucket(name="data")],
        "software": Software(image=GPU_IMAGE, os=os),
        "scheduler": Slurm(login=SlurmLogin(count=1), accounting=True),
    }
    values.update(fields)
    return Cluster(**values)


def planned(cluster: Cluster) -> tuple[GcpPlan, ClusterPlan]:
    plan = plan_cluster(cluster, shipped_catalog())
    assert plan.pools, [f.render() for f in plan.findings]
    return gcp_plan(cluster.name, plan), plan


def spec_of(cluster: Cluster | None = None) -> GcpSlurmSpec:
    return slurm_spec(*planned(cluster or gcp_cluster()))


@pytest.fixture(scope="module")
def spec() -> GcpSlurmSpec:
    return spec_of()


# --- the controller -----------------------------------------------------------------------------------------


def test_controller_is_a_small_cpu_shape_in_the_clusters_zone(spec: GcpSlurmSpec) -> None:
    ctl = spec.controller
    assert ctl.resource_name == "slurm-gcp-slurm-controller"
    assert ctl.instance_name == "slurm-gcp-controller", "its host name, which the boot scripts set"
    assert ctl.machine_type == "n2-standard-8"
    assert ctl.zone == "us-central1-a"
    assert (ctl.disk.disk_type, ctl.disk.size_gib) == ("pd-balanced", 100)
    assert ctl.disk.image == "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"
    assert ctl.disk.kms_key is None


def test_controller_is_hardened_like_the_pools(spec: GcpSlurmSpec) -> None:
    ctl = spec.controller
    assert ctl.metadata == {
        "enable-oslogin": "TRUE",
        "block-project-ssh-keys": "TRUE",
        "serial-port-enable": "FALSE",
    }
    assert ctl.shielded.secure_boot, "no DKMS-built module on a CPU node: Secure Boot can be on"
    assert ctl.shielded.vtpm and ctl.shielded.integrity_monitoring
    assert ctl.external_ip is False
    assert ctl.scopes == ("https://www.googleapis.com/auth/cloud-platform",)
    assert ctl.labels["provisioner_slurm_role"] == "controller"
    assert ctl.network_tags == ("provisioner-node", "slurm-gcp")


def test_controller_is_protected_unless_declared_otherwise(spec: GcpSlurmSpec) -> None:
    assert spec.controller.protect
    unprotected = spec_of(gcp_cluster(scheduler=Slurm(controller=SlurmController(protect=False))))
    assert not unprotected.controller.protect


def test_the_support_image_follows_the_clusters_os() -> None:
    noble = spec_of(gcp_cluster(os=OperatingSystem.UBUNTU_24_04))
    assert (
        noble.controller.disk.image == "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64"
    )
    assert noble.login is None or noble.login.disk.image == noble.controller.disk.image


def test_a_customer_key_encrypts_the_support_disks() -> None:
    keyed = spec_of(gcp_cluster(options=GcpOptions(kms_key=KMS_KEY)))
    assert keyed.controller.disk.kms_key == KMS_KEY
    assert keyed.login is not None and keyed.login.disk.kms_key == KMS_KEY


# --- the address --------------------------------------------------------------------------------------------


def test_the_controller_sits_at_the_10th_address_of_a_created_subnet(spec: GcpSlurmSpec) -> None:
    address = spec.controller.address
    assert (address.address, address.region) == ("10.0.0.10", "us-central1")
    assert address.name == "slurm-gcp-controller"


def test_a_declared_address_wins() -> None:
    declared = spec_of(gcp_cluster(scheduler=Slurm(controller=SlurmController(private_ip="10.0.3.7"))))
    assert declared.controller.address.address == "10.0.3.7"


@pytest.mark.parametrize("address", ["10.0.0.0", "10.0.0.1", "10.0.255.254", "10.0.255.255", "10.1.0.9"])
def test_an_address_google_keeps_or_outside_the_subnet_is_refused(address: str) -> None:
    with pytest.raises(GcpPlanError, match=rf"private_ip = {re.escape(address)}: not a usable address"):
        controller_address("10.0.0.0/16", address)


def test_an_existing_subnet_lets_google_allocate_the_address() -> None:
    existing = gcp_cluster(
        network=Network(
            vpc_id="projects/p/global/networks/shared",
            subnet_ids=["projects/p/regions/us-central1/subnetworks/gpu"],
        )
    )
    assert spec_of(existing).controller.address.address is None
    assert controller_address(None, "172.16.5.5") == "172.16.5.5"


def test_a_tiny_network_has_no_room_for_the_controller() -> None:
    with pytest.raises(GcpPlanError, match="/27 or larger"):
        controller_address("10.0.0.0/29", None)


# --- secrets and identities ---------------------------------------------------------------------------------


def test_secrets_are_named_after_the_cluster_and_stay_in_its_region(spec: GcpSlurmSpec) -> None:
    munge, db = spec.munge_key, spec.db_password
    assert db is not None
    assert (munge.secret_id, db.secret_id) == ("slurm-gcp-munge-key", "slurm-gcp-slurmdbd-password")
    assert (munge.resource_name, db.resource_name) == (
        "slurm-gcp-slurm-munge-key",
        "slurm-gcp-slurm-db-password",
    )
    assert munge.location == db.location == "us-central1"
    assert spec.secret_store == "gcp-secretmanager"


def test_only_the_controller_reads_the_database_password(spec: GcpSlurmSpec) -> None:
    assert spec.munge_key.readers == ("nodes", "controller")
    assert spec.db_password is not None and spec.db_password.readers == ("controller",)
    assert SECRET_ACCESSOR == "roles/secretmanager.secretAccessor"


def test_without_accounting_there_is_no_database_password() -> None:
    assert spec_of(gcp_cluster(scheduler=Slurm(accounting=False))).db_password is None


@pytest.mark.parametrize("cluster", ["a", "Team.Research/42", "x" * 300, "--"])
def test_secret_ids_use_secret_managers_alphabet(cluster: str) -> None:
    made = secret_id(cluster, "munge-key")
    assert SECRET_ID.match(made), made
    assert made.endswith("-munge-key")


def test_the_controller_has_an_account_of_its_own(spec: GcpSlurmSpec) -> None:
    account = spec.controller_account
    assert account.account_id == "slurm-gcp-slurmctl"
    assert sorted(account.roles.values()) == ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
    assert not any("secretmanager" in role for role in account.roles.values()), "granted per secret only"


@pytest.mark.parametrize(
    "name", ["a", "slurm-gcp", "a-very-long-cluster-name-for-research", "a-very-long-cluster-name-for-robots"]
)
def test_controller_account_ids_fit_and_never_collide(name: str) -> None:
    made = controller_account_id(name)
    assert ACCOUNT_ID.match(made), made
    other = controller_account_id(name + "-2")
    assert other != made


def test_extra_roles_reach_the_controller_too() -> None:
    extra = spec_of(gcp_cluster(options=GcpOptions(extra_roles=["roles/artifactregistry.reader"])))
    assert "roles/artifactregistry.reader" in extra.controller_account.roles.values()


# --- login nodes --------------------------------------------------------------------------------------------


def test_login_nodes_are_one_group(spec: GcpSlurmSpec) -> None:
    login = spec.login
    assert login is not None
    assert (login.machine_type, login.count, login.zone) == ("n2-standard-4", 1, "us-central1-a")
    assert login.base_instance_name == "slurm-gcp-login"
    assert login.template_prefix == "slurm-gcp-login-"
    assert login.update_type == "OPPORTUNISTIC", "a new template never kills users' sessions"
    assert login.shielded.secure_boot and not login.external_ip
    assert login.labels["provisioner_slurm_role"] == "login"


def test_long_names_fit_the_group_and_template_limits() -> None:
    login = spec_of(gcp_cluster(name="c" * 60)).login
    assert login is not None
    assert len(login.base_instance_name) <= 58, "the group appends '-xxxx' to its nodes' names"
    assert len(login.template_prefix) <= 37 and login.template_prefix.endswith("-")


def test_no_login_nodes_without_a_login_declaration() -> None:
    assert spec_of(gcp_cluster(scheduler=Slurm())).login is None


# --- metadata -----------------------------------------------------------------------------------------------


def test_every_slurm_file_has_its_metadata_key(spec: GcpSlurmSpec) -> None:
    _, plan = planned(gcp_cluster())
    names = sorted(slurm_config_files(plan, "10.0.0.10"))
    assert "slurm.conf" in names and "slurmdbd.conf" in names
    assert spec.config_keys == {name: gcp_metadata_key(CONFIG_PREFIX, name) for name in names}
    assert spec.config_keys["slurm.conf"] == "provisioner-slurm-slurm-conf"
    assert spec.config_store == "gcp-metadata"


def test_controller_metadata_holds_hardening_user_data_and_the_files(spec: GcpSlurmSpec) -> None:
    _, plan = planned(gcp_cluster())
    files = slurm_config_files(plan, "10.0.0.10")
    metadata = controller_metadata(spec, plan, "#cloud-config\n", files)
    assert metadata["user-data"] == "#cloud-config\n"
    assert "user-data-encoding" not in metadata
    assert metadata["enable-oslogin"] == "TRUE" and metadata["serial-port-enable"] == "FALSE"
    assert metadata["provisioner-slurm-slurm-conf"] == files["slurm.conf"]
    assert "StoragePass=" not in metadata["provisioner-slurm-slurmdbd-conf"], "the password is added at boot"


def test_an_oversized_slurm_file_fails_clearly(spec: GcpSlurmSpec) -> None:
    _, plan = planned(gcp_cluster())
    files = {**slurm_config_files(plan, "10.0.0.10"), "slurm.conf": "#" * (METADATA_VALUE_LIMIT + 1)}
    with pytest.raises(GcpPlanError) as caught:
        controller_metadata(spec, plan, "#cloud-config\n", files)
    message = str(caught.value)
    assert "Slurm controller of cluster 'slurm-gcp'" in message
    assert "provisioner-slurm-slurm-conf" in message
    assert "declare fewer pools or partitions" in message
    assert isinstance(caught.value, ProvisionerError)


def test_metadata_over_512_kb_in_all_fails_clearly(spec: GcpSlurmSpec) -> None:
    _, plan = planned(gcp_cluster())
    third = METADATA_TOTAL_LIMIT // 3
    files = {name: "#" * third for name in slurm_config_files(plan, "10.0.0.10")}
    with pytest.raises(GcpPlanError, match=r"in all; the limit is 524288"):
        controller_metadata(spec, plan, "#cloud-config\n", files)


def test_a_file_without_a_key_is_refused(spec: GcpSlurmSpec) -> None:
    with pytest.raises(GcpPlanError, match="no metadata key"):
        config_metadata(spec.config_keys, {"topology.conf": "SwitchName=s0"})


def test_large_user_data_goes_gzipped_and_base64_encoded() -> None:
    text = "#cloud-config\n" + "".join(f"# line {i} of a long boot script\n" for i in range(12000))
    assert len(text) > METADATA_VALUE_LIMIT
    metadata = user_data_metadata(text)
    assert metadata["user-data-encoding"] == "base64"
    assert gzip.decompress(base64.b64decode(metadata["user-data"])).decode() == text
    assert len(metadata["user-data"]) <= METADATA_VALUE_LIMIT
    assert USER_DATA_LIMIT * 4 // 3 <= METADATA_VALUE_LIMIT


def test_a_cluster_without_slurm_has_no_slurm_spec() -> None:
    with pytest.raises(GcpPlanError, match="declares no Slurm scheduler"):
        spec_of(gcp_cluster(scheduler=None))
