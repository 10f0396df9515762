"""Random-effects meta-analysis of per-cohort effect sizes, vectorised over genes.

Methods
-------
Per gene, the cohorts' Hedges' g (``hedges_g``, ``hedges_g_se`` of the DE tables; see
:mod:`markerflow.model.effectsize`) are pooled with the DerSimonian & Laird (1986) random-effects model,
exactly as MetaIntegrator does through ``rmeta::meta.summaries(method="random")`` (Haynes et al.
2017) and as ``metafor::rma(yi, sei=se, method="DL")`` reports it:

    w_i    = 1 / se_i^2,   mu_F = sum w_i g_i / sum w_i
    Q      = sum w_i (g_i - mu_F)^2                      (Cochran's Q, df = k - 1)
    tau^2  = max(0, (Q - (k - 1)) / (sum w_i - sum w_i^2 / sum w_i))
    w*_i   = 1 / (se_i^2 + tau^2),  mu = sum w*_i g_i / sum w*_i,  se(mu) = 1 / sqrt(sum w*_i)
    z      = mu / se(mu),  p = 2 (1 - Phi(|z|)),  BH FDR over genes
    I^2    = 100 * max(0, (Q - (k - 1)) / Q)             (percent, Higgins & Thompson 2002; for
                                                          DL identical to metafor's tau^2/(tau^2+s^2))
    p(Q)   = P(chi^2_{k-1} > Q)

Missing cohorts (gene not measured) are NaN in the genes x cohorts arrays and drop out of every sum.

Leave-one-cohort-out (MetaIntegrator ``filterGenes(isLeaveOneOut=TRUE)``, which needs > 2 cohorts):
the pooling and BH are rerun with each cohort removed; ``loo_max_fdr`` is the largest FDR over those
runs. A run in which the gene's pooled sign flips, or in which the gene is left without cohorts,
counts as FDR 1 (MetaIntegrator intersects the up and down lists of the runs, so a flip also drops
the gene there). With fewer than 3 cohorts, or ``leave_one_out=False``, ``loo_max_fdr`` is NaN.

Fisher's method (MetaIntegrator's ``fisherMethod`` / ``.sum.of.logs``): one-sided p-values per cohort
from the two-sided DE p-value and the sign of ``log2fc`` (``p_up = p/2`` if log2fc > 0 else
``1 - p/2``; ``p_down`` likewise), ``X = -2 sum log p`` ~ chi^2 with 2k df, BH per direction.
MetaIntegrator derives its one-sided p from a Student t-test on the expression; we reuse each cohort's
own DE test (limma moderated t / DESeq2 Wald), which is the better-powered test of the same null.
The sign is that of the unshrunken ``log2fc`` (DESeq2's MLE), never ``log2fc_shrunk``
(``de.counts.lfc_shrink``): DESeq2's normal prior is estimated from each cohort's own genes, so
each cohort's estimates would be pulled towards 0 by a different, data-dependent amount, and its
posterior SE is no sampling SE to weight by; the pooled quantities (Hedges' g, Wald p-values) are
the ones whose sampling distribution the meta-analysis assumes.

A gene is kept when measured in at least ``min_cohorts`` cohorts (default: 2 when the study has >= 2
cohorts, else 1); genes measured in fewer are dropped from the table.

Single-cohort study: no pooling. The cohort's statistics are passed through: ``pooled_effect`` =
hedges_g, ``pooled_se`` = hedges_g_se, ``pooled_z`` = g / se, ``pvalue`` = the cohort's DE p-value
(limma / DESeq2; not the normal approximation of g / se), ``fdr`` = BH of it; tau2, q, q_pvalue, i2
are NaN, ``n_cohorts`` = 1, ``sign_agreement`` = 1, ``loo_max_fdr`` = NaN, Fisher's p = one-sided DE p.
In a multi-cohort study, a gene that is measured in only one cohort (only kept if ``min_cohorts=1``)
gets that cohort's g and se with the normal p-value, as in MetaIntegrator's ``.pool.inverseVar``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from markerflow.errors import InputError
from markerflow.rcompat.padjust import p_adjust_bh

log = logging.getLogger(__name__)

#: Columns of the meta-analysis table, in order; ``g_<cohort>`` and ``se_<cohort>`` follow.
META_COLUMNS: tuple[str, ...] = (
    "gene", "pooled_effect", "pooled_se", "pooled_z", "pvalue", "fdr", "tau2", "q", "q_pvalue",
    "i2", "n_cohorts", "sign_agreement", "loo_max_fdr", "fisher_up_p", "fisher_up_fdr",
    "fisher_down_p", "fisher_down_fdr",
)  # fmt: skip

REQUIRED_DE = ("gene", "log2fc", "pvalue", "hedges_g", "hedges_g_se")


def dersimonian_laird(
    g: np.ndarray, se: np.ndarray, *, random: bool = True
) -> dict[str, np.ndarray]:
    """DerSimonian–Laird random-effects pooling of each row of ``g`` / ``se`` (genes x cohorts).

    NaN (or non-positive se) marks a cohort in which the gene was not measured. Returns arrays
    ``k``, ``effect``, ``se``, ``z``, ``pvalue``, ``tau2``, ``q``, ``q_pvalue``, ``i2`` (percent).
    Rows with k = 1 get the single cohort's g and se (tau2, Q, I² NaN); k = 0 gives NaN everywhere.
    ``random=False`` gives the fixed-effect (inverse-variance) estimate: tau² = 0, Q and I² kept.
    The normal and chi^2 tails are :mod:`markerflow.rcompat.distributions`' (scipy.stats' numbers,
    without importing scipy.stats).
    """
    from markerflow.rcompat.distributions import chi2_sf, norm_sf

    g = np.asarray(g, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    ok = np.isfinite(g) & np.isfinite(se) & (se > 0)
    k = ok.sum(axis=1)
    gz = np.where(ok, g, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(ok, 1.0 / np.where(ok, se, 1.0) ** 2, 0.0)
        sw = w.sum(axis=1)
        mu_f = (w * gz).sum(axis=1) / sw
        q = (w * (gz - mu_f[:, None]) ** 2).sum(axis=1)
        df = k - 1.0
        c = sw - (w**2).sum(axis=1) / sw
        tau2 = np.maximum(0.0, (q - df) / c)
        tau2 = np.where((k >= 2) & random, tau2, 0.0)
        ws = np.where(ok, 1.0 / (np.where(ok, se, 1.0) ** 2 + tau2[:, None]), 0.0)
        sws = ws.sum(axis=1)
        effect = (ws * gz).sum(axis=1) / sws
        pooled_se = 1.0 / np.sqrt(sws)
        z = effect / pooled_se
        i2 = np.where(q > 0, 100.0 * np.maximum(0.0, (q - df) / q), 0.0)
    pvalue = 2.0 * norm_sf(np.abs(z))
    q_pvalue = chi2_sf(q, np.maximum(df, 1.0))
    single = k < 2
    for arr in (tau2, q, q_pvalue, i2):
        arr[single] = np.nan
    none = k == 0
    for arr in (effect, pooled_se, z, pvalue):
        arr[none] = np.nan
    return {"k": k, "effect": effect, "se": pooled_se, "z": z, "pvalue": pvalue, "tau2": tau2,
            "q": q, "q_pvalue": q_pvalue, "i2": i2}  # fmt: skip


def fisher_combined(pvalues: np.ndarray) -> np.ndarray:
    """Fisher's combined p-value per row (genes x cohorts, NaN = missing): chi^2 with 2k df.

    ``scipy.stats.combine_pvalues(method="fisher")`` on each row's k measured cohorts (p clipped to
    [1e-300, 1]). Rows are grouped by k, and each group's measured values are moved to the front in
    cohort order, so it is one vectorised call per distinct k (combine_pvalues' own
    ``nan_policy="omit"`` loops over rows: ~150x slower at 20,000 genes). NaN where k = 0.
    scipy's numbers through :func:`markerflow.rcompat.distributions.fisher_combine` (no
    scipy.stats import).
    """
    from markerflow.rcompat.distributions import fisher_combine

    p = np.clip(np.asarray(pvalues, dtype=np.float64), 1e-300, 1.0)
    ok = np.isfinite(p)
    k = ok.sum(axis=1)
    # measured values first, in their cohort order (stable sort of "missing" flags)
    packed = np.take_along_axis(p, np.argsort(~ok, axis=1, kind="stable"), axis=1)
    out = np.full(p.shape[0], np.nan)
    for n in np.unique(k[k > 0]):
        rows = k == n
        out[rows] = fisher_combine(packed[rows, :n])
    return out


def _stack(tables: Mapping[str, pd.DataFrame]) -> tuple[list[str], dict[str, np.ndarray]]:
    """Align the cohorts' DE tables on the union of genes: genes x cohorts arrays, NaN = missing."""
    for cohort, table in tables.items():
        missing = [c for c in REQUIRED_DE if c not in table.columns]
        if missing:
            raise InputError(
                f"DE table of cohort {cohort!r} lacks column(s) {missing}",
                hint="meta-analysis needs the DE table contract (markerflow.contracts)",
            )
        dup = table["gene"][table["gene"].duplicated()]
        if len(dup):
            raise InputError(
                f"DE table of cohort {cohort!r} has duplicated genes, e.g. {list(dup[:3])}",
                hint="collapse to one row per gene before DE",
            )
    genes = sorted(set().union(*(t["gene"].astype(str) for t in tables.values())))
    index = pd.Index(genes, name="gene")
    cols: dict[str, list[np.ndarray]] = {
        "hedges_g": [],
        "hedges_g_se": [],
        "pvalue": [],
        "log2fc": [],
    }
    for table in tables.values():
        t = table.assign(gene=table["gene"].astype(str)).set_index("gene").reindex(index)
        for c in cols:
            cols[c].append(t[c].to_numpy(dtype=np.float64))
    return genes, {c: np.column_stack(v) for c, v in cols.items()}


