"""Who goes where: daily mobility between regions, given or built from populations.

A :class:`MobilityMatrix` says, for the residents of each region, what share of them spend
their daily mixing time in every other region (``fraction[i, j]``; the diagonal is the
share that stays home). It comes from observed trips (:meth:`MobilityMatrix.from_flows`,
:meth:`MobilityMatrix.read_csv`) or, when no data exist, from one of two classic models
built from populations and distances:

- the **gravity model** (Viboud et al. 2006, Science 312:447; Balcan et al. 2009, PNAS
  106:21484): trips ``T_ij = k N_i^a N_j^b / d_ij^g``;
- the **radiation model** (Simini, González, Maritan & Barabási 2012, Nature 484:96):
  ``T_ij = T_i m_i n_j / ((m_i + s_ij)(m_i + n_j + s_ij))``, where ``s_ij`` is the
  population living within distance ``d_ij`` of ``i``, leaving out ``i`` and ``j``, with
  the finite-system normalisation ``1 / (1 - m_i / M)`` of Masucci, Serras, Johansson &
  Batty (2013), PRE 88:022812.

Both are normalised so that a ``commuting_fraction`` of each region's residents travel.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.geography import Geography

__all__ = [
    "EARTH_RADIUS_KM",
    "MobilityMatrix",
    "gravity_flows",
    "gravity_mobility",
    "haversine_km",
    "radiation_mobility",
]

#: IUGG mean Earth radius, km.
EARTH_RADIUS_KM = 6371.0088
#: Rows of ``fraction`` must sum to one within this tolerance.
ROW_SUM_TOLERANCE = 1e-9
# Rows of the radiation kernel processed at once: bounds memory at about 12 R doubles
# per row (3,070 regions: ~40 MB per block) while staying vectorised.
_RADIATION_BLOCK_ROWS = 256


@dataclass(frozen=True)
class MobilityMatrix:
    """Share of each region's residents who spend their daily mixing time in each region.

    Parameters
    ----------
    regions
        Region names, length ``R`` (the order of a :class:`Geography`).
    fraction
        Shape ``(R, R)``: ``fraction[i, j]`` is the share of the residents of region ``i``
        who mix in region ``j`` each day; ``fraction[i, i]`` are those who stay. Entries
        are finite and >= 0 and every row sums to 1 (within 1e-9).

    Examples
    --------
    >>> m = MobilityMatrix(regions=("a", "b"), fraction=np.array([[0.9, 0.1], [0.0, 1.0]]))
    >>> m.outflow().tolist()
    [0.1, 0.0]
    >>> m.restricted(0.5).fraction.tolist()
    [[0.95, 0.05], [0.0, 1.0]]
    """

    regions: tuple[str, ...]
    fraction: FloatArray

    def __post_init__(self) -> None:
        regions = tuple(str(r) for r in self.regions)
        if not regions or len(set(regions)) != len(regions):
            raise InvalidInputError(
                f"mobility regions must be unique and non-empty; got {list(regions)[:20]}"
            )
        frac = np.array(self.fraction, dtype=float)
        n = len(regions)
        if frac.shape != (n, n):
            raise ShapeError(
                f"mobility fraction has shape {frac.shape}; expected (regions, regions) = "
                f"({n}, {n})"
            )
        bad = ~np.isfinite(frac) | (frac < 0)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise InvalidInputError(
                f"mobility fraction from {regions[i]!r} to {regions[j]!r} is {frac[i, j]}; "
                "shares must be finite and >= 0"
            )
        row_error = np.abs(frac.sum(axis=1) - 1.0)
        if np.any(row_error > ROW_SUM_TOLERANCE):
            i = int(np.argmax(row_error))
            raise InvalidInputError(
                f"mobility shares of the residents of {regions[i]!r} sum to "
                f"{float(frac[i].sum()):.12g}; each row must sum to 1 (the diagonal holds "
                "those who stay home)"
            )
        frac.setflags(write=False)
        object.__setattr__(self, "regions", regions)
        object.__setattr__(self, "fraction", frac)

    @property
    def n_regions(self) -> int:
        """Number of regions ``R``."""
        return len(self.regions)

    def outflow(self) -> FloatArray:
        """Share of each region's residents who leave it each day, shape ``(R,)``."""
        off = ~np.eye(self.n_regions, dtype=bool)
        return np.asarray(np.where(off, self.fraction, 0.0).sum(axis=1), dtype=float)

    @classmethod
    def identity(cls, regions: Sequence[str]) -> MobilityMatrix:
        """Nobody travels: everyone mixes in their own region.

        Examples
        --------
        >>> MobilityMatrix.identity(["a", "b"]).fraction.tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        """
        return cls(regions=tuple(regions), fraction=np.eye(len(regions)))

    @classmethod
    def from_flows(cls, geography: Geography, flows: ArrayLike) -> MobilityMatrix:
        """Shares from daily trips between regions.

        Parameters
        ----------
        geography
            The regions and their residents (``R`` regions).
        flows
            Shape ``(R, R)``: residents of ``i`` who travel to ``j`` each day, finite and
            >= 0. The diagonal is ignored: those who stay are the remainder.

        Returns
        -------
        MobilityMatrix
            ``fraction[i, j] = flows[i, j] / N_i`` off the diagonal, ``N_i`` being the
            residents of ``i``.

        Raises
        ------
        ShapeError
            ``flows`` is not ``(R, R)``.
        InvalidInputError
            Negative or non-finite flows, or more trips out of a region than it has
            residents.

        Examples
        --------
        >>> g = Geography(regions=("a", "b"), age_groups=("all",),
        ...               population=np.array([[1000.0], [500.0]]))
        >>> MobilityMatrix.from_flows(g, [[0, 100], [50, 0]]).fraction.tolist()
        [[0.9, 0.1], [0.1, 0.9]]
        """
        arr = np.array(flows, dtype=float)
        n = geography.n_regions
        if arr.shape != (n, n):
            raise ShapeError(
                f"flows have shape {arr.shape}; expected (regions, regions) = ({n}, {n})"
            )
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise InvalidInputError(
                f"flow from {geography.regions[i]!r} to {geography.regions[j]!r} is "
                f"{arr[i, j]}; daily trips must be finite and >= 0"
            )
        np.fill_diagonal(arr, 0.0)
        residents = geography.population.sum(axis=1)
        leaving = arr.sum(axis=1)
        over = leaving > residents * (1.0 + ROW_SUM_TOLERANCE)
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise InvalidInputError(
                f"{leaving[i]:g} daily trips leave {geography.regions[i]!r}, which has only "
                f"{residents[i]:g} residents; outflows cannot exceed the population"
            )
        safe = np.where(residents > 0, residents, 1.0)
        frac = np.minimum(arr / safe[:, None], 1.0)
        np.fill_diagonal(frac, np.maximum(1.0 - frac.sum(axis=1), 0.0))
        return cls(regions=geography.regions, fraction=frac)

    @classmethod
    def read_csv(cls, path: Path | str, geography: Geography) -> MobilityMatrix:
        """Read daily trips from a CSV with columns ``origin,destination,flow``.

        Pairs not listed have no trips; rows with ``origin == destination`` are ignored
        (those who stay are the remainder).

        Raises
        ------
        InvalidInputError
            Missing columns, unknown region names (all of them named, with the known
            ones), non-numeric or negative flows, or a pair listed twice.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "flows.csv"
        >>> _ = f.write_text("origin,destination,flow\\na,b,100\\n")
        >>> g = Geography(regions=("a", "b"), age_groups=("all",),
        ...               population=np.array([[1000.0], [500.0]]))
        >>> MobilityMatrix.read_csv(f, g).fraction.tolist()
        [[0.9, 0.1], [0.0, 1.0]]
        """
        with Path(path).open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"origin", "destination", "flow"} - set(reader.fieldnames or ())
            if missing:
                raise InvalidInputError(
                    f"{path}: missing column(s) {sorted(missing)}; the header must be "
                    f"origin,destination,flow (got {reader.fieldnames})"
                )
            rows = list(reader)
        known = set(geography.regions)
        unknown = sorted(
            {r[c] for r in rows for c in ("origin", "destination")} - known,
        )
        if unknown:
            shown = list(geography.regions[:20]) + (["..."] if geography.n_regions > 20 else [])
            raise InvalidInputError(
                f"{path}: unknown region(s) {unknown[:20]}; known regions: {shown}"
            )
        flows = np.zeros((geography.n_regions, geography.n_regions))
        seen: set[tuple[str, str]] = set()
        for line, row in enumerate(rows, start=2):
            pair = (row["origin"], row["destination"])
            if pair in seen:
                raise InvalidInputError(
                    f"{path}, line {line}: the pair {pair[0]!r} -> {pair[1]!r} is listed "
                    "twice; give each origin-destination pair once"
                )
            seen.add(pair)
            flows[geography.index(pair[0]), geography.index(pair[1])] = _flow(path, line, row)
        return cls.from_flows(geography, flows)

    def restricted(self, factor: float | ArrayLike) -> MobilityMatrix:
        """Travel scaled by ``factor`` (scalar or one per origin region); the rest stay.

        Off-diagonal shares of origin ``i`` are multiplied by ``factor[i]`` and the
        diagonal takes up the remainder (0 = travel stopped, 1 = unchanged).

        Raises
        ------
        InvalidParameterError
            A negative or non-finite factor, one of the wrong length, or one so large that
            more than all residents would leave.
        """
        f = np.asarray(factor, dtype=float)
        if f.ndim == 0:
            f = np.full(self.n_regions, float(f))
        if f.shape != (self.n_regions,) or not np.all(np.isfinite(f)) or np.any(f < 0):
            raise InvalidParameterError(
                f"restriction factor must be a finite number >= 0 or {self.n_regions} of "
                f"them (one per origin region); got {np.asarray(factor).tolist()!r}"
            )
        frac = self.fraction * f[:, None]
        np.fill_diagonal(frac, 0.0)
        leaving = frac.sum(axis=1)
        if np.any(leaving > 1.0 + ROW_SUM_TOLERANCE):
            i = int(np.argmax(leaving))
            raise InvalidParameterError(
                f"factor {f[i]} would send {leaving[i]:.3g} of the residents of "
                f"{self.regions[i]!r} out of it; at most 1/{self.outflow()[i]:.3g} is possible"
            )
        np.fill_diagonal(frac, np.maximum(1.0 - leaving, 0.0))
        return MobilityMatrix(regions=self.regions, fraction=frac)


