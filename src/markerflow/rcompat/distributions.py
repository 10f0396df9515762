"""Distribution functions with R's conventions, accurate far into the tails.

Ports of what limma needs from R's ``pt``, ``pf``, ``qt``, ``qf`` and ``df`` (R 4.2 nmath): scipy's
``logsf``/``logcdf`` underflow to ``-inf`` below about ``log(1e-300)``, where R's ``log.p = TRUE`` stays
finite. Below :data:`LOG_UNDERFLOW` the log tail is computed from the continued fraction of the
regularised incomplete beta function (Numerical Recipes ``betacf``, modified Lentz) on the log
scale, and quantiles by Newton's method on ``log q``. ``df2 = Inf`` gives R's chi-square limit.
Deviation from R: R's ``pbeta`` uses TOMS 708 (Didonato & Morris 1992); the continued fraction
agrees with it to about 1e-13 relative in the far tails (tests/test_rcompat.py).

Known deviations from R (tests/test_rcompat.py ``KNOWN_DEVIATIONS``, outside what limma's parity
data reach): ``pf_log`` with ``df2 = Inf`` has no far-tail branch (``-inf`` below log 1e-300);
``qt_upper_log``/``qf`` between log p = -20 and -600 use scipy's ppf of ``exp(log p)`` (~1e-9
relative); ``qf`` gives NaN where R returns 0, Inf or values near the double range.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

LOG_UNDERFLOW = -600.0  # below this, scipy's log tails may underflow: use the continued fraction


def log_betainc_small(a, b, x):
    """log I_x(a, b) for small x (far lower tail), by the continued fraction of the regularised
    incomplete beta function (modified Lentz), evaluated on the log scale so it cannot
    underflow. Accurate when x < (a + 1) / (a + b + 2)."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, x)))
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = np.where(np.abs(d) < tiny, tiny, d)
    d = 1.0 / d
    h = d.copy()
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = d * c
        h *= delta
        if np.all(np.abs(delta - 1.0) < 2e-16):
            break
    with np.errstate(divide="ignore"):
        return a * np.log(x) + b * np.log1p(-x) - np.log(a) - special.betaln(a, b) + np.log(h)


def t_sf(q, df):
    """P(T > q): ``scipy.stats.t.sf(q, df)`` for df > 0 (scipy 1.17: ``special.stdtr(df, -q)``;
    q = +-inf gives 0 / 1, NaN stays NaN), computed from ``scipy.special`` directly so a job need
    not import ``scipy.stats`` (issue 20); bit-equal to scipy's (tests/test_rcompat.py)."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype=np.float64), np.asarray(df, dtype=np.float64))
    return np.where(df > 0, special.stdtr(df, -q), np.nan)


def t_isf(p, df):
    """The upper-tail quantile: ``scipy.stats.t.isf(p, df)`` for df > 0 (``-special.stdtrit(df,
    p)`` on 0 < p < 1; p = 0 / 1 give +inf / -inf, other p NaN), bit-equal to scipy's."""
    p, df = np.broadcast_arrays(np.asarray(p, dtype=np.float64), np.asarray(df, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        out = np.where((p > 0) & (p < 1), -special.stdtrit(df, p), np.nan)
    out = np.where(p == 0, np.inf, np.where(p == 1, -np.inf, out))
    return np.where(df > 0, out, np.nan)


def norm_sf(x):
    """P(Z > x), Z standard normal: ``scipy.stats.norm.sf(x)`` (scipy 1.17: ``special.ndtr(-x)``;
    +-inf give 0 / 1, NaN stays NaN), without importing ``scipy.stats`` (issue 20: ~1-2 s of a
    LOCO fold); bit-equal to scipy's (tests/test_rcompat.py)."""
    return special.ndtr(-np.asarray(x, dtype=np.float64))


def chi2_sf(x, df):
    """P(X > x), X ~ chi^2(df), df > 0: ``scipy.stats.chi2.sf(x, df)`` (scipy 1.17:
    ``special.chdtrc(df, x)`` inside the support, 1 at or below 0, NaN for NaN or df <= 0),
    without importing ``scipy.stats``; bit-equal to scipy's (tests/test_rcompat.py)."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(df, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        out = np.where(x <= 0, 1.0, special.chdtrc(df, x))
    return np.where((df > 0) & ~np.isnan(x), out, np.nan)


def fisher_combine(pvalues):
    """Fisher's combined p-value of each row of ``pvalues`` (rows x k, all measured):
    ``scipy.stats.combine_pvalues(pvalues, method="fisher", axis=1).pvalue`` (scipy 1.17: the
    statistic ``-2 sum log p`` along the row, then ``special.chdtrc(2 k, statistic)``), without
    importing ``scipy.stats``; bit-equal to scipy's (tests/test_rcompat.py)."""
    p = np.asarray(pvalues, dtype=np.float64)
    statistic = -2 * np.sum(np.log(p), axis=1)
    return special.chdtrc(np.float64(2 * p.shape[1]), statistic)


def hypergeom_sf(k, total, good, draws):
    """P(X > k), X ~ Hypergeom(``total``, ``good``, ``draws``) (R ``phyper(k, good, total - good,
    draws, lower.tail = FALSE)``): ``scipy.stats.hypergeom.sf(k, total, good, draws)`` for
    non-negative integers with ``good, draws <= total`` (scipy 1.17: 1 below the support, 0 at or
    above its top, else the ufunc ``_hypergeom_sf``), without importing ``scipy.stats`` (~0.9 s
    of an enrichment job's start-up, issue 20); bit-equal to scipy's (tests/test_rcompat.py).
    The ufunc (Boost's hypergeometric complement, ~40 us a value at 20,000 genes) is evaluated only
    inside the support: in ORA most sets have no selected gene (k = -1, p = 1)."""
    from scipy.special import _ufuncs

    k, total, good, draws = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (k, total, good, draws))
    )
    k = np.floor(k)
    low = np.maximum(draws - (total - good), 0.0)
    high = np.minimum(good, draws)
    inside = (k >= low) & (k < high)
    out = np.where(k < low, 1.0, 0.0)
    if inside.any():
        with np.errstate(invalid="ignore"):
            out[inside] = _ufuncs._hypergeom_sf(
                k[inside], good[inside], draws[inside], total[inside]
            )
    return out


