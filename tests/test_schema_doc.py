"""The documented results schema names every key the code writes."""

from __future__ import annotations

import re
from pathlib import Path

from evalcache.results import FAMILY_KEYS, SCHEMA_VERSION, SUMMARY_KEYS

DOC = Path(__file__).resolve().parents[1] / "docs" / "results-schema.md"


def test_every_summary_and_family_key_is_documented() -> None:
    text = DOC.read_text()
    assert f"schema version {SCHEMA_VERSION}" in text
    documented = set(re.findall(r"`([a-z_0-9]+)`", text))
    assert set(SUMMARY_KEYS) <= documented, set(SUMMARY_KEYS) - documented
    assert set(FAMILY_KEYS) <= documented, set(FAMILY_KEYS) - documented
