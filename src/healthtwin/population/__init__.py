"""The population scale: epidemics, population health and national planning.

Regions and nations are modelled as populations, not as individual patients. The first
tool here estimates the time-varying reproduction number Rt from daily incidence with the
method of Cori, Ferguson, Fraser & Cauchemez (2013), "A new framework and software to
estimate time-varying reproduction numbers during epidemics", Am J Epidemiol
178:1505-1512: with serial interval weights ``w_s`` the infectivity is
``Lambda_t = sum_s w_s I_{t-s}``, and over a window ``W`` ending at ``t`` a gamma prior
``Gamma(a, b)`` on R gives the gamma posterior ``Gamma(a + sum_W I, 1 / (1/b + sum_W
Lambda))``. The outputs match R EpiEstim (``estimate_R``).
"""

from __future__ import annotations

from healthtwin.population.rt import (
    RT_COLUMNS,
    Incidence,
    RtEstimate,
    discretize_serial_interval,
    estimate_rt,
    overall_infectivity,
    read_incidence,
)

__all__ = [
    "RT_COLUMNS",
    "Incidence",
    "RtEstimate",
    "discretize_serial_interval",
    "estimate_rt",
    "overall_infectivity",
    "read_incidence",
]
