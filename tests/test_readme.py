"""The README's promises: two set-up commands first, and its Python example runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_setup_commands() -> None:
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block is not None
    lines = [ln for ln in first_block.group(1).splitlines() if ln.strip()]
    assert len(lines) == 2
    assert "pip install" in lines[0]
    assert "healthtwin run examples/local-to-global.yaml --out results/" in lines[0]
    assert "pip install" in lines[1]
    assert "pytest" in lines[1]
    assert text.index("```bash") < 40


def test_readme_python_example_runs() -> None:
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    forecasts = namespace["forecasts"]
    assert isinstance(forecasts, Mapping)
    gain = namespace["gain"]
    assert gain.mean > 0  # type: ignore[attr-defined]  # the bolus raises time in range
    bolus, none = forecasts["bolus"], forecasts["no bolus"]
    peak_bolus = bolus.mean("glucose_mg_dl").max()
    peak_none = none.mean("glucose_mg_dl").max()
    assert peak_bolus < peak_none
    lo, hi = namespace["lo"], namespace["hi"]
    assert isinstance(lo, np.ndarray)
    assert isinstance(hi, np.ndarray)
    assert np.all(hi >= lo)
    assert np.any(hi - lo > 1.0)