def beta_ppf(q, a, b):
    """The ``q`` quantile of Beta(a, b): ``scipy.stats.beta.ppf(q, a, b)`` (scipy 1.17: the ufunc
    ``_beta_ppf`` on 0 < q < 1, 0 / 1 at q = 0 / 1, NaN unless a, b > 0), without importing
    ``scipy.stats``; bit-equal to scipy's (tests/test_rcompat.py)."""
    from scipy.special import _ufuncs

    q, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (q, a, b)))
    ok = (a > 0) & (b > 0)
    inner = ok & (q > 0) & (q < 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = _ufuncs._beta_ppf(np.where(inner, q, 0.5), np.where(ok, a, 1.0), np.where(ok, b, 1.0))
    out = np.where(inner, x, np.nan)
    out = np.where(ok & (q == 0), 0.0, np.where(ok & (q == 1), 1.0, out))
    return out


def t_logsf(q, df):
    """log P(T > q) for q >= 0, accurate far into the tail (R ``pt(q, df, FALSE, TRUE)``)."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype=np.float64), np.asarray(df, dtype=np.float64))
    with np.errstate(divide="ignore"):  # scipy.stats.t.logsf is log(sf): the same, without stats
        out = np.array(np.log(t_sf(q, df)), dtype=np.float64)
    bad = (out < LOG_UNDERFLOW) & np.isfinite(df) & (q > 0)
    if bad.any():
        qb, db = q[bad], df[bad]
        x = db / (db + qb * qb)
        out[bad] = math.log(0.5) + log_betainc_small(db / 2, 0.5, x)
    return out


def pf_log(x, df1, df2, lower: bool):
    """log P(F <= x) (lower) or log P(F > x), like R ``pf(..., log.p = TRUE)``; df2 = Inf gives
    the chi-square limit. Far tails use the log-scale continued fraction."""
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    x, df1, df2 = np.broadcast_arrays(
        x, np.asarray(df1, dtype=np.float64), np.asarray(df2, dtype=np.float64)
    )
    out = np.empty(x.shape)
    inf2 = np.isinf(df2)
    if inf2.any():
        d = stats.chi2(df1[inf2])
        xi = x[inf2] * df1[inf2]
        out[inf2] = d.logcdf(xi) if lower else d.logsf(xi)
    fin = ~inf2
    if fin.any():
        xf, d1, d2 = x[fin], df1[fin], df2[fin]
        d = stats.f(d1, d2)
        val = np.asarray(d.logcdf(xf) if lower else d.logsf(xf), dtype=np.float64).copy()
        bad = (val < LOG_UNDERFLOW) & (xf > 0)
        if bad.any():
            xb, a1, a2 = xf[bad], d1[bad], d2[bad]
            if lower:
                val[bad] = log_betainc_small(a1 / 2, a2 / 2, a1 * xb / (a1 * xb + a2))
            else:
                val[bad] = log_betainc_small(a2 / 2, a1 / 2, a2 / (a2 + a1 * xb))
        out[fin] = val
    return out


def f_logpdf(x, d1: float, d2: float):
    """log density of F(d1, d2), stable for very large or very small x."""
    x = np.asarray(x, dtype=np.float64)
    return (
        d1 / 2 * math.log(d1 / d2)
        + (d1 / 2 - 1) * np.log(x)
        - (d1 + d2) / 2 * np.log1p(d1 / d2 * x)
        - special.betaln(d1 / 2, d2 / 2)
    )


def t_logpdf(q, df: float):
    """log density of Student's t, stable far in the tails."""
    q = np.asarray(q, dtype=np.float64)
    return (
        special.gammaln((df + 1) / 2)
        - special.gammaln(df / 2)
        - 0.5 * math.log(df * math.pi)
        - (df + 1) / 2 * np.log1p(q * q / df)
    )


def invert_log_tail(logp, start, logtail, logpdf, upper: bool):
    """Solve logtail(q) = logp for q > 0 by Newton's method on log q (far-tail quantiles).

    In the far tail log-probability is concave and asymptotically linear in log q, so Newton
    started nearer the centre (``start``, the 1e-10 quantile) approaches the root monotonically.
    """
    u = np.log(np.asarray(start, dtype=np.float64))
    for _ in range(100):
        q = np.exp(u)
        lt = logtail(q)
        slope = q * np.exp(logpdf(q) - lt)  # |d logtail / d log q|
        step = (lt - logp) / slope
        u = u + step if upper else u - step
        if np.all(np.abs(step) <= 1e-15 * np.maximum(1.0, np.abs(u))):
            break
    return np.exp(u)


def qf(p, df1: float, df2: float, lower: bool = True, log_p: bool = False):
    """R ``qf`` (including its chi-square shortcut for ``df2 > 4e5``); with ``log_p`` the far
    tails are found by Newton iteration on the log-scale tail probability."""
    from scipy import stats

    p = np.asarray(p, dtype=np.float64)
    lp = p if log_p else None
    if log_p:
        p = np.exp(p)
    if df1 <= df2 and df2 > 4e5:
        q = stats.chi2.ppf(p, df1) if lower else stats.chi2.isf(p, df1)
        return q / df1
    q = np.asarray(stats.f.ppf(p, df1, df2) if lower else stats.f.isf(p, df1, df2), dtype=float)
    if lp is not None:
        far = lp < LOG_UNDERFLOW
        if far.any():
            start = stats.f.ppf(1e-10, df1, df2) if lower else stats.f.isf(1e-10, df1, df2)
            q = q.copy()
            q[far] = invert_log_tail(
                lp[far],
                np.full(int(far.sum()), start),
                lambda v: pf_log(v, df1, df2, lower=lower),
                lambda v: f_logpdf(v, df1, df2),
                upper=not lower,
            )
    return q


def df_density(x, df1: float, df2: float):
    """R ``df`` (F density); ``df2 = Inf`` gives the scaled chi-square density."""
    from scipy import stats

    if math.isinf(df2):
        return stats.gamma.pdf(x, df1 / 2.0, scale=2.0 / df1)
    return stats.f.pdf(x, df1, df2)


def qt_upper_log(logp: np.ndarray, df: float) -> np.ndarray:
    """R ``qt(logp, df, lower.tail = FALSE, log.p = TRUE)`` for log upper-tail probabilities."""
    logp = np.asarray(logp, dtype=np.float64)
    out = np.asarray(t_isf(np.exp(logp), df), dtype=np.float64).copy()
    far = logp < LOG_UNDERFLOW
    if far.any():
        start = t_isf(1e-10, df)
        out[far] = invert_log_tail(
            logp[far],
            np.full(int(far.sum()), start),
            lambda v: t_logsf(v, df),
            lambda v: t_logpdf(v, df),
            upper=True,
        )
    return out


def pt_two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """``2 * pt(-abs(t), df)``; ``df = inf`` gives the normal tail."""
    with np.errstate(invalid="ignore"):
        return 2 * special.stdtr(df, -np.abs(t))
