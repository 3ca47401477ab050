"""A Slurm cluster on AWS under the Pulumi mock runtime: the Scheduler component, its controller, login group,
secrets and IAM, the compute pools wired to it, and no secret value in any user data."""

from __future__ import annotations

import base64
import email
import gzip
import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
from aws_harness import (
    FAKE_AMI,
    Answer,
    Deployment,
    RecordingMocks,
    RecordingMonitor,
    Registration,
    _ensure_event_loop,
    make_cluster,
)
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockResourceArgs

from provisioner.component import GpuCluster
from provisioner.spec import AwsOptions, Cluster, LocalScratch, Network, NodePool, Slurm

ROOT = Path(__file__).resolve().parents[3]
SCHEDULER = "provisioner:aws:Scheduler"
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
RANDOM_BYTES = "random:index/randomBytes:RandomBytes"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
GET_SUBNET = "aws:ec2/getSubnet:getSubnet"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

MUNGE_KEY = bytes(range(256))[::2]  # 128 bytes the mock "generates"
MUNGE_B64 = base64.b64encode(MUNGE_KEY).decode()
DB_PASSWORD = "MockDbPassw0rdNotForUserData4242"


class SlurmMocks(RecordingMocks):
    """The harness mocks, plus what pulumi_random generates: recognisable values to look for in user data."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        id_, state = super().new_resource(args)
        if args.typ == RANDOM_BYTES:
            state.update(base64=MUNGE_B64, hex=MUNGE_KEY.hex())
        elif args.typ == RANDOM_PASSWORD:
            state["result"] = DB_PASSWORD
        return id_, state


def deploy(cluster: Cluster, *, answers: dict[str, Answer] | None = None) -> Deployment:
    """aws_harness.deploy with SlurmMocks."""
    _ensure_event_loop()
    mocks = SlurmMocks(answers)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="test", stack="dev", preview=False, monitor=monitor)
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        component = GpuCluster(cluster.name, cluster)
        return pulumi.Output.from_input(component.outputs).apply(resolved.update)

    run()
    for registration in monitor.recorded:
        registration.inputs = mocks.inputs.get((registration.type, registration.name), {})
    return Deployment(cluster, list(monitor.recorded), resolved, list(mocks.calls))


def subnet_answer(cidr: str) -> Answer:
    def answer(args: dict[str, Any]) -> dict[str, Any]:
        return {"id": args["id"], "cidrBlock": cidr, "vpcId": "vpc-0abc", "availabilityZone": "us-east-1a"}

    return answer


def decode_user_data(encoded: str) -> str:
    """What cloud-init reads: base64, then gunzip when compressed, then every part of a multipart document."""
    payload = base64.b64decode(encoded)
    text = (gzip.decompress(payload) if payload[:2] == b"\x1f\x8b" else payload).decode()
    message = email.message_from_string(text)
    if not message.is_multipart():
        return text
    parts = [part.get_payload(decode=True) for part in message.walk() if not part.is_multipart()]
    return "\n".join(p.decode() for p in parts if isinstance(p, bytes))


def user_data_of(d: Deployment) -> dict[str, str]:
    """Every user data the deployment sends: the controller's, and each launch template's (login, pools)."""
    found = {r.name: decode_user_data(r.inputs["userDataBase64"]) for r in d.of_type(INSTANCE)}
    found |= {r.name: decode_user_data(r.inputs["userData"]) for r in d.of_type(LAUNCH_TEMPLATE)}
    return found


def depends_on(d: Deployment, r: Registration, name: str) -> bool:
    return d.named(name).urn in r.dependencies


@pytest.fixture(scope="module")
def example() -> Deployment:
    cluster = runpy.run_path(str(ROOT / "examples" / "h100_slurm.py"))["cluster"]
    assert isinstance(cluster, Cluster)
    return deploy(cluster)


@pytest.fixture(scope="module")
def minimal() -> Deployment:
    """No login nodes, no accounting, no shared filesystem: the controller and one pool."""
    cluster = make_cluster(
        name="mini",
        pools=[NodePool(name="gpu", gpu="L4", instance_type="g6.xlarge", nodes=1)],
        storage=[LocalScratch()],
        scheduler=Slurm(shared_home=False),
    )
    return deploy(cluster)


@pytest.fixture(scope="module")
def existing() -> Deployment:
    cluster = make_cluster(
        name="byo",
        network=Network(vpc_id="vpc-0abc", subnet_ids=["subnet-0private"]),
        storage=[LocalScratch()],
        scheduler=Slurm(shared_home=False, accounting=True),
        options=AwsOptions(kms_key_id=KEY_ARN),
    )
    return deploy(cluster, answers={GET_SUBNET: subnet_answer("172.31.32.0/20")})


def munge_arn(d: Deployment) -> str:
    return str(d.outputs["slurm_munge_secret_arn"])


def arn_of(name: str) -> str:
    """The ARN the harness's mocks give a secret called `name`."""
    return f"arn:aws:secretsmanager:us-east-1:123456789012:{name}"


