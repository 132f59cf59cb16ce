"""Fault injection: the sandbox imitates rate limits, 5xx, slow answers, drops and bad JSON on demand."""

from __future__ import annotations

import time

import pytest
import requests
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from mergeassist.sandbox.faults import ENV_VAR, FaultRule, FaultSpecError, parse_fault_spec
from mergeassist.sandbox.models import FaultProfile, SandboxCustomer


@pytest.mark.parametrize(
    ("spec", "rules", "options"),
    [
        ("", {}, (None, 1.0, 1)),
        (
            "list.5xx=0.1, list.429=0.25",
            {"list.5xx": FaultRule(0.1), "list.429": FaultRule(0.25)},
            (None, 1.0, 1),
        ),
        ("merge.drop_after=1,seed=42", {"merge.drop_after": FaultRule(1.0)}, (42, 1.0, 1)),
        ("list.5xx=1,list.5xx.times=3", {"list.5xx": FaultRule(1.0, 3)}, (None, 1.0, 1)),
        ("list.5xx.times=2", {"list.5xx": FaultRule(1.0, 2)}, (None, 1.0, 1)),
        ("*.slow=0.5,delay=0.2,retry_after=0", {"*.slow": FaultRule(0.5)}, (None, 0.2, 0)),
        (
            "note.malformed=1,patch.drop=0",
            {"note.malformed": FaultRule(1.0), "patch.drop": FaultRule(0.0)},
            (None, 1.0, 1),
        ),
    ],
)
def test_it_reads_a_fault_spec(spec, rules, options):
    plan = parse_fault_spec(spec)

    assert plan.rules == rules
    assert (plan.seed, plan.delay, plan.retry_after) == options


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("list.5xx", "needs a value"),
        ("orders.5xx=0.1", "unknown endpoint 'orders'"),
        ("list.404=0.1", "unknown fault '404'"),
        ("list.5xx=1.5", "between 0 and 1"),
        ("list.5xx=often", "must be a number"),
        ("list.5xx=-0.1", "must not be negative"),
        ("seed=x", "seed must be a whole number"),
        ("list.5xx.times=1.5", "must be a whole number"),
    ],
)
def test_it_explains_a_bad_fault_spec(spec, complaint):
    with pytest.raises(FaultSpecError, match=complaint):
        parse_fault_spec(spec)


def test_it_refuses_to_start_with_a_bad_profile_in_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "list.5xx=lots")

    with pytest.raises(ImproperlyConfigured, match=ENV_VAR):
        apps.get_app_config("sandbox").ready()


def test_it_rate_limits_with_retry_after(api, crm_sandbox):
    crm_sandbox.set_faults("list.429=1,retry_after=0")

    response = api.get("/v2/customers/")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "0"
    assert response.json()["message"].startswith("Too many requests")


def test_it_fails_with_a_server_error(api, crm_sandbox):
    crm_sandbox.set_faults("list.5xx=1")

    response = api.get("/v2/customers/")

    assert response.status_code in (500, 502, 503)
    assert "message" in response.json()


def test_it_fails_only_as_many_times_as_asked(api, crm_sandbox):
    crm_sandbox.set_faults("list.5xx=1,list.5xx.times=3")

    statuses = [api.get("/v2/customers/").status_code for _ in range(5)]

    assert [s >= 500 for s in statuses] == [True, True, True, False, False]
    assert statuses[3:] == [200, 200]


def test_it_draws_the_same_faults_for_the_same_seed(api, crm_sandbox):
    def run() -> list[int]:
        crm_sandbox.set_faults("list.5xx=0.4,list.429=0.3,seed=7,retry_after=0")
        return [api.get("/v2/customers/").status_code for _ in range(20)]

    first, second = run(), run()

    assert first == second
    assert {200, 429} <= set(first) and any(s >= 500 for s in first)


def test_it_answers_slowly(api, crm_sandbox):
    crm_sandbox.set_faults("list.slow=1,delay=0.3")

    started = time.monotonic()
    response = api.get("/v2/customers/")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_it_times_out_a_client_that_will_not_wait(api, crm_sandbox):
    crm_sandbox.set_faults("list.slow=1,delay=1")

    with pytest.raises(requests.Timeout):
        api.session.get(api.sandbox.url("/v2/customers/"), timeout=0.3)


