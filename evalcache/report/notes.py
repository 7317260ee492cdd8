"""What a run's figures rest on, in words: the lines an experiment page states beside them.

Two checks a reader cannot see in the numbers alone: whether the database's own statement
count confirms the runner's (pg_stat_statements), and whether the staleness oracle's ground
truth agreed with the loader's queries (``oracle_errors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["run_notes"]


def _statements(s: Mapping[str, Any]) -> str:
    ours, server = s.get("db_statements"), s.get("db_statements_server")
    if server is None:
        why = s.get("db_statements_server_note") or "not recorded in this summary"
        return (
            f"Database statements: {ours} counted by the runner only; the server's own count "
            f"is missing: {why}"
        )
    agree = "they agree" if server == ours else f"they differ by {server - ours:+d}"
    return (
        f"Database statements: {ours} counted by the runner, {server} by the server "
        f"(pg_stat_statements): {agree}."
    )


def _oracle(s: Mapping[str, Any]) -> str:
    checked, errors = s.get("oracle_loads_checked"), s.get("oracle_errors")
    if errors is None:
        return (
            "Ground truth: no load was compared with it (no staleness oracle: cache off, "
            "stale_sample 0, or a summary from before the check)."
        )
    if errors == 0:
        return (
            f"Ground truth: {checked} loads compared with the oracle's own SQL "
            "(evalcache.domain.truth); every one agreed."
        )
    return (
        f"ORACLE ERRORS: {errors} of {checked} loads differed from the oracle's ground truth "
        f"on the same data; first: {s.get('oracle_error_example')}. A loader query (or the "
        "truth) is wrong, so this run's staleness figures cannot be trusted."
    )


def run_notes(summary: Mapping[str, Any]) -> list[str]:
    """Sentences on the run's statement counts and ground-truth check, in that order."""
    return [_statements(summary), _oracle(summary)]
