"""Id pools a workload samples from, read back from a seeded database.

Every pool is ordered deterministically. Where popularity means something the order is
"most popular first" as the data shows it (number of appointments, then id), which follows the
seeder's Zipf skew, so ``pool[zipf_rank]`` reproduces the seeded popularity.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, text

_POOLS_SQL: dict[str, str] = {
    # patients, most appointments first
    "patients": """
        SELECT u.id FROM users u
        LEFT JOIN (SELECT user_id, count(*) AS n FROM appointments GROUP BY user_id) a
               ON a.user_id = u.id
        WHERE u.role = 'user' ORDER BY coalesce(a.n, 0) DESC, u.id""",
    "expert_users": "SELECT user_id FROM experts ORDER BY id",
    "admins": "SELECT id FROM users WHERE role = 'admin' ORDER BY id",
    "all_users": "SELECT id FROM users ORDER BY id",
    # experts, most appointments first
    "experts": """
        SELECT e.id FROM experts e
        LEFT JOIN (SELECT expert_id, count(*) AS n FROM appointments GROUP BY expert_id) a
               ON a.expert_id = e.id
        ORDER BY coalesce(a.n, 0) DESC, e.id""",
    "listed_experts": "SELECT id FROM experts WHERE is_active AND is_verified ORDER BY id",
    "appointments": "SELECT id FROM appointments ORDER BY id",
    "open_appointments": """
        SELECT id FROM appointments WHERE status IN ('scheduled', 'confirmed') ORDER BY id""",
    "pending_payments": "SELECT id FROM payments WHERE status = 'pending' ORDER BY id",
    # refunds follow payment closely: most recently paid first
    "succeeded_payments": """
        SELECT id FROM payments WHERE status = 'succeeded' ORDER BY paid_at DESC, id DESC""",
}
_SPECS_SQL = """
    SELECT s.name FROM specializations s
    LEFT JOIN expert_specializations es ON es.specialization_id = s.id
    GROUP BY s.id, s.name ORDER BY count(es.expert_id) DESC, s.name"""


def load_id_pools(conn: Connection) -> dict[str, np.ndarray | list[str]]:
    """Id pools for workload sampling.

    Returns
    -------
    dict with int64 arrays ``patients`` (role user, most appointments first),
    ``expert_users`` (users rows of experts, by expert id), ``admins``, ``all_users`` (by id),
    ``experts`` (expert ids, most appointments first), ``listed_experts`` (active and verified,
    by id), ``appointments`` (by id), ``open_appointments`` (scheduled/confirmed, by id),
    ``pending_payments`` (by id), ``succeeded_payments`` (most recently paid first); and
    ``specializations``: a list of names, most experts first (then name).
    """
    pools: dict[str, np.ndarray | list[str]] = {
        name: np.fromiter(conn.execute(text(q)).scalars(), dtype=np.int64)
        for name, q in _POOLS_SQL.items()
    }
    pools["specializations"] = [str(s) for s in conn.execute(text(_SPECS_SQL)).scalars()]
    return pools


def load_expert_specializations(conn: Connection) -> dict[int, tuple[str, ...]]:
    """Expert id -> its specialization names (sorted); static after seeding, so an
    invalidation strategy can load it once (see :mod:`evalcache.domain.invalidation`)."""
    rows = conn.execute(
        text(
            """SELECT es.expert_id, s.name FROM expert_specializations es
               JOIN specializations s ON s.id = es.specialization_id
               ORDER BY es.expert_id, s.name"""
        )
    )
    out: dict[int, list[str]] = {}
    for expert_id, name in rows:
        out.setdefault(int(expert_id), []).append(str(name))
    return {k: tuple(v) for k, v in out.items()}
