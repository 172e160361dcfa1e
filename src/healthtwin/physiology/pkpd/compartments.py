"""Linear mammillary compartment systems and their exact solution over held inputs.

The state holds drug amounts (depot, central, peripherals), the effect-site
concentration and, optionally, the cumulative amount eliminated. With every input held
over a segment of length ``h`` the system ``dx/dt = A x + b`` is linear and time
invariant, so

    x(t + h) = e^{A h} x(t) + (integral_0^h e^{A s} ds) b,

Mammillary systems with a depot and an effect site have real eigenvalues, so both
matrices usually come from a batched eigendecomposition ``A = V diag(l) V^{-1}``. Where
that is ill-conditioned (nearly equal rate constants) they come from one matrix
exponential of the augmented matrix ``[[A, I], [0, 0]] h`` (Van Loan, IEEE Trans Autom
Control 23:395, 1978), which needs no inverse of ``A`` and so also holds when ``A`` is
singular or defective (``scipy.linalg.expm``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

from healthtwin.core.solvers import RK4_STABILITY_RADIUS, SolverOptions, integrate_held
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = [
    "EIGEN_MAX_CONDITION",
    "RATE_NAMES",
    "CompartmentLayout",
    "apply_propagators",
    "augmented_propagators",
    "propagate_ode",
    "propagators",
    "system_matrix",
]

#: Largest eigenvector condition number for which :func:`propagators` diagonalizes ``A``
#: (its round-off grows like condition x 1e-16); beyond it the matrix exponential is used.
EIGEN_MAX_CONDITION = 1e4

#: Columns of the rate table given to :func:`system_matrix`, in order.
RATE_NAMES: tuple[str, ...] = ("v1_l", "k10", "k12", "k21", "k13", "k31", "ka", "ke0")


@dataclass(frozen=True)
class CompartmentLayout:
    """Which compartments a linear PK system has, and their order in the state.

    Parameters
    ----------
    n_compartments
        1, 2 or 3 disposition compartments (central plus 0-2 peripherals).
    absorption
        Whether a depot feeds the central compartment at first-order rate ``ka``.
    effect_site
        Whether the state carries the effect-site concentration (``ke0``).
    track_elimination
        Whether the state carries the cumulative amount eliminated (for mass balance).

    Examples
    --------
    >>> CompartmentLayout(2, absorption=True).names
    ('depot', 'central', 'peripheral1', 'effect_site')
    """

    n_compartments: int = 3
    absorption: bool = False
    effect_site: bool = True
    track_elimination: bool = False

    def __post_init__(self) -> None:
        if self.n_compartments not in (1, 2, 3):
            raise InvalidParameterError(
                f"n_compartments must be 1, 2 or 3, got {self.n_compartments!r}"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """State variables in column order."""
        out = ["depot"] if self.absorption else []
        out += ["central", "peripheral1", "peripheral2"][: self.n_compartments]
        out += ["effect_site"] if self.effect_site else []
        out += ["eliminated"] if self.track_elimination else []
        return tuple(out)

    @property
    def size(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Column of state variable ``name``."""
        return self.names.index(name)

    @property
    def amount_names(self) -> tuple[str, ...]:
        """The state variables that are drug amounts in the body (not Ce, not eliminated)."""
        return tuple(n for n in self.names if n not in ("effect_site", "eliminated"))


def system_matrix(layout: CompartmentLayout, rates: FloatArray) -> FloatArray:
    """The matrix ``A`` of ``dx/dt = A x + b`` per member, shape ``(n, d, d)``.

    Parameters
    ----------
    layout
        The compartments and their order.
    rates
        Per-member table ``(n, 8)`` with columns :data:`RATE_NAMES` (``v1_l`` in L, rate
        constants in 1/min). Columns a layout does not use are ignored.

    Examples
    --------
    >>> a = system_matrix(CompartmentLayout(1, effect_site=False),
    ...                   np.array([[10.0, 0.1, 0, 0, 0, 0, 0, 0]]))
    >>> a.tolist()
    [[[-0.1]]]
    """
    rates = np.atleast_2d(np.asarray(rates, dtype=np.float64))
    v1, k10, k12, k21, k13, k31, ka, ke0 = rates.T
    n, d = rates.shape[0], layout.size
    a = np.zeros((n, d, d))
    c = layout.index("central")
    a[:, c, c] = -k10
    for k, (kout, kin) in enumerate([(k12, k21), (k13, k31)][: layout.n_compartments - 1]):
        p = c + 1 + k
        a[:, c, c] -= kout
        a[:, p, c] = kout
        a[:, c, p] = kin
        a[:, p, p] = -kin
    if layout.absorption:
        dep = layout.index("depot")
        a[:, dep, dep] = -ka
        a[:, c, dep] = ka
    if layout.effect_site:
        e = layout.index("effect_site")
        a[:, e, c] = ke0 / v1
        a[:, e, e] = -ke0
    if layout.track_elimination:
        a[:, layout.index("eliminated"), c] = k10
    return a


