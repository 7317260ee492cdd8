"""The healthcare-marketplace domain: schema, uncached queries, writes and the seeder.

- :mod:`~evalcache.domain.models`: SQLAlchemy 2 models (integer ids, ``updated_at`` and
  ``version`` on every mutable row).
- :mod:`~evalcache.domain.queries`: read functions (plain JSON results), incl. dashboards.
- :mod:`~evalcache.domain.families`: the query-family registry (key layout, TTL setting,
  pools, tables, dependency groups, query), which everything else iterates over.
- :mod:`~evalcache.domain.readspecs`: read specs and TTL settings built from the registry.
- :mod:`~evalcache.domain.invalidation`: which groups a write makes stale and which keys hold
  them (the dependency map strategies are given); :mod:`~evalcache.domain.changefeed`: row
  changes from PostgreSQL LISTEN/NOTIFY (``notify``).
- :mod:`~evalcache.domain.writes`: write functions returning
  :class:`~evalcache.strategies.api.WriteEvent`.
- :mod:`~evalcache.domain.seeding`: deterministic COPY seeder, checksums, id pools.
"""
