"""What a page shows besides charts: a one-line caption under each chart and the data behind
it, tables and prose as a reader can read them.

``evalcache report`` executes an aggregate notebook into ``<sweep>/_reports/<page>.ipynb``.
:meth:`PageData.save` writes a chart's frame to ``<sweep>/_reports/data/<page>/<name>.csv``
(and ``.parquet``) and returns links relative to that executed notebook,
``data/<page>/<name>.csv``; the report copies ``_reports/data/<page>/`` to
``<out>/data/<page>/`` beside ``<out>/<page>.html``, so the same links work on the HTML page.

Example, in a notebook::

    data = PageData(sweep_dir, "strategies")
    fig = charts.compare_bars(runs, "strategy", {"hit_rate": "hit rate (%)"}, title="...")
    charts.show(fig)
    caption("Hit rate per strategy, ...", data.save("hit-rate", fig.data))
"""

from __future__ import annotations

import html
import importlib.util
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

#: Where ``evalcache report`` executes the aggregate notebooks, inside the sweep folder.
REPORTS_DIR = "_reports"
#: The data files' folder, next to the executed notebooks and next to the HTML pages.
DATA_DIR = "data"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class DataFile:
    """A saved file: its format (``CSV``, ``Parquet``) and its link from the page."""

    label: str
    href: str


def data_folder(reports_dir: Path, page: str) -> Path:
    """Where ``page``'s data files live under ``reports_dir`` (``_reports`` or the HTML out)."""
    return Path(reports_dir) / DATA_DIR / page


def _parquet(frame: pd.DataFrame, dest: Path) -> bool:
    if importlib.util.find_spec("pyarrow") is None:
        return False
    try:
        frame.to_parquet(dest, index=False)
    except (TypeError, ValueError):  # an object column of mixed types: store it as text
        text = frame.copy()
        for c in text.select_dtypes(include="object").columns:
            text[c] = text[c].map(lambda v: None if v is None else str(v))
        text.to_parquet(dest, index=False)
    return True


@dataclass(frozen=True)
class PageData:
    """The data files of one aggregate page (``page``: its notebook's stem) of a sweep."""

    sweep_dir: Path | str
    page: str

    @property
    def folder(self) -> Path:
        """``<sweep_dir>/_reports/data/<page>``."""
        return data_folder(Path(self.sweep_dir) / REPORTS_DIR, self.page)

    def save(self, name: str, frame: pd.DataFrame) -> list[DataFile]:
        """Write ``frame`` as ``<name>.csv`` (and ``<name>.parquet`` when pyarrow is there).

        An empty frame (a chart that found nothing to draw) writes nothing and links nothing.
        """
        if not _NAME.fullmatch(name):
            raise ValueError(f"data file name {name!r}: letters, digits, '-', '_' and '.' only")
        if frame.empty:
            return []
        self.folder.mkdir(parents=True, exist_ok=True)
        href = f"{DATA_DIR}/{self.page}/{name}"
        frame.to_csv(self.folder / f"{name}.csv", index=False)
        files = [DataFile("CSV", f"{href}.csv")]
        if _parquet(frame, self.folder / f"{name}.parquet"):
            files.append(DataFile("Parquet", f"{href}.parquet"))
        return files


def caption_markdown(text: str, files: Sequence[DataFile] = ()) -> str:
    """``text`` and links to the data files, as one Markdown paragraph."""
    links = ", ".join(f"[{f.label}]({f.href})" for f in files)
    return f"{text.strip()}" + (f" Data: {links}." if links else "")


def caption(text: str, files: Sequence[DataFile] = ()) -> None:
    """Show a chart's one-line caption (what it shows, how it was measured) and its data."""
    from IPython.display import Markdown, display

    display(Markdown(caption_markdown(text, files)))  # type: ignore[no-untyped-call]


#: How a missing value reads in a table (not ``NaN``, ``None`` or ``nan``).
MISSING = "–"


def _number(value: Any, precision: int) -> str:
    """A cell as text: floats with ``precision`` decimals, whole ones without (``60`` rather
    than ``60.000``), missing values as :data:`MISSING`."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return MISSING
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.0f}" if value.is_integer() else f"{value:.{precision}f}"
    return str(value)


def table(
    frame: pd.DataFrame,
    *,
    formats: Mapping[str, Any] | None = None,
    precision: int = 3,
    index: bool = False,
) -> Styler:
    """``frame`` styled as the pages show tables: no row index unless ``index`` (when it
    names the rows), text columns left-aligned (long right-aligned text is hard to read),
    numbers with ``precision`` decimals (whole ones without) or ``formats`` (column ->
    format), missing values as :data:`MISSING`, ``_`` in headers as spaces so they wrap.
    Nothing is cut short (pandas' plain display truncates long text).
    """
    styler = frame.style.format(lambda v: _number(v, precision), escape="html")
    # headers wrap between words; a snake_case name is one word that widens its column
    styler = styler.format_index(lambda c: str(c).replace("_", " "), axis=1)
    if formats:
        chosen = {c: f for c, f in formats.items() if c in frame}
        # subset: a dict alone would reset every other column to pandas' default format
        styler = styler.format(chosen, subset=list(chosen), na_rep=MISSING, escape="html")
    if not index:
        styler = styler.hide(axis="index")
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    left = {"text-align": "left"}
    if text:
        styler = styler.set_properties(subset=text, **left)
    heads = [{"selector": "th.col_heading", "props": "text-align: left"}]
    heads += [{"selector": "th.row_heading", "props": "text-align: left"}]
    return styler.set_table_styles(heads, overwrite=False)


def prose(lines: Iterable[str | tuple[str, str]]) -> None:
    """Show lines of text as paragraphs (``print``'s preformatted text wraps inside words); a
    ``(heading, text)`` pair shows its heading in bold."""
    from IPython.display import HTML, display

    parts = []
    for line in lines:
        if isinstance(line, tuple):
            head, text = line
            parts.append(f"<p><strong>{html.escape(head)}</strong> {html.escape(text)}</p>")
        else:
            parts.append(f"<p>{html.escape(line)}</p>")
    display(HTML("".join(parts)))  # type: ignore[no-untyped-call]
