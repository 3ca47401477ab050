"""Helm values of the charts a Kubernetes plan installs: rendered from templates/kubernetes/values/, every
selector, toleration and switch taken from the plan.

The plans: every example with a Kubernetes scheduler, and variants planned through `plan_cluster` against a
test catalog that adds what AWS does not sell (MI300X shapes, with and without EFA) and an EKS whose node
image lacks the driver."""

from __future__ import annotations

import dataclasses
import runpy
from functools import cache
from importlib import resources
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from provisioner.catalog import Catalog, load_catalog
from provisioner.cli import app
from provisioner.k8s.render import (
    FABRIC_LABEL,
    ROLE_LABEL,
    VENDOR_LABEL,
    helm_values,
    manifests,
    served_groups,
    values_yaml,
)
from provisioner.plan import ClusterPlan, HelmReleasePlan, KubeNodeGroupPlan, plan_cluster
from provisioner.providers.aws.eks_plan import eks_spec
from provisioner.spec import Cluster, Interconnect, Kubernetes, NodePool

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.py"))
AMD_EFA, AMD_TCP = "test-mi300x-efa.48xlarge", "test-mi300x-tcp.48xlarge"
AMD_IMAGE = "TEST_AL2023_x86_64_ROCM"


def chart_keys() -> list[str]:
    text = (resources.files("provisioner.catalog.data") / "kubernetes.yaml").read_text(encoding="utf-8")
    return list(yaml.safe_load(text)["charts"])


@cache
def catalog(image_ships_driver: bool = True) -> Catalog:
    """The shipped catalog, plus MI300X shapes on AWS and an AMD node image for EKS."""
    shipped = load_catalog()
    p5 = shipped.offer("aws", "p5.48xlarge")
    managed = shipped.managed_kubernetes("aws")
    system = shipped.cpu_shape("aws", "m7i.xlarge")
    assert p5 is not None and managed is not None and system is not None
    amd = dataclasses.replace(p5, gpu="MI300X", nvswitch=False)
    extra = [
        dataclasses.replace(amd, instance_type=AMD_EFA),
        dataclasses.replace(amd, instance_type=AMD_TCP, fabric=Interconnect.NONE, fabric_interfaces=0),
    ]
    managed = dataclasses.replace(
        managed, images={**managed.images, "amd": AMD_IMAGE}, image_ships_driver=image_ships_driver
    )
    charts = [chart for key in chart_keys() if (chart := shipped.chart(key)) is not None]
    images = [i for name in ("ubuntu-22.04", "ubuntu-24.04", "rocky-9") if (i := shipped.image("aws", name))]
    return Catalog(
        shipped.gpus, [*shipped.offers, *extra], shipped.cuda_min_driver, images, [system], [managed], charts
    )


def plan_of(
    *pools: NodePool, image_ships_driver: bool = True, name: str = "k8s-test", **kubernetes: object
) -> ClusterPlan:
    cluster = Cluster(
        name=name,
        provider="aws",
        region="us-east-1",
        pools=list(pools),
        scheduler=Kubernetes.model_validate({"api_public_cidrs": ["203.0.113.0/24"], **kubernetes}),
    )
    plan = plan_cluster(cluster, catalog(image_ships_driver))
    assert plan.ok, [f.render() for f in plan.findings]
    assert plan.kubernetes is not None
    return plan


H100 = NodePool(name="gpu", gpu="H100", nodes=2)
L4 = NodePool(name="l4", gpu="L4", instance_type="g6.xlarge", nodes=1)
AMD = NodePool(name="amd", gpu="MI300X", instance_type=AMD_EFA, nodes=2)
AMD_NO_FABRIC = NodePool(name="amdtcp", gpu="MI300X", instance_type=AMD_TCP, nodes=1)


