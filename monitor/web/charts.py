"""Server-rendered SVG charts (pygal): the stance score line and the volume bars beneath.

Each point links to the page listing the stories behind it; spikes are a second series
drawn as large markers only. No chart script is referenced, so the SVG works without
JavaScript and the page loads nothing from elsewhere; pygal's inline configuration script
is removed too (the pages' Content-Security-Policy allows no inline script).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pygal
from lxml import etree
from pygal.style import Style

from monitor.web.reads import Bucket

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    font_family="system-ui, sans-serif",
    colors=("#1f5f99", "#c0392b", "#7f8c8d"),
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
)
COMMON = {
    "style": STYLE,
    "js": [],  # pygal's default tooltip script comes from a CDN: none
    "disable_xml_declaration": True,
    "width": 900,
    "x_label_rotation": 30,
    "show_minor_x_labels": False,
    "truncate_label": 10,
    "legend_at_bottom": True,
}


def score_chart(buckets: Sequence[Bucket], link: Callable[[Bucket], str]) -> str:
    """Stance score per bucket (from -1 tension to +1 cooperation), spikes marked."""
    chart = pygal.Line(height=320, range=(-1, 1), allow_interruptions=True, **COMMON)
    chart.x_labels = [b.key for b in buckets]
    chart.x_labels_major = [b.key for b in buckets][:: max(1, len(buckets) // 12)]
    chart.add(
        "stance score",
        [
            None
            if b.score is None
            else {
                "value": b.score,
                "label": f"{b.volume} stories",
                "xlink": {"href": link(b), "target": "_top"},
            }
            for b in buckets
        ],
    )
    chart.add(
        "tension spike",
        [
            {"value": b.score, "xlink": {"href": link(b), "target": "_top"}} if b.spike else None
            for b in buckets
        ],
        stroke=False,
        dots_size=9,
    )
    return _svg(chart)


def volume_chart(buckets: Sequence[Bucket]) -> str:
    """Stories per bucket."""
    chart = pygal.Bar(height=180, show_legend=False, **COMMON)
    chart.x_labels = [b.key for b in buckets]
    chart.x_labels_major = [b.key for b in buckets][:: max(1, len(buckets) // 12)]
    chart.add("stories", [b.volume for b in buckets])
    return _svg(chart)


def _svg(chart: pygal.graph.graph.Graph) -> str:
    tree = chart.render_tree()
    for script in list(tree.iter("script", "{http://www.w3.org/2000/svg}script")):
        script.getparent().remove(script)
    return str(etree.tostring(tree, encoding="unicode"))
