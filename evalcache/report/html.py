"""Executed notebooks -> self-contained HTML pages, and ``index.html`` linking them.

The index opens with the answer (the recommended configuration and why, with its numbers)
and the provenance of the figures, then the scorecard, the pages and the key figures per run.

Everything here reads saved files (a sweep folder's notebooks and run folders); nothing is
rerun except the aggregate notebooks, which only read saved results. Credentials are scrubbed
from notebooks before rendering.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evalcache.report.compare import TITLE_ORDER, config_columns, value_key
from evalcache.report.index_scorecard import STYLE as SCORE_STYLE
from evalcache.report.index_scorecard import ScoreGroup, score_groups_html
from evalcache.report.style import describe_param, join_phrases
from evalcache.settings import mask_url

if TYPE_CHECKING:
    from evalcache.report.recommend import Recommendation

# scheme://user:password@host... : anything that could carry a password in its userinfo.
_URL_WITH_PASSWORD = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/@:'\"<>]*:[^\s/@'\"<>]*@[^\s'\"<>]+"
)
# CDN scripts (MathJax, require.js) the page does not need: reports must open offline.
_EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\ssrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.I)

KEY_COLUMNS: dict[str, str] = {
    "param_workload": "workload",
    "param_strategy": "strategy",
    "param_ttl_scale": "TTL scale",
    "param_mode": "mode",
    "hit_rate": "hit rate",
    "frequent_hit_rate": "hit rate, frequent keys",
    "db_reduction": "DB reduction",
    "stale_read_rate": "stale reads",
    "stale_read_rate_upper95": "stale reads, 95 % bound",
    "latency_all_p99_ms": "p99 (ms)",
    "errors": "request errors",
    "cache_errors": "cache errors",
}
_PERCENT = ("hit_rate", "frequent_hit_rate", "db_reduction", "stale_read_rate")
_PERCENT_FINE = ("stale_read_rate_upper95",)  # a bound near 0: two decimals


def scrub_text(text: str) -> str:
    """Replace the password of every URL in ``text`` by ``***``."""
    return _URL_WITH_PASSWORD.sub(lambda m: mask_url(m.group(0)) or "", text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def scrub_notebook(nb: Any) -> Any:
    """Scrub credentials from every cell's source and outputs (in place); returns ``nb``."""
    for cell in nb.cells:
        cell["source"] = scrub_text(cell.get("source", ""))
        for out in cell.get("outputs", []):
            for key in ("text", "evalue", "traceback", "data"):
                if key in out:
                    out[key] = _scrub(out[key])
    return nb


def _data_section(files: Sequence[str]) -> str:
    # styled as links (the notebook page's stylesheet leaves anchors outside a cell black)
    link = "color:#0d47a1;text-decoration:underline"
    items = "".join(
        f'<li><a style="{link}" href="{html.escape(f)}">{html.escape(Path(f).name)}</a></li>'
        for f in files
    )
    style = "font-family:system-ui,sans-serif;font-size:1em;margin:1em 2em"
    return (
        f'<section class="data-files" style="{style}"><h2>Data behind this page</h2>'
        f"<ul>{items}</ul></section>"
    )


def render_notebook(
    src: Path, dest: Path, title: str | None = None, data_files: Sequence[str] = ()
) -> Path:
    """Convert an executed notebook to one self-contained HTML page without code.

    ``data_files``: links (relative to ``dest``) to the data the page charts, listed at its end.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = scrub_notebook(nbformat.read(src, as_version=4))  # type: ignore[no-untyped-call]
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title or src.stem}})
    body = _EXTERNAL_SCRIPT.sub("", scrub_text(body))
    if data_files:
        end = body.rfind("</body>")
        end = end if end >= 0 else len(body)
        body = body[:end] + _data_section(data_files) + body[end:]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(body, encoding="utf-8")
    return dest


@dataclass
class Page:
    """A rendered report: its title, HTML file (relative to the index) and status.

    ``status`` is ``failed`` for a notebook that raised, whether in the sweep (a run cell) or
    when the report executed it; ``built`` is False only when the report itself could not
    build the page (the notebook is missing or unreadable, rendering it raised, or executing an
    aggregate notebook failed).
    """

    title: str
    href: str
    status: str = "ok"
    detail: str = ""
    built: bool = True


@dataclass
class ReportSite:
    """What :func:`build_reports` wrote."""

    index: Path
    pages: list[Page] = field(default_factory=list)

    @property
    def unbuilt(self) -> list[Page]:
        """The pages the report failed to build."""
        return [p for p in self.pages if not p.built]


def other_settings(runs: pd.DataFrame) -> list[str]:
    """Per run, the settings where it differs from most runs of the sweep (``4 req/s · 2 DB
    connections``), besides the key table's own columns: two rows that read alike are alike."""
    shown = {c for c in KEY_COLUMNS if c.startswith("param_")}
    cols = [c for c in [*config_columns(runs), "param_seed"] if c in runs and c not in shown]
    keys = runs[cols].map(value_key)
    usual = {c: keys[c].value_counts(sort=True).index[0] for c in cols if len(keys)}
    order = {c: i for i, c in enumerate(TITLE_ORDER)}
    cols.sort(key=lambda c: order.get(c, len(order)))
    return [
        join_phrases(describe_param(c, runs.at[i, c]) for c in cols if keys.at[i, c] != usual[c])
        for i in runs.index
    ]


