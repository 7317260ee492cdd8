from __future__ import annotations

from .results_standin import install

install()