def variants() -> dict[str, ClusterPlan]:
    """Plans that cover what the examples do not: AMD, several pools and vendors, no fabric, the device
    plugin alone, no taints, and a node image without the driver."""
    return {
        "amd-efa": plan_of(AMD, name="amd-efa"),
        "multi-pool": plan_of(H100, L4, AMD_NO_FABRIC, name="multi-pool"),
        "no-fabric": plan_of(L4, name="no-fabric"),
        "device-plugin": plan_of(
            H100, name="device-plugin", device_plugin="device-plugin", dcgm_exporter=False
        ),
        "untainted": plan_of(H100, AMD, name="untainted", gpu_taint=False),
        "operator-installs-driver": plan_of(H100, name="own-driver", image_ships_driver=False),
    }


def example_plans() -> dict[str, ClusterPlan]:
    """Every cluster with a Kubernetes scheduler declared by examples/*.py."""
    found = {}
    for path in EXAMPLES:
        namespace = runpy.run_path(str(path), run_name="example")
        for cluster in (v for v in namespace.values() if isinstance(v, Cluster)):
            if isinstance(cluster.scheduler, Kubernetes):
                plan = plan_cluster(cluster, load_catalog())
                assert plan.ok, [f.render() for f in plan.findings]
                found[f"{path.stem}:{cluster.name}"] = plan
    assert found, "no example declares a Kubernetes cluster"
    return found


@cache
def all_plans() -> dict[str, ClusterPlan]:
    return {**example_plans(), **variants()}


def _releases() -> list[tuple[str, str]]:
    return [
        (label, release.name)
        for label, plan in all_plans().items()
        for release in (plan.kubernetes.releases if plan.kubernetes else [])
    ]


RELEASES = _releases()


def release_of(plan: ClusterPlan, name: str) -> HelmReleasePlan:
    assert plan.kubernetes is not None
    release = plan.kubernetes.release(name)
    assert release is not None, f"{plan.name} has no release {name!r}"
    return release


def values_of(plan: ClusterPlan, name: str) -> dict[str, object]:
    return helm_values(plan, release_of(plan, name))


def expected_tolerations(groups: list[KubeNodeGroupPlan]) -> list[tuple[str, str, str]]:
    return list(dict.fromkeys((t.key, t.value, t.effect) for g in groups for t in g.taints))


def as_tuples(tolerations: object) -> list[tuple[str, str, str]]:
    assert isinstance(tolerations, list)
    for t in tolerations:
        assert t["operator"] == "Equal", t
    return [(t["key"], t["value"], t["effect"]) for t in tolerations]


def test_every_chart_in_the_catalog_has_a_values_template() -> None:
    folder = REPO / "templates" / "kubernetes" / "values"
    assert {f"{key}.yaml.j2" for key in chart_keys()} <= {p.name for p in folder.iterdir()}


@pytest.mark.parametrize(("label", "name"), RELEASES)
def test_values_parse_to_a_mapping_and_keep_their_comments(label: str, name: str) -> None:
    plan = all_plans()[label]
    release = release_of(plan, name)
    text = values_yaml(plan, release)
    assert text.startswith("#") and release.version in text.splitlines()[0]
    assert yaml.safe_load(text) == helm_values(plan, release)


@pytest.mark.parametrize(("label", "name"), RELEASES)
def test_tolerations_are_the_taints_of_the_node_groups_the_chart_serves(label: str, name: str) -> None:
    plan = all_plans()[label]
    assert plan.kubernetes is not None
    release = release_of(plan, name)
    values = helm_values(plan, release)
    expected = expected_tolerations(served_groups(plan.kubernetes, release))
    if name == "gpu-operator":
        assert as_tuples(values["daemonsets"]["tolerations"]) == expected  # type: ignore[index]
        nfd = values["node-feature-discovery"]
        assert as_tuples(nfd["worker"]["tolerations"]) == expected  # type: ignore[index]
    else:
        assert as_tuples(values["tolerations"]) == expected


