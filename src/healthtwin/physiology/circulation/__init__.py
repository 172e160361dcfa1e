"""Circulation: Windkessel afterloads and a closed-loop pulsatile cardiovascular system.

- :mod:`.windkessel`: 2-, 3- and 4-element Windkessel models (Westerhof, Lankhaar &
  Westerhof, Med Biol Eng Comput 47:131-141, 2009; the 4-element form with the inertance
  in parallel with the characteristic impedance) driven by a half-sine aortic inflow.
- :mod:`.smith2004`: the minimal closed-loop model of Smith, Chase, Nokes, Shaw & Wake
  (Med Eng Phys 26:131-139, 2004): six chambers, time-varying elastance
  ``e(t) = exp(-B (t - C)^2)``, septal and pericardial ventricular interaction (the implicit
  septum volume solved by Newton's method), valves that open on pressure and close on flow
  with inertances. A septic-shock scenario lowers systemic resistance by 42% (Revie et al.,
  Comput Math Methods Med 2013:505417).

The pulsatile model integrates in seconds with millisecond RK4 steps but speaks minutes at
its interface. Its outputs are beat-averaged (MAP, SBP, DBP, HR, cardiac output, stroke
volume); a multi-rate scheme integrates beats only until they repeat and holds them over
the rest of an outer step, so hours of patient time cost a few beats per input change.
"""

from __future__ import annotations

from healthtwin.physiology.circulation.smith2004 import (
    OUTPUT_NAMES,
    STATE_NAMES,
    SmithCVS,
    SmithState,
)
from healthtwin.physiology.circulation.smith2004_parameters import (
    SMITH_2004,
    SMITH_2004_UNITS,
    SmithParameters,
    septic_shock_parameters,
    smith_nominal_parameters,
)
from healthtwin.physiology.circulation.windkessel import (
    HalfSineEjection,
    Windkessel,
    WindkesselParameters,
    WindkesselTrace,
)

__all__ = [
    "OUTPUT_NAMES",
    "SMITH_2004",
    "SMITH_2004_UNITS",
    "STATE_NAMES",
    "HalfSineEjection",
    "SmithCVS",
    "SmithParameters",
    "SmithState",
    "Windkessel",
    "WindkesselParameters",
    "WindkesselTrace",
    "septic_shock_parameters",
    "smith_nominal_parameters",
]
