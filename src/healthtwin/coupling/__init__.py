"""The only code that knows two parts of the system at once, joined by small adapters.

- :mod:`~healthtwin.coupling.closed_loop`: glucose controllers (``control``) driving
  virtual patients (``physiology``) through a CGM and an insulin pump, as a device would.
"""

from __future__ import annotations