@pytest.mark.parametrize(("label", "name"), RELEASES)
def test_device_plugins_select_exactly_the_nodes_they_serve(label: str, name: str) -> None:
    plan = all_plans()[label]
    assert plan.kubernetes is not None
    if name == "gpu-operator":
        return  # the operator places its operands by NFD's labels itself
    release = release_of(plan, name)
    values = helm_values(plan, release)
    selector = values["node_selector" if name == "amd-gpu" else "nodeSelector"]
    assert isinstance(selector, dict)
    selector = {k: v for k, v in selector.items() if v is not None}  # null deletes a chart default
    served = served_groups(plan.kubernetes, release)
    assert served
    for group in plan.kubernetes.node_groups:
        matches = selector.items() <= group.labels.items()
        assert matches == (group in served), (group.pool, selector)


def test_the_gpu_operator_keeps_the_driver_and_toolkit_of_the_node_image() -> None:
    plan = plan_of(H100)
    assert plan.kubernetes is not None and plan.kubernetes.image_ships_driver
    values = values_of(plan, "gpu-operator")
    assert values["driver"] == {"enabled": False}
    assert values["toolkit"] == {"enabled": False}
    assert values["cdi"] == {"enabled": False}


def test_the_gpu_operator_installs_the_driver_where_the_image_has_none() -> None:
    plan = plan_of(H100, image_ships_driver=False)
    values = values_of(plan, "gpu-operator")
    assert values["driver"] == {"enabled": True}
    assert values["toolkit"] == {"enabled": True}
    assert values["cdi"] == {"enabled": True}


@pytest.mark.parametrize("dcgm_exporter", [True, False])
def test_the_gpu_operator_runs_what_the_plan_asks_for(dcgm_exporter: bool) -> None:
    values = values_of(plan_of(H100, dcgm_exporter=dcgm_exporter), "gpu-operator")
    assert values["devicePlugin"] == {"enabled": True}
    assert values["gfd"] == {"enabled": True}
    assert values["dcgmExporter"] == {"enabled": dcgm_exporter}
    assert values["migManager"] == {"enabled": False}
    assert values["nfd"] == {"enabled": True}


def test_the_gpu_operators_controllers_run_on_the_system_nodes() -> None:
    plan = plan_of(H100, AMD)
    assert plan.kubernetes is not None
    values = values_of(plan, "gpu-operator")
    selector = {ROLE_LABEL: plan.kubernetes.system.role}
    nfd = values["node-feature-discovery"]
    assert isinstance(nfd, dict)
    assert values["operator"] == {"nodeSelector": selector}
    assert nfd["master"]["nodeSelector"] == selector
    assert nfd["gc"]["nodeSelector"] == selector
    # the provider's system node group carries the label; no GPU node group does
    system = eks_spec("k8s-test", plan).system
    assert selector.items() <= system.labels.items() and not system.taints
    for group in plan.kubernetes.node_groups:
        assert not selector.items() <= group.labels.items()


def test_device_plugin_mode_installs_only_nvidias_device_plugin() -> None:
    plan = plan_of(H100, device_plugin="device-plugin")
    assert plan.kubernetes is not None
    assert [r.name for r in plan.kubernetes.releases] == ["nvidia-device-plugin", "aws-efa-k8s-device-plugin"]
    values = values_of(plan, "nvidia-device-plugin")
    assert values["nodeSelector"] == {VENDOR_LABEL: "nvidia"}
    assert as_tuples(values["tolerations"]) == [("nvidia.com/gpu", "present", "NoSchedule")]
    assert values["gfd"] == {"enabled": False}
    assert values["nfd"] == {"enabled": False}
    assert values["devicePlugin"] == {"enabled": True}


