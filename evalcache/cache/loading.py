"""Kept so that ``from evalcache.cache.loading import DatabaseCache`` goes on working.

``get_or_load`` now lives in :mod:`evalcache.cache.leases` and the class in
:mod:`evalcache.cache.core`; import it from :mod:`evalcache.cache`.
"""

from __future__ import annotations

from evalcache.cache.core import DatabaseCache

__all__ = ["DatabaseCache"]
