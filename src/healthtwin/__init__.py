"""healthtwin: digital twins in healthcare, from one patient to the whole world.

A twin is a model kept in sync with data (:mod:`healthtwin.core`); scale packages supply
the models (:mod:`healthtwin.physiology` for patients).
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
