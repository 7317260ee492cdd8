"""What an aggregate page shows under each chart: a one-line caption and the data behind it.

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

import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

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
