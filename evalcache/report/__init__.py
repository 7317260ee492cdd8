"""Reports: charts, the seed-plan scorecard, and HTML pages built from a saved sweep.

``evalcache report --sweep runs/default --out reports`` renders each cell's executed notebook,
executes the aggregate notebooks (which only read saved results) and writes ``index.html``,
which opens with the recommendation and the provenance of the figures (``provenance.json``
beside it). The data an aggregate page charts (``<sweep>/_reports/data/<page>/``, written by
the notebook through :class:`evalcache.report.page.PageData`) is copied to
``<out>/data/<page>/`` and linked from the page.
A page that cannot be built is marked failed on the index and the others are still built; the
command then exits with status 1 (cells that failed in the sweep do not count: their pages
are built, showing the error, and ``evalcache sweep`` reported them).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from evalcache.report.html import Page, ReportSite, render_notebook, write_index
from evalcache.report.index_scorecard import score_groups
from evalcache.report.page import REPORTS_DIR, data_folder
from evalcache.report.provenance import provenance_json, provenance_lines
from evalcache.report.recommend import recommend
from evalcache.results import load_families

__all__ = ["build_reports"]


def _execute_aggregate(notebook: Path, sweep_dir: Path, dest: Path) -> tuple[str, str]:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from evalcache.sweep import kernel_options

    try:
        papermill.execute_notebook(
            str(notebook),
            str(dest),
            parameters={"sweep_dir": str(sweep_dir.resolve())},
            progress_bar=False,
            cwd=str(notebook.resolve().parent),
            **kernel_options(),
        )
    except PapermillExecutionError as exc:
        return "failed", f"cell {exc.cell_index}: {exc.ename}: {exc.evalue}"
    except Exception as exc:  # kernel trouble: report it on the index, render the others
        return "failed", f"{type(exc).__name__}: {exc}"
    return "ok", ""


def _copy_data(src: Path, dest: Path) -> list[str]:
    """Copy a page's data files (``_reports/data/<page>``) beside its HTML page; their links
    relative to the page, as the notebook wrote them (``data/<page>/<name>``)."""
    shutil.rmtree(dest, ignore_errors=True)  # files of charts the page no longer draws
    if not src.is_dir():
        return []
    shutil.copytree(src, dest)
    root = dest.parent.parent
    return sorted(p.relative_to(root).as_posix() for p in dest.rglob("*") if p.is_file())


def _render(src: Path, dest: Path, title: str, data: list[str] | None = None) -> str:
    """Render one page; the error text when it could not be, else ``""``."""
    if not src.is_file():
        return f"notebook {src} not found"
    try:
        render_notebook(src, dest, title=title, data_files=data or [])
    except Exception as exc:  # an unreadable notebook spoils its page only, not the report
        return f"rendering {src} failed: {type(exc).__name__}: {exc}"
    return ""


def build_reports(
    sweep_dir: Path, out: Path, *, execute: bool = True, workload: str = "mixed"
) -> ReportSite:
    """Render a saved sweep folder into ``out`` (``index.html`` plus one page per notebook).

    Parameters
    ----------
    sweep_dir:
        A folder written by ``evalcache sweep`` (it holds ``sweep.json``).
    out:
        Where the HTML goes; created if missing.
    execute:
        Execute the sweep's aggregate notebooks (they read saved results only); with ``False``
        only notebooks already executed under ``<sweep_dir>/_reports`` are rendered.
    workload:
        Workload the recommendation is made for.
    """
    from evalcache.sweep import collect, read_sweep_record

    sweep_dir, out = Path(sweep_dir), Path(out)
    record = read_sweep_record(sweep_dir)
    pages: list[Page] = []
    run_pages: dict[str, str] = {}
    for cell in record.get("cells", []):
        nb = Path(cell["notebook"])
        if not nb.is_absolute() and not nb.exists():
            nb = sweep_dir / cell["name"] / nb.name
        href = f"runs/{cell['name']}.html"
        err = cell.get("error") or {}
        status = cell["status"]
        detail = (
            f"cell {err.get('cell_index')}: {err.get('ename')}: {err.get('evalue')}"
            if status != "ok"
            else ""
        )
        problem = _render(nb, out / href, cell["name"])
        if problem:
            detail = "; ".join(d for d in (detail, problem) if d)
            pages.append(Page(f"run {cell['name']}", href, "failed", detail, built=False))
            continue
        run_pages[cell["name"]] = href
        pages.append(Page(f"run {cell['name']}", href, status, detail))
    agg_dir = sweep_dir / REPORTS_DIR
    agg_dir.mkdir(exist_ok=True)
    aggregates = 0  # aggregate pages are listed first, in the sweep's order
    for nb_path in map(Path, record.get("reports", [])):
        dest = agg_dir / nb_path.name
        data_dir = data_folder(agg_dir, nb_path.stem)
        status, detail = ("ok", "")
        if execute:
            shutil.rmtree(data_dir, ignore_errors=True)  # what this execution saves, only
            if nb_path.is_file():
                status, detail = _execute_aggregate(nb_path, sweep_dir, dest)
            else:
                status, detail = "failed", f"aggregate notebook {nb_path} does not exist"
        elif not dest.is_file():
            continue  # nothing executed earlier: nothing to render, and nothing was asked
        href = f"{nb_path.stem}.html"
        data = _copy_data(data_dir, data_folder(out, nb_path.stem))
        problem = _render(dest, out / href, nb_path.stem, data) if dest.is_file() else ""
        if problem:
            status, detail = "failed", "; ".join(d for d in (detail, problem) if d)
        page = Page(nb_path.stem, href, status, detail, built=status == "ok")
        pages.insert(aggregates, page)
        aggregates += 1

    runs = collect(sweep_dir)
    families = load_families(sweep_dir)
    if len(families):  # the families of the sweep's current cells only, as collect's runs
        families = families[families["folder"].isin(runs["folder"])]
    links = [run_pages.get(str(c)) if isinstance(c, str) else None for c in runs.get("cell", [])]
    rec = recommend(runs, families, workload) if len(runs) else None
    score = score_groups(runs, families, run_pages, rec.cell if rec else None) if rec else []
    lines = provenance_lines(record, runs)
    index = write_index(
        out / "index.html",
        f"evalcache report: {record.get('name', '')}",
        pages,
        runs,
        links,
        score,
        rec or "",
        lines,
    )
    (out / "pages.json").write_text(json.dumps([p.__dict__ for p in pages], indent=2), "utf-8")
    (out / "provenance.json").write_text(provenance_json(lines), "utf-8")
    return ReportSite(index, pages)


def _cmd_report(args: argparse.Namespace) -> int:
    site = build_reports(
        Path(args.sweep), Path(args.out), execute=not args.no_execute, workload=args.workload
    )
    for p in site.pages:
        if not p.built:
            print(f"FAILED to build page {p.title}: {p.detail}", file=sys.stderr)
        elif p.status != "ok":
            print(f"FAILED {p.title} (in the sweep; its page shows the error): {p.detail}")
    print(f"report index: {site.index.resolve()}")
    return 1 if site.unbuilt else 0


def add_cli(subparsers: Any) -> None:
    """Register ``evalcache report [--sweep DIR] [--out reports/]``."""
    p = subparsers.add_parser("report", help="render a saved sweep as HTML reports")
    p.add_argument("--sweep", default="runs/default", help="sweep folder (default: runs/default)")
    p.add_argument("--out", default="reports", help="output folder (default: reports)")
    p.add_argument(
        "--no-execute",
        action="store_true",
        help="do not execute the aggregate notebooks; render what is saved",
    )
    p.add_argument("--workload", default="mixed", help="workload the recommendation is for")
    p.set_defaults(func=_cmd_report)
