"""The two sides of the dependency map agree: an entry's groups (the family registry, which the
per-write invalidation check indexes entries by) are exactly the groups whose write-side
targets (``group_targets``, what exact strategies delete) hold its key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evalcache.cache.keys import ANY
from evalcache.domain.families import FAMILIES
from evalcache.domain.invalidation import group_targets
from evalcache.domain.readspecs import TTLSettings, build_spec
from evalcache.strategies.api import ReadSpec, Target

NOW = datetime(2025, 1, 10, 12, tzinfo=UTC)
ADMIN = 1
#: One read per family (the batch and scan families: one id, as their entries are keyed).
ARGS: dict[str, tuple[object, ...]] = {
    "user_profile": (7,),
    "user_profiles_batch": (7,),
    "user_profiles_scan": (7,),
    "expert_basic": (3,),
    "expert_full": (3,),
    "experts_by_spec": ("cardiology",),
    "user_appointments": (7, "confirmed"),
    "expert_appointments": (3,),
    "dashboard_admin": (),
    "dashboard_expert": (3,),
    "dashboard_user": (7,),
}
#: Every group kind with an id of each id space the families use.
GROUPS = ("user:7", "expert:3", "slots:3", "spec:cardiology", "patient:7", "expert_appts:3",
          "admin", "user:8", "expert:4", "patient:8")  # fmt: skip


def _holds(target: Target, spec: ReadSpec) -> bool:
    if target.family != spec.key_family or len(target.parts) != len(spec.parts):
        return False
    return all(t is ANY or str(t) == str(p) for t, p in zip(target.parts, spec.parts, strict=True))


def test_every_family_is_listed() -> None:
    assert set(ARGS) == set(FAMILIES)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_an_entrys_groups_are_the_groups_whose_targets_hold_it(family: str) -> None:
    spec = build_spec(family, ARGS[family], TTLSettings(), NOW, ADMIN)
    holding = {g for g in GROUPS if any(_holds(t, spec) for t in group_targets(g, ADMIN))}
    assert holding == set(spec.groups), (family, spec.parts)