def _flow(path: Path | str, line: int, row: dict[str, str]) -> float:
    text = row["flow"]
    try:
        value = float(text)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{path}, line {line}: flow {text!r} is not a number; write daily trips"
        ) from err
    if not np.isfinite(value) or value < 0:
        raise InvalidInputError(
            f"{path}, line {line}: flow {text!r} from {row['origin']!r} to "
            f"{row['destination']!r}; daily trips must be finite and >= 0"
        )
    return value


def haversine_km(latitude: ArrayLike, longitude: ArrayLike) -> FloatArray:
    """Great-circle distances between points on a spherical Earth.

    Parameters
    ----------
    latitude, longitude
        Degrees, shape ``(R,)``.

    Returns
    -------
    ndarray, shape (R, R)
        Distances in km (radius :data:`EARTH_RADIUS_KM`), symmetric, zero diagonal.

    Examples
    --------
    >>> d = haversine_km([0.0, 0.0], [0.0, 1.0])
    >>> round(float(d[0, 1]), 3)  # one degree of the equator
    111.195
    """
    lat = np.radians(np.asarray(latitude, dtype=float))
    lon = np.radians(np.asarray(longitude, dtype=float))
    if lat.ndim != 1 or lat.shape != lon.shape:
        raise ShapeError(
            f"latitude and longitude must be 1-D of equal length; got {lat.shape} and {lon.shape}"
        )
    if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon))):
        raise InvalidInputError("latitude and longitude must be finite numbers of degrees")
    half = (
        np.sin((lat[:, None] - lat[None, :]) / 2.0) ** 2
        + np.cos(lat[:, None])
        * np.cos(lat[None, :])
        * np.sin((lon[:, None] - lon[None, :]) / 2.0) ** 2
    )
    dist = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(half, 0.0, 1.0)))
    np.fill_diagonal(dist, 0.0)
    return np.asarray(dist, dtype=float)


