"""``evalcache trace export|import`` and ``evalcache workload fit`` (``docs/traces.md``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from evalcache.errors import ConfigError
from evalcache.workload.export import FORMATS, LIBCACHESIM_PARAMS, export_trace
from evalcache.workload.fit import CHECK_SCALES, fit_trace, format_report
from evalcache.workload.logimport import import_log
from evalcache.workload.trace import TRACE_FILE, read_trace, trace_path, write_trace


def _measured_sizes(source: Path) -> dict[str, float]:
    """A run folder's measured value size per family (``families.<f>.bytes_per_entry``)."""
    summary = source / "summary.json" if source.is_dir() else source.parent / "summary.json"
    if not summary.is_file():
        return {}
    figures = json.loads(summary.read_text(encoding="utf-8")).get("families") or {}
    return {
        f: float(v["bytes_per_entry"])
        for f, v in figures.items()
        if isinstance(v, dict) and isinstance(v.get("bytes_per_entry"), int | float)
        and v["bytes_per_entry"] > 0
    }  # fmt: skip


def export_cli(args: argparse.Namespace) -> int:
    source = Path(args.source)
    path = trace_path(str(source))
    if source.is_dir() and not path.is_file():
        raise ConfigError(
            "RUN_OR_TRACE",
            f"run folder {source} has no {TRACE_FILE}; run it with record_trace: true",
        )
    trace = read_trace(path)
    stats = export_trace(trace, args.format, args.out, value_bytes=_measured_sizes(source))
    ops = ", ".join(f"{k} {v}" for k, v in sorted(stats.ops.items()))
    print(f"wrote {args.out}: {stats.rows} rows ({ops}) from {len(trace)} requests")
    if args.format == "libcachesim":
        print(f'read it with: cachesim {args.out} csv lru 1gb -t "{LIBCACHESIM_PARAMS}"')
    return 0


def import_cli(args: argparse.Namespace) -> int:
    trace = import_log(args.log, duration=args.duration)
    out = write_trace(trace, args.out)
    counts = trace.op_counts()
    print(
        f"wrote {out}: {len(trace)} requests over {trace.meta.duration_s:g} s "
        f"({len(counts)} operations); run it with --workload trace:{out}"
    )
    return 0


def _scales(text: str) -> tuple[float, ...]:
    try:
        out = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not numbers separated by commas: {text!r}") from None
    if not out or any(not x > 0 for x in out):
        raise argparse.ArgumentTypeError(f"TTL scales must be > 0: {text!r}")
    return out


def fit_cli(args: argparse.Namespace) -> int:
    trace = read_trace(args.trace)
    fit = fit_trace(trace, name=args.name, check_scales=args.ttl_scales, seed=args.seed)
    report: dict[str, Any] = fit.report()
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(format_report(fit))
    print("\n# fitted WorkloadSpec fields")
    print(yaml.safe_dump(fit.spec_fields(), sort_keys=False), end="")
    return 0


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``evalcache trace`` and ``evalcache workload``."""
    tp = subparsers.add_parser("trace", help="request traces: export to simulators, import logs")
    tsub = tp.add_subparsers(dest="trace", metavar="ACTION")
    tsub.required = True
    e = tsub.add_parser(
        "export",
        help="a trace (or a run folder's) as libCacheSim or Twitter cache-trace CSV",
        description="Export a recorded or imported trace to a cache simulator's CSV layout "
        "(field mapping: docs/traces.md).",
    )
    e.add_argument("source", metavar="RUN_OR_TRACE", help="a run folder or a trace.parquet")
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument("-o", "--out", required=True, help="the CSV file to write")
    e.set_defaults(func=export_cli)
    i = tsub.add_parser(
        "import",
        help="an application's request log (CSV) as a trace file",
        description="Import a request log: columns time,op,family,ids[,detail] (docs/traces.md).",
    )
    i.add_argument("log", metavar="LOG.csv")
    i.add_argument("-o", "--out", required=True, help="the trace file to write (.parquet)")
    i.add_argument("--duration", help="the log's length (default: last request + one mean gap)")
    i.set_defaults(func=import_cli)
    wp = subparsers.add_parser("workload", help="workloads: fit a spec to a trace")
    wsub = wp.add_subparsers(dest="workload_action", metavar="ACTION")
    wsub.required = True
    f = wsub.add_parser(
        "fit",
        help="derive a workload spec from a trace and check it by a TTL cache's hit rate",
        description="Fit per-operation rates, Zipf exponents, write mix and burstiness to a "
        "trace; print the fit, how well a stream of the fitted spec reproduces the trace's "
        "TTL-cache hit rate, and the spec's fields (docs/traces.md).",
    )
    f.add_argument("trace", metavar="TRACE", help="a trace.parquet or a run folder")
    f.add_argument("--name", default="fitted", help="the fitted spec's name")
    f.add_argument(
        "--ttl-scales",
        type=_scales,
        default=CHECK_SCALES,
        help="TTL scales of the check, comma separated (default "
        + ",".join(f"{s:g}" for s in CHECK_SCALES)
        + ")",
    )
    f.add_argument("--seed", type=int, default=1, help="seed of the check's streams")
    f.add_argument("--json", action="store_true", help="print the whole report as JSON")
    f.set_defaults(func=fit_cli)
