"""Bar charts drawn on the server as inline SVG: no JavaScript, readable on a 375 px phone.

Each chart is an `<svg role="img">` with a `<title>` and a `<desc>` naming what it shows
(screen readers read those; the page puts the same numbers in a table beside it), a viewBox
and width 100% so it scales to the column, and text labels at a size that stays legible
when the chart is squeezed to a phone's width. The markup is well-formed XML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

WIDTH = 360  # viewBox units: about one CSS pixel on a phone
LABEL_WIDTH = 118
VALUE_WIDTH = 44
ROW_GAP = 8
BAR_HEIGHT = 14
FONT = 12
LEGEND_HEIGHT = 22
# Fill colours with at least 3:1 contrast against white (WCAG 1.4.11, graphics).
COLOURS = ("#1f5fa8", "#b3261e", "#5b6b00", "#6a3d9a")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int | float]


def _text(x: float, y: float, content: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:g}" y="{y:g}" font-size="{FONT}" text-anchor="{anchor}"'
        f' fill="#1b1b1b">{escape(content)}</text>'
    )


def _shorten(label: str, limit: int = 9) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    value_format: str = "{:g}",
) -> Markup:
    """Horizontal bars, one group per label and one bar per series in the group."""
    per_group = len(series) * BAR_HEIGHT + ROW_GAP
    top = LEGEND_HEIGHT if len(series) > 1 else 4
    height = top + max(1, len(labels)) * per_group + 4
    peak = max((v for s in series for v in s.values), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id={quoteattr(chart_id)}'
        f' viewBox="0 0 {WIDTH} {height}" width="100%" role="img"'
        f' aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    if len(series) > 1:
        x = 0.0
        for index, s in enumerate(series):
            colour = COLOURS[index % len(COLOURS)]
            parts.append(f'<rect x="{x:g}" y="4" width="12" height="12" fill="{colour}"/>')
            parts.append(_text(x + 16, 14, s.name))
            x += 16 + FONT * (len(s.name) + 2)
    for row, label in enumerate(labels):
        y = top + row * per_group
        parts.append(_text(LABEL_WIDTH - 6, y + per_group / 2, _shorten(label), "end"))
        for index, s in enumerate(series):
            value = s.values[row]
            colour = COLOURS[index % len(COLOURS)]
            bar_y = y + index * BAR_HEIGHT
            width = span * value / peak
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{bar_y:g}" width="{width:.1f}"'
                f' height="{BAR_HEIGHT - 2}" fill="{colour}"/>'
            )
            parts.append(
                _text(LABEL_WIDTH + width + 4, bar_y + BAR_HEIGHT - 3, value_format.format(value))
            )
    parts.append("</svg>")
    # Markup on untrusted data would be XSS (bandit B704); every text above went through
    # escape() (labels, names, title, description) and the rest are numbers and our ids.
    return Markup("".join(parts))  # nosec B704
