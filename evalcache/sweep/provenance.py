"""Where a sweep's figures come from: the code, the sweep file and the machine that ran it.

Recorded in ``sweep.json`` when the sweep runs (:func:`sweep_provenance`), so a report built
later, elsewhere, describes the sweep that produced its figures and not the machine rendering
them. The data and the servers are recorded per run, in each summary (``data_as_of``,
``postgres_version``, ``redis_version``).
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import evalcache

#: The checkout whose code runs the sweep: the folder holding the ``evalcache`` package.
PROJECT_ROOT = Path(evalcache.__file__).resolve().parents[1]


def git_state(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """``commit`` (full hash) and ``dirty`` (uncommitted changes to tracked or new files) of
    the git checkout at ``root``; both ``None`` outside a checkout or without git."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX
        return None


def machine() -> dict[str, Any]:
    """CPU model, logical cores, RAM in bytes, OS and Python of this machine."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_bytes": _ram_bytes(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def file_digest(path: Path) -> str | None:
    """SHA-256 (16 hex digits) of a file's bytes; ``None`` when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def sweep_provenance(source: str, started_at: datetime, only: str | None = None) -> dict[str, Any]:
    """The ``provenance`` record of one ``evalcache sweep`` invocation.

    ``source``: the sweep file (``""`` for a sweep given as a mapping); ``only``: the
    ``--only`` pattern, when only some cells ran.
    """
    git = git_state()
    return {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sweep_file": source,
        "sweep_file_sha256": file_digest(Path(source)) if source else None,
        "only": only,
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "evalcache_version": evalcache.__version__,
        "machine": machine(),
    }