def _distances(geography: Geography, distances_km: ArrayLike | None) -> FloatArray:
    n = geography.n_regions
    if distances_km is None:
        if geography.latitude is None or geography.longitude is None:
            raise InvalidInputError(
                "this mobility model needs distances: give the geography latitude and "
                "longitude, or pass distances_km (regions x regions)"
            )
        return haversine_km(geography.latitude, geography.longitude)
    dist = np.array(distances_km, dtype=float)
    if dist.shape != (n, n):
        raise ShapeError(f"distances_km has shape {dist.shape}; expected ({n}, {n})")
    if not np.all(np.isfinite(dist)) or np.any(dist < 0):
        raise InvalidInputError("distances_km must be finite and >= 0")
    return dist


def _commuting(geography: Geography, commuting_fraction: float | ArrayLike) -> FloatArray:
    c = np.asarray(commuting_fraction, dtype=float)
    if c.ndim == 0:
        c = np.full(geography.n_regions, float(c))
    if c.shape != (geography.n_regions,) or not np.all((c >= 0) & (c <= 1)):
        raise InvalidParameterError(
            f"commuting_fraction must be a share in [0, 1] or {geography.n_regions} of them "
            f"(one per region); got {np.asarray(commuting_fraction).tolist()!r}"
        )
    return c


