"""The membership attack's chance level: an advantage below it is no evidence of leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthtwin.synthetic.privacy_metrics import membership_inference


def test_chance_advantage_stays_below_the_null_bound_and_a_copy_exceeds_it() -> None:
    above = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        train, holdout, synthetic = (
            pd.DataFrame({"x": rng.normal(size=100), "y": rng.normal(size=100)}) for _ in "abc"
        )
        attack = membership_inference(synthetic, train, holdout, rng=rng)
        assert attack.null_advantage_95 == pytest.approx(np.sqrt(np.log(20.0) / 100.0))
        above += attack.advantage > attack.null_advantage_95
    # Nominal 5 % above by chance (the bound is conservative for ties): 40 draws, <= 6.
    assert above <= 6
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"x": rng.normal(size=100), "y": rng.normal(size=100)})
    holdout = pd.DataFrame({"x": rng.normal(size=100), "y": rng.normal(size=100)})
    leaked = membership_inference(train, train, holdout, rng=rng)
    assert leaked.advantage > leaked.null_advantage_95