# --- the component ------------------------------------------------------------------------------------------


def test_one_scheduler_component_parents_every_slurm_resource(example: Deployment) -> None:
    scheduler = example.one(SCHEDULER)
    assert scheduler.name == "slurm-train-slurm"
    assert scheduler.parent == example.named("slurm-train").urn
    children = [r for r in example.resources if r.parent == scheduler.urn]
    assert {r.name for r in children} == {
        "slurm-train-slurm-munge-key-random",
        "slurm-train-slurm-munge-key",
        "slurm-train-slurm-munge-key-value",
        "slurm-train-slurm-db-password-random",
        "slurm-train-slurm-db-password",
        "slurm-train-slurm-db-password-value",
        "slurm-train-slurm-node-secrets",
        "slurm-train-slurm-controller-role",
        "slurm-train-slurm-controller-ssm",
        "slurm-train-slurm-controller-secrets",
        "slurm-train-slurm-controller-profile",
        "slurm-train-slurm-controller",
        "slurm-train-slurm-login-lt",
        "slurm-train-slurm-login-asg",
        *(f"slurm-train-slurm-config-{f}-conf" for f in ("slurm", "gres", "cgroup", "plugstack", "slurmdbd")),
    }
    aws_provider = example.named("slurm-train-aws").urn
    assert all(r.provider.startswith(aws_provider) for r in children if r.type.startswith("aws:"))


def test_outputs_name_the_controller_the_secret_and_the_login_group(example: Deployment) -> None:
    out = example.outputs
    assert out["slurm_controller_ip"] == "10.0.0.10"
    assert out["slurm_controller_id"] == "slurm-train-slurm-controller-id"
    assert out["slurm_munge_secret_arn"] == arn_of("slurm-train-slurm-munge-key")  # the harness's ARNs
    assert out["slurm_login_group"] == "slurm-train-slurm-login-asg-physical"


def test_a_cluster_without_a_scheduler_has_none_of_it(default: Deployment) -> None:
    kinds = {r.type for r in default.resources}
    assert not kinds & {SCHEDULER, INSTANCE, SECRET, SECRET_VERSION, RANDOM_BYTES, RANDOM_PASSWORD}
    assert not [key for key in default.outputs if key.startswith("slurm_")]


# --- the controller -----------------------------------------------------------------------------------------


