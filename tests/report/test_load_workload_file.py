"""Report helpers on runs of a workload file: the burst window and the title from its definition."""

from __future__ import annotations

import json
from pathlib import Path

from evalcache.report.load import burst_window
from evalcache.report.style import describe_param
from evalcache.workload import load_workload, workload_to_mapping

ROOT = Path(__file__).resolve().parents[2]


def test_burst_window_of_a_workload_file_run() -> None:
    definition = workload_to_mapping(load_workload(ROOT / "workloads" / "diurnal.yaml"))
    window = (19 * 3600.0, 19 * 3600.0 + 900.0)
    assert burst_window("diurnal", definition) == window
    assert burst_window("diurnal", json.dumps(definition)) == window  # as a results table has it
    assert burst_window("diurnal") is None  # no definition: not a built-in name either
    assert burst_window("flash_crowd") == (600.0, 900.0)


def test_titles_name_a_workload_file_not_its_fields() -> None:
    definition = workload_to_mapping(load_workload(ROOT / "workloads" / "launch.yaml"))
    text = describe_param("param_workload_def", json.dumps(definition))
    assert text.startswith("workload file launch (") and "ramps" not in text
    assert describe_param("param_clients", 16) == "16 closed-loop clients"
