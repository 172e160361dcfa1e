"""Decisions over any model: treatment control, dose individualization, recommendations.

Controllers see only what a real device or clinician would see (sensor readings, announced
meals, what they themselves delivered), never a model's true state. Model-based
controllers use a twin (an assimilated ensemble) as their prediction model through the
kernel's protocols, so this package imports only ``core`` and ``assimilation``.
"""

from __future__ import annotations
