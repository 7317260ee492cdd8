"""Reports built from a sweep of the TEST fixture notebook: HTML, links, images, credentials.

The real ``ci`` sweep replaces the fixture notebook here once the experiment runner exists.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from sweep.fake_runs import NOTEBOOK

from evalcache.cli import main
from evalcache.sweep import parse_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-s3cret"
SECRET_URL = f"postgresql://analyst:{PASSWORD}@db.example:5432/evalcache"
PNG = b"\x89PNG\r\n\x1a\n"
# The aggregate notebooks import evalcache.results in their kernel: only once it exists.
HAVE_RESULTS = importlib.util.find_spec("evalcache.results") is not None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.imgs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append(str(a["href"]))
        if tag == "img":
            self.imgs.append(a.get("src") or "")


def _parse(html: str) -> _Links:
    p = _Links()
    p.feed(html)
    return p


def _png_ok(src: str) -> bool:
    prefix = "data:image/png;base64,"
    return src.startswith(prefix) and base64.b64decode(src[len(prefix) :])[:8] == PNG


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("site")
    reports = [str(ROOT / "notebooks" / f"{n}.ipynb") for n in ("summary", "ttl_sweep")]
    spec = parse_sweep(
        {
            "name": "fixture",
            "notebook": str(NOTEBOOK),
            # every cell has the URL: the two saved runs differ in seed and TTL scale only,
            # so the TTL page has a like-for-like curve to draw
            "base": {"secret_url": SECRET_URL},
            "grid": {"seed": [1]},
            "cells": [
                {"seed": 2, "ttl_scale": 4.0},
                {"seed": 3, "fail": True},
            ],
            "reports": reports if HAVE_RESULTS else [],
        }
    )
    sweep_dir = tmp / "sweep"
    report = run_sweep(spec, sweep_dir, jobs=2, progress=False)
    assert [o.status for o in report.outcomes] == ["ok", "ok", "failed"]
    out = tmp / "reports"
    assert main(["report", "--sweep", str(sweep_dir), "--out", str(out)]) == 0
    return sweep_dir, out


@pytest.mark.notebook
@pytest.mark.slow
def test_index_links_every_page_and_they_resolve(site: tuple[Path, Path]) -> None:
    sweep_dir, out = site
    index = (out / "index.html").read_text()
    links = _parse(index).hrefs
    cells = json.loads((sweep_dir / "sweep.json").read_text())["cells"]
    for c in cells:
        assert f"runs/{c['name']}.html" in links
    assert links and all((out / href).is_file() for href in links)
    assert 'class="failed"' in index and "failed on purpose" in index
    # Key figures: one row per saved run (the failed cell wrote none), rates in percent.
    assert index.count("<tr>") - 1 >= 2 and "hit rate" in index and "Seed plan scorecard" in index
    # it opens with the answer and the provenance, before the scorecard and the pages
    heads = [index.index(f"<h2>{h}</h2>") for h in ("Recommendation", "Provenance", "Reports")]
    assert heads == sorted(heads) and "Recommended</strong> for the mixed workload" in index


@pytest.mark.notebook
@pytest.mark.slow
def test_aggregate_pages_caption_and_link_the_data_they_chart(site: tuple[Path, Path]) -> None:
    sweep_dir, out = site
    for page in ("summary", "ttl_sweep"):
        text = (out / f"{page}.html").read_text()
        data = [h for h in _parse(text).hrefs if h.startswith(f"data/{page}/")]
        assert any(h.endswith(".csv") for h in data) and any(h.endswith(".parquet") for h in data)
        # copied beside the page from the executed notebook's folder, so the links resolve
        assert all((out / h).is_file() and (sweep_dir / "_reports" / h).is_file() for h in data)
        assert "Data behind this page" in text
    hit = pd.read_csv(out / "data" / "ttl_sweep" / "hit-rate.csv")
    assert list(hit["param_ttl_scale"]) == [1.0, 4.0] and hit["hit_rate"].notna().all()
    assert "against the factor on every seed-plan TTL" in (out / "ttl_sweep.html").read_text()


@pytest.mark.notebook
@pytest.mark.slow
def test_pages_embed_png_charts_and_never_show_credentials(site: tuple[Path, Path]) -> None:
    _, out = site
    pages = sorted(out.rglob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        text = page.read_text()
        assert PASSWORD not in text, page
        assert not re.search(r"<script[^>]+src=\"https?://", text), page  # opens offline
        assert 'src="http' not in text
    run_pages = sorted((out / "runs").glob("*.html"))
    imgs = [src for p in run_pages for src in _parse(p.read_text()).imgs]
    assert len(imgs) >= 2 and all(_png_ok(s) for s in imgs)
    assert any("postgresql://analyst:***@db.example" in p.read_text() for p in run_pages)


@pytest.mark.notebook
@pytest.mark.slow
def test_report_rebuilds_from_saved_results_without_executing(
    site: tuple[Path, Path], tmp_path: Path
) -> None:
    sweep_dir, _ = site
    out = tmp_path / "again"
    assert main(["report", "--sweep", str(sweep_dir), "--out", str(out), "--no-execute"]) == 0
    assert (out / "index.html").is_file() and len(list((out / "runs").glob("*.html"))) == 3


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium")
    return exe


def _browse(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *extra,
            url,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.notebook
@pytest.mark.slow
def test_index_and_pages_render_in_headless_chromium(site: tuple[Path, Path]) -> None:
    _, out = site
    shots = ROOT / "test-output"
    shots.mkdir(exist_ok=True)
    shot = shots / "report-index.png"
    shot.unlink(missing_ok=True)
    res = _browse((out / "index.html").as_uri(), f"--screenshot={shot}", "--window-size=1280,900")
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == PNG and shot.stat().st_size > 5000

    dom = _browse((out / "index.html").as_uri(), "--dump-dom")
    assert dom.returncode == 0 and "Key figures per run" in dom.stdout
    for href in _parse(dom.stdout).hrefs:
        page = _browse((out / href).as_uri(), "--dump-dom")
        assert page.returncode == 0, page.stderr[-2000:]
        assert "</html>" in page.stdout
        imgs = _parse(page.stdout).imgs
        assert all(_png_ok(src) for src in imgs), href
        if href.startswith("runs/") and "failed" not in href:
            assert imgs or "failed on purpose" in page.stdout, href
    run_shot = shots / "report-run.png"
    first_run = next(h for h in _parse(dom.stdout).hrefs if h.startswith("runs/"))
    assert _browse((out / first_run).as_uri(), f"--screenshot={run_shot}").returncode == 0
    assert run_shot.read_bytes()[:8] == PNG