def key_figures(runs: pd.DataFrame) -> pd.DataFrame:
    """The index's per-run table: parameters, what else sets the run apart (where anything
    does) and key figures, rates in percent."""
    cols = [c for c in KEY_COLUMNS if c in runs.columns]
    table = runs[cols].copy()
    other = other_settings(runs)
    if any(other):
        at = sum(c.startswith("param_") for c in cols)
        table.insert(at, "other settings", other)
    # a no-break space before "%": a narrow column never puts the sign on a line of its own
    for c in _PERCENT:
        if c in table:
            table[c] = table[c].map(lambda v: "" if pd.isna(v) else f"{100 * float(v):.1f}\u00a0%")
    for c in _PERCENT_FINE:
        if c in table:
            table[c] = table[c].map(lambda v: "" if pd.isna(v) else f"{100 * float(v):.2f}\u00a0%")
    if "latency_all_p99_ms" in table:
        table["latency_all_p99_ms"] = table["latency_all_p99_ms"].map(
            lambda v: "" if pd.isna(v) else f"{float(v):.2f}"
        )
    return table.rename(columns=KEY_COLUMNS)


def _table_html(df: pd.DataFrame, links: Sequence[str | None] | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for i, (_, row) in enumerate(df.iterrows()):
        cells = [html.escape(scrub_text(str(v))) for v in row]
        if links is not None and links[i]:
            cells[0] = f'<a href="{html.escape(str(links[i]))}">{cells[0]}</a>'
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:0.85em;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0} .failed{color:#b00}
.answer{font-size:1.1em;background:#f4f8f4;border-left:4px solid #1a9850;padding:0.6em 1em}
dl.answer-detail dt{font-weight:bold;float:left;clear:left;width:9em}
dl.answer-detail dd{margin:0 0 0.4em 9.5em}
"""


def answer_html(recommendation: Recommendation | str) -> str:
    """The index's opening: the recommended configuration, then each reason with its numbers."""
    if isinstance(recommendation, str):
        if not recommendation:
            return ""
        return (
            f"<p class='answer'><strong>Recommendation:</strong> {html.escape(recommendation)}</p>"
        )
    if not recommendation.lines:
        return f"<p class='answer'>{html.escape(recommendation.text)}</p>"
    (head, first), *rest = recommendation.lines
    out = [f"<p class='answer'><strong>{html.escape(head)}</strong> {html.escape(first)}</p>"]
    out.append("<dl class='answer-detail'>")
    for heading, sentence in rest:
        out.append(f"<dt>{html.escape(heading)}</dt><dd>{html.escape(sentence)}</dd>")
    out.append("</dl>")
    return "".join(out)


def provenance_html(lines: Sequence[tuple[str, str]]) -> str:
    """Provenance as a two-column table (field, value), no row index."""
    return _table_html(pd.DataFrame(list(lines), columns=["field", "value"]))


def write_index(
    dest: Path,
    title: str,
    pages: Iterable[Page],
    runs: pd.DataFrame,
    run_links: Sequence[str | None],
    score: Sequence[ScoreGroup] = (),
    recommendation: Recommendation | str = "",
    provenance: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write ``index.html``: the recommendation and why, the provenance of the figures, the
    scorecard (one table per like-for-like group, :mod:`evalcache.report.index_scorecard`),
    links to every page and the key figures per run. Tables carry no row index."""
    pages = list(pages)
    items = []
    for p in pages:
        cls = "" if p.status == "ok" else ' class="failed"'
        extra = "" if p.status == "ok" else f" ({html.escape(p.status)}: {html.escape(p.detail)})"
        items.append(
            f'<li{cls}><a href="{html.escape(p.href)}">{html.escape(p.title)}</a>{extra}</li>'
        )
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}{SCORE_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    answer = answer_html(recommendation)
    if answer:
        parts += ["<h2>Recommendation</h2>", answer]
    if provenance:
        parts += ["<h2>Provenance</h2>", provenance_html(provenance)]
    if score:
        summary = next((p.href for p in pages if p.title == "summary" and p.built), None)
        parts += ["<h2>Seed plan scorecard</h2>", score_groups_html(score, summary)]
    parts += [
        "<h2>Reports</h2><ul>",
        *items,
        "</ul>",
        "<h2>Key figures per run</h2>",
        _table_html(key_figures(runs), run_links) if len(runs) else "<p>No runs found.</p>",
    ]
    parts.append("</body></html>")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(scrub_text("\n".join(parts)), encoding="utf-8")
    return dest
