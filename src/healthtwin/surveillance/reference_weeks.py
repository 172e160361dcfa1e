"""Reference (baseline) weeks of the Farrington methods, by index or by date.

For a monitored week ``t`` and ``y = 1..b`` years back, the *window* of year ``y`` is the
``2w + 1`` weeks centred on the week one ``y`` years before ``t``:

* indexed series (52 weeks a year): the centre is ``t - 52 y``;
* dated series: the centre is the week whose date is nearest to the same calendar day
  (same month and day of the month) ``y`` years earlier; 29 February maps to 1 March of a
  common year. The windows thus follow the calendar over 53-week ISO years: one year
  back is always 52 weeks, three years back 156 or 157 weeks depending on the leap days
  in between.

R ``surveillance`` 1.20.3 (``epochAsDate=TRUE``) was found to use exactly this rule by
probing it: on a dated series whose count in week ``i`` is ``i`` (and ``i^2``, to check
that the windows are contiguous), ``farringtonFlexible`` with ``w=1``, ``noPeriods=1``,
``reweight=FALSE``, ``trend=FALSE`` returns the mean of the reference counts, which names
the centre of each year's window for every week of 2005-2030 and ``b = 1..5``. R accepts
a monitored week whose oldest window starts one week before the series does, and drops
that week; so does this module.

With ``no_periods == 1`` the baseline is the ``b`` windows (Farrington et al. 1996), plus
the weeks of the current year's window before ``t - past_weeks_not_included`` when
``past_weeks_not_included < w`` (as R does; none by default). With
``no_periods > 1`` (Noufaily et al. 2013) it is every week from the oldest window's first
week up to ``t - past_weeks_not_included - 1``; the windows form period 0 and the weeks
between two windows are cut into ``no_periods - 1`` periods of (nearly) equal length,
period ``1 + floor(j (no_periods - 1) / gap)`` for the ``j``-th week of a gap of ``gap``
weeks. The most recent stretch, after the last window, takes the labels it would have in a
full gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from healthtwin.core.types import BoolArray, IntArray

__all__ = ["ReferenceLayout", "reference_layout"]

WEEKS_PER_YEAR = 52


@dataclass(frozen=True)
class ReferenceLayout:
    """Reference weeks of each monitored week, padded to a common length.

    Attributes
    ----------
    index : ndarray of int64, shape (n_monitored, n_max)
        0-based week indices (0 where padding).
    period : ndarray of int64, shape (n_monitored, n_max)
        Period label, 0 for the windows.
    valid : ndarray of bool, shape (n_monitored, n_max)
        False for padding.
    enough : ndarray of bool, shape (n_monitored,)
        False where some reference week would fall before the series starts.
    """

    index: IntArray
    period: IntArray
    valid: BoolArray
    enough: BoolArray


def _centres(t: IntArray, dates: NDArray[np.datetime64] | None, b: int) -> IntArray:
    """0-based centre of each year's window, shape (n_monitored, b), oldest year first."""
    years = np.arange(b, 0, -1)
    if dates is None:
        return (t[:, None] - 1) - WEEKS_PER_YEAR * years[None, :]
    day = dates[t - 1].astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    day_of_month = (day - month.astype("datetime64[D]")).astype(np.int64)
    target_month = month[:, None] - 12 * years[None, :]
    # 29 February of a common year rolls over to 1 March (as R's calendar arithmetic).
    target = target_month.astype("datetime64[D]") + day_of_month[:, None]
    days = (target - dates[0]).astype(np.int64)
    return np.asarray(np.floor(days / 7.0 + 0.5), dtype=np.int64)


def reference_layout(
    t: IntArray,
    *,
    dates: NDArray[np.datetime64] | None,
    b: int,
    w: int,
    no_periods: int,
    weeks_left_out: int,
) -> ReferenceLayout:
    """Reference weeks for each monitored week ``t`` (1-based).

    Examples
    --------
    >>> import numpy as np
    >>> lay = reference_layout(np.array([120]), dates=None, b=2, w=1, no_periods=1,
    ...                        weeks_left_out=1)
    >>> (lay.index[0][lay.valid[0]] + 1).tolist()
    [15, 16, 17, 67, 68, 69]
    >>> lay = reference_layout(np.array([300]), dates=None, b=1, w=1, no_periods=1,
    ...                        weeks_left_out=0)
    >>> (lay.index[0][lay.valid[0]] + 1).tolist()
    [247, 248, 249, 299]
    """
    centres = _centres(t, dates, b)
    if no_periods == 1:
        offsets = np.arange(-w, w + 1)
        past = (centres[:, :, None] + offsets).reshape(t.size, -1)
        # The current year's window counts too, up to t - weeks_left_out - 1 (none of it
        # with R's default weeks_left_out = w).
        recent = (t[:, None] - 1) + np.arange(-w, 0)[None, :]
        index = np.concatenate([past, recent], axis=1)
        valid = np.concatenate(
            [np.ones(past.shape, bool), recent <= (t[:, None] - 1) - weeks_left_out - 1],
            axis=1,
        )
        period = np.zeros_like(index)
    else:
        index, period, valid = _periods(t, centres, w, no_periods, weeks_left_out)
    # R accepts a series whose oldest window reaches one week before the start, and drops
    # that week (found by probing R, for dated and indexed series alike).
    enough = np.all((index >= -1) | ~valid, axis=1)
    valid = valid & (index >= 0)
    return ReferenceLayout(np.where(valid, index, 0), period, valid, enough)


def _periods(
    t: IntArray, centres: IntArray, w: int, no_periods: int, weeks_left_out: int
) -> tuple[IntArray, IntArray, BoolArray]:
    first = centres[:, 0] - w
    last = (t - 1) - weeks_left_out - 1
    n_max = int(np.max(last - first + 1))
    index = first[:, None] + np.arange(n_max)[None, :]
    valid = index <= last[:, None]
    # Week j belongs to the window of year y when |j - centre_y| <= w; otherwise it lies in
    # the gap after the closest earlier window.
    starts = centres - w  # (n_monitored, b)
    later = np.concatenate([centres[:, 1:] - w, (t[:, None] - 1) - w], axis=1)
    position = _row_search(starts, index)
    start_w = np.take_along_axis(starts, position, axis=1)
    into = index - start_w
    gap = np.take_along_axis(later, position, axis=1) - start_w - (2 * w + 1)
    in_window = into <= 2 * w
    j = into - (2 * w + 1)
    label = 1 + (j * (no_periods - 1)) // np.maximum(gap, 1)
    period = np.where(in_window, 0, np.minimum(label, no_periods - 1))
    return index, period.astype(np.int64), valid


def _row_search(starts: IntArray, index: IntArray) -> IntArray:
    """For each index, the position of the last window start at or before it."""
    found = (index[:, :, None] >= starts[:, None, :]).sum(axis=2) - 1
    return np.asarray(np.clip(found, 0, starts.shape[1] - 1), dtype=np.int64)
