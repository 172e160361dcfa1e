"""The only code that knows two parts of the system at once, joined by small adapters.

- :mod:`~healthtwin.coupling.closed_loop`: glucose controllers (``control``) driving
  virtual patients (``physiology``) through a CGM and an insulin pump, as a device would.
- :mod:`~healthtwin.coupling.twin_forecasts` and
  :mod:`~healthtwin.coupling.hybrid_forecasting`: a glucose twin (``control``) watching
  those loops and forecasting, compared with hybrid and learned forecasters
  (``prognosis``) on held-out virtual patients.
"""

from __future__ import annotations
