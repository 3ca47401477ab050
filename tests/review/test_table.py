"""Terminal rendering: pools, resources grouped by type, findings, cost; 'unknown' prices, never $0."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, RenderableType

from provisioner.catalog import Catalog
from provisioner.plan import ClusterPlan
from provisioner.review.catalog_view import offer_price, offers_table
from provisioner.review.format import cost_line, money
from provisioner.review.model import LogLine, RunResult
from provisioner.review.table import fabric, run_view, validation_view
from provisioner.spec import Interconnect
from provisioner.validate import warning

MakePlan = Callable[..., ClusterPlan]
MakeResult = Callable[..., RunResult]


def render(renderable: RenderableType) -> str:
    console = Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(renderable)
    return captured.get()


def test_money() -> None:
    assert money(None) == "unknown"
    assert money(0.0) == "$0.00"
    assert money(1234.5, "h") == "$1,234.50/h"


def test_a_plan_shows_pools_resources_and_cost(make_plan: MakePlan, make_result: MakeResult) -> None:
    plan = make_plan(nodes=4)
    text = render(run_view(make_result(plan)))

    assert "p5.48xlarge" in text and "efa x32" in text
    assert "aws:autoscaling/group:Group" in text and "demo-gpu-asg" in text
    assert cost_line(plan.cost) in text
    assert "/month" in text and "no errors" in text


def test_an_unknown_price_shows_as_unknown(
    make_plan: MakePlan, make_result: MakeResult, without_price: Callable[[ClusterPlan], ClusterPlan]
) -> None:
    text = render(run_view(make_result(without_price(make_plan()))))
    assert "unknown" in text
    assert "$0.00" not in text


def test_user_text_is_not_read_as_markup(make_plan: MakePlan, make_result: MakeResult) -> None:
    finding = warning("w", "pools[0]", "value [secret] kept [bold]as is[/bold]", "none")
    text = render(validation_view(make_result(make_plan().model_copy(update={"findings": [finding]}))))
    assert "[secret]" in text and "[bold]as is[/bold]" in text


def test_program_notes_and_warnings_are_shown(make_plan: MakePlan, make_result: MakeResult) -> None:
    base = make_result(make_plan())
    result = RunResult(source=base.source, clusters=base.clusters, log=(LogLine("warning", "look here"),))
    assert "warning: look here" in render(run_view(result))


def test_fabric(make_plan: MakePlan) -> None:
    pool = make_plan().pools[0]
    assert fabric(pool) == "efa x32"
    assert (
        fabric(pool.model_copy(update={"interconnect": Interconnect.NONE, "fabric_interfaces": 0})) == "none"
    )


def test_catalog_rows_mark_accelerators_and_unknown_prices(catalog: Catalog) -> None:
    offers = catalog.find_offers("aws")
    text = render(offers_table(offers))
    assert "(not a GPU)" in text
    unpriced = [o for o in offers if o.price is None]
    assert unpriced and offer_price(unpriced[0]) == "unknown"
    priced = next(o for o in offers if o.price is not None)
    assert priced.price is not None
    assert offer_price(priced) == f"${priced.price.per_hour:,.2f} ({priced.price.as_of.isoformat()})"
