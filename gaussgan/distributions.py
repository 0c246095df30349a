"""Parent distributions: the exactly known distributions a GAN is asked to learn.

A :class:`Parent` is the single source of truth about a dataset's distribution: it is
written into the dataset's metadata, read back by ``train.py``, and used there to draw
*fresh* samples for the diagnostics. numpy only; nothing here knows about files.

Parents (``mu`` is a scalar broadcast to every component):

``gauss``        N(mu, Sigma), Sigma block-diagonal or banded (see :func:`covariance_matrix`)
``trunc_gauss``  independent components, N(mu, DIAG) truncated to [xlo, xhi] (bounds in data units)
``cauchy``       independent components, Cauchy(loc=mu, scale=DIAG)
``uniform``      independent components, uniform on [xlo, xhi]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gaussgan.errors import UserError
from gaussgan.parents import DEFAULT_XHI, DEFAULT_XLO, PARENTS

# The largest magnitude a sample may reach: its square (in norms, variances, covariances) must
# stay far below the float64 maximum (1.8e308), with room for sums over many components.
MAX_MAGNITUDE = 1e150
# trunc_gauss: below this normal CDF (at the upper bound, or as the interval's mass) the plain
# inverse CDF loses digits, and the sampler works in log space instead.
TAIL_CDF = 1e-8
# How far a draw reaches, in units of the scale: standard normal draws stay below ~14 (numpy's
# ziggurat tail); a standard Cauchy draw beyond 1e20 has probability 6e-21. Writers still check
# every batch, so the improbable is refused, never written.
GAUSS_REACH, CAUCHY_REACH = 40.0, 1e20


def covariance_matrix(dim: int, diag: float, offdiag: float, block: int) -> np.ndarray:
    """The covariance that ``-c/--sigma DIAG OFFDIAG BLOCK`` describes.

    ``block > 0``: block-diagonal, ``block`` x ``block`` blocks with ``diag`` on the diagonal
    and ``offdiag`` elsewhere in the block (``block`` must divide ``dim``).
    ``block == -1``: a band, ``offdiag`` only next to the diagonal.
    """
    if not diag > 0:
        raise UserError(f"--sigma DIAG must be > 0, got {diag:g}")
    if block == -1:
        matrix = np.diag(np.full(dim, float(diag)))
        neighbours = np.arange(dim - 1)
        matrix[neighbours, neighbours + 1] = offdiag
        matrix[neighbours + 1, neighbours] = offdiag
        return matrix
    if block <= 0:
        raise UserError(f"--sigma BLOCK must be a positive divisor of the dimension or -1 (band), got {block}")
    if dim % block:
        raise UserError(f"--sigma BLOCK={block} does not divide the dimension {dim}; expected a divisor of {dim} or -1")
    one_block = np.full((block, block), float(offdiag))
    np.fill_diagonal(one_block, diag)
    return np.kron(np.eye(dim // block), one_block)


@dataclass(frozen=True, eq=False)
class Parent:
    """A fully specified parent distribution in ``dim`` dimensions.

    Parameters
    ----------
    name : one of :data:`PARENTS`.
    dim : number of components.
    mu : location of every component.
    sigma : (dim, dim) covariance (gauss); for the independent parents only its diagonal is
        used: the variance (trunc_gauss, before truncation) or the scale (cauchy).
    xlo, xhi : bounds of trunc_gauss and uniform, in data units (not in units of sigma).
    """

    name: str
    dim: int
    mu: float = 0.0
    sigma: np.ndarray = field(default=None, repr=False)  # type: ignore[arg-type]  # None: the identity
    xlo: float = DEFAULT_XLO
    xhi: float = DEFAULT_XHI
    # Set in __post_init__ (the factor for gauss only, the only parent that uses it).
    _factor: np.ndarray = field(default=None, init=False, repr=False, compare=False)  # type: ignore[arg-type]
    _scale: np.ndarray = field(default=None, init=False, repr=False, compare=False)  # type: ignore[arg-type]
    _diagonal: bool = field(default=True, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.name not in PARENTS:
            raise UserError(f"unknown parent distribution {self.name!r}; expected one of {', '.join(PARENTS)}")
        if int(self.dim) != self.dim or self.dim <= 0:
            raise UserError(f"dimension must be a positive integer, got {self.dim}")
        object.__setattr__(self, "dim", int(self.dim))
        sigma = np.eye(self.dim) if self.sigma is None else np.asarray(self.sigma, dtype=np.float64)
        sigma = sigma.reshape(self.dim, self.dim) if sigma.size == self.dim**2 else sigma
        if sigma.shape != (self.dim, self.dim):
            raise UserError(f"covariance has shape {sigma.shape}; expected ({self.dim}, {self.dim})")
        if not np.all(np.isfinite(sigma)) or not np.isfinite(self.mu):
            raise UserError("mu and the covariance must be finite numbers")
        object.__setattr__(self, "sigma", sigma)
        # Computed once: sample() runs per batch and must not redo O(d^2) work.
        object.__setattr__(self, "_diagonal", not np.count_nonzero(sigma - np.diag(np.diag(sigma))))
        object.__setattr__(self, "_scale", np.sqrt(np.abs(np.diag(sigma))))
        if self.name == "gauss":
            if not np.allclose(sigma, sigma.T):
                raise UserError("covariance is not symmetric")
            try:
                # Factor once per parent (never per batch): x = mu + z @ L.T has covariance L L^T. A diagonal
                # covariance needs none (sample and whiten scale instead), and at d = 1000 factoring it would
                # cost half a second of gen-samples.py; it is positive definite when its diagonal is positive.
                if self._diagonal:
                    factor = None
                    if np.any(np.diag(sigma) <= 0):
                        raise np.linalg.LinAlgError
                else:
                    factor = np.linalg.cholesky(sigma)
            except np.linalg.LinAlgError:
                smallest = np.linalg.eigvalsh(sigma)[0]
                raise UserError(
                    f"covariance is not positive definite (smallest eigenvalue {smallest:.3g}); "
                    "expected |OFFDIAG| small enough compared with DIAG"
                ) from None
            object.__setattr__(self, "_factor", factor)
        else:
            if np.count_nonzero(sigma - np.diag(np.diag(sigma))):
                raise UserError(f"{self.name} has independent components: expected OFFDIAG = 0 in --sigma")
            if np.any(np.diag(sigma) <= 0):
                raise UserError("--sigma DIAG must be > 0")
        if self.name in ("trunc_gauss", "uniform") and not self.xlo < self.xhi:
            raise UserError(f"expected xlo < xhi, got xlo={self.xlo:g}, xhi={self.xhi:g}")
        self._check_range()

    def _check_range(self) -> None:
        """Refuse parameters whose samples, or the arithmetic that draws them, would overflow float64."""
        with np.errstate(over="ignore"):  # an infinite reach or distance is refused below
            if self.name == "uniform":
                reach, change = max(abs(self.xlo), abs(self.xhi)), "--xlo/--xhi"
            elif self.name == "trunc_gauss":
                # The density peaks at the point of [xlo, xhi] nearest mu and falls at least as fast as
                # a normal from there: a far bound on the other side (--xhi 1e300: one-sided) is fine.
                nearest = min(max(self.mu, self.xlo), self.xhi)
                spread = GAUSS_REACH * np.max(self._scale)
                reach = max(abs(max(self.xlo, nearest - spread)), abs(min(self.xhi, nearest + spread)))
                change = "--xlo/--xhi or --sigma"
                # log_ndtr(-z) ~ -z²/2 overflows beyond z ~ 1e154: the sampler needs the nearer bound's.
                distance = np.max(abs(nearest - self.mu) / self._scale)
            else:
                scale = np.max(np.diag(self.sigma)) if self.name == "cauchy" else np.max(self._scale)
                reach = abs(self.mu) + (CAUCHY_REACH if self.name == "cauchy" else GAUSS_REACH) * scale
                change = "--mu or --sigma"
        if not reach <= MAX_MAGNITUDE:
            raise UserError(
                f"{self.describe()} would give values up to about {reach:.3g}; expected values within "
                f"±{MAX_MAGNITUDE:g}, so that their squares (norms, variances) stay finite in float64: "
                f"use a smaller {change}"
            )
        if self.name == "trunc_gauss" and not distance <= MAX_MAGNITUDE:
            raise UserError(
                f"{self.describe()}: the interval lies {distance:.3g} standard deviations from the mean; "
                f"expected at most {MAX_MAGNITUDE:g}: use bounds closer to --mu or a larger --sigma"
            )

    def _standard_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """trunc_gauss bounds in units of each component's standard deviation (inf where that overflows)."""
        with np.errstate(over="ignore"):
            return (self.xlo - self.mu) / self._scale, (self.xhi - self.mu) / self._scale

    @property
    def is_diagonal(self) -> bool:
        return self._diagonal

    @property
    def is_standard_normal(self) -> bool:
        """N(0, I): the norm then follows the chi distribution with ``dim`` degrees of freedom."""
        return self.name == "gauss" and self.mu == 0 and np.array_equal(self.sigma, np.eye(self.dim))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent vectors, shape (n, dim), float64; vectorised, no Python loop over samples.

        Arithmetic is done in place and skipped when it would change nothing (unit scale,
        zero mean): at d = 1000 every extra pass over the batch costs as much as the write.
        """
        shape = (n, self.dim)
        if self.name == "uniform":
            return rng.uniform(self.xlo, self.xhi, shape)
        if self.name == "trunc_gauss":
            return self._sample_truncated(shape, rng)
        if self.name == "gauss":
            x = rng.standard_normal(shape)
            if not self._diagonal:
                x = x @ self._factor.T
            elif np.any(self._scale != 1):
                x *= self._scale
        else:  # cauchy: DIAG is the scale
            x = rng.standard_cauchy(shape)
            scale = np.diag(self.sigma)
            if np.any(scale != 1):
                x *= scale
        if self.mu != 0:
            x += self.mu
        return x

    def _sample_truncated(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        # Inverse-CDF sampling, in log space where it matters: as fast as standard_normal here, where
        # scipy.stats.truncnorm.rvs is ~20x slower, and exact far in a tail, where the CDF itself
        # underflows (ndtr(-40) is 0, so [40, 50] would give 50.0 every time) but its logarithm
        # log_ndtr does not, and ndtri_exp inverts it. Intervals in the upper tail are mirrored into
        # the lower tail, where log_ndtr keeps its precision (log_ndtr(40) rounds to 0, log_ndtr(-40) does not).
        from scipy import special

        lower, upper = self._standard_bounds()
        mirror = lower > 0
        lower, upper = np.where(mirror, -upper, lower), np.where(mirror, -lower, upper)
        cdf_lower, cdf_upper = special.ndtr(lower), special.ndtr(upper)
        x = rng.random(shape)
        if np.all(cdf_upper > TAIL_CDF) and np.all(cdf_upper - cdf_lower > TAIL_CDF):
            # Not in a far tail nor a sliver: the plain inverse CDF is exact enough, and ~1.5x faster.
            x *= cdf_upper - cdf_lower
            x += cdf_lower
            special.ndtri(x, out=x)
        else:
            log_cdf_upper = special.log_ndtr(upper)
            # 1 - CDF(lower) / CDF(upper): the share of the mass below upper that the interval holds;
            # expm1 keeps it exact for a tiny interval, where the ratio is within rounding of 1.
            share = -np.expm1(special.log_ndtr(lower) - log_cdf_upper)
            # CDF(x) = CDF(upper) * (1 - u * share) with u uniform on [0, 1): x runs from upper down to lower.
            x *= -share
            np.log1p(x, out=x)
            x += log_cdf_upper
            special.ndtri_exp(x, out=x)
        np.clip(x, lower, upper, out=x)  # rounding can step a hair outside the bounds
        # One pass for the mirror and the scale together; fancy indexing would copy the columns.
        sign_scale = np.where(mirror, -self._scale, self._scale)
        if np.any(sign_scale != 1):
            x *= sign_scale
        if self.mu != 0:
            x += self.mu
        if np.any(sign_scale != 1) or self.mu != 0:
            np.clip(x, self.xlo, self.xhi, out=x)  # and so can the scaling, in data units
        return x

    def sample_memory(self, n: int) -> int:
        """Bytes :meth:`sample` allocates for ``n`` vectors: the batch, and for correlated components
        the product with the Cholesky factor (measured with tracemalloc)."""
        copies = 2 if self.name == "gauss" and not self._diagonal else 1
        return copies * n * self.dim * 8

    def _marginal_law(self):
        """The scipy distribution of every component and its parameters, each a scalar or one value per
        component: the one place the parents' marginals are written."""
        from scipy import stats

        if self.name == "gauss":
            return stats.norm, (self.mu, self._scale)
        if self.name == "cauchy":  # DIAG is the scale
            return stats.cauchy, (self.mu, np.diag(self.sigma))
        if self.name == "uniform":
            return stats.uniform, (self.xlo, self.xhi - self.xlo)
        lower, upper = self._standard_bounds()
        return stats.truncnorm, (lower, upper, self.mu, self._scale)

    def marginal(self, component: int):
        """The exact marginal distribution of one component, as a frozen scipy.stats distribution."""
        law, parameters = self._marginal_law()
        return law(*(np.broadcast_to(value, self.dim)[component] for value in parameters))

    def marginal_cdf(self, x: np.ndarray) -> np.ndarray:
        """Every component of ``x`` (n, dim) through its exact marginal CDF, in one call: the scipy
        distribution takes one parameter per column, where a frozen distribution per column cost ten
        times more at d = 100."""
        law, parameters = self._marginal_law()
        return law.cdf(x, *parameters)

    def whiten(self, x: np.ndarray) -> np.ndarray:
        """gauss: ``L^-1 (x - mu)`` with ``Sigma = L L^T``: N(0, I) exactly when ``x`` follows the parent."""
        from scipy import linalg

        if self.name != "gauss":
            raise ValueError(f"whiten() is for Gaussian parents, not {self.name}")
        centred = x - self.mu
        if self._diagonal:
            return centred / self._scale
        return linalg.solve_triangular(self._factor, centred.T, lower=True).T

    def normal_scores(self, x: np.ndarray) -> np.ndarray:
        """Coordinates that are N(0, I) exactly when ``x`` follows the parent: whitened (gauss) or each
        component through its own CDF and the standard normal's inverse (the independent parents).
        Values the parent cannot produce (outside a bound) land at about ±8.3, not at infinity."""
        if self.name == "gauss":
            return self.whiten(x)
        from scipy import special

        return special.ndtri(np.clip(self.marginal_cdf(x), 1e-16, 1 - 1e-16))

    def moments(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact mean vector and covariance matrix; None where they do not exist (cauchy)."""
        if self.name == "cauchy":
            return None
        if self.name == "gauss":
            return np.full(self.dim, float(self.mu)), self.sigma
        means, variances = zip(*(self.marginal(j).stats(moments="mv") for j in range(self.dim)), strict=True)
        return np.array(means, dtype=float), np.diag(np.array(variances, dtype=float))

    def describe(self) -> str:
        """A short human-readable description, e.g. for printing and figure titles."""
        diag = self.sigma[0, 0]
        if self.name == "gauss":
            corr = "" if self.is_diagonal else ", correlated"
            return f"N({self.mu:g}, {diag:g}·I{corr}) in {self.dim}-d"
        if self.name == "cauchy":
            return f"Cauchy({self.mu:g}, {diag:g}) in {self.dim}-d"
        if self.name == "uniform":
            return f"U[{self.xlo:g}, {self.xhi:g}] in {self.dim}-d"
        return f"N({self.mu:g}, {diag:g}) truncated to [{self.xlo:g}, {self.xhi:g}] in {self.dim}-d"

    def to_state(self, array=None) -> dict:
        """Everything that defines this parent, for files that carry it (models, checkpoints).

        ``array`` converts the covariance (e.g. ``torch.from_numpy`` for a torch file); the numpy
        array itself by default. :meth:`from_state` reads it back.
        """
        return {
            "name": self.name,
            "dim": self.dim,
            "mu": self.mu,
            "xlo": self.xlo,
            "xhi": self.xhi,
            "sigma": self.sigma if array is None else array(self.sigma),
        }

    @classmethod
    def from_state(cls, state: dict, where: str = "saved parent") -> Parent:
        """The parent that :meth:`to_state` wrote; any array-like covariance (numpy, torch) is accepted."""
        try:
            return cls(
                name=str(state["name"]),
                dim=int(state["dim"]),
                mu=float(state["mu"]),
                sigma=np.asarray(state["sigma"], dtype=np.float64),
                xlo=float(state["xlo"]),
                xhi=float(state["xhi"]),
            )
        except KeyError as error:
            raise UserError(f"{where} has no {error.args[0]!r} field") from None
        except (TypeError, ValueError) as error:
            raise UserError(f"{where} holds a value of the wrong type ({error})") from None

    def to_dict(self) -> dict:
        """Plain JSON-able values (the covariance summarised when it is diagonal and constant)."""
        return {
            "dist": self.name,
            "dim": self.dim,
            "mu": self.mu,
            "xlo": self.xlo,
            "xhi": self.xhi,
            "sigma_diag": float(self.sigma[0, 0]),
            "sigma_offdiag_max": float(np.max(np.abs(self.sigma - np.diag(np.diag(self.sigma))))),
        }


def parent_memory(dim: int) -> int:
    """Peak bytes of building a parent in ``dim`` dimensions: the (dim, dim) covariance, its Cholesky
    factor and the temporaries of the checks, about three such matrices (measured with tracemalloc)."""
    return int(3.2 * dim * dim * 8)


def check_parent_options(name: str, sigma: tuple[float, float, int] = (1.0, 0.0, 1)) -> None:
    """What a parent's command-line description must satisfy in any dimension: checked before anything is
    read or built, by every command that takes one (gen-samples, evaluate, a study's datasets).

    The name, and a ``-c/--sigma`` whose every number reaches the matrix: an OFFDIAG that independent
    components or 1 x 1 blocks would leave out is refused, never dropped.
    """
    if name not in PARENTS:
        raise UserError(f"unknown parent distribution {name!r}; expected one of {', '.join(PARENTS)}")
    diag, offdiag, block = sigma
    if not diag > 0:
        raise UserError(f"--sigma DIAG must be > 0, got {diag:g}")
    if block != -1 and block <= 0:
        raise UserError(f"--sigma BLOCK must be a positive divisor of the dimension or -1 (band), got {block}")
    if name != "gauss" and offdiag != 0:
        raise UserError(f"{name} has independent components: expected OFFDIAG = 0 in --sigma, got {offdiag:g}")
    if block == 1 and offdiag != 0:
        raise UserError(
            f"--sigma OFFDIAG = {offdiag:g} with BLOCK = 1: 1 x 1 blocks have no off-diagonal entry, so it would be "
            "dropped; expected OFFDIAG = 0, or BLOCK > 1 (correlated blocks) or -1 (a band)"
        )


def parents_from_options(
    name: str,
    dims: list[int],
    mu: float = 0.0,
    sigma: tuple[float, float, int] = (1.0, 0.0, 1),
    xlo: float = DEFAULT_XLO,
    xhi: float = DEFAULT_XHI,
    hint: str = "ask for smaller dimensions, or fewer at a time",
) -> list[Parent]:
    """The parents a command line describes, one per dimension: the options checked first, then the memory
    their covariance matrices take (``hint`` says how to ask for less), and only then the matrices built."""
    from gaussgan.system.resources import require_memory

    check_parent_options(name, sigma)
    require_memory(
        sum(parent_memory(dim) for dim in dims),
        f"the covariance matrices of dimension {', '.join(f'{dim:,}' for dim in dims)}",
        hint,
    )
    return [make_parent(name, dim, mu, sigma, xlo, xhi) for dim in dims]


def make_parent(
    name: str,
    dim: int,
    mu: float = 0.0,
    sigma: tuple[float, float, int] = (1.0, 0.0, 1),
    xlo: float = DEFAULT_XLO,
    xhi: float = DEFAULT_XHI,
) -> Parent:
    """Build a parent from the command-line description (``-c/--sigma DIAG OFFDIAG BLOCK``).

    Every check of the parent is :class:`Parent`'s own; here, first, what the matrix cannot show
    (:func:`check_parent_options`). The caller has checked the memory of a (dim, dim) matrix
    (:func:`parents_from_options` does both).
    """
    check_parent_options(name, sigma)
    diag, offdiag, block = sigma
    return Parent(name, dim, mu, covariance_matrix(dim, diag, offdiag, int(block)), xlo, xhi)


def chi_pdf(x: np.ndarray, dof: int) -> np.ndarray:
    """Density of the chi distribution (the norm of a dof-dimensional N(0, I) vector).

    Written with the standard library's ``math.lgamma`` rather than scipy.stats.chi: importing
    scipy.stats (1.5 s) or even scipy.special (0.1 s) is a large share of gen-samples.py's run
    time for a small dataset. Tested against scipy.stats.chi.
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) at x = 0, replaced below
        log_pdf = (dof - 1) * np.log(x) - x**2 / 2 - (dof / 2 - 1) * np.log(2) - math.lgamma(dof / 2)
    return np.where(x > 0, np.exp(log_pdf), 1.0 * (dof == 1) * np.sqrt(2 / np.pi) * (x == 0))


def expected_norm(parent: Parent) -> tuple[float, float] | None:
    """Mean and standard deviation of ||x|| where they are known in closed form (N(0, I): chi(d))."""
    if not parent.is_standard_normal:
        return None
    dof = parent.dim
    mean = np.sqrt(2) * np.exp(math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2))
    return float(mean), float(np.sqrt(max(dof - mean**2, 0.0)))
