"""Charts drawn on the server as SVG: no JavaScript, nothing to download, allowed by the CSP.

Each function returns markup for one chart; every value is escaped, and every bar carries a
<title> so hovering (or a screen reader) gives the exact figure. Colours come from app.css classes,
since the CSP refuses inline styles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 40


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    css_class: str  # e.g. "bar-ok"; app.css gives it a fill


@dataclass(frozen=True)
class Marker:
    """A vertical line at a category position (e.g. the current threshold), with a label."""

    position: float  # in category units: 2.5 is the middle of the third category
    label: str
    css_class: str


def column_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    percent: bool = False,
    markers: Sequence[Marker] = (),
) -> SafeString:
    """Stacked columns, one per label. With `percent`, the y axis runs 0-100 %."""
    count = max(len(labels), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = 100.0 if percent else _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / count
    bar_w = max(step * 0.7, 1)
    parts: list[str] = [_axes(top, percent, plot_w, plot_h)]
    for i, label in enumerate(labels):
        x = LEFT + i * step + (step - bar_w) / 2
        base = 0.0
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            y = TOP + plot_h - plot_h * base / top - h
            shown = f"{value:.0f} %" if percent else f"{value:g}"
            parts.append(
                format_html(
                    '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}"><title>{}: {} {}</title></rect>',
                    s.css_class, _n(x), _n(y), _n(bar_w), _n(h), label, shown, s.name,
                )  # fmt: skip
            )
            base += value
    every = max(1, round(count / 12))  # at most about a dozen labels under the axis
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                format_html(
                    '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                    _n(LEFT + i * step + step / 2), HEIGHT - BOTTOM + 16, label,
                )  # fmt: skip
            )
    for marker in markers:
        x = LEFT + marker.position * step
        parts.append(
            format_html(
                '<line class="marker {}" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
                '<text class="marker-label {}" x="{}" y="{}" text-anchor="middle">{}</text>',
                marker.css_class, _n(x), _n(x), TOP, _n(TOP + plot_h), marker.css_class, _n(x), HEIGHT - 6, marker.label,
            )  # fmt: skip
        )
    return _svg(chart_id, title, series, parts)


def bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series]) -> SafeString:
    """Stacked horizontal bars, one per label (e.g. decisions per reviewer)."""
    row_h, label_w = 26, 140
    height = TOP + BOTTOM // 2 + row_h * max(len(labels), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_w = WIDTH - label_w - RIGHT - 50
    parts: list[str] = []
    for i, label in enumerate(labels):
        y = TOP + i * row_h
        parts.append(format_html('<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>', label_w - 8, y + 16, label))
        x = float(label_w)
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            w = plot_w * value / top
            parts.append(
                format_html(
                    '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}"><title>{}: {} {}</title></rect>',
                    s.css_class, _n(x), y + 3, _n(w), row_h - 8, label, f"{value:g}", s.name,
                )  # fmt: skip
            )
            x += w
        parts.append(format_html('<text class="tick" x="{}" y="{}">{}</text>', _n(x + 6), y + 16, f"{totals[i]:g}"))
    return _svg(chart_id, title, series, parts, height=height)


def _axes(top: float, percent: bool, plot_w: float, plot_h: float) -> str:
    lines = [
        format_html('<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"></line>', LEFT, _n(LEFT + plot_w), _n(TOP + plot_h), _n(TOP + plot_h))
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h - plot_h * fraction
        value = top * fraction
        text = f"{value:.0f} %" if percent else f"{value:g}"
        lines.append(format_html('<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>', LEFT, _n(LEFT + plot_w), _n(y), _n(y)))
        lines.append(format_html('<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>', LEFT - 6, _n(y + 4), text))
    return "".join(lines)


def _svg(chart_id: str, title: str, series: Sequence[Series], parts: list[str], *, height: int = HEIGHT) -> SafeString:
    legend = "".join(
        format_html('<span class="legend-item"><span class="swatch {}"></span>{}</span>', s.css_class, s.name)
        for s in series
    )
    return mark_safe(  # noqa: S308 - every piece above went through format_html
        f'<figure class="chart" id="{escape(chart_id)}">'
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{escape(chart_id)}-title" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{escape(chart_id)}-title">{escape(title)}</title>'
        + "".join(parts)
        + f'</svg><figcaption class="legend">{legend}</figcaption></figure>'
    )


def _n(value: float) -> str:
    return f"{value:.1f}"


def _nice_max(value: float) -> float:
    """The axis' top: the value rounded up to 1, 2 or 5 times a power of ten (never 0)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return float(factor * magnitude)
    return float(value)
