"""Figures for the command line (matplotlib, Agg); the HTML helpers live in scenarios.

The generic report helpers (:func:`html_report`, :func:`html_table`, :func:`html_figure`,
:func:`figure_data_uri`...) moved down to :mod:`healthtwin.scenarios.html` so that report
builders below the faces can use them; they are re-exported here for existing importers.
"""

from __future__ import annotations

import math
from pathlib import Path

from healthtwin.core.trajectory import Trajectory
from healthtwin.errors import MissingDependencyError
from healthtwin.scenarios.html import (
    figure_data_uri,
    file_data_uri,
    html_figure,
    html_report,
    html_table,
    new_figure,
)

__all__ = [
    "figure_data_uri",
    "file_data_uri",
    "html_figure",
    "html_report",
    "html_table",
    "new_figure",
    "plot_trajectory",
]


def plot_trajectory(trajectory: Trajectory, path: Path, title: str) -> None:
    """One panel per output channel against time, saved as a PNG (Agg, no pyplot)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise MissingDependencyError(
            "plots need matplotlib: pip install 'healthtwin[plot]'"
        ) from err
    channels = trajectory.output_channels
    cols = 2 if len(channels) > 3 else 1
    rows = math.ceil(len(channels) / cols)
    fig = Figure(figsize=(10, 2.2 * rows + 0.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False).ravel()
    for k, channel in enumerate(channels):
        ax = axes[k]
        for i in range(trajectory.n_members):
            ax.plot(trajectory.t, trajectory.outputs[i, :, k], lw=1.0)
        ax.set_ylabel(f"{channel.name}\n({channel.unit})", fontsize=8)
    for ax in axes[len(channels) :]:
        ax.set_visible(False)
    for ax in axes[-cols:]:
        ax.set_xlabel(f"time ({trajectory.time_unit})")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
