"""GET /v2/customers/: paging, every filter, search, sort, include, and a 422 for anything bad."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mergeassist.sandbox.models import SandboxCustomer


@pytest.fixture
def people(make_customer) -> dict[str, SandboxCustomer]:
    return {
        "ada": make_customer(
            name_first="Ada",
            name_last="Lovelace",
            email="ada@analytical.example",
            company_name="Engines Ltd",
            created_at=datetime(2024, 1, 1, tzinfo=UTC),
            updated_at=datetime(2024, 3, 1, tzinfo=UTC),
        ),
        "grace": make_customer(
            name_first="Grace",
            name_last="Hopper",
            email="grace@navy.example",
            company_name="Navy",
            created_at=datetime(2024, 1, 2, tzinfo=UTC),
            updated_at=datetime(2024, 1, 2, tzinfo=UTC),
        ),
        "alan": make_customer(
            name_first="Alan",
            name_last="Turing",
            email="ALAN@bletchley.example",
            company_name=None,
            created_at=datetime(2024, 1, 3, tzinfo=UTC),
            updated_at=datetime(2024, 2, 1, tzinfo=UTC),
        ),
    }


def test_it_pages_with_meta_and_links(api, crm_sandbox):
    crm_sandbox.seed(30)

    body = api.get("/v2/customers/", page=2, per_page=7, sort="id").json()

    assert [c["id"] for c in body["data"]] == crm_sandbox.customer_ids()[7:14]
    assert body["meta"] == {
        "current_page": 2,
        "per_page": 7,
        "last_page": 5,
        "total": 30,
        "from": 8,
        "to": 14,
    }
    assert "page=1" in body["links"]["first"] and "page=5" in body["links"]["last"]
    assert "page=1" in body["links"]["prev"] and "page=3" in body["links"]["next"]
    assert "per_page=7" in body["links"]["next"] and "sort=id" in body["links"]["next"]


def test_it_serves_25_a_page_by_default_and_nulls_links_at_the_ends(api, crm_sandbox):
    crm_sandbox.seed(30)

    first = api.get("/v2/customers/").json()
    last = api.get(first["links"]["last"].split("/sandbox")[1].split("?")[0], page=2).json()

    assert len(first["data"]) == 25 and first["links"]["prev"] is None
    assert len(last["data"]) == 5 and last["links"]["next"] is None
    assert last["meta"]["from"] == 26 and last["meta"]["to"] == 30


def test_it_answers_an_empty_page_past_the_end(api, people):
    body = api.get("/v2/customers/", page=9).json()

    assert body["data"] == []
    assert body["meta"]["from"] is None and body["meta"]["to"] is None and body["meta"]["last_page"] == 1


def test_it_serves_up_to_100_a_page(api, crm_sandbox):
    crm_sandbox.seed(120)

    assert len(api.list_ids(per_page=100)) == 100


def test_it_shapes_each_customer_as_the_contract_says(api, people):
    customer = api.get("/v2/customers/", **{"filter[email]": "ada@analytical.example"}).json()["data"][0]

    assert customer == {
        "id": str(people["ada"].id),
        "name_first": "Ada",
        "name_last": "Lovelace",
        "email": "ada@analytical.example",
        "phone": None,
        "company_name": "Engines Ltd",
        "address1": None,
        "address2": None,
        "city": None,
        "state": None,
        "zip": None,
        "country": None,
        "created_at": "2024-01-01T00:00:00.000000Z",
        "updated_at": "2024-03-01T00:00:00.000000Z",
    }


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("filter[email]", "grace@navy.example", ["grace"]),
        ("filter[email]", "GRACE@navy.example", []),
        ("filter[email.contains]", "bletchley", ["alan"]),
        ("filter[email.contains]", "alan@", ["alan"]),
        ("filter[name_first]", "Ada", ["ada"]),
        ("filter[name_first.contains]", "a", ["ada", "grace", "alan"]),
        ("filter[name_last]", "Hopper", ["grace"]),
        ("filter[name_last.contains]", "ur", ["alan"]),
        ("filter[company_name]", "Navy", ["grace"]),
        ("filter[company_name.contains]", "engines", ["ada"]),
        ("filter[created_at]", "2024-01-02T00:00:00Z", ["grace"]),
        ("filter[created_at]", "2024-01-02T01:00:00+01:00", ["grace"]),
        ("filter[updated_at]", "2024-02-01T00:00:00.000000Z", ["alan"]),
        ("search", "hop", ["grace"]),
        ("search", "ALAN", ["alan"]),
        ("search", "navy.example", ["grace"]),
        ("search", "zzz", []),
    ],
)
def test_it_filters_and_searches(api, people, param, value, expected):
    assert api.list_ids(**{param: value}) == [str(people[name].id) for name in expected]


def test_it_filters_ids_as_numbers(api, make_customer):
    ids = [make_customer(name_first=f"N{i}").id for i in range(12)]
    low, high = ids[1], ids[10]  # e.g. 2 and 11: "11" < "2" as strings, not as numbers

    assert api.list_ids(**{"filter[id.gte]": str(low), "filter[id.lte]": str(high)}) == [
        str(i) for i in ids[1:11]
    ]
    assert api.list_ids(**{"filter[id]": str(high)}) == [str(high)]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("id", ["ada", "grace", "alan"]),
        ("-id", ["alan", "grace", "ada"]),
        ("name_first", ["ada", "alan", "grace"]),
        ("-name_first", ["grace", "alan", "ada"]),
        ("name_last", ["grace", "ada", "alan"]),
        ("-name_last", ["alan", "ada", "grace"]),
        ("email", ["ada", "alan", "grace"]),  # case does not matter: ALAN@ between ada@ and grace@
        ("company_name", ["alan", "ada", "grace"]),  # empty first ascending
        ("-company_name", ["grace", "ada", "alan"]),  # and last descending
        ("-created_at", ["alan", "grace", "ada"]),
        ("updated_at", ["grace", "alan", "ada"]),
        ("-updated_at", ["ada", "alan", "grace"]),
    ],
)
def test_it_sorts(api, people, sort, expected):
    assert api.list_ids(sort=sort) == [str(people[name].id) for name in expected]


def test_it_sorts_ids_as_numbers(api, make_customer):
    ids = [make_customer(name_first=f"N{i}").id for i in range(11)]

    assert api.list_ids(sort="-id", per_page=100) == [str(i) for i in reversed(ids)]


def test_it_includes_expansions_only_when_asked(api, make_customer):
    make_customer(
        name_first="Ada",
        orders=2,
        cards=1,
        subscriptions=("active",),
        fields={"loyalty_tier": "gold"},
        integrations=("klaviyo",),
    )

    plain = api.get("/v2/customers/").json()["data"][0]
    full = api.get("/v2/customers/", include="cards,fields,stats,integrations,subscriptions").json()["data"][
        0
    ]

    assert not {"cards", "fields", "stats", "integrations", "subscriptions"} & plain.keys()
    assert full["cards"][0] | {"id": "x"} == {
        "id": "x",
        "brand": "visa",
        "last4": "4242",
        "exp_month": 1,
        "exp_year": 2030,
        "is_default": True,
    }
    assert full["fields"] == [{"key": "loyalty_tier", "label": "Loyalty Tier", "value": "gold"}]
    assert full["stats"] == {
        "orders_count": 2,
        "lifetime_value": "20.00",
        "currency": "USD",
        "last_order_at": "2024-02-02T00:00:00.000000Z",
    }
    assert full["integrations"] == [{"name": "klaviyo", "external_id": f"klaviyo-{full['id']}"}]
    assert [(s["status"], s["product"], s["amount"]) for s in full["subscriptions"]] == [
        ("active", "Coffee Club", "24.00")
    ]


@pytest.mark.parametrize("include", ["cards", "fields", "stats", "integrations", "subscriptions"])
def test_it_includes_each_expansion_on_its_own(api, make_customer, include):
    make_customer(name_first="Ada", orders=1)

    customer = api.get("/v2/customers/", include=include).json()["data"][0]

    assert include in customer
    assert not {"cards", "fields", "stats", "integrations", "subscriptions"} - {include} & customer.keys()


def test_it_gives_stats_for_a_customer_without_orders(api, make_customer):
    make_customer(name_first="Ada")

    stats = api.get("/v2/customers/", include="stats").json()["data"][0]["stats"]

    assert stats == {"orders_count": 0, "lifetime_value": "0.00", "currency": "USD", "last_order_at": None}


@pytest.mark.parametrize(
    ("params", "bad_param"),
    [
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"per_page": ""}, "per_page"),
        ({"page": ""}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"sort": "phone"}, "sort"),
        ({"sort": "--id"}, "sort"),
        ({"include": "cards,orders"}, "include"),
        ({"filter[phone]": "555"}, "filter[phone]"),
        ({"filter[email.startswith]": "a"}, "filter[email.startswith]"),
        ({"filter[id.gte]": "abc"}, "filter[id.gte]"),
        ({"filter[id]": "1 OR 1=1"}, "filter[id]"),
        ({"filter[id.lte]": "³"}, "filter[id.lte]"),
        ({"filter[created_at]": "yesterday"}, "filter[created_at]"),
        ({"filter": "x"}, "filter"),
        ({"perpage": "100"}, "perpage"),
    ],
)
def test_it_refuses_bad_query_parameters_with_422(api, params, bad_param):
    response = api.get("/v2/customers/", **params)

    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "The query parameters are invalid."
    assert list(body["errors"]) == [bad_param]
    assert all(isinstance(m, str) and m for m in body["errors"][bad_param])
