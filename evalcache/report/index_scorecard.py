"""The index's scorecard: one compact table per group of like-for-like cells.

Rows of one table differ only in strategy and TTL scale (:func:`comparable_groups`, as on the
summary page), so a reader compares a row with its neighbours only; the table is titled with
what its cells hold fixed. The recommendation's group comes first; cells that no other cell
matches in everything but strategy and TTL scale come last, in one table, each named by its
parameters. A cell shows the verdict (``✓`` met, ``✗`` missed, no mark: not measured or not
judged) and the judged value alone, so thirteen columns fit a 1300 px window; the value with
its context is the cell's tooltip and the summary page's table.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from evalcache.report.compare import (
    comparable_groups,
    config_columns,
    name_groups,
    unique_labels,
    value_key,
)
from evalcache.report.scorecard import TARGETS, score_table
from evalcache.report.style import describe_param, join_phrases

#: Title of the table of cells without a like-for-like counterpart.
ALONE = "Cells without a like-for-like counterpart"
_MARKS = {True: "✓ ", False: "✗ ", None: ""}
_CLASSES = {True: "met", False: "missed", None: "na"}

STYLE = """
table.score{table-layout:fixed;width:100%;margin:0.4em 0 0.3em}
table.score col.config{width:11em} table.score col.count{width:4.2em}
table.score th,table.score td{padding:4px 5px}
table.score th{font-size:0.85em;overflow-wrap:break-word}
table.score td{overflow-wrap:break-word}
table.score td.met,table.score td.missed,table.score td.na{white-space:nowrap}
table.score td.met{background:#e5f3e8;color:#14532d}
table.score td.missed{background:#fbe4e2;color:#8b1a12}
table.score td.na{background:#f4f4f4;color:#666}
table.score tr.recommended td.config{font-weight:bold;border-left:4px solid #1a9850}
table.score tr.settings td{font-size:0.9em;color:#444;background:#fafafa;border-bottom:0}
.score-note{font-size:0.85em;color:#444;margin:0 0 1.2em}
"""


@dataclass(frozen=True)
class ScoreGroup:
    """One table of the index's scorecard.

    ``rows`` is :func:`evalcache.report.scorecard.score_table`'s long table (one row per run
    and target) whose ``configuration`` is the row's label; ``links`` maps a label to its run
    page; ``recommended`` is the recommended run's label when it is in this table;
    ``settings`` maps a label to every parameter that names the run, for the table of cells
    without a counterpart (empty for a group, whose title holds them).
    """

    title: str
    rows: pd.DataFrame
    links: dict[str, str] = field(default_factory=dict)
    recommended: str | None = None
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def compared(self) -> bool:
        """Whether the rows are like for like (a group, not the cells without a counterpart)."""
        return not self.settings

    @property
    def configurations(self) -> list[str]:
        """Row labels, in table order."""
        return list(dict.fromkeys(self.rows["configuration"]))


_SHORT = ("param_workload", "param_strategy", "param_ttl_scale")


def _short_labels(runs: pd.DataFrame) -> list[str]:
    """Per run: workload, strategy and TTL scale, plus what tells it apart from the other runs
    sharing those three (``mixed · tags · TTL ×1 · 4 req/s``)."""
    name = [c for c in _SHORT if c in runs]
    base = runs[name].map(value_key).agg("|".join, axis=1) if name else pd.Series("", runs.index)
    out = pd.Series("", index=runs.index, dtype=object)
    for _, same in runs.groupby(base, sort=False):
        differ = [
            c
            for c in config_columns(same, name)
            if c in same and same[c].map(value_key).nunique() > 1
        ]
        for i, row in same.iterrows():
            out[i] = join_phrases(describe_param(c, row[c]) for c in [*name, *differ])
    return list(out)


def _natural(label: str) -> tuple[tuple[int, float, str], ...]:
    """Sort key of a `` · ``-joined label: numbers by value (``4 req/s`` before ``12 req/s``)."""
    key = []
    for phrase in label.split(" · "):
        num = re.search(r"-?\d+(?:\.\d+)?", phrase)
        rest = phrase.replace(num.group(0), "#", 1) if num else phrase
        key.append((0 if num else 1, float(num.group(0)) if num else 0.0, rest))
    return tuple(key)


def score_groups(
    runs: pd.DataFrame,
    families: pd.DataFrame | None,
    run_links: Mapping[str, str] | None = None,
    recommended_cell: str | None = None,
) -> list[ScoreGroup]:
    """The index's scorecard tables for a sweep's runs (:func:`evalcache.sweep.collect`).

    ``run_links`` maps a cell name to its run page; ``recommended_cell`` is the
    recommendation's cell, whose group is listed first.
    """
    links = dict(run_links or {})
    cells = runs["cell"] if "cell" in runs else pd.Series([None] * len(runs), index=runs.index)
    groups = comparable_groups(runs, ("strategy", "ttl_scale"), min_variants=1)
    # titles that name only what tells apart the tables shown (name_groups' own advice)
    compared = name_groups([g for g in groups if len(g.variants) > 1])
    out = []
    for g in compared:
        order = {v: i for i, v in enumerate(g.variants)}  # seed first, TTL scales by value
        runs_ = g.runs.sort_values("variant", key=lambda v: v.map(order), kind="stable")
        labels = unique_labels(list(runs_["variant"]), runs_)
        out.append(_group(g.title, runs_, labels, families, cells, links))
    alone = [g for g in groups if len(g.variants) == 1]
    if alone:
        lone = pd.concat([g.runs.assign(_full=g.run_labels()) for g in alone])
        lone = lone.assign(_short=_short_labels(lone))
        lone = lone.sort_values("_short", key=lambda s: s.map(_natural), kind="stable")
        full = list(lone["_full"])
        short = unique_labels(list(lone["_short"]), lone)
        out.append(
            _group(ALONE, lone, short, families, cells, links, dict(zip(short, full, strict=True)))
        )
    out = [_recommend(g, cells, recommended_cell) for g in out]
    # the recommendation's group first, the cells without a counterpart last
    out.sort(key=lambda g: (not g.compared, g.recommended is None))
    return out


def _group(
    title: str,
    runs: pd.DataFrame,
    labels: Sequence[str],
    families: pd.DataFrame | None,
    cells: pd.Series,
    links: Mapping[str, str],
    settings: Mapping[str, str] | None = None,
) -> ScoreGroup:
    rows = score_table(runs, families, labels=labels)
    by_label = dict(zip(labels, cells.loc[runs.index], strict=True))
    rows["cell"] = rows["configuration"].map(by_label)
    page = {lbl: links[str(c)] for lbl, c in by_label.items() if str(c) in links}
    return ScoreGroup(title, rows, page, None, dict(settings or {}))


def _recommend(group: ScoreGroup, cells: pd.Series, cell: str | None) -> ScoreGroup:
    if cell is None:
        return group
    found = group.rows.loc[group.rows["cell"] == cell, "configuration"]
    return replace(group, recommended=str(found.iloc[0])) if len(found) else group


def _soft_hyphens(label: str, longest: int = 9) -> str:
    """``label`` escaped, a soft hyphen in the middle of each word longer than ``longest``
    (``invali-dations``): a narrow column breaks it there, not after its last letter."""

    def split(w: str) -> str:
        half = len(w) // 2
        if len(w) <= longest:
            return html.escape(w)
        return html.escape(w[:half]) + "&shy;" + html.escape(w[half:])

    return " ".join(split(w) for w in label.split(" "))


def _cell(passed: object, brief: str, shown: str) -> str:
    verdict = passed if passed in (True, False) else None
    text = "" if brief == "n/a" and verdict is None else _MARKS[verdict] + brief
    return (
        f'<td class="{_CLASSES[verdict]}" title="{html.escape(shown)}">'
        f"{html.escape(text or 'n/a')}</td>"
    )


def group_table_html(group: ScoreGroup) -> str:
    """One group as a fixed-width table: configuration, a column per target, targets met."""
    keys = [t.key for t in TARGETS]
    head = "".join(f"<th>{_soft_hyphens(t.label)}</th>" for t in TARGETS)
    cols = '<col class="config">' + "<col>" * len(keys) + '<col class="count">'
    cells = group.rows.set_index(["configuration", "key"])
    body = []
    for config in group.configurations:
        label = html.escape(config)
        if config in group.links:
            label = f'<a href="{html.escape(group.links[config])}">{label}</a>'
        if config == group.recommended:
            label += " <em>(recommended)</em>"
        tds = [f'<td class="config">{label}</td>']
        met = measured = 0
        for key in keys:
            if (config, key) not in cells.index:
                tds.append(_cell(None, "n/a", "not measured"))
                continue
            row = cells.loc[(config, key)]
            tds.append(_cell(row["passed"], str(row["brief"]), str(row["shown"])))
            met += row["passed"] is True
            measured += row["passed"] in (True, False)
        tds.append(f'<td class="count">{met}&nbsp;/&nbsp;{measured}</td>')
        cls = ' class="recommended"' if config == group.recommended else ""
        if config in group.settings:  # too long for a column: a line of its own above
            body.append(
                f'<tr class="settings"><td colspan="{len(keys) + 2}">'
                f"{html.escape(group.settings[config])}</td></tr>"
            )
        body.append(f"<tr{cls}>{''.join(tds)}</tr>")
    return (
        f'<table class="score"><colgroup>{cols}</colgroup><thead><tr><th>configuration</th>'
        f"{head}<th title='targets met / targets measured'>met</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def score_groups_html(groups: Sequence[ScoreGroup], summary_href: str | None = None) -> str:
    """Every group's table under its title, with what the marks mean and where the detail is."""
    if not groups:
        return ""
    detail = (
        f'; each value with its context on the <a href="{html.escape(summary_href)}">summary '
        "page</a>"
        if summary_href
        else ""
    )
    parts = [
        "<p class='score-note'>One table per group of cells that differ only in strategy and "
        "TTL scale, titled with what the group holds fixed: compare rows within a table, not "
        "across tables. ✓ target met, ✗ missed, grey: not measured or not judged. A value's "
        f"tooltip gives its context{detail}.</p>"
    ]
    for g in groups:
        parts.append(f"<h3>{html.escape(g.title)}</h3>")
        parts.append(group_table_html(g))
        if not g.compared:
            parts.append(
                "<p class='score-note'>Each row is a configuration of its own, all its "
                "settings on the line above it: no other cell matches it in everything but "
                "strategy and TTL scale, so compare these rows with care.</p>"
            )
    return "\n".join(parts)
