"""``evalcache report`` exits non-zero when a page could not be built, and builds the others.

The sweep folder is written by hand (no notebook is executed), so this stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from sweep.fake_runs import write_fake_run

from evalcache.cli import main


def _notebook(path: Path, text: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text)]
    nbformat.write(nb, path)
    return path


def _sweep(tmp_path: Path, *, broken_cell: bool, broken_aggregate: bool) -> Path:
    """A saved sweep: cells ``good``, ``other`` and ``bad`` (failed in the sweep, page fine),
    one aggregate notebook already executed under ``_reports``; corrupt ones on request."""
    sweep_dir = tmp_path / "sweep"
    cells = []
    for name, status in (("good", "ok"), ("other", "ok"), ("bad", "failed")):
        folder = sweep_dir / name
        folder.mkdir(parents=True)
        nb = folder / "experiment.ipynb"
        if name == "other" and broken_cell:
            nb.write_text("{ this is not a notebook", "utf-8")
        else:
            _notebook(nb, f"# page of {name}")
        if status == "ok":
            write_fake_run(folder / "results", {"seed": len(cells) + 1})
        error = {"cell_index": 3, "ename": "RuntimeError", "evalue": "on purpose"}
        cells.append(
            {
                "name": name,
                "params": {"seed": len(cells) + 1},
                "status": status,
                "notebook": str(nb),
                "results_dir": str(folder / "results"),
                "error": error if status == "failed" else None,
            }
        )
    (sweep_dir / "_reports").mkdir()
    aggregate = sweep_dir / "_reports" / "summary.ipynb"
    if broken_aggregate:
        aggregate.write_text("[]", "utf-8")
    else:
        _notebook(aggregate, "# Scorecard")
    record = {"name": "status", "notebook": "", "reports": [str(aggregate)], "cells": cells}
    (sweep_dir / "sweep.json").write_text(json.dumps(record), "utf-8")
    return sweep_dir


def _report(sweep_dir: Path, out: Path) -> int:
    return main(["report", "--sweep", str(sweep_dir), "--out", str(out), "--no-execute"])


def test_every_page_built_exits_0_even_with_a_cell_that_failed_in_the_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    assert _report(_sweep(tmp_path, broken_cell=False, broken_aggregate=False), out) == 0
    printed = capsys.readouterr()
    assert "FAILED run bad (in the sweep" in printed.out and printed.err == ""
    for page in ("summary.html", "runs/good.html", "runs/other.html", "runs/bad.html"):
        assert (out / page).is_file(), page


@pytest.mark.parametrize(
    ("broken_cell", "broken_aggregate", "failed", "written"),
    [
        (True, False, ["run other"], ["summary.html", "runs/good.html", "runs/bad.html"]),
        (False, True, ["summary"], ["runs/good.html", "runs/other.html", "runs/bad.html"]),
    ],
)
def test_a_page_that_fails_to_build_gives_status_1_and_the_others_are_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    broken_cell: bool,
    broken_aggregate: bool,
    failed: list[str],
    written: list[str],
) -> None:
    out = tmp_path / "reports"
    sweep_dir = _sweep(tmp_path, broken_cell=broken_cell, broken_aggregate=broken_aggregate)
    assert _report(sweep_dir, out) == 1
    err = capsys.readouterr().err
    assert [line.split(":")[0] for line in err.splitlines()] == [
        f"FAILED to build page {title}" for title in failed
    ]
    for page in written:
        assert (out / page).is_file(), page
    pages = {p["title"]: p for p in json.loads((out / "pages.json").read_text())}
    assert [t for t, p in pages.items() if not p["built"]] == failed
    assert pages[failed[0]]["status"] == "failed" and "rendering" in pages[failed[0]]["detail"]
    index = (out / "index.html").read_text()
    assert index.count('class="failed"') == 2  # the unbuilt page and the cell failed in the sweep
    assert "Seed plan scorecard" in index  # the runs were still scored
