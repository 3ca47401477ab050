"""`quote`: the declaration priced on every provider that can host it, cheapest first; why not for the rest.

Expected providers and prices are derived from the catalog and from `plan_cluster`, never copied from it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from rich.console import Console

from provisioner import Cluster, NodePool, plan_cluster
from provisioner.catalog import Catalog
from provisioner.plan.retarget import retarget
from provisioner.review.quote import NO_FABRIC, Standing, quote_cluster, quote_program
from provisioner.review.quote_view import quote_json, quote_markdown, quote_view, quotes_json
from provisioner.spec import Interconnect, ProviderName


def declared(**pool: object) -> Cluster:
    return Cluster(
        name="demo", provider="aws", region="us-east-1", pools=[NodePool(name="gpu", gpu="H100", **pool)]
    )


def rendered(quote_text: object) -> str:
    console = Console(width=250, color_system=None)
    with console.capture() as captured:
        console.print(quote_text)
    return captured.get()


def fabric_providers(catalog: Catalog, gpu: str) -> set[str]:
    return {o.provider for o in catalog.find_offers(gpu=gpu) if o.has_fabric}


@pytest.mark.parametrize("pool", [{"nodes": 4}, {"gpus": 32}], ids=["nodes=4", "gpus=32"])
def test_multi_node_h100_lists_every_provider_with_a_fabric_cheapest_first(
    catalog: Catalog, pool: dict[str, int]
) -> None:
    cluster = declared(**pool)
    quote = quote_cluster(cluster, catalog)

    assert sorted(o.provider for o in quote.options) == sorted(ProviderName)  # every provider, once
    hostable = quote.hostable
    assert (
        {o.provider.value for o in hostable} == fabric_providers(catalog, "H100") >= {"aws", "gcp", "crusoe"}
    )
    assert all(o.standing is Standing.PRICED for o in hostable)
    prices = [o.per_hour for o in hostable]
    assert prices == sorted(p for p in prices if p is not None)
    for option in hostable:
        assert option.region is not None
        (planned,) = option.pools
        assert planned.fabric is not Interconnect.NONE and planned.nodes * planned.gpus_per_node == 32
        again = plan_cluster(retarget(cluster, option.provider, option.region).cluster, catalog)
        assert option.per_hour == again.cost.per_hour and option.per_month == again.cost.per_month
        offer = catalog.offer(option.provider.value, planned.instance_type)
        assert offer is not None and offer.price is not None
        assert offer.price.as_of.isoformat() in option.price_dates
    assert quote.option("aws").declared and sum(o.declared for o in quote.options) == 1


def test_every_other_provider_says_why_it_cannot(catalog: Catalog) -> None:
    quote = quote_cluster(declared(nodes=4), catalog)

    impossible = quote.impossible
    assert impossible and all(o.reasons for o in impossible)
    assert list(quote.options[-len(impossible) :]) == list(impossible)  # impossible last
    lambda_ = quote.option("lambda")
    assert [r.code for r in lambda_.reasons] == [NO_FABRIC]
    for option in impossible:
        if not catalog.find_offers(provider=option.provider.value):
            assert "provider-not-implemented" in [r.code for r in option.reasons]
            assert option.region is None
    markdown = quote_markdown(quote)
    assert f"| lambda | {lambda_.region} (+{len(lambda_.regions_tried) - 1} more) | {NO_FABRIC}: " in markdown


def test_options_a_move_needs_are_listed_not_blocking(catalog: Catalog) -> None:
    crusoe = quote_cluster(declared(nodes=4), catalog).option("crusoe")

    assert crusoe.standing is not Standing.IMPOSSIBLE
    assert crusoe.needs and all(f.path.startswith("options.") for f in crusoe.needs)


def test_a_single_node_fits_lambda_too(catalog: Catalog) -> None:
    quote = quote_cluster(declared(gpus=8), catalog)

    assert {o.provider.value for o in quote.hostable} == set(catalog.providers_with_gpu("H100"))
    lambda_ = quote.option("lambda")
    assert lambda_.standing is Standing.PRICED and lambda_.pools[0].nodes == 1


def test_a_multi_node_pool_that_declares_no_fabric_is_hosted_on_tcp(catalog: Catalog) -> None:
    quote = quote_cluster(declared(nodes=4, interconnect="none"), catalog)

    lambda_ = quote.option("lambda")
    assert lambda_.standing is Standing.PRICED
    assert NO_FABRIC in [w.code for w in lambda_.warnings]


def test_a_gpu_nobody_offers(catalog: Catalog) -> None:
    nobody = next(g.name for g in catalog.gpus if not catalog.providers_with_gpu(g.name))
    cluster = Cluster(
        name="demo", provider="aws", region="us-east-1", pools=[NodePool(name="gpu", gpu=nobody, gpus=8)]
    )
    quote = quote_cluster(cluster, catalog)

    assert not quote.hostable
    for option in quote.options:  # a provider without an adapter says only that; the others why not
        codes = [r.code for r in option.reasons]
        assert codes == ["provider-not-implemented"] or "gpu-not-offered" in codes, (option.provider, codes)
    assert any("gpu-not-offered" in [r.code for r in o.reasons] for o in quote.options)
    assert "No provider in the catalog can host this cluster." in quote_markdown(quote)


def test_a_pool_declared_by_nodes_on_a_small_shape_warns_when_its_gpu_count_changes(catalog: Catalog) -> None:
    quote = quote_cluster(declared(nodes=4, instance_type="p5.4xlarge"), catalog)

    aws, gcp = quote.option("aws"), quote.option("gcp")
    assert aws.pools[0].total_gpus == 4 and "gpu-count-changed" not in [w.code for w in aws.warnings]
    assert gcp.pools[0].total_gpus == 32 and "gpu-count-changed" in [w.code for w in gcp.warnings]
    assert "pools[0].instance_type=p5.4xlarge" in gcp.not_carried


def without_prices(catalog: Catalog, provider: str) -> Catalog:
    offers = [replace(o, price=None) if o.provider == provider else o for o in catalog.offers]
    return Catalog(catalog.gpus, offers, catalog.cuda_min_driver)


def test_an_unknown_price_sorts_after_the_priced_and_is_never_zero(catalog: Catalog) -> None:
    quote = quote_cluster(declared(nodes=4), without_prices(catalog, "gcp"))

    gcp = quote.option("gcp")
    assert gcp.standing is Standing.UNPRICED and gcp.per_hour is None and gcp.per_month is None
    standings = [o.standing for o in quote.options]
    assert standings == sorted(standings, key=list(Standing).index)
    row = next(line for line in quote_markdown(quote).splitlines() if "| gcp |" in line)
    assert "| unknown | unknown | unknown |" in row and "$0" not in row
    gcp_json = next(o for o in quote_json(quote)["options"] if o["provider"] == "gcp")
    assert gcp_json["per_hour"] is None and gcp_json["pools"][0]["price_per_node_hour"] is None
    assert "$0.00" not in rendered(quote_view(quote))


def test_output_is_deterministic(catalog: Catalog) -> None:
    cluster = declared(nodes=4)
    first, second = quote_cluster(cluster, catalog), quote_cluster(cluster, catalog)

    assert first == second
    assert quote_markdown(first) == quote_markdown(second)
    assert rendered(quote_view(first)) == rendered(quote_view(second))
    assert json.dumps(quote_json(first)) == json.dumps(quote_json(second))


def test_json_is_versioned_and_in_the_quotes_order(catalog: Catalog) -> None:
    quote = quote_cluster(declared(nodes=4), catalog)
    data = json.loads(json.dumps(quote_json(quote)))

    assert data["schema_version"] == 1 and data["declared"] == {"provider": "aws", "region": "us-east-1"}
    assert [o["provider"] for o in data["options"]] == [o.provider.value for o in quote.options]
    assert all(o["reasons"] for o in data["options"] if o["standing"] == "impossible")


def test_quote_program_quotes_each_declaration_in_order(catalog: Catalog) -> None:
    small, big = declared(gpus=8), declared(gpus=32).model_copy(update={"name": "big"})
    quotes = quote_program([small, big], catalog)

    assert [q.cluster for q in quotes] == ["demo", "big"]
    assert [q["cluster"] for q in quotes_json(quotes)["quotes"]] == ["demo", "big"]
    assert "p5.48xlarge" in rendered(quote_view(quotes[1]))
