"""The healthcare-marketplace domain: schema, uncached queries, writes and the seeder.

- :mod:`~evalcache.domain.models`: SQLAlchemy 2 models (integer ids, ``updated_at`` and
  ``version`` on every mutable row).
- :mod:`~evalcache.domain.queries`: read functions (plain JSON results), incl. dashboards.
- :mod:`~evalcache.domain.dependencies`: which rows each query family reads and which write
  events make it stale (``QUERY_FAMILIES``).
- :mod:`~evalcache.domain.writes`: write functions returning :class:`~evalcache.events.WriteEvent`.
- :mod:`~evalcache.domain.seeding`: deterministic COPY seeder, checksums, id pools.
"""