def _sign_agreement(g: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    ok = np.isfinite(g)
    agree = (np.sign(g) == np.sign(pooled)[:, None]) & ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return agree.sum(axis=1) / ok.sum(axis=1)


def meta_analysis(
    de_tables: Mapping[str, pd.DataFrame],
    *,
    min_cohorts: int | None = None,
    leave_one_out: bool = True,
    method: str = "random_effects",
) -> pd.DataFrame:
    """Meta-analysis of per-cohort DE tables (cohort id -> DE table), one row per gene.

    Columns: :data:`META_COLUMNS`, then ``g_<cohort>`` and ``se_<cohort>`` per cohort (input
    order). Sorted by p-value, then gene. See the module docstring for every formula, the
    leave-one-cohort-out rule and the single-cohort pass-through.

    ``method``: ``random_effects`` (DerSimonian–Laird, default) or ``fixed_effect`` (inverse
    variance; tau² forced to 0, Q and I² still reported).
    """
    if not de_tables:
        raise InputError(
            "no DE tables given to the meta-analysis",
            hint="the study needs at least one discovery cohort",
        )
    if method not in ("random_effects", "fixed_effect"):
        raise InputError(
            f"unknown meta.method {method!r}", hint="use 'random_effects' or 'fixed_effect'"
        )
    cohorts = [str(c) for c in de_tables]
    genes, arr = _stack(de_tables)
    g, se, p2, lfc = arr["hedges_g"], arr["hedges_g_se"], arr["pvalue"], arr["log2fc"]
    n_k = len(cohorts)
    if min_cohorts is None:
        min_cohorts = 2 if n_k >= 2 else 1
    if min_cohorts < 1 or min_cohorts > n_k:
        raise InputError(
            f"meta min_cohorts={min_cohorts} but the study has {n_k} discovery cohort(s)",
            hint=f"use a value between 1 and {n_k}",
        )
    se = np.where(np.isfinite(g), se, np.nan)
    g = np.where(np.isfinite(se) & (se > 0), g, np.nan)

    def pool(gg: np.ndarray, ss: np.ndarray) -> dict[str, np.ndarray]:
        return dersimonian_laird(gg, ss, random=method == "random_effects")

    # one-sided p-values from the two-sided DE p and the direction of the fold change
    direction = np.sign(np.where(np.isfinite(lfc), lfc, g))
    half = p2 / 2.0
    p_up = np.where(direction > 0, half, 1.0 - half)
    p_down = np.where(direction < 0, half, 1.0 - half)

    res = _single_cohort(g[:, 0], se[:, 0], p2[:, 0]) if n_k == 1 else pool(g, se)
    keep = res["k"] >= min_cohorts
    dropped = int((~keep).sum())
    if dropped:
        log.info(
            "meta: %d of %d genes measured in fewer than %d cohorts were dropped",
            dropped,
            len(genes),
            min_cohorts,
        )
    sel = np.flatnonzero(keep)
    genes_kept = [genes[i] for i in sel]
    res = {key: val[sel] for key, val in res.items()}
    g, se, p_up, p_down = g[sel], se[sel], p_up[sel], p_down[sel]
    fdr = p_adjust_bh(res["pvalue"])

    loo = np.full(len(sel), np.nan)
    if leave_one_out and n_k >= 3:
        loo = _leave_one_out_max_fdr(g, se, res["effect"], pool)

    fisher_up = fisher_combined(p_up)
    fisher_down = fisher_combined(p_down)
    out = pd.DataFrame({
        "gene": genes_kept,
        "pooled_effect": res["effect"],
        "pooled_se": res["se"],
        "pooled_z": res["z"],
        "pvalue": res["pvalue"],
        "fdr": fdr,
        "tau2": res["tau2"],
        "q": res["q"],
        "q_pvalue": res["q_pvalue"],
        "i2": res["i2"],
        "n_cohorts": res["k"].astype(np.int64),
        "sign_agreement": _sign_agreement(g, res["effect"]),
        "loo_max_fdr": loo,
        "fisher_up_p": fisher_up,
        "fisher_up_fdr": p_adjust_bh(fisher_up),
        "fisher_down_p": fisher_down,
        "fisher_down_fdr": p_adjust_bh(fisher_down),
    })  # fmt: skip
    for j, cohort in enumerate(cohorts):
        out[f"g_{cohort}"] = g[:, j]
    for j, cohort in enumerate(cohorts):
        out[f"se_{cohort}"] = se[:, j]
    out = out.sort_values(["pvalue", "gene"], kind="mergesort", na_position="last")
    return out.reset_index(drop=True)


def _single_cohort(g: np.ndarray, se: np.ndarray, p2: np.ndarray) -> dict[str, np.ndarray]:
    """The single-cohort pass-through: the cohort's own effect, SE and two-sided DE p-value in
    the shape of :func:`dersimonian_laird`'s result (heterogeneity columns NaN)."""
    n = g.shape[0]
    z = g / se
    res = {"k": np.isfinite(g).astype(int), "effect": g, "se": se, "z": z,
           "pvalue": p2, "tau2": np.full(n, np.nan)}  # fmt: skip
    for key in ("q", "q_pvalue", "i2"):
        res[key] = np.full(n, np.nan)
    res["pvalue"] = np.where(np.isfinite(g), res["pvalue"], np.nan)
    return res


def _leave_one_out_max_fdr(
    g: np.ndarray,
    se: np.ndarray,
    effect: np.ndarray,
    pool: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]],
) -> np.ndarray:
    """Leave-one-cohort-out robustness: per gene, the largest BH FDR over the pools that leave
    out one cohort each, counting a pool whose effect changes sign (or an undefined FDR) as 1."""
    n_k = g.shape[1]
    loo = np.zeros(g.shape[0])
    for drop in range(n_k):
        cols = [c for c in range(n_k) if c != drop]
        r = pool(g[:, cols], se[:, cols])
        f = p_adjust_bh(r["pvalue"])
        flipped = np.sign(r["effect"]) != np.sign(effect)
        f = np.where(np.isfinite(f) & ~flipped, f, 1.0)
        loo = np.maximum(loo, f)
    return loo
