"""`provisioner diff` over real plans: example programs planned offline, then edited as programs (a copy of
the example with one line changed) or as dicts (a copy of the report with one input changed)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provisioner.program.runner import run_program
from provisioner.review.diff import PlanLoadError, diff_plans, load_plan
from provisioner.review.diff_model import EXIT_CHANGES, EXIT_NO_CHANGES, Action, PlanDiff, Severity
from provisioner.review.diff_render import DIFF_SCHEMA_VERSION, diff_dict, diff_json, diff_markdown, diff_text
from provisioner.review.diff_rules import REST_POOL_REPLACES, REST_VOLUME_REPLACES
from provisioner.review.report import report_dict

REPO = Path(__file__).resolve().parents[2]
TRAINING = REPO / "examples" / "h100_training.py"
LAMBDA = REPO / "examples" / "lambda_h100.py"
Plan = dict[str, Any]

FSX = "aws:fsx/lustreFileSystem:LustreFileSystem"
ASG = "aws:autoscaling/group:Group"
DYNAMIC = "pulumi-python:dynamic:Resource"


def plan_of(path: Path) -> Plan:
    return report_dict(run_program(path))


@pytest.fixture(scope="module")
def training() -> Plan:
    return plan_of(TRAINING)


@pytest.fixture(scope="module")
def lambda_plan() -> Plan:
    return plan_of(LAMBDA)


@pytest.fixture
def edited(tmp_path: Path) -> Callable[[Path, str, str], Plan]:
    """edited(example, old, new): the plan of a copy of `example` with `old` replaced by `new`."""

    def plan(example: Path, old: str, new: str) -> Plan:
        text = example.read_text()
        assert old in text
        copy_ = tmp_path / example.name
        copy_.write_text(text.replace(old, new))
        return plan_of(copy_)

    return plan


def resource(plan: Plan, type_: str, name_part: str = "") -> dict[str, Any]:
    (found,) = [
        r for c in plan["clusters"] for r in c["resources"] if r["type"] == type_ and name_part in r["name"]
    ]
    return found  # type: ignore[no-any-return]


def actions(diff: PlanDiff) -> dict[str, str]:
    return {r.name: r.action.value for r in diff.resources}


def cautions(diff: PlanDiff) -> list[str]:
    return [w.subject for w in diff.warnings if w.severity is Severity.CAUTION]


def test_two_plans_of_the_same_program_do_not_differ(training: Plan) -> None:
    diff = diff_plans(training, plan_of(TRAINING))

    assert (diff.has_changes, diff.exit_code, diff.resources, diff.warnings) == (
        False,
        EXIT_NO_CHANGES,
        (),
        (),
    )
    assert "No changes" in diff_markdown(diff)
    assert diff_dict(diff)["exit_code"] == 0


def test_a_new_pool_adds_its_group_and_its_cost(
    training: Plan, edited: Callable[[Path, str, str], Plan]
) -> None:
    head = edited(
        TRAINING,
        'pools=[NodePool(name="gpu", gpu="H100", gpus=64)],',
        'pools=[NodePool(name="gpu", gpu="H100", gpus=64), NodePool(name="eval", gpu="L40S", nodes=1)],',
    )
    diff = diff_plans(training, head)

    added = sorted(r.name for r in diff.resources if r.action is Action.ADD)
    assert added == [
        "llm-train-eval",
        "llm-train-eval-asg",
        "llm-train-eval-lt",
    ], added
    (asg,) = [r for r in diff.resources if r.name == "llm-train-eval-asg"]
    assert asg.gpu_group is not None and "L40S" in asg.gpu_group
    assert diff.exit_code == EXIT_CHANGES and cautions(diff) == []  # adding loses nothing
    assert diff.cost.delta_per_hour is not None and diff.cost.delta_per_hour > 0
    assert [(e.section, e.name, e.action) for e in diff.entities] == [("pools", "eval", Action.ADD)]


def test_removing_the_bucket_deletes_it_loudly(
    training: Plan, edited: Callable[[Path, str, str], Plan]
) -> None:
    head = edited(TRAINING, 'Bucket(name="checkpoints"),', "")
    diff = diff_plans(training, head)

    deleted = sorted(r.name for r in diff.resources if r.action is Action.DELETE)
    assert deleted == [
        "llm-train-checkpoints",
        "llm-train-checkpoints-bucket",
        "llm-train-checkpoints-encryption",
        "llm-train-checkpoints-ownership",
        "llm-train-checkpoints-public-access",
        "llm-train-checkpoints-tls-only",
        "llm-train-checkpoints-versioning",
        "llm-train-node-policy",  # the nodes' access to the bucket
    ]
    assert cautions(diff) == ["llm-train-checkpoints-bucket"]
    markdown = diff_markdown(diff)
    assert markdown.index("> [!CAUTION]") < markdown.index("| Change | Resources |")
    assert "deletes `llm-train-checkpoints-bucket`" in markdown and "is protected" in markdown


def test_a_change_lists_exactly_the_changed_keys(training: Plan) -> None:
    head = copy.deepcopy(training)
    fsx = resource(head, FSX)
    fsx["inputs"]["tags"]["team"] = "platform"
    fsx["inputs"]["storageCapacity"] = 9600
    diff = diff_plans(training, head)

    (change,) = diff.resources
    assert (change.name, change.action) == ("llm-train-shared-fs", Action.UPDATE)
    assert [k.path for k in change.keys] == ["storageCapacity", "tags.team"]
    assert [(k.before, k.after) for k in change.keys] == [(4800, 9600), ("research", "platform")]
    assert change.replace_keys == () and cautions(diff) == []  # Lustre grows in place
    assert "`storageCapacity`, `tags.team`" in diff_markdown(diff)


def test_a_tag_changed_in_the_program_updates_without_replacing(
    training: Plan, edited: Callable[[Path, str, str], Plan]
) -> None:
    head = edited(TRAINING, '"cost-center": "ml-training"', '"cost-center": "ml-research"')
    diff = diff_plans(training, head)

    assert diff.resources and {r.action for r in diff.resources} == {Action.UPDATE}
    fsx = next(r for r in diff.resources if r.type == FSX)
    assert [k.path for k in fsx.keys] == ["tags.cost-center"]
    assert diff.warnings == () and not diff.cost.changed


def test_shrinking_lustre_replaces_the_file_system(
    training: Plan, edited: Callable[[Path, str, str], Plan]
) -> None:
    head = edited(TRAINING, "capacity_gib=4800", "capacity_gib=2400")
    diff = diff_plans(training, head)

    fsx = next(r for r in diff.resources if r.type == FSX)
    assert (fsx.action, fsx.replace_keys, fsx.stateful) == (Action.REPLACE, ("storageCapacity",), True)
    assert cautions(diff) == ["llm-train-shared-fs"]


def test_a_new_deployment_type_replaces_the_file_system_loudly(training: Plan) -> None:
    head = copy.deepcopy(training)
    resource(head, FSX)["inputs"]["deploymentType"] = "SCRATCH_2"
    diff = diff_plans(training, head)

    (change,) = diff.resources
    assert (change.action, change.replace_keys) == (Action.REPLACE, ("deploymentType",))
    (warning,) = diff.warnings
    assert (
        warning.severity is Severity.CAUTION and "`deploymentType` cannot change in place" in warning.message
    )
    markdown, text = diff_markdown(diff), diff_text(diff)
    assert "> [!CAUTION]" in markdown and "replaces `llm-train-shared-fs`" in markdown
    assert "CAUTION replaces `llm-train-shared-fs`" in text
    assert diff_dict(diff)["summary"] == {"add": 0, "delete": 0, "update": 0, "replace": 1}


def test_a_new_launch_template_version_does_not_replace_the_group(training: Plan) -> None:
    head = copy.deepcopy(training)
    resource(head, ASG)["inputs"]["launchTemplate"]["version"] = "2"
    resource(head, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["userData"] = "<1 characters, sha256 x>"
    diff = diff_plans(training, head)

    assert {r.name: (r.action, [k.path for k in r.keys]) for r in diff.resources} == {
        "llm-train-gpu-asg": (Action.UPDATE, ["launchTemplate.version"]),
        "llm-train-gpu-lt": (Action.UPDATE, ["userData"]),
    }
    assert diff.warnings == ()


def test_deleting_a_gpu_group_is_loud_and_names_what_runs_on_it(training: Plan) -> None:
    head = copy.deepcopy(training)
    for cluster in head["clusters"]:
        cluster["resources"] = [r for r in cluster["resources"] if r["type"] != ASG]
    diff = diff_plans(training, head)

    assert actions(diff) == {"llm-train-gpu-asg": "delete"}
    (warning,) = diff.warnings
    assert warning.severity is Severity.CAUTION
    assert "GPU group `llm-train-gpu-asg` (8 x p5.48xlarge, 64 x H100, $440.32/h)" in warning.message


def test_a_rest_pool_of_another_shape_is_a_replaced_gpu_group(lambda_plan: Plan) -> None:
    head = copy.deepcopy(lambda_plan)
    resource(head, DYNAMIC, "gpu-instances")["inputs"]["instance_type"] = "gpu_8x_b200_sxm6"
    resource(head, DYNAMIC, "gpu-instances")["inputs"]["count"] = 3
    diff = diff_plans(lambda_plan, head)

    (change,) = diff.resources
    assert (change.kind, change.action, change.replace_keys) == (
        "provisioner:rest:Pool",
        Action.REPLACE,
        ("instance_type",),
    )
    assert [k.path for k in change.keys] == ["count", "instance_type"]
    assert cautions(diff) == ["lambda-h100-gpu-instances"]


def test_a_rest_pool_with_a_new_fallback_region_is_not_replaced(lambda_plan: Plan) -> None:
    head = copy.deepcopy(lambda_plan)
    pool = resource(head, DYNAMIC, "gpu-instances")["inputs"]
    pool["regions"] = [*pool["regions"], "us-west-1"]
    assert diff_plans(lambda_plan, head).resources[0].action is Action.UPDATE
    pool["regions"] = ["us-west-1"]
    assert diff_plans(lambda_plan, head).resources[0].replace_keys == ("regions",)


def test_new_user_data_is_a_changed_key_summarized_by_digest(lambda_plan: Plan) -> None:
    head = copy.deepcopy(lambda_plan)
    resource(head, DYNAMIC, "gpu-instances")["inputs"]["user_data"] = "#cloud-config\n" + "x" * 5000
    (change,) = diff_plans(lambda_plan, head).resources

    assert change.action is Action.UPDATE  # new members get it; running ones keep theirs
    (key,) = change.keys
    assert key.path == "user_data" and key.after.startswith("<5014 characters, sha256 ")


def test_a_renamed_volume_is_a_delete_and_an_add(lambda_plan: Plan) -> None:
    head = copy.deepcopy(lambda_plan)
    volume = resource(head, DYNAMIC, "shared-volume")
    volume["urn"] = volume["urn"].replace("lambda-h100-shared-volume", "lambda-h100-data-volume")
    volume["name"] = "lambda-h100-data-volume"
    diff = diff_plans(lambda_plan, head)

    assert actions(diff) == {"lambda-h100-data-volume": "add", "lambda-h100-shared-volume": "delete"}
    assert cautions(diff) == ["lambda-h100-shared-volume"]


def test_a_price_change_alone_is_a_change(training: Plan) -> None:
    head = copy.deepcopy(training)
    for cost in (head["cost"], head["clusters"][0]["cost"]):
        cost.update(per_hour=400.0, known_per_hour=400.0, per_month=292000.0)
    diff = diff_plans(training, head)

    assert diff.resources == () and diff.warnings == ()
    assert (diff.has_changes, diff.exit_code) == (True, EXIT_CHANGES)
    hour, month = training["cost"]["per_hour"], training["cost"]["per_month"]
    assert (diff.cost.delta_per_hour, diff.cost.delta_per_month) == (
        round(400 - hour, 4),
        round(292000 - month, 4),
    )
    assert [k.path for k in diff.cost.changed_fields] == ["known_per_hour", "per_hour", "per_month"]
    markdown = diff_markdown(diff)
    row = f"| `llm-train` | ${hour:,.2f}/h | $400.00/h | -${hour - 400:,.2f}/h | "
    row += f"-${month - 292000:,.2f}/month |"
    assert row in markdown
    assert f"No resource changes; cost ${hour:,.2f}/h → $400.00/h (-${hour - 400:,.2f}/h" in markdown


def test_a_cost_field_this_module_does_not_know_still_counts(training: Plan) -> None:
    base, head = copy.deepcopy(training), copy.deepcopy(training)
    base["cost"]["storage_per_month"], head["cost"]["storage_per_month"] = 100.0, 250.0
    diff = diff_plans(base, head)

    assert diff.exit_code == EXIT_CHANGES
    assert [(k.path, k.before, k.after) for k in diff.cost.changed_fields] == [
        ("storage_per_month", 100.0, 250.0)
    ]


def test_an_unknown_cost_stays_unknown(training: Plan) -> None:
    head = copy.deepcopy(training)
    for cost in (head["cost"], head["clusters"][0]["cost"]):
        cost.update(per_hour=None, per_month=None, unpriced_pools=["llm-train/gpu"])
    diff = diff_plans(training, head)

    assert (diff.cost.head_per_hour, diff.cost.delta_per_hour, diff.cost.delta_per_month) == (
        None,
        None,
        None,
    )
    markdown = diff_markdown(diff)
    assert f"| **total** | ${training['cost']['per_hour']:,.2f}/h | unknown | unknown | unknown |" in markdown
    assert "$0" not in markdown
    total = json.loads(diff_json(diff))["cost"]["total"]
    assert total["delta"] == {"per_hour": None, "per_month": None}


def test_a_removed_cluster_costs_a_known_nothing(training: Plan) -> None:
    head = copy.deepcopy(training)
    head["clusters"] = []
    head["cost"].update(per_hour=0.0, per_month=0.0, known_per_hour=0.0)
    diff = diff_plans(training, head)

    (cluster,) = diff.cluster_costs
    assert (cluster.head_per_hour, cluster.delta_per_hour) == (
        0.0,
        -training["clusters"][0]["cost"]["per_hour"],
    )
    assert diff.clusters_removed == ("llm-train",)
    assert sorted(cautions(diff)) == [
        "llm-train-checkpoints-bucket",
        "llm-train-gpu-asg",
        "llm-train-shared-fs",
    ]


def test_findings_added_and_removed_are_shown_but_change_nothing(training: Plan) -> None:
    head = copy.deepcopy(training)
    finding = {
        "severity": "warning",
        "code": "no-backup",
        "path": "storage[0]",
        "message": "no backups",
        "fix": "",
    }
    head["clusters"][0]["findings"] = [*head["clusters"][0]["findings"], finding]
    diff = diff_plans(training, head)

    assert [(f.code, f.added, f.cluster) for f in diff.findings] == [("no-backup", True, "llm-train")]
    assert diff.exit_code == EXIT_NO_CHANGES
    assert "new warning `no-backup` at `storage[0]` (llm-train): no backups" in diff_markdown(diff)


def test_a_plan_that_failed_is_a_caution(training: Plan) -> None:
    head = copy.deepcopy(training)
    head.update(ok=False, exit_code=2, failure={"message": "NameError: x", "location": "cluster.py:3"})
    assert cautions(diff_plans(training, head)) == ["head plan"]


def test_json_is_stable_sorted_and_versioned(training: Plan) -> None:
    head = copy.deepcopy(training)
    resource(head, FSX)["inputs"]["deploymentType"] = "SCRATCH_2"
    text = diff_json(diff_plans(training, head))

    assert text == diff_json(diff_plans(copy.deepcopy(training), copy.deepcopy(head)))
    data = json.loads(text)
    assert data["schema_version"] == DIFF_SCHEMA_VERSION and list(data) == sorted(data)
    (change,) = data["resources"]
    assert change["changed_keys"] == [
        {"path": "deploymentType", "before": "PERSISTENT_2", "after": "SCRATCH_2"}
    ]


def test_the_loader_reads_a_plan_file_and_refuses_other_files(training: Plan, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(training))
    assert load_plan(path) == training and load_plan(training) == training
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "list.json").write_text("[]")
    for name, message in (
        ("bad.json", "is not JSON"),
        ("list.json", "not a provisioner plan"),
        ("no.json", "cannot read"),
    ):
        with pytest.raises(PlanLoadError, match=message):
            load_plan(tmp_path / name)


def test_the_rest_replacement_keys_mirror_the_dynamic_providers() -> None:
    from provisioner.providers.rest import dynamic, volume

    assert REST_POOL_REPLACES == dynamic.REPLACES
    assert REST_VOLUME_REPLACES == volume.REPLACES