def propagators(a: FloatArray, duration: float) -> tuple[FloatArray, FloatArray]:
    """``e^{A h}`` and ``integral_0^h e^{A s} ds`` per member, each ``(n, d, d)``.

    Members whose ``A`` has real eigenvalues and a well-conditioned eigenvector matrix
    (condition number below :data:`EIGEN_MAX_CONDITION`) use ``A = V diag(l) V^{-1}``:
    ``e^{Ah} = V diag(e^{l h}) V^{-1}`` and the integral ``V diag((e^{l h} - 1)/l) V^{-1}``.
    The others (nearly equal rate constants, as when ``ka`` is close to ``k10``) use the
    augmented matrix exponential (:func:`augmented_propagators`).

    Examples
    --------
    >>> phi, gam = propagators(np.array([[[-0.5]]]), 2.0)
    >>> round(float(phi[0, 0, 0]), 12) == round(math.exp(-1.0), 12)
    True
    >>> round(float(gam[0, 0, 0]), 12) == round((1 - math.exp(-1.0)) / 0.5, 12)
    True
    """
    lam, vec = np.linalg.eig(a)
    real = np.all(np.abs(lam.imag) <= 1e-12 * (1.0 + np.abs(lam.real)), axis=1)
    lam_r, vec_r = np.real(lam), np.real(vec)
    good = real & (np.linalg.cond(vec_r) < EIGEN_MAX_CONDITION)
    phi = np.empty_like(a)
    gamma = np.empty_like(a)
    if good.any():
        v = vec_r[good]
        v_inv = np.linalg.inv(v)
        z = lam_r[good] * duration
        safe = np.where(z == 0.0, 1.0, z)
        phi1 = np.where(z == 0.0, 1.0, np.expm1(z) / safe)
        phi[good] = (v * np.exp(z)[:, None, :]) @ v_inv
        gamma[good] = (v * (duration * phi1)[:, None, :]) @ v_inv
    if not good.all():
        phi[~good], gamma[~good] = augmented_propagators(a[~good], duration)
    return phi, gamma


def augmented_propagators(a: FloatArray, duration: float) -> tuple[FloatArray, FloatArray]:
    """:func:`propagators` from one ``expm`` of ``[[A, I], [0, 0]] h`` (Van Loan 1978).

    Examples
    --------
    >>> phi, gam = augmented_propagators(np.array([[[-0.5]]]), 2.0)
    >>> round(float(gam[0, 0, 0]), 12) == round((1 - math.exp(-1.0)) / 0.5, 12)
    True
    """
    n, d, _ = a.shape
    aug = np.zeros((n, 2 * d, 2 * d))
    aug[:, :d, :d] = a * duration
    aug[:, :d, d:] = np.eye(d) * duration
    big = np.asarray(expm(aug), dtype=np.float64) if n else aug
    return np.ascontiguousarray(big[:, :d, :d]), np.ascontiguousarray(big[:, :d, d:])


def apply_propagators(
    phi: FloatArray, gamma: FloatArray, x: FloatArray, b: FloatArray
) -> FloatArray:
    """``phi x + gamma b`` per member: the state after one held segment, ``(n, d)``."""
    return np.asarray(
        np.einsum("nij,nj->ni", phi, x) + np.einsum("nij,nj->ni", gamma, b), dtype=np.float64
    )


def propagate_ode(
    a: FloatArray, x: FloatArray, b: FloatArray, duration: float, options: SolverOptions
) -> FloatArray:
    """Integrate ``dx/dt = A x + b`` over ``duration`` with a core solver (the check path).

    Examples
    --------
    >>> a = np.array([[[-0.5]]])
    >>> x = propagate_ode(a, np.ones((1, 1)), np.zeros((1, 1)), 2.0,
    ...                   SolverOptions(method="dopri5", rtol=1e-12, atol=1e-14))
    >>> bool(abs(x[0, 0] - math.exp(-1.0)) < 1e-11)
    True
    """

    def f(xx: FloatArray) -> FloatArray:
        return np.asarray(np.einsum("nij,nj->ni", a, xx) + b, dtype=np.float64)

    # The Gershgorin bound on the spectral radius is a safe RK4 step limit for A.
    radius = float(np.max(np.abs(a).sum(axis=2))) if a.size else 0.0
    limit = 0.5 * RK4_STABILITY_RADIUS / radius if radius > 0 else math.inf
    return integrate_held(f, x, duration, options, lambda _x: limit, where="pkpd")
