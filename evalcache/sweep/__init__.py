"""Parameter sweeps: a YAML grid of notebook runs executed with papermill.

A sweep file looks like::

    name: default
    notebook: notebooks/experiment.ipynb   # the default
    base: {mode: virtual, duration_s: 600, scale: 0.1}
    grid: {strategy: [seed, tags], ttl_scale: [0.25, 1, 4]}   # cartesian product
    cells: [{workload: booking, strategy: tags}]               # appended as given
    jobs: 2                                                    # optional, default: cores

Each cell runs the notebook into ``<out>/<cell>/<notebook>.ipynb`` with ``results_dir`` set to
``<out>/<cell>/results``; its outcome goes to ``<out>/<cell>/cell.json`` and the whole sweep's to
``<out>/sweep.json``. Cells in ``live`` mode run one at a time (they measure latency); the others
run in parallel processes. :func:`collect` turns a sweep folder into one pandas table.

Modules: :mod:`~evalcache.sweep.spec` (the sweep file and its cells),
:mod:`~evalcache.sweep.kernels` (how kernels are started), :mod:`~evalcache.sweep.execute`
(running cells, outcomes, ``sweep.json``), :mod:`~evalcache.sweep.folder` (reading a sweep folder
back) and :mod:`~evalcache.sweep.cli` (``evalcache sweep``).

Example
-------
>>> spec = load_sweep(Path("sweeps/ci.yaml"))          # doctest: +SKIP
>>> report = run_sweep(spec, Path("runs/ci"))           # doctest: +SKIP
>>> collect(Path("runs/ci"))[["cell", "hit_rate"]]      # doctest: +SKIP
"""

from __future__ import annotations

from evalcache.sweep.cli import add_cli
from evalcache.sweep.execute import (
    KERNEL_RETRIES,
    CellError,
    CellOutcome,
    SweepReport,
    execute_cell,
    run_sweep,
)
from evalcache.sweep.folder import collect, read_sweep_record
from evalcache.sweep.kernels import KERNEL_NAME, kernel_options
from evalcache.sweep.spec import (
    DEFAULT_NOTEBOOK,
    DEFAULT_REPORTS,
    Cell,
    SweepSpec,
    cell_name,
    load_sweep,
    parse_sweep,
)

__all__ = [
    "DEFAULT_NOTEBOOK",
    "DEFAULT_REPORTS",
    "KERNEL_NAME",
    "KERNEL_RETRIES",
    "Cell",
    "CellError",
    "CellOutcome",
    "SweepReport",
    "SweepSpec",
    "add_cli",
    "cell_name",
    "collect",
    "execute_cell",
    "kernel_options",
    "load_sweep",
    "parse_sweep",
    "read_sweep_record",
    "run_sweep",
]