def test_it_drops_the_connection_without_an_answer(api, crm_sandbox, make_customer):
    primary, secondary = make_customer(name_first="A"), make_customer(name_first="B")
    crm_sandbox.set_faults("merge.drop=1")

    with pytest.raises(requests.ConnectionError, match="Remote end closed connection without response"):
        api.post(f"/v2/customers/{primary.id}/merge/{secondary.id}")

    assert SandboxCustomer.objects.filter(id=secondary.id).exists()  # dropped before anything happened


def test_it_merges_and_then_drops_the_answer(api, crm_sandbox, make_customer):
    primary, secondary = make_customer(name_first="A"), make_customer(name_first="B")
    crm_sandbox.set_faults("merge.drop_after=1")

    with pytest.raises(requests.ConnectionError):
        api.post(f"/v2/customers/{primary.id}/merge/{secondary.id}")

    # The outcome is settled by asking, never by merging again: the secondary is gone.
    crm_sandbox.clear_faults()
    assert api.get(f"/v2/customers/{primary.id}/merge/{secondary.id}").status_code == 404
    assert api.list_ids(**{"filter[id]": str(secondary.id)}) == []


def test_it_keeps_serving_after_a_dropped_connection(api, crm_sandbox):
    crm_sandbox.set_faults("list.drop=1,list.drop.times=1")

    with pytest.raises(requests.ConnectionError):
        api.get("/v2/customers/")

    assert api.get("/v2/customers/").status_code == 200


def test_it_sends_malformed_json_after_doing_the_work(api, crm_sandbox, make_customer):
    ada = make_customer(name_first="Ada")
    crm_sandbox.set_faults("note.malformed=1")

    response = api.post(f"/v2/customers/{ada.id}/notes", {"notes": "hello"})

    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert ada.notes.count() == 1


def test_it_applies_faults_to_the_named_endpoint_only(api, crm_sandbox, make_customer):
    primary, secondary = make_customer(name_first="A"), make_customer(name_first="B")
    crm_sandbox.set_faults("preview.5xx=1")

    assert api.get(f"/v2/customers/{primary.id}/merge/{secondary.id}").status_code >= 500
    assert api.get("/v2/customers/").status_code == 200
    assert api.patch(f"/v2/customers/{primary.id}", [{"key": "city", "value": "Leeds"}]).status_code == 200


def test_it_applies_star_faults_to_every_sandbox_endpoint_and_nothing_else(api, crm_sandbox, make_customer):
    ada = make_customer(name_first="Ada")
    crm_sandbox.set_faults("*.5xx=1")

    assert api.get("/v2/customers/").status_code >= 500
    assert api.post(f"/v2/customers/{ada.id}/notes", {"notes": "x"}).status_code >= 500
    assert (
        requests.get(crm_sandbox.url("/v2/customers/"), timeout=10).status_code == 401
    )  # the key comes first
    assert (
        requests.get(crm_sandbox.base_url.removesuffix("/sandbox") + "/healthz", timeout=10).status_code
        == 200
    )


def test_it_takes_the_profile_from_the_environment_until_one_is_set(api, crm_sandbox, monkeypatch):
    FaultProfile.objects.all().delete()
    monkeypatch.setenv(ENV_VAR, "list.429=1,retry_after=0")

    assert api.get("/v2/customers/").status_code == 429
    assert FaultProfile.objects.get().source == "env"

    crm_sandbox.clear_faults()
    assert api.get("/v2/customers/").status_code == 200


def test_it_sets_shows_and_clears_faults_from_the_command(api, capsys):
    call_command("sandbox_faults", "--set", "list.429=1,retry_after=0")
    assert "list.429=1,retry_after=0" in capsys.readouterr().out
    assert api.get("/v2/customers/").status_code == 429

    call_command("sandbox_faults", "--show")
    assert "Active faults (command" in capsys.readouterr().out

    call_command("sandbox_faults", "--clear")
    assert "No faults are active." in capsys.readouterr().out
    assert api.get("/v2/customers/").status_code == 200


def test_it_refuses_a_bad_spec_from_the_command(db):
    with pytest.raises(CommandError, match="unknown fault 'teapot'"):
        call_command("sandbox_faults", "--set", "list.teapot=1")