def test_the_controller_is_private_hardened_and_at_its_fixed_address(example: Deployment) -> None:
    controller = example.one(INSTANCE)
    i = controller.inputs
    assert controller.name == "slurm-train-slurm-controller"
    assert i["subnetId"] == str(example.outputs["private_subnet_id"])
    assert i["privateIp"] == "10.0.0.10"
    assert i["vpcSecurityGroupIds"] == [str(example.outputs["security_group_id"])]
    assert i["instanceType"] == "m7i.2xlarge"
    assert i["ami"] == FAKE_AMI
    assert i["associatePublicIpAddress"] is False
    assert i["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }
    root = i["rootBlockDevice"]
    assert (root["encrypted"], root["volumeType"], root["volumeSize"]) == (True, "gp3", 100)
    assert root["deleteOnTermination"] is True and "kmsKeyId" not in root
    assert i["iamInstanceProfile"] == "slurm-train-slurm-controller-profile-physical"
    assert i["tags"]["Name"] == "slurm-train-controller"
    assert controller.protect is True  # its disk holds Slurm's job state and the accounting database
    # neither a new image nor new boot scripts stop or replace the running controller
    assert controller.ignore_changes == ["ami", "userData", "userDataBase64"]


def test_the_controller_boots_once_its_secrets_hold_values(example: Deployment) -> None:
    controller = example.one(INSTANCE)
    assert depends_on(example, controller, "slurm-train-slurm-munge-key-value")
    assert depends_on(example, controller, "slurm-train-slurm-db-password-value")
    assert depends_on(example, controller, "slurm-train-slurm-config-slurm-conf")


PARAMETER = "aws:ssm/parameter:Parameter"


def test_the_configuration_is_in_parameters_the_controller_reads(example: Deployment) -> None:
    """slurm.conf and its siblings as SSM parameters, rendered for the controller's address: `pulumi up`
    changes them in place and the controller's timer installs them; none holds a secret."""
    from provisioner.bootstrap.slurm import slurm_config_files
    from provisioner.catalog import shipped_catalog
    from provisioner.plan import plan_cluster

    expected = slurm_config_files(plan_cluster(example.cluster, shipped_catalog()), "10.0.0.10")
    parameters = {p.inputs["name"]: p.inputs for p in example.of_type(PARAMETER)}
    assert set(parameters) == {f"/provisioner/slurm-train/slurm/{name}" for name in expected}
    for name, text in expected.items():
        item = parameters[f"/provisioner/slurm-train/slurm/{name}"]
        # pulumi_aws keeps every parameter value as a Pulumi secret in state (nothing in it is secret here)
        assert item["value"] == rpc.wrap_rpc_secret(text)
        assert item["type"] == "String" and item["tier"] == "Standard"
        assert MUNGE_B64 not in text and DB_PASSWORD not in text
        assert "\nStoragePass=" not in text  # the controller writes it in from the secret store
    assert "SlurmctldHost=slurm-train-controller(10.0.0.10)" in expected["slurm.conf"]
    controller_data = user_data_of(example)["slurm-train-slurm-controller"]
    assert "SlurmctldHost=" not in controller_data  # the files are not in its user data
    assert 'fetch_parameter "/provisioner/slurm-train/slurm/$name"' in controller_data


def test_the_controller_has_its_own_role(example: Deployment) -> None:
    profile = example.named("slurm-train-slurm-controller-profile")
    assert profile.inputs["role"] == "slurm-train-slurm-controller-role-physical"
    attachment = example.named("slurm-train-slurm-controller-ssm").inputs
    assert attachment["policyArn"] == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    assert depends_on(example, profile, "slurm-train-slurm-controller-secrets")
    assert depends_on(example, profile, "slurm-train-slurm-controller-ssm")


def test_an_existing_subnet_gives_the_controller_its_10th_address(existing: Deployment) -> None:
    (call,) = existing.calls_to(GET_SUBNET)
    assert call.args["id"] == "subnet-0private"
    assert "::byo-aws::" in call.provider
    assert existing.one(INSTANCE).inputs["privateIp"] == "172.31.32.10"
    assert "172.31.32.10" in user_data_of(existing)["byo-gpu-lt"]


def test_a_customer_key_encrypts_the_controllers_disk_and_the_secrets(existing: Deployment) -> None:
    assert existing.one(INSTANCE).inputs["rootBlockDevice"]["kmsKeyId"] == KEY_ARN
    assert {s.inputs["kmsKeyId"] for s in existing.of_type(SECRET)} == {KEY_ARN}
    policy = json.loads(existing.named("byo-slurm-node-secrets").inputs["policy"])
    _, kms = policy["Statement"]
    assert kms["Action"] == ["kms:Decrypt"] and kms["Resource"] == KEY_ARN
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}


# --- secrets and IAM ----------------------------------------------------------------------------------------


