"""The outage report's bar chart: inline SVG, pages issued, returned and posted per ward, each
bar named in the report's language (:mod:`downtime.report.words`). Pure: wards in, SVG out."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from downtime.report.model import WardSection
from downtime.report.words import Words

# The chart, in SVG user units (1 unit ≈ 1 CSS px at full width).
CHART_WIDTH = 640
LABEL_WIDTH = 90
VALUE_ROOM = 150  # right of the longest bar, for its number and name
BAR = 11
GAP = 2
GROUP_GAP = 12
SERIES = (  # name, fill
    ("issued", "#5f6368"),
    ("returned", "#1a73e8"),
    ("posted", "#188038"),
)
OUTBOX_FILL = "#81c995"


def chart_svg(wards: Sequence[WardSection], w: Words) -> str:
    """Horizontal bars per ward: pages issued, returned, posted (the part written to the outbox
    and not yet posted stacked on it, lighter). Each bar carries its number and name, so the
    chart reads in black and white too."""
    scale_max = max([1, *(d.chart["issued"] for d in wards), *(d.chart["returned"] for d in wards)])
    room = CHART_WIDTH - LABEL_WIDTH - VALUE_ROOM
    group = len(SERIES) * (BAR + GAP) + GROUP_GAP
    legend = 22
    height = legend + group * len(wards)
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" width="{CHART_WIDTH}" height="{height}" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="10">',
        f"<title>{escape(w('chart_title'))}</title>",
    ]
    x = LABEL_WIDTH
    for series, fill in (*SERIES, ("outbox", OUTBOX_FILL)):
        name = w.of("chart", series)
        out.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{fill}"/>')
        out.append(f'<text x="{x + 14}" y="13">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    for n, ward in enumerate(wards):
        top = legend + n * group
        chart = ward.chart
        out.append(
            f'<text x="0" y="{top + len(SERIES) * (BAR + GAP) / 2 + 4:.0f}" '
            f'font-weight="bold">{escape(ward.ward)}</text>'
        )
        for i, (name, fill) in enumerate(SERIES):
            y = top + i * (BAR + GAP)
            value = chart[name]
            width = room * value / scale_max
            out.append(_bar(LABEL_WIDTH, y, width, fill))
            label = w("chart_bar", n=value, name=w.of("chart", name))
            if name == "posted" and chart["outbox"]:
                extra = room * chart["outbox"] / scale_max
                out.append(_bar(LABEL_WIDTH + width, y, extra, OUTBOX_FILL))
                width += extra
                label += w("chart_outbox", n=chart["outbox"])
            x_text = f"{LABEL_WIDTH + width + 4:.1f}"
            out.append(f'<text x="{x_text}" y="{y + BAR - 2}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _bar(x: float, y: float, width: float, fill: str) -> str:
    return f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{fill}"/>'
