"""`{% queue_rows page.rows queue_params %}`: the queue table's rows.

Written in Python rather than as template markup because a page holds up to 100 rows of a dozen
values each, and the template engine's per-variable lookups were most of the page's time. The
markup is what the template would write; every value from the CRM goes through `crm_text` (escaped,
isolated, hidden characters shown) and everything else through `escape`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from html import escape  # django.utils.html.escape is this, behind a lazy-string check per call

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from mergeassist.core.templatetags.text import crm_plain, crm_text
from mergeassist.review.queue import QueueCustomer, QueueRow

register = template.Library()


@register.simple_tag
def queue_rows(rows: Iterable[QueueRow], queue_params: str = "") -> SafeString:
    pair_url, cluster_url = _url_of("review-pair"), _url_of("review-cluster")
    query = f"?{queue_params}" if queue_params else ""
    # Safe: every value in a row is escaped where it is written (_row, _customer_cell).
    return mark_safe("".join(_row(row, pair_url(row.pair_id) + query, cluster_url) for row in rows))


def _row(row: QueueRow, review_href: str, cluster_url: Callable[[int], str]) -> str:
    # Plain f-strings with every value escaped (escape, crm_text): format_html's per-call cost
    # was most of a 100-row page once the template's was gone.
    badges = " ".join(f'<span class="badge">{escape(reason)}</span>' for reason in row.reasons)
    if row.cluster_size > 2 and row.cluster_id is not None:
        badges += f' <a class="badge running" href="{escape(cluster_url(row.cluster_id))}">group of {row.cluster_size}</a>'
    if row.skipped:
        badges += ' <span class="badge">skipped by you</span>'
    a, b = row.customer_a, row.customer_b
    skipped_class = ' class="skipped"' if row.skipped else ""
    return (
        f'<tr id="queue-pair-{row.pair_id}"{skipped_class}>'
        f'<td class="num score">{_whole_number(row.score)}</td><td>{_customer_cell(a)}</td><td>{_customer_cell(b)}</td>'
        f"<td>{badges}</td>"
        f'<td><a class="button" href="{escape(review_href)}" aria-label="Review {escape(crm_plain(a.name))} and '
        f'{escape(crm_plain(b.name))}">Review</a></td></tr>\n'
    )


def _customer_cell(customer: QueueCustomer) -> str:
    email = crm_text(customer.email) if customer.email else "—"
    return (
        f'<span class="who-name">{crm_text(customer.name)}</span><br><span class="muted email">{email}</span> '
        f'<span class="muted">#{crm_text(customer.crm_id)}</span>'
    )


def _whole_number(score: float) -> str:
    # As the pair screen's floatformat:0 shows it: halves round up.
    return str(Decimal(repr(score)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _url_of(name: str) -> Callable[[int], str]:
    """reverse() for many ids: the URL is reversed once around a marker, then filled in per id."""
    marker = 2_147_483_647
    head, tail = reverse(name, args=[marker]).split(str(marker))
    return lambda pk: f"{head}{pk}{tail}"
