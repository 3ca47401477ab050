"""The declaration models: public API, defaults, what is rejected at construction, JSON schema."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import provisioner
from provisioner import (
    AwsOptions,
    Bucket,
    CapacityKind,
    Cluster,
    ContainerRuntime,
    GcpOptions,
    Interconnect,
    LocalScratch,
    Lustre,
    Network,
    Nfs,
    NodePool,
    OperatingSystem,
    Slurm,
    SlurmPartition,
    Software,
)
from provisioner.spec.pool import MAX_COUNT


def cluster(**overrides: Any) -> Cluster:
    fields: dict[str, Any] = {
        "name": "llm-train",
        "provider": "aws",
        "region": "us-east-1",
        "pools": [NodePool(name="gpu", gpu="H100", gpus=64)],
    }
    fields.update(overrides)
    return Cluster(**fields)


def test_public_api_declares_the_issue_example() -> None:
    c = Cluster(
        name="llm-train",
        provider="aws",
        region="us-east-1",
        pools=[NodePool(name="gpu", gpu="H100", gpus=64)],
    )
    assert c.provider == "aws"
    assert c.pools[0].gpus == 64
    assert c.pools[0].nodes is None
    for name in (
        "Cluster",
        "NodePool",
        "Lustre",
        "Bucket",
        "LocalScratch",
        "Nfs",
        "Software",
        "plan_cluster",
    ):
        assert name in provisioner.__all__


def test_pool_defaults() -> None:
    pool = NodePool(name="gpu", gpu="H100")
    assert pool.interconnect is Interconnect.AUTO
    assert pool.capacity is CapacityKind.ON_DEMAND
    assert pool.instance_type is None
    assert pool.reservation_id is None
    assert pool.software is None
    assert pool.root_volume_gib == 200


def test_cluster_defaults_are_secure_and_empty() -> None:
    c = cluster()
    assert c.scheduler is None
    assert c.storage == []
    assert c.suppress == []
    assert c.options is None
    assert c.network.ssh_cidrs == []
    assert c.network.public_ips is False
    assert c.software.os is OperatingSystem.UBUNTU_22_04
    assert c.software.container_runtime is ContainerRuntime.CONTAINERD
    assert c.software.nvidia_driver is None
    assert c.software.cuda is None


def test_enums_accept_their_string_values() -> None:
    pool = NodePool(
        name="gpu", gpu="H100", nodes=2, interconnect="efa", capacity="capacity-block", reservation_id="cr-1"
    )
    assert pool.interconnect is Interconnect.EFA
    assert pool.capacity is CapacityKind.CAPACITY_BLOCK


@pytest.mark.parametrize("field", ["interconnect", "capacity"])
def test_enums_reject_unknown_values(field: str) -> None:
    with pytest.raises(ValidationError) as info:
        NodePool(name="gpu", gpu="H100", **{field: "carrier-pigeon"})
    assert info.value.errors()[0]["loc"] == (field,)


def test_gpus_and_nodes_together_are_rejected_with_a_useful_message() -> None:
    with pytest.raises(ValidationError) as info:
        NodePool(name="gpu", gpu="H100", gpus=16, nodes=2)
    message = str(info.value)
    assert "gpus=16" in message
    assert "nodes=2" in message
    assert "not both" in message


@pytest.mark.parametrize("field", ["gpus", "nodes"])
@pytest.mark.parametrize("value", [0, -1, MAX_COUNT + 1, 10**400])
def test_counts_out_of_range_are_rejected(field: str, value: int) -> None:
    with pytest.raises(ValidationError) as info:
        NodePool(name="gpu", gpu="H100", **{field: value})
    assert info.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize("field", ["gpus", "nodes"])
@pytest.mark.parametrize("value", [1, MAX_COUNT])
def test_counts_in_range_are_accepted(field: str, value: int) -> None:
    assert getattr(NodePool(name="gpu", gpu="H100", **{field: value}), field) == value


def test_unknown_fields_are_errors() -> None:
    with pytest.raises(ValidationError) as info:
        NodePool(name="gpu", gpu="H100", gpu_count=8)  # type: ignore[call-arg]
    assert info.value.errors()[0]["type"] == "extra_forbidden"


def test_models_are_frozen() -> None:
    pool = NodePool(name="gpu", gpu="H100", gpus=8)
    with pytest.raises(ValidationError):
        pool.gpus = 16  # type: ignore[misc]
    c = cluster()
    with pytest.raises(ValidationError):
        c.region = "us-west-2"  # type: ignore[misc]


def test_scheduler_is_a_slurm_declaration_not_a_word() -> None:
    with pytest.raises(ValidationError):
        cluster(scheduler="slurm")
    slurm = cluster(scheduler=Slurm(partitions=[SlurmPartition(name="gpu", pools=["gpu"])])).scheduler
    assert isinstance(slurm, Slurm) and slurm.partitions[0].max_time == "INFINITE"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", "25.11"),
        ("health_check_interval", 5),
        ("max_nodes", 0),
        ("partitions", [{"name": "x y", "pools": ["gpu"]}]),
        ("partitions", [{"name": "gpu", "pools": []}]),
        ("partitions", [{"name": "gpu", "pools": ["gpu"], "max_time": "forever"}]),
        ("cluster_name", "Bad-Name"),
    ],
)
def test_slurm_rejects(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Slurm.model_validate({field: value})
    assert field in str(info.value)


@pytest.mark.parametrize("limit", ["INFINITE", "90", "30:00", "12:00:00", "2-00", "7-00:00:00", "1-12:30"])
def test_slurm_time_limits(limit: str) -> None:
    assert SlurmPartition(name="p", pools=["gpu"], max_time=limit).max_time == limit


@pytest.mark.parametrize(
    ("field", "value"), [("region", ""), ("pools", []), ("provider", "digitalocean"), ("name", None)]
)
def test_cluster_rejects(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        cluster(**{field: value})
    assert info.value.errors()[0]["loc"][0] == field


def test_storage_is_a_union_discriminated_by_kind() -> None:
    c = Cluster.model_validate(
        {
            "name": "c",
            "provider": "aws",
            "region": "us-east-1",
            "pools": [{"name": "gpu", "gpu": "H100"}],
            "storage": [
                {"kind": "lustre", "capacity_gib": 2400},
                {"kind": "bucket", "name": "ckpt"},
                {"kind": "scratch"},
                {"kind": "nfs"},
            ],
        }
    )
    assert [type(s) for s in c.storage] == [Lustre, Bucket, LocalScratch, Nfs]
    assert c.storage[0].capacity_gib == 2400  # type: ignore[union-attr]
    assert c.storage[2].mount_point == "/scratch"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "item",
    [
        {"kind": "tape"},
        {"kind": "lustre", "capacity_gib": 0},
        {"kind": "lustre", "mount_point": "fsx"},
        {"kind": "scratch", "mount_point": "/scratch dir"},
        {"kind": "bucket", "mount_point": "/data"},
        {"capacity_gib": 1200},
    ],
)
def test_storage_rejects(item: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        cluster(storage=[item])


@pytest.mark.parametrize("driver", ["580", "570.133.20", "570.26", "535.1"])
def test_driver_versions_accepted(driver: str) -> None:
    assert Software(nvidia_driver=driver).nvidia_driver == driver


DEVANAGARI_570 = "\u096b\u096d\u0966"
FULLWIDTH_580 = "\uff15\uff18\uff10"


@pytest.mark.parametrize(
    "driver", ["58", "5800", "abc", "570.1.2.3", "570.", "v580", "580\n", DEVANAGARI_570, FULLWIDTH_580]
)
def test_driver_versions_rejected(driver: str) -> None:
    with pytest.raises(ValidationError):
        Software(nvidia_driver=driver)


@pytest.mark.parametrize("version", ["12.8", "12.8.1", "6.4", "13.0"])
def test_toolkit_versions_accepted(version: str) -> None:
    assert Software(cuda=version, rocm=version).cuda == version


@pytest.mark.parametrize("version", ["12", "v12.8", "12.8.1.2", "123.4", "12.8\n", "\uff11\uff12.\uff18", ""])
@pytest.mark.parametrize("field", ["cuda", "rocm"])
def test_toolkit_versions_rejected(field: str, version: str) -> None:
    with pytest.raises(ValidationError):
        Software(**{field: version})


def test_pool_software_overrides_the_clusters() -> None:
    own = Software(nvidia_driver="580")
    c = cluster(
        software=Software(cuda="12.8"),
        pools=[NodePool(name="a", gpu="H100"), NodePool(name="b", gpu="H100", software=own)],
    )
    assert c.software_for(c.pools[0]).cuda == "12.8"
    assert c.software_for(c.pools[1]) is own


def test_network_parses_cidrs_and_rejects_garbage() -> None:
    network = Network(ssh_cidrs=["203.0.113.0/24", "2001:db8::/32"])
    assert [str(c) for c in network.ssh_cidrs] == ["203.0.113.0/24", "2001:db8::/32"]
    with pytest.raises(ValidationError):
        Network(ssh_cidrs=["my office"])
    with pytest.raises(ValidationError):
        Network(cidr="10.0.0.1/16")  # host bits set


@pytest.mark.parametrize("value", [5, True, 3.5, None])
def test_networks_must_be_written_as_text(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Network(cidr=value)
    assert "CIDR notation" in str(info.value)
    with pytest.raises(ValidationError) as info:
        Network(ssh_cidrs=[value])
    assert info.value.errors()[0]["loc"] == ("ssh_cidrs", 0)


def test_options_are_discriminated_by_provider() -> None:
    assert cluster(options=AwsOptions(kms_key_id="alias/k")).options == AwsOptions(kms_key_id="alias/k")
    assert cluster(options={"provider": "aws"}).options == AwsOptions()
    assert cluster(options={"provider": "gcp", "project": "p-123456"}).options == GcpOptions(
        project="p-123456"
    )
    with pytest.raises(ValidationError):
        cluster(options={"provider": "azure"})
    with pytest.raises(ValidationError):
        cluster(options={"provider": "aws", "custom": {"anything": 1}})


def _models(schema_owner: type[BaseModel]) -> dict[str, Any]:
    schema = schema_owner.model_json_schema()
    defs: dict[str, Any] = {name: d for name, d in schema.get("$defs", {}).items() if "properties" in d}
    defs[schema_owner.__name__] = schema
    return defs


def test_every_field_of_the_json_schema_has_a_description() -> None:
    models = _models(Cluster)
    assert {"Cluster", "NodePool", "Software", "Network", "Lustre", "Bucket", "Nfs", "LocalScratch"} <= set(
        models
    )
    missing = [
        f"{model}.{field}"
        for model, schema in models.items()
        for field, prop in schema["properties"].items()
        if not prop.get("description")
    ]
    assert missing == []


def test_json_round_trip_of_a_declaration() -> None:
    c = cluster(
        storage=[Lustre(capacity_gib=2400), Bucket(), LocalScratch()],
        software=Software(nvidia_driver="580", cuda="12.8"),
        network=Network(ssh_cidrs=["203.0.113.0/24"]),
        options=AwsOptions(),
    )
    assert Cluster.model_validate_json(c.model_dump_json()) == c


def test_a_controller_without_an_address_round_trips_through_json() -> None:
    from provisioner.spec import Slurm, SlurmController

    declared = cluster(scheduler=Slurm(controller=SlurmController(private_ip=None)))
    assert Cluster.model_validate(declared.model_dump(mode="json")) == declared
