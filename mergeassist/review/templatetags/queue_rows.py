"""`{% queue_rows page.rows queue_params %}`: the queue table's rows.

Written in Python rather than as template markup because a page holds up to 100 rows of a dozen
values each, and the template engine's per-variable lookups were most of the page's time. The
markup is what the template would write; every value from the CRM goes through `crm_text` (escaped,
isolated, hidden characters shown) or is escaped by `format_html`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from mergeassist.core.templatetags.text import crm_plain, crm_text
from mergeassist.review.queue import QueueCustomer, QueueRow

register = template.Library()


@register.simple_tag
def queue_rows(rows: Iterable[QueueRow], queue_params: str = "") -> SafeString:
    pair_url, cluster_url = _url_of("review-pair"), _url_of("review-cluster")
    query = f"?{queue_params}" if queue_params else ""
    return mark_safe("".join(_row(row, pair_url(row.pair_id) + query, cluster_url) for row in rows))  # each part is built by format_html


def _row(row: QueueRow, review_href: str, cluster_url: Callable[[int], str]) -> str:
    badges = format_html_join(" ", '<span class="badge">{}</span>', ((reason,) for reason in row.reasons))
    if row.cluster_size > 2 and row.cluster_id is not None:
        badges += format_html(' <a class="badge running" href="{}">group of {}</a>', cluster_url(row.cluster_id), row.cluster_size)
    if row.skipped:
        badges += mark_safe(' <span class="badge">skipped by you</span>')
    a, b = row.customer_a, row.customer_b
    return format_html(
        '<tr id="queue-pair-{}"{}><td class="num score">{}</td><td>{}</td><td>{}</td><td>{}</td>'
        '<td><a class="button" href="{}" aria-label="Review {} and {}">Review</a></td></tr>\n',
        row.pair_id,
        mark_safe(' class="skipped"') if row.skipped else "",
        _whole_number(row.score),
        _customer_cell(a),
        _customer_cell(b),
        badges,
        review_href,
        crm_plain(a.name),
        crm_plain(b.name),
    )


def _customer_cell(customer: QueueCustomer) -> SafeString:
    return format_html(
        '<span class="who-name">{}</span><br><span class="muted email">{}</span> <span class="muted">#{}</span>',
        crm_text(customer.name),
        crm_text(customer.email) if customer.email else "—",
        crm_text(customer.crm_id),
    )


def _whole_number(score: float) -> str:
    # As the pair screen's floatformat:0 shows it: halves round up.
    return str(Decimal(repr(score)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _url_of(name: str) -> Callable[[int], str]:
    """reverse() for many ids: the URL is reversed once around a marker, then filled in per id."""
    marker = 2_147_483_647
    head, tail = reverse(name, args=[marker]).split(str(marker))
    return lambda pk: f"{head}{pk}{tail}"