def _exponent(name: str, value: float) -> float:
    if not np.isfinite(value) or value < 0:
        raise InvalidParameterError(f"{name} must be a finite number >= 0; got {value}")
    return float(value)


def _from_kernel(geography: Geography, kernel: FloatArray, c: FloatArray) -> MobilityMatrix:
    """Rows of ``kernel`` (zero diagonal) scaled to ``c`` leaving; empty rows stay home."""
    totals = kernel.sum(axis=1)
    scale = np.divide(c, totals, out=np.zeros_like(c), where=totals > 0)
    frac = kernel * scale[:, None]
    # Rounding can leave the stay-home share at -1e-16 when everybody travels (c = 1).
    np.fill_diagonal(frac, np.maximum(1.0 - frac.sum(axis=1), 0.0))
    return MobilityMatrix(regions=geography.regions, fraction=frac)


def gravity_flows(
    population: ArrayLike,
    distances_km: ArrayLike,
    *,
    distance_exponent: float = 2.0,
    source_exponent: float = 1.0,
    destination_exponent: float = 1.0,
) -> FloatArray:
    """The unnormalised gravity kernel ``N_i^a N_j^b / d_ij^g`` (``k = 1``), zero diagonal.

    Parameters
    ----------
    population
        Residents per region ``N``, shape ``(R,)``.
    distances_km
        Shape ``(R, R)``; distinct regions must be at positive distances.
    distance_exponent, source_exponent, destination_exponent
        ``g``, ``a`` and ``b``.

    Returns
    -------
    ndarray, shape (R, R)

    Examples
    --------
    >>> gravity_flows([100.0, 400.0], [[0.0, 2.0], [2.0, 0.0]]).tolist()
    [[0.0, 10000.0], [10000.0, 0.0]]
    """
    pop = np.asarray(population, dtype=float)
    dist = np.asarray(distances_km, dtype=float)
    g = _exponent("distance_exponent", distance_exponent)
    a = _exponent("source_exponent", source_exponent)
    b = _exponent("destination_exponent", destination_exponent)
    off = ~np.eye(pop.size, dtype=bool)
    if np.any(off & (dist <= 0)):
        i, j = np.argwhere(off & (dist <= 0))[0]
        raise InvalidInputError(
            f"regions {i} and {j} are {dist[i, j]} km apart; the gravity model needs "
            "positive distances between distinct regions (merge them or pass distances_km "
            "with a floor)"
        )
    with np.errstate(divide="ignore"):
        kernel = np.power(pop, a)[:, None] * np.power(pop, b)[None, :]
        kernel = np.where(off, kernel / np.where(off, dist, 1.0) ** g, 0.0)
    return np.asarray(kernel, dtype=float)


def gravity_mobility(
    geography: Geography,
    *,
    commuting_fraction: float | ArrayLike = 0.1,
    distance_exponent: float = 2.0,
    source_exponent: float = 1.0,
    destination_exponent: float = 1.0,
    distances_km: ArrayLike | None = None,
) -> MobilityMatrix:
    """Mobility from the gravity model (Viboud et al. 2006; Balcan et al. 2009).

    Trips ``T_ij ∝ N_i^a N_j^b / d_ij^g`` (see :func:`gravity_flows`), normalised per
    origin so that a share ``c_i`` of the residents of ``i`` travel:
    ``fraction[i, j] = c_i T_ij / sum_k T_ik``. With this per-origin normalisation the
    source exponent ``a`` cancels; it is kept for callers who use :func:`gravity_flows`
    as absolute trips.

    Parameters
    ----------
    geography
        Regions, residents and (unless ``distances_km`` is given) coordinates.
    commuting_fraction
        Share of residents who travel, scalar or shape ``(R,)``, in ``[0, 1]``.
    distance_exponent, source_exponent, destination_exponent
        ``g``, ``a``, ``b``; Balcan et al. fit ``a = 0.46``-``0.64``, ``b`` likewise, and
        ``g`` between 1 and 3 depending on the country.
    distances_km
        Optional ``(R, R)`` distances; by default great-circle distances between the
        geography's coordinates.

    Examples
    --------
    >>> g = Geography(regions=("a", "b", "c"), age_groups=("all",),
    ...               population=np.array([[100.0], [200.0], [200.0]]),
    ...               latitude=np.zeros(3), longitude=np.array([0.0, 1.0, 2.0]))
    >>> m = gravity_mobility(g, commuting_fraction=0.1)
    >>> np.round(m.fraction[0], 3).tolist()  # b is twice as close as c: 4x the trips
    [0.9, 0.08, 0.02]
    """
    kernel = gravity_flows(
        geography.population.sum(axis=1),
        _distances(geography, distances_km),
        distance_exponent=distance_exponent,
        source_exponent=source_exponent,
        destination_exponent=destination_exponent,
    )
    return _from_kernel(geography, kernel, _commuting(geography, commuting_fraction))


