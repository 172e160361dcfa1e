"""Regenerate glucose_forecasts.npz: forecast points of 30 virtual patients for federation tests.

Run from the repository root:

    .venv/bin/python tests/data/federation/make_glucose_forecasts.py

Each of the 30 UVA/Padova patients (10 adults, 10 adolescents, 10 children) lives one
closed-loop day of the ``snacks`` scenario with the basal-bolus controller (seed 0), with a
glucose twin alongside (healthtwin.coupling.hybrid_forecasting.collect_forecasts with its
defaults: forecasts every 15 min after a 120-min warmup, horizons 30 and 60 min).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from healthtwin.coupling.hybrid_forecasting import FEATURE_NAMES, collect_forecasts
from healthtwin.physiology import load_patients

NAMES = [f"{group}#{k:03d}" for group in ("adult", "adolescent", "child") for k in range(1, 11)]


def main() -> None:
    data = collect_forecasts(load_patients(NAMES), days=1, seeds=(0,))
    np.savez_compressed(
        Path(__file__).with_name("glucose_forecasts.npz"),
        patient=np.array(data.patient),
        features=data.features,
        feature_names=np.array(FEATURE_NAMES),
        mechanistic_mg_dl=data.mechanistic_mg_dl,
        cgm_mg_dl=data.cgm_mg_dl,
        horizons_min=np.array(data.horizons_min),
    )


if __name__ == "__main__":
    main()