def test_the_munge_key_is_random_bytes_stored_as_base64(example: Deployment) -> None:
    assert example.one(RANDOM_BYTES).inputs == {"length": 128}
    secret = example.named("slurm-train-slurm-munge-key").inputs
    assert secret["namePrefix"] == "slurm-train-munge-key-"
    assert secret["recoveryWindowInDays"] == 7
    version = example.named("slurm-train-slurm-munge-key-value").inputs
    assert version["secretId"] == "slurm-train-slurm-munge-key-id"
    assert version["secretString"] == rpc.wrap_rpc_secret(MUNGE_B64)  # a Pulumi secret: encrypted in state


def test_accounting_stores_a_generated_database_password(example: Deployment) -> None:
    assert example.one(RANDOM_PASSWORD).inputs == {"length": 32, "special": False}
    assert example.named("slurm-train-slurm-db-password").inputs["namePrefix"] == "slurm-train-db-password-"
    version = example.named("slurm-train-slurm-db-password-value").inputs
    assert version["secretString"] == rpc.wrap_rpc_secret(DB_PASSWORD)


def test_nodes_may_read_exactly_the_munge_key(example: Deployment) -> None:
    policy = example.named("slurm-train-slurm-node-secrets").inputs
    assert policy["role"] == "slurm-train-node-role-id"  # the GPU and login nodes' existing role
    (statement,) = json.loads(policy["policy"])["Statement"]
    assert statement["Action"] == ["secretsmanager:GetSecretValue"]
    assert statement["Resource"] == [munge_arn(example)]


def test_the_controller_may_read_the_munge_key_and_the_database_password(example: Deployment) -> None:
    policy = example.named("slurm-train-slurm-controller-secrets").inputs
    assert policy["role"] == "slurm-train-slurm-controller-role-id"
    secrets, configuration = json.loads(policy["policy"])["Statement"]
    assert secrets["Resource"] == [munge_arn(example), arn_of("slurm-train-slurm-db-password")]
    assert configuration["Action"] == ["ssm:GetParameter"]
    names = sorted(r.name for r in example.of_type(PARAMETER))
    arns = sorted(f"arn:aws:ssm:us-east-1:123456789012:{n}" for n in names)
    assert sorted(configuration["Resource"]) == arns


# --- compute and login groups -------------------------------------------------------------------------------


def test_the_gpu_pool_launches_after_the_controller_and_the_key(example: Deployment) -> None:
    group = example.named("slurm-train-gpu-asg")
    for name in ("slurm-train-slurm-controller", "slurm-train-slurm-munge-key-value"):
        assert depends_on(example, group, name), name
    assert depends_on(example, group, "slurm-train-slurm-node-secrets")
    template = example.named("slurm-train-gpu-lt")
    assert not depends_on(example, template, "slurm-train-slurm-controller")  # its address is fixed


def test_the_login_group(example: Deployment) -> None:
    group = example.named("slurm-train-slurm-login-asg")
    g = group.inputs
    assert (g["minSize"], g["maxSize"], g["desiredCapacity"]) == (1, 1, 1)
    assert g["vpcZoneIdentifiers"] == [str(example.outputs["private_subnet_id"])]
    assert g["launchTemplate"]["id"] == "slurm-train-slurm-login-lt-id"
    assert g["forceDelete"] is True
    assert {t["key"]: t["value"] for t in g["tags"]}["Name"] == "slurm-train-login"
    assert depends_on(example, group, "slurm-train-slurm-controller")
    lt = example.named("slurm-train-slurm-login-lt").inputs
    assert lt["instanceType"] == "m7i.xlarge" and lt["imageId"] == FAKE_AMI
    assert lt["iamInstanceProfile"]["arn"].endswith(":slurm-train-node-profile")
    assert lt["metadataOptions"]["httpTokens"] == "required"
    (root,) = lt["blockDeviceMappings"]
    assert root["ebs"]["encrypted"] == "true" and root["ebs"]["volumeType"] == "gp3"
    (nic,) = lt["networkInterfaces"]
    assert nic["associatePublicIpAddress"] == "false"
    assert nic["securityGroups"] == [str(example.outputs["security_group_id"])]