def radiation_mobility(
    geography: Geography,
    *,
    commuting_fraction: float | ArrayLike = 0.1,
    distances_km: ArrayLike | None = None,
) -> MobilityMatrix:
    """Mobility from the parameter-free radiation model (Simini et al. 2012).

    For origin ``i`` with ``m_i`` residents, destination ``j`` with ``n_j`` and ``s_ij``
    the residents of every region ``k`` with ``d_ik <= d_ij`` other than ``i`` and ``j``::

        fraction[i, j] = c_i / (1 - m_i / M) * m_i n_j / ((m_i + s_ij)(m_i + n_j + s_ij))

    with ``M`` the total population (Masucci et al. 2013). The probabilities telescope to
    ``1 - m_i / M`` over ``j``, so exactly ``c_i`` of the residents leave when no two
    destinations are at the same distance from ``i``; ties (counted inside each other's
    circle) make the outflow slightly smaller and the diagonal takes up the difference.

    The kernel is computed in blocks of rows by sorting each row's distances once
    (``O(R^2 log R)`` time, no loop over pairs).

    Parameters
    ----------
    geography
        Regions, residents and (unless ``distances_km`` is given) coordinates.
    commuting_fraction
        Share of residents who travel (``T_i = c_i m_i``), scalar or ``(R,)``, in ``[0, 1]``.
    distances_km
        Optional ``(R, R)`` distances; by default great-circle distances.

    Examples
    --------
    >>> g = Geography(regions=("a", "b", "c"), age_groups=("all",),
    ...               population=np.array([[100.0], [200.0], [200.0]]),
    ...               latitude=np.zeros(3), longitude=np.array([0.0, 1.0, 2.0]))
    >>> m = radiation_mobility(g, commuting_fraction=0.1)
    >>> np.round(m.fraction[0], 4).tolist()  # 0.1 / (1 - 100/500) * [2/3, 2/15]
    [0.9, 0.0833, 0.0167]
    """
    dist = _distances(geography, distances_km).copy()
    # The origin is always inside its own circle, whatever a given matrix says.
    np.fill_diagonal(dist, 0.0)
    c = _commuting(geography, commuting_fraction)
    pop = geography.population.sum(axis=1)
    frac = np.zeros_like(dist)
    for start in range(0, pop.size, _RADIATION_BLOCK_ROWS):
        rows = np.arange(start, min(start + _RADIATION_BLOCK_ROWS, pop.size))
        frac[rows] = _radiation_rows(pop, dist[rows], rows) * c[rows, None]
    np.fill_diagonal(frac, np.maximum(1.0 - frac.sum(axis=1), 0.0))
    return MobilityMatrix(regions=geography.regions, fraction=frac)


def _radiation_rows(pop: FloatArray, dist: FloatArray, rows: IntArray) -> FloatArray:
    """Normalised radiation probabilities ``p_ij / (1 - m_i/M)`` for a block of origins."""
    n_rows, n = dist.shape
    order = np.argsort(dist, axis=1, kind="stable")
    sorted_dist = np.take_along_axis(dist, order, axis=1)
    cum = np.cumsum(pop[order], axis=1)
    # Everyone at a distance <= d_ij is inside the circle, ties included: each position
    # reads the cumulative population at the end of its run of equal distances.
    last_of_tie = np.ones((n_rows, n), dtype=bool)
    last_of_tie[:, :-1] = sorted_dist[:, 1:] != sorted_dist[:, :-1]
    end = np.where(last_of_tie, np.arange(n)[None, :], n)
    end = np.minimum.accumulate(end[:, ::-1], axis=1)[:, ::-1]
    within = np.empty_like(cum)
    np.put_along_axis(within, order, np.take_along_axis(cum, end, axis=1), axis=1)
    m = pop[rows][:, None]
    n_j = pop[None, :]
    s = np.maximum(within - m - n_j, 0.0)
    denominator = (m + s) * (m + n_j + s)
    prob = np.divide(m * n_j, denominator, out=np.zeros_like(s), where=denominator > 0)
    prob[np.arange(n_rows), rows] = 0.0
    remaining = 1.0 - m / pop.sum()
    normalised = np.divide(prob, remaining, out=np.zeros_like(prob), where=remaining > 0)
    return np.asarray(normalised, dtype=float)
