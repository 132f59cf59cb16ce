"""Hostile but legal text (bidi overrides, zero-width and control characters, very long values) is
shown for what it is: isolated, every hidden character visible, long values truncated with the
whole value on hover. In the customer list, the admin's pages and anywhere `crm_text` is used."""

from __future__ import annotations

from typing import Any

import pytest
from django.template import Context, Template

from mergeassist.core.text import isolated_text, visible_text
from mergeassist.crm.client import CrmClient
from mergeassist.crm.models import Customer
from mergeassist.crm.types import CrmCustomer, CustomerPage

RLO_NAME = "evil\u202egpj.exe"
BIDI_AND_INVISIBLES = ["\u202e", "\u202d", "\u2066", "\u2067", "\u2069", "\u200b", "\u200f", "\ufeff", "\x00", "\x1b"]


def render(value: object, mode: str = "") -> str:
    argument = f':"{mode}"' if mode else ""
    return Template("{% load text %}{{ value|crm_text" + argument + " }}").render(Context({"value": value}))


def test_it_shows_a_right_to_left_override_instead_of_obeying_it():
    html = render(RLO_NAME)
    assert "\u202e" not in html
    assert html == (
        '<bdi class="crm-text">evil<span class="ctl" title="hidden character">\u27e8U+202E\u27e9</span>gpj.exe</bdi>'
    )


@pytest.mark.parametrize("hidden", BIDI_AND_INVISIBLES)
def test_no_hidden_character_reaches_the_page(hidden):
    html = render(f"Ann{hidden}Lee")
    assert hidden not in html
    assert '<span class="ctl"' in html
    assert hidden not in isolated_text(f"Ann{hidden}Lee")[1:-1]


def test_it_escapes_markup_as_before():
    assert render("<b>x</b> & y") == '<bdi class="crm-text">&lt;b&gt;x&lt;/b&gt; &amp; y</bdi>'


def test_a_long_value_keeps_its_whole_text_for_the_tooltip():
    long = "A" * 10_000 + "\u202e"
    html = render(long)
    assert f'title="{"A" * 10_000}\u27e8U+202E\u27e9"' in html
    assert render(long, "wrap").count("A" * 10_000) == 1, "wrapped values show in full, without a tooltip"


def test_plain_text_is_isolated_and_controls_made_visible():
    assert isolated_text(RLO_NAME) == "\u2068evil\u27e8U+202E\u27e9gpj.exe\u2069"
    assert visible_text("a\x00b\x7f") == "a\u2400b\u2421"
    assert visible_text("Ümit Çelik שלום") == "Ümit Çelik שלום", "ordinary letters of any script untouched"
    assert isolated_text("שלום") == "\u2068שלום\u2069", "right-to-left text is isolated"
    assert isolated_text("Ann Lee") == "Ann Lee", "plain text reads as before"


# -- the customer list -----------------------------------------------------------------------------


@pytest.fixture
def crm_lists(monkeypatch):
    listed: list[CrmCustomer] = []

    class Fake:
        def __enter__(self):
            return self

        def __exit__(self, *exc_info: Any):
            pass

        def list_customers(self, **kwargs: Any) -> CustomerPage:
            return CustomerPage(listed, current_page=1, per_page=25, last_page=1, total=len(listed))

    monkeypatch.setattr(CrmClient, "for_pages", lambda: Fake())
    return listed


def crm_customer(id: str, **values: Any) -> CrmCustomer:
    fields = dict.fromkeys(
        ["name_first", "name_last", "email", "phone", "company_name", "address1", "address2", "city",
         "state", "zip", "country", "created_at", "updated_at"]
    )  # fmt: skip
    fields.update(values)
    return CrmCustomer(id=id, **fields)


def test_the_customer_list_shows_hostile_names_for_what_they_are(client, alice, crm_lists):
    crm_lists.append(crm_customer("1", name_first=RLO_NAME, company_name="Zero\u200bWidth", city="x" * 10_000))
    client.force_login(alice)

    html = client.get("/customers/").content.decode()

    assert "\u202e" not in html and "\u200b" not in html
    assert "evil" in html and "\u27e8U+202E\u27e9" in html and "\u27e8U+200B\u27e9" in html
    assert '<bdi class="crm-text" title="' + "x" * 10_000 in html


# -- the admin ----------------------------------------------------------------------------------------


def test_the_admin_title_and_breadcrumbs_are_not_reversed_by_a_customer_name(client, admin_user):
    customer = Customer.objects.create(crm_id="7", crm_id_number=7, name_first=RLO_NAME)
    client.force_login(admin_user)

    change = client.get(f"/admin/crm/customer/{customer.pk}/change/").content.decode()
    listing = client.get("/admin/crm/customer/").content.decode()

    assert "\u202e" not in change and "\u202e" not in listing
    title = change[change.index("<title>") : change.index("</title>")]
    assert "\u2068evil\u27e8U+202E\u27e9gpj.exe\u2069 (7)" in title
    assert "\u27e8U+202E\u27e9" in listing
    assert "css/crm-text.css" in listing, "the admin styles crm_text too (templates/admin/base_site.html)"