def test_a_minimal_cluster_has_a_controller_and_no_login_or_database(minimal: Deployment) -> None:
    assert minimal.one(INSTANCE).inputs["instanceType"] == "m7i.2xlarge"
    assert [r.name for r in minimal.of_type(ASG)] == ["mini-gpu-asg"]
    assert [r.name for r in minimal.of_type(SECRET)] == ["mini-slurm-munge-key"]
    assert not minimal.of_type(RANDOM_PASSWORD)
    assert minimal.outputs["slurm_login_group"] is None
    statement, _ = json.loads(minimal.named("mini-slurm-controller-secrets").inputs["policy"])["Statement"]
    assert statement["Resource"] == [munge_arn(minimal)]


# --- user data ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["example", "minimal", "existing"])
def test_no_secret_in_any_user_data_but_the_secrets_ids(fixture: str, request: pytest.FixtureRequest) -> None:
    d: Deployment = request.getfixturevalue(fixture)
    every = user_data_of(d)
    name = d.cluster.name
    assert set(every) >= {f"{name}-slurm-controller", f"{name}-gpu-lt"}
    db = [arn_of(r.name) for r in d.of_type(SECRET) if r.name.endswith("-db-password")]
    for node, text in every.items():
        for secret in (MUNGE_B64, MUNGE_KEY.hex(), DB_PASSWORD):
            assert secret not in text, f"{node} carries a secret"
        assert munge_arn(d) in text, node
        for db_arn in db:
            assert (db_arn in text) == node.endswith("-controller"), node  # the controller's only


def test_every_node_is_told_where_the_controller_is(example: Deployment) -> None:
    for node, text in user_data_of(example).items():
        assert "10.0.0.10" in text, node


def test_the_pools_user_data_makes_them_slurm_compute_nodes(example: Deployment, minimal: Deployment) -> None:
    text = user_data_of(example)["slurm-train-gpu-lt"]
    assert "gpu:h100:8" in text
    assert "gpu:l4:1" in user_data_of(minimal)["mini-gpu-lt"]


# --- `provisioner plan`'s mocks -----------------------------------------------------------------------------

EXISTING_NETWORK_PROGRAM = """
from provisioner import Cluster, LocalScratch, Network, NodePool, Slurm

cluster = Cluster(
    name="byo-slurm", provider="aws", region="eu-west-2",
    pools=[NodePool(name="gpu", gpu="H100", nodes=2)],
    storage=[LocalScratch()],
    network=Network(vpc_id="vpc-0abc", subnet_ids=["subnet-0private"]),
    scheduler=Slurm(shared_home=False, accounting=True),
)
"""


def test_the_offline_mocks_answer_what_the_scheduler_reads(tmp_path: Path) -> None:
    """Random values of the right shape, the subnet's CIDR and the controller's address, without a cloud."""
    from provisioner.program.mocks import fake_call, fake_outputs
    from provisioner.program.runner import run_program

    _, key = fake_outputs(RANDOM_BYTES, "k", {"length": 128}, "eu-west-1")
    assert len(base64.b64decode(key["base64"])) == 128 and len(key["hex"]) == 256
    _, password = fake_outputs(RANDOM_PASSWORD, "p", {"length": 32, "special": False}, "eu-west-1")
    assert len(password["result"]) == 32 and password["result"].isalnum()
    _, secret = fake_outputs(SECRET, "s", {}, "eu-west-1")
    assert secret["arn"].startswith("arn:aws:secretsmanager:eu-west-1:")
    assert fake_outputs(INSTANCE, "i", {"privateIp": "10.0.0.10"}, "eu-west-1")[1]["privateIp"] == "10.0.0.10"
    subnet = fake_call(GET_SUBNET, {"id": "subnet-0private"}, "eu-west-1")
    program = tmp_path / "byo_slurm.py"
    program.write_text(EXISTING_NETWORK_PROGRAM)
    result = run_program(program)
    assert result.exit_code == 0, (result.failure, result.all_findings())
    (run,) = result.clusters
    (controller,) = [r for r in run.resources if r.type == INSTANCE]
    network = subnet["cidrBlock"].rsplit(".", 1)[0]
    assert controller.inputs["privateIp"] == f"{network}.10"
