"""docs/results-schema.md documents exactly the schema in code, part by part.

``tests/runner/test_summary_schema.py`` checks a real run against both.
"""

from __future__ import annotations

import re
from pathlib import Path

from evalcache.metrics import LATENCY_COLUMNS, TIMESERIES_COLUMNS
from evalcache.results_schema import PARTS, SCHEMA_VERSION, keys

DOC = Path(__file__).resolve().parents[1] / "docs" / "results-schema.md"
#: The Parquet files' columns, as the metrics write them (the baseline adds one).
PARQUET = {
    "timeseries.parquet": {*TIMESERIES_COLUMNS, "db_statements_baseline"},
    "latency.parquet": set(LATENCY_COLUMNS),
}


def documented(text: str) -> dict[str, set[str]]:
    """Part (the first `code` of a heading) -> the `keys` in the first cells of its table."""
    parts: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            name = re.search(r"`([^`]+)`", line)
            current = parts.setdefault(name.group(1), set()) if name else None
        elif current is not None and line.startswith("|") and not line.startswith("| ---"):
            first = line.split("|")[1]
            current.update(re.findall(r"`([a-z_0-9:]+)`", first))
    return parts


def documented_paths() -> set[tuple[str, str]]:
    """``(part, key)`` for every documented key (as ``results_schema.key_paths`` gives them)."""
    return {(part, k) for part, ks in documented(DOC.read_text()).items() for k in ks}


def test_doc_names_the_schema_version() -> None:
    assert f"schema version {SCHEMA_VERSION}" in DOC.read_text()


def test_every_part_of_the_schema_is_documented_exactly() -> None:
    doc = documented(DOC.read_text())
    for part, td in PARTS.items():
        assert part in doc, f"docs/results-schema.md has no table headed `{part}`"
        assert doc[part] == set(keys(td)), (
            part,
            "undocumented:",
            set(keys(td)) - doc[part],
            "documented but not in the schema:",
            doc[part] - set(keys(td)),
        )


def test_parquet_columns_are_documented_exactly() -> None:
    doc = documented(DOC.read_text())
    for file, columns in PARQUET.items():
        assert doc.get(file) == columns, (file, columns ^ doc.get(file, set()))


def test_a_missing_row_is_noticed() -> None:
    # The parser really reads the tables: drop one row and the part no longer matches.
    text = DOC.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `outcome_digest`"))
    doc = documented(text.replace(row + "\n", ""))
    assert set(keys(PARTS["summary.json"])) - doc["summary.json"] == {"outcome_digest"}
