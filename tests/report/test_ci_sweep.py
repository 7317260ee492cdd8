"""The real ``ci`` sweep end to end: papermill runs of the experiment notebook on real servers,
the aggregate notebooks, the HTML site, and the site in headless Chromium.

This is what ``make test`` runs of the notebooks (``sweeps/ci.yaml``); it uses a database of its
own (the runner seeds it as a template at the sweep's scale) and the test Redis.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import redis
from scratch_db import ScratchDatabases

from evalcache.cli import main
from evalcache.runner.baseline import memo_pattern
from evalcache.sweep import load_sweep, run_sweep

from .test_site import PNG, ROOT, _browse, _parse, _png_ok

pytestmark = [pytest.mark.notebook, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

#: Charts every experiment page shows: hit rate, latency CDF, DB load, staleness per family.
CHARTS_PER_RUN = 4


@pytest.fixture(scope="module")
def ci_site(
    scratch_databases: ScratchDatabases, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path]]:
    client = redis.Redis.from_url(redis_url)
    saved = {k: os.environ.get(k) for k in ("EVALCACHE_DATABASE_URL", "EVALCACHE_REDIS_URL")}
    tmp = tmp_path_factory.mktemp("ci")
    with scratch_databases.create("ci") as db_url:
        # the notebook kernels resolve their servers from the environment, like under `make report`
        os.environ["EVALCACHE_DATABASE_URL"] = db_url
        os.environ["EVALCACHE_REDIS_URL"] = redis_url
        try:
            spec = load_sweep(ROOT / "sweeps" / "ci.yaml", root=ROOT)
            report = run_sweep(spec, tmp / "sweep", progress=False)
            assert report.ok, report.table()
            out = tmp / "reports"
            assert main(["report", "--sweep", str(tmp / "sweep"), "--out", str(out)]) == 0
            yield tmp / "sweep", out
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            # the sweep's template is the scratch database (every ci cell has its scale)
            for key in client.scan_iter(match=memo_pattern(db_url)):
                client.unlink(key)
            client.close()


def test_every_cell_notebook_ran_without_errors(ci_site: tuple[Path, Path]) -> None:
    sweep_dir, _ = ci_site
    cells = json.loads((sweep_dir / "sweep.json").read_text())["cells"]
    assert len(cells) == len(load_sweep(ROOT / "sweeps" / "ci.yaml", root=ROOT).cells) >= 3
    for cell in cells:
        nb = nbformat.read(sweep_dir / cell["name"] / "experiment.ipynb", 4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert outputs and not [o for o in outputs if o.get("output_type") == "error"]
        summaries = list((sweep_dir / cell["name"]).rglob("summary.json"))
        assert len(summaries) == 1
        summary = json.loads(summaries[0].read_text())
        assert summary["requests"] > 0 and summary["errors"] == 0
        assert summary["db_reduction"] is not None and summary["hit_rate"] is not None


def test_aggregate_notebooks_ran_without_errors(ci_site: tuple[Path, Path]) -> None:
    # with the cells above, every committed notebook is executed here with papermill
    sweep_dir, out = ci_site
    spec = load_sweep(ROOT / "sweeps" / "ci.yaml", root=ROOT)
    ran = {spec.notebook.name, *(nb.name for nb in spec.reports)}
    assert ran == {nb.name for nb in (ROOT / "notebooks").glob("*.ipynb")}
    pages = {p["title"]: p for p in json.loads((out / "pages.json").read_text())}
    for nb_path in spec.reports:
        assert pages[nb_path.stem]["status"] == "ok", pages[nb_path.stem]["detail"]
        nb = nbformat.read(sweep_dir / "_reports" / nb_path.name, 4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert outputs and not [o for o in outputs if o.get("output_type") == "error"]


def test_index_links_resolve_and_run_pages_show_every_chart(ci_site: tuple[Path, Path]) -> None:
    _, out = ci_site
    links = _parse((out / "index.html").read_text()).hrefs
    assert links and all((out / href).is_file() for href in links)
    runs = sorted({h for h in links if h.startswith("runs/")})
    assert len(runs) == 4
    for href in runs:
        imgs = _parse((out / href).read_text()).imgs
        assert len(imgs) >= CHARTS_PER_RUN and all(_png_ok(s) for s in imgs), href


def test_ci_site_renders_in_headless_chromium(ci_site: tuple[Path, Path]) -> None:
    _, out = ci_site
    shots = ROOT / "test-output"
    shots.mkdir(exist_ok=True)
    shot = shots / "ci-index.png"
    shot.unlink(missing_ok=True)
    res = _browse((out / "index.html").as_uri(), f"--screenshot={shot}", "--window-size=1280,1600")
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == PNG and shot.stat().st_size > 5000
    dom = _browse((out / "index.html").as_uri(), "--dump-dom")
    assert "Key figures per run" in dom.stdout and "Seed plan scorecard" in dom.stdout
    for href in _parse(dom.stdout).hrefs:
        page = _browse((out / href).as_uri(), "--dump-dom")
        assert page.returncode == 0 and "</html>" in page.stdout, href
        imgs = _parse(page.stdout).imgs
        assert all(_png_ok(src) for src in imgs), href
        # every page, the scorecard's included, shows a chart, or says it had nothing to draw
        # (load: the ci sweep has no offered-load axis)
        assert imgs or (href == "load.html" and "Not drawn:" in page.stdout), href
