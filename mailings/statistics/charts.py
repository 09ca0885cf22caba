"""Chart.js data and options for unfold's chart components (dashboard and reports).

unfold's own chart defaults hide the legend and draw thin overlapping bars; a statistics
page needs a legend, whole-number axes and stacked runs, so the options are given here
(unfold replaces its defaults with them entirely).
"""
import json

from django.utils import formats, timezone
from django.utils.translation import gettext as _

COLORS = {
    "sent": "var(--color-primary-600)",
    "failed": "var(--color-red-500)",
    "unknown": "var(--color-orange-400)",
}
AXIS_COLOR = "#9ca3af"


def outcome_datasets(points, keys=("sent", "failed", "unknown"), prefix=""):
    labels = {"sent": _("Sent"), "failed": _("Failed"), "unknown": _("Unknown")}
    return [
        {
            "label": labels[key],
            "data": [point[prefix + key] for point in points],
            "borderColor": COLORS[key],
            "backgroundColor": COLORS[key],
        }
        for key in keys
    ]


def options(stacked):
    axis = {"ticks": {"color": AXIS_COLOR}, "border": {"display": False}}
    return json.dumps({
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "interaction": {"mode": "index", "intersect": False},
        "datasets": {
            "bar": {"borderRadius": 4, "maxBarThickness": 28},
            "line": {"borderWidth": 2, "pointRadius": 0, "tension": 0.2},
        },
        "plugins": {
            "legend": {
                "display": True,
                "align": "end",
                "labels": {"usePointStyle": True, "boxWidth": 6, "boxHeight": 6, "color": AXIS_COLOR},
            },
        },
        "scales": {
            "x": {**axis, "stacked": stacked, "grid": {"display": False},
                  "ticks": {"color": AXIS_COLOR, "maxTicksLimit": 12}},
            "y": {**axis, "stacked": stacked, "beginAtZero": True,
                  "ticks": {"color": AXIS_COLOR, "precision": 0}},
        },
    })


def daily_chart(daily):
    """Sent, failed and unknown per local day, as lines."""
    return json.dumps({
        "labels": [formats.date_format(day["day"], "d.m") for day in daily],
        "datasets": outcome_datasets(daily),
    })


def runs_chart(runs):
    """Sent, failed and unknown of each run, stacked, oldest first."""
    return json.dumps({
        "labels": [
            formats.date_format(timezone.localtime(run["started_at"]), "d.m H:i") for run in runs
        ],
        "datasets": outcome_datasets(runs, prefix="n_"),
    })
