"""`{% load text %}` then `{{ customer.name|crm_text }}` for any text that came from outside.

Renders `<bdi class="crm-text">…</bdi>`: isolated from the text around it (a right-to-left name does
not reorder the row), hidden controls shown as marked-up visible markers, and, for long values, the
full text as a tooltip while the CSS keeps the cell to one truncated line (static/css/crm-text.css,
linked by base.html and by the admin's base_site.html). `crm_text:"wrap"` shows the whole value,
wrapped (messages, detail pages).
"""

from __future__ import annotations

import html

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from mergeassist.core.text import TOOLTIP_FROM, has_hidden_control, is_hidden_control, marker, visible_text

register = template.Library()


@register.filter
def crm_text(value: object, mode: str = "") -> SafeString:
    text = "" if value is None else str(value)
    if not text:
        return SafeString("")
    classes = "crm-text crm-text-wrap" if mode == "wrap" else "crm-text"
    shown = _with_marked_controls(text)
    # Wrapped values show in full; truncated ones keep the whole value in the tooltip. Built with
    # f-strings around escaped parts (a page of 100 queue rows calls this 600 times; format_html
    # cost three times as much).
    if mode != "wrap" and len(text) > TOOLTIP_FROM:
        return SafeString(f'<bdi class="{classes}" title="{html.escape(visible_text(text))}">{shown}</bdi>')
    return SafeString(f'<bdi class="{classes}">{shown}</bdi>')


def _with_marked_controls(text: str) -> SafeString:
    if not has_hidden_control(text):
        return SafeString(html.escape(text))  # what django.utils.html.escape does, without its lazy-string check
    runs: list[tuple[str, str]] = []
    for ch in text:
        kind = "ctl" if is_hidden_control(ch) else "txt"
        if runs and runs[-1][0] == kind == "txt":
            runs[-1] = ("txt", runs[-1][1] + ch)
        else:
            runs.append((kind, marker(ch) if kind == "ctl" else ch))
    return format_html_join(
        "",
        "{}",
        (
            (format_html('<span class="ctl" title="hidden character">{}</span>', part) if kind == "ctl" else part,)
            for kind, part in runs
        ),
    )


@register.filter
def crm_plain(value: object) -> str:
    """For attributes (aria-label, title), where markup cannot go: hidden controls made visible."""
    return visible_text(value)
