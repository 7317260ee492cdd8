"""The scorecard as a chart: configurations x the seed plan's targets, pass / fail / n/a.

Each cell is coloured by the verdict and carries the measured value with a ✓ or ✗, so the
grid reads without colour too. Input is :func:`evalcache.report.scorecard.score_table`.
"""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from evalcache.report.scorecard import TARGETS

#: Cell colours by verdict (colour-blind safe pair, grey for not measured / not judged).
COLOURS: dict[bool | None, str] = {True: "#1a9850", False: "#d73027", None: "#d9d9d9"}
MARKS: dict[bool | None, str] = {True: "✓ ", False: "✗ ", None: ""}
#: Text colour on each cell colour (contrast).
INK: dict[bool | None, str] = {True: "white", False: "white", None: "black"}


def scorecard_grid(table: pd.DataFrame, *, title: str = "Seed plan targets") -> Figure:
    """A configurations x targets grid; ``table`` is :func:`score_table`'s long table.

    Rows keep the table's order, columns the plan's target order. Each cell is a
    :class:`~matplotlib.patches.Rectangle` (``gid`` ``"<row>|<target key>"``) coloured by
    :data:`COLOURS` and a text with the mark and the measured value.
    """
    configs = list(dict.fromkeys(table["configuration"])) if len(table) else []
    keys = [t.key for t in TARGETS if t.key in set(table.get("key", []))]
    labels = {t.key: t.label for t in TARGETS}
    # a page shows the grid ~1200 px wide: 9 pt text stays readable once scaled down to that
    fig = Figure(figsize=(max(9.0, 1.0 * len(keys) + 3.5), 1.9 + 0.42 * max(1, len(configs))))
    ax = fig.add_subplot()
    if not configs:
        ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    cells = table.set_index(["configuration", "key"])
    for i, config in enumerate(configs):
        for j, key in enumerate(keys):
            verdict: bool | None = None
            text = "n/a"
            if (config, key) in cells.index:
                cell = cells.loc[(config, key)]
                verdict = cell["passed"] if cell["passed"] in (True, False) else None
                text = MARKS[verdict] + str(cell["brief"])
            ax.add_patch(
                Rectangle(
                    (j, i), 1, 1, facecolor=COLOURS[verdict], edgecolor="white", gid=f"{i}|{key}"
                )
            )
            ax.text(
                j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=9, color=INK[verdict]
            )
    ax.set_xlim(0, len(keys))
    ax.set_ylim(len(configs), 0)  # first configuration on top
    ax.set_xticks([j + 0.5 for j in range(len(keys))])
    ax.set_xticklabels([textwrap.fill(labels[k], 13) for k in keys], fontsize=8.5)
    ax.xaxis.tick_top()
    ax.set_yticks([i + 0.5 for i in range(len(configs))])
    ax.set_yticklabels([textwrap.fill(c, 24) for c in configs], fontsize=9)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    handles = [Rectangle((0, 0), 1, 1, facecolor=COLOURS[v]) for v in (True, False, None)]
    ax.legend(
        handles,
        ["target met", "target missed", "not measured / not judged"],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncols=3,
        fontsize=8.5,
        frameon=False,
    )
    ax.set_title(title, fontsize=11)
    fig.set_layout_engine("constrained")
    return fig
