"""Executing sweeps: papermill runs, failures, retries, aggregation and the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from evalcache.cli import main
from evalcache.errors import ConfigError
from evalcache.sweep import (
    Cell,
    CellOutcome,
    collect,
    execute_cell,
    kernel_options,
    parse_sweep,
    run_sweep,
)
from evalcache.sweep import execute as sweep_execute

from .fake_runs import NOTEBOOK, build_fixture_notebook


def _two_cells() -> dict[str, Any]:
    return {
        "name": "fixture",
        "notebook": str(NOTEBOOK),
        "base": {"workload": "mixed"},
        "grid": {"seed": [3]},
        "cells": [{"seed": 4, "fail": True}],
        "jobs": 2,
    }


def test_fixture_notebook_is_up_to_date(tmp_path: Path) -> None:
    fresh = build_fixture_notebook(tmp_path / "nb.ipynb")
    assert nbformat.read(fresh, 4) == nbformat.read(NOTEBOOK, 4)


@pytest.mark.notebook
@pytest.mark.slow
def test_sweep_runs_cells_reports_the_failure_and_collects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep_file = tmp_path / "fixture.yaml"
    sweep_file.write_text(json.dumps(_two_cells()))  # JSON is YAML
    out = tmp_path / "out"
    code = main(["sweep", str(sweep_file), "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 1

    spec = parse_sweep(_two_cells())
    good, bad = spec.cells
    # The good cell: every code cell executed, no error output, the kernel is our interpreter.
    nb = nbformat.read(out / good.name / NOTEBOOK.name, 4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells)
    assert not [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert f"kernel python: {Path(sys.executable).parent}" in "".join(
        o.get("text", "") for c in code_cells for o in c.outputs
    )
    assert (out / good.name / "results").is_dir()

    # The failing cell: reported with its parameters and the notebook cell that failed.
    record = json.loads((out / bad.name / "cell.json").read_text())
    assert record["status"] == "failed"
    assert record["params"] == {"workload": "mixed", "seed": 4, "fail": True}
    err = record["error"]
    assert (err["kind"], err["ename"]) == ("cell", "RuntimeError")
    assert "failed on purpose (seed=4)" in err["evalue"]
    failed_nb = nbformat.read(out / bad.name / NOTEBOOK.name, 4)
    # papermill's cell_index counts the executed notebook's cells (parameters, injected
    # parameters, kernel, fail) before it inserts its error banners.
    assert err["cell_index"] == 3
    failing = [c for c in failed_nb.cells if c.get("execution_count") == err["exec_count"]]
    assert "if fail:" in failing[0].source
    assert f"FAILED {bad.name} at notebook cell {err['cell_index']}" in printed
    assert '"fail": true' in printed and "1/2 cells ok" in printed

    runs = collect(out)
    assert len(runs) == 1
    assert runs.loc[0, "cell"] == good.name
    assert runs.loc[0, "cell_status"] == "ok"
    assert runs.loc[0, "param_seed"] == 3


def test_kernel_start_failures_are_retried_but_cell_errors_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    calls: list[str] = []

    def flaky(input_path: str, output_path: str, **kw: Any) -> None:
        calls.append(output_path)
        if len(calls) < 3:
            raise RuntimeError("Kernel didn't respond in 60 seconds")

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    ok = execute_cell(str(NOTEBOOK), Cell("c1", {"seed": 1}), str(tmp_path))
    assert (ok.status, ok.attempts) == ("ok", 3)

    def broken_cell(input_path: str, output_path: str, **kw: Any) -> None:
        calls.append(output_path)
        raise PapermillExecutionError(2, 1, "x", "ValueError", "bad", [])

    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook", broken_cell)
    bad = execute_cell(str(NOTEBOOK), Cell("c2", {"seed": 1}), str(tmp_path))
    assert (bad.status, bad.attempts, len(calls)) == ("failed", 1, 1)
    assert bad.error is not None and (bad.error.cell_index, bad.error.ename) == (2, "ValueError")

    def dead(input_path: str, output_path: str, **kw: Any) -> None:
        calls.append(output_path)
        raise RuntimeError("Kernel died before replying to kernel_info")

    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook", dead)
    gone = execute_cell(str(NOTEBOOK), Cell("c3", {"seed": 1}), str(tmp_path))
    assert (gone.status, gone.attempts, len(calls)) == ("failed", 3, 3)
    assert gone.error is not None and gone.error.kind == "kernel"


def test_live_cells_run_serially_after_virtual_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []

    def fake_execute(notebook: str, cell: Cell, out: str, progress: bool = False) -> Any:
        order.append(cell.params["mode"])
        return CellOutcome(cell.name, cell.params, "ok", "", "")

    # run_sweep looks execute_cell up in the module that defines both
    monkeypatch.setattr(sweep_execute, "execute_cell", fake_execute)
    spec = parse_sweep(
        {
            "name": "m",
            "notebook": str(NOTEBOOK),
            "grid": {"mode": ["live", "virtual"], "seed": [1, 2]},
        }
    )
    report = run_sweep(spec, tmp_path, jobs=1, progress=False)
    assert order == ["virtual", "virtual", "live", "live"]
    assert report.ok and [o.name for o in report.outcomes] == [c.name for c in spec.cells]
    with pytest.raises(ConfigError, match="matches no cell"):
        run_sweep(spec, tmp_path, only="nothing-like-this", progress=False)
    only = run_sweep(spec, tmp_path, jobs=1, only="*live-s2*", progress=False)
    assert len(only.outcomes) == 1


@pytest.mark.notebook
def test_kernels_talk_over_private_unix_sockets(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill
    from jupyter_client.manager import KernelManager

    interrupts: list[object] = []
    interrupt = KernelManager._async_interrupt_kernel

    async def counted(self: KernelManager) -> None:
        interrupts.append(self)
        await interrupt(self)

    monkeypatch.setattr(KernelManager, "_async_interrupt_kernel", counted)

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from ipykernel.kernelapp import IPKernelApp\n"
            "app = IPKernelApp.instance()\n"
            "print(app.transport, app.ip)"
        )
    ]
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(
        str(tmp_path / "in.ipynb"),
        str(tmp_path / "out.ipynb"),
        progress_bar=False,
        cwd=str(tmp_path),
        **kernel_options(),
    )
    transport, ip = nbformat.read(tmp_path / "out.ipynb", 4).cells[0].outputs[0]["text"].split()
    assert transport == "ipc"
    assert Path(ip).parent.name.startswith("evalcache-kernel-")
    assert not Path(ip).parent.exists()  # removed with the kernel
    err = capfd.readouterr().err
    assert "without encryption" not in err and "KeyboardInterrupt" not in err
    assert interrupts == []  # shutdown asked the kernel to stop, it did not signal it


def test_collect_leaves_out_cells_the_sweep_no_longer_has(tmp_path: Path) -> None:
    """Re-running an edited sweep into the same folder must not mix old cells into reports."""
    from evalcache.report.charts import attach_params
    from evalcache.results import load_families

    from .fake_runs import write_fake_run

    current = write_fake_run(tmp_path / "now" / "results", {"seed": 1})
    write_fake_run(tmp_path / "before" / "results", {"seed": 2})  # an older sweep's cell
    cell = {"name": "now", "params": {"seed": 1}, "status": "ok"}
    (tmp_path / "sweep.json").write_text(json.dumps({"name": "s", "cells": [cell]}))
    runs = collect(tmp_path)
    assert list(runs["cell"]) == ["now"] and list(runs["folder"]) == [str(current)]
    families = attach_params(load_families(tmp_path), runs)
    assert len(families) > 0 and set(families["folder"]) == {str(current)}