def test_amd_pools_get_amds_device_plugin_on_amd_nodes_only() -> None:
    plan = plan_of(AMD)
    assert plan.kubernetes is not None
    assert [r.name for r in plan.kubernetes.releases] == ["amd-gpu", "aws-efa-k8s-device-plugin"]
    values = values_of(plan, "amd-gpu")
    assert values["node_selector_enabled"] is True
    assert values["node_selector"] == {
        VENDOR_LABEL: "amd",
        # the chart's default needs node-feature-discovery's label: deleted (Helm deletes null keys)
        "feature.node.kubernetes.io/pci-0300_1002.present": None,
    }
    assert "feature.node.kubernetes.io/pci-0300_1002.present: null" in values_yaml(
        plan, release_of(plan, "amd-gpu")
    )
    assert as_tuples(values["tolerations"]) == [("amd.com/gpu", "present", "NoSchedule")]
    assert values["nfd"] == {"enabled": False}


def test_the_efa_device_plugin_serves_every_efa_pool_of_any_vendor() -> None:
    plan = plan_of(H100, L4, AMD)
    values = values_of(plan, "aws-efa-k8s-device-plugin")
    assert values["nodeSelector"] == {FABRIC_LABEL: "efa"}
    assert as_tuples(values["tolerations"]) == [
        ("nvidia.com/gpu", "present", "NoSchedule"),
        ("amd.com/gpu", "present", "NoSchedule"),
    ]
    # the chart's affinity lists instance types: the plan's EFA shapes, not the L4's
    assert values["supportedInstanceLabels"] == {
        "keys": ["node.kubernetes.io/instance-type"],
        "values": ["p5.48xlarge", AMD_EFA],
    }


def test_no_fabric_no_efa_device_plugin() -> None:
    plan = plan_of(L4)
    assert plan.kubernetes is not None
    assert [r.name for r in plan.kubernetes.releases] == ["gpu-operator"]


def test_untainted_nodes_get_no_tolerations() -> None:
    plan = plan_of(H100, gpu_taint=False)
    assert plan.kubernetes is not None
    for release in plan.kubernetes.releases:
        values = helm_values(plan, release)
        tolerations = (
            values["daemonsets"]["tolerations"] if release.name == "gpu-operator" else values["tolerations"]
        )
        assert tolerations == [], release.name


def test_a_chart_without_a_template_is_an_error() -> None:
    plan = plan_of(H100)
    unknown = release_of(plan, "gpu-operator").model_copy(update={"name": "no-such-chart"})
    with pytest.raises(ValueError, match="no template"):
        helm_values(plan, unknown)


def test_a_plan_without_kubernetes_is_an_error() -> None:
    cluster = Cluster(name="bare", provider="aws", region="us-east-1", pools=[H100])
    plan = plan_cluster(cluster, catalog())
    with pytest.raises(ValueError, match="no Kubernetes scheduler"):
        manifests(plan)


def test_render_writes_values_and_manifests_and_lists_them(tmp_path: Path) -> None:
    out = tmp_path / "out"
    stale = out / "eks-train" / "kubernetes" / "manifests" / "gpu-check-gone.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("left by an earlier render\n")
    result = CliRunner().invoke(app, ["render", str(REPO / "examples/h100_eks.py"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    plan = all_plans()["h100_eks:eks-train"]
    assert plan.kubernetes is not None
    folder = out / "eks-train" / "kubernetes"
    for release in plan.kubernetes.releases:
        written = folder / "values" / f"{release.name}.yaml"
        assert written.read_text() == values_yaml(plan, release)
        assert f"eks-train/kubernetes/values/{release.name}.yaml" in result.stdout
    expected = manifests(plan)
    assert sorted(p.name for p in (folder / "manifests").iterdir()) == sorted(
        f"{m.name}.yaml" for m in expected
    )
    for item in expected:
        assert (folder / "manifests" / f"{item.name}.yaml").read_text() == item.text
        line = f"eks-train/kubernetes/manifests/{item.name}.yaml"
        assert line in result.stdout and line in (out / "README.md").read_text()
    assert "wrote 1 pool(s)" in result.stdout
    # the GPU nodes boot the EKS image: their user data is the node agent's configuration, no bootstrap
    assert (out / "eks-train" / "gpu" / "user-data.mime").is_file()
    assert not (out / "eks-train" / "gpu" / "user-data.yaml").exists()
