"""Gene-set enrichment: hypergeometric over-representation (ORA) and preranked GSEA.

Over-representation (:func:`ora`, :func:`ora_up_down`)
    One-sided hypergeometric test per gene set, as clusterProfiler's ``enricher`` / R's
    ``phyper(k - 1, K, N - K, n, lower.tail = FALSE)``: with ``N`` background genes (the genes
    measured and tested, not the genome), ``K`` of them in the set, ``n`` selected genes of which
    ``k`` are in the set, ``p = P(X >= k)`` for ``X ~ Hypergeom(N, K, n)``. Set sizes are counted
    after intersecting with the background; selected genes outside the background are ignored.
    Benjamini–Hochberg over every set tested in one library (sets with zero overlap included, so
    the family is all sets that passed the size filter). Up- and down-regulated genes are tested
    separately (Hong et al. 2014, "A comprehensive evaluation of gene set enrichment analysis ...").

clusterProfiler's table (:func:`ora_clusterprofiler`)
    The same ORA rows with the columns of clusterProfiler's ``compareCluster`` / ``enricher``
    result (:data:`CLUSTERPROFILER_COLUMNS`): ``Cluster`` (up/down), ``ID``, ``Description``,
    ``GeneRatio`` = ``k/n``, ``BgRatio`` = ``K/N``, ``pvalue``, ``p.adjust`` (our BH ``padj``),
    ``qvalue`` (Storey's q-value exactly as clusterProfiler calls qvalue,
    :func:`markerflow.rcompat.qvalue.clusterprofiler_qvalue`, per direction), ``geneID``
    (``/``-joined, sorted) and ``Count`` = ``k``. Deviations from clusterProfiler, kept so the
    numbers equal the ORA table's: ``N`` is the tested background and ``n`` the selected genes
    in it (clusterProfiler counts only the universe genes that are in some set of the library,
    and only the selected genes among those), terms with no selected gene are listed (``Count``
    0, ``pvalue`` 1) and are in the BH / q-value family, and no p-value cut-off is applied.

Preranked GSEA (:func:`gsea_prerank`)
    Enrichment score of Subramanian et al. 2005 (PNAS 102:15545) with weight ``p`` (``|r|^p``,
    p = 1 by default), significance by gene-set permutation as in fgsea's ``fgseaSimple``
    (Korotkevich et al. 2021, bioRxiv 060012) and GSEAPreranked: for each set size ``m`` the null
    distribution of ES is computed from the same ``permutations`` random gene sets of size ``m``,
    so all sets of one size share one null (fgsea's trick, which makes the test vectorisable).
    The random sets are prefixes of one random ordered sample per permutation, as in fgsea.

    - NES = ES / mean of the null ES of the same sign (fgsea, GSEA).
    - ``pvalue``: fgsea's nominal p, ``min((1 + #null <= ES)/(1 + #null <= 0),
      (1 + #null >= ES)/(1 + #null >= 0))``; its resolution is ``1/(permutations + 1)``. With
      ``method="multilevel"`` (the default, as fgsea's ``fgsea()``), sets whose permutation
      estimate is less precise than a multilevel one (fgsea's rule, by ``log2err``) get fgsea's
      adaptive multilevel splitting estimate instead (:mod:`markerflow.engines.gsea_multilevel`),
      which resolves p-values down to ``eps``; ``pvalue_method`` says which, ``log2err`` gives
      fgsea's standard deviation of ``log2(pvalue)``.
    - ``padj``: Benjamini–Hochberg of ``pvalue`` over the library (fgsea's ``padj``).
    - ``fdr_gsea``: the GSEA FDR q-value (Subramanian et al. 2005, supplement): for NES* >= 0,
      (fraction of the pooled null NES >= NES* among null NES >= 0) / (fraction of observed NES >=
      NES* among observed NES >= 0), capped at 1; mirrored for negative NES. Not forced monotone,
      as in the GSEA software.

    Which FDR to use: with ``method="simple"`` the nominal p cannot go below about
    ``2/permutations`` (only the null ES of the same sign count), so with 1,000 permutations and
    thousands of sets BH ``padj`` can stay above 0.05 even for sets that are clearly enriched; the
    multilevel estimate removes that floor, so ``padj`` is then the column to use (as fgsea's).
    ``fdr_gsea`` pools the null NES of all sets and is what the GSEA software reports.
    - Leading edge: set genes ranked at or before the running-sum maximum (positive ES) or at or
      after the minimum (negative ES), listed from the extreme end of the ranking inwards.

    Ranking: genes with a missing statistic are dropped; a gene listed twice keeps its entry with
    the largest ``|stat|`` (logged); genes are ordered by decreasing statistic, ties broken by gene
    symbol (ascending, Unicode code-point order) so the ranking and every result are deterministic.

Figures: :mod:`markerflow.plots.enrichment` (this module computes what they draw, e.g.
:func:`running_panels`, and imports no matplotlib).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from markerflow.errors import InputError
from markerflow.io.gmt import GeneSet, filter_sets
from markerflow.rcompat.distributions import beta_ppf, hypergeom_sf
from markerflow.rcompat.padjust import p_adjust_bh
from markerflow.rcompat.qvalue import clusterprofiler_qvalue

log = logging.getLogger(__name__)

ORA_COLUMNS = [
    "term_id",
    "term_name",
    "direction",
    "set_size",
    "overlap",
    "expected",
    "fold_enrichment",
    "pvalue",
    "padj",
    "genes",
]
#: columns of clusterProfiler's compareCluster result, in its order (:func:`ora_clusterprofiler`)
CLUSTERPROFILER_COLUMNS = [
    "Cluster",
    "ID",
    "Description",
    "GeneRatio",
    "BgRatio",
    "pvalue",
    "p.adjust",
    "qvalue",
    "geneID",
    "Count",
]
GSEA_COLUMNS = [
    "term_id",
    "term_name",
    "direction",
    "set_size",
    "es",
    "nes",
    "pvalue",
    "padj",
    "fdr_gsea",
    "rank_at_max",
    "leading_edge_size",
    "leading_edge",
    "log2err",
    "pvalue_method",
]
#: p-value estimators of :func:`gsea_prerank`
GSEA_METHODS = ("multilevel", "simple")


def _membership(sets: Mapping[str, GeneSet], universe: pd.Index) -> sp.csr_matrix:
    """Boolean sets x universe CSR matrix (column indices sorted) of sets already inside universe."""
    sizes = np.fromiter((len(s.genes) for s in sets.values()), dtype=np.int64, count=len(sets))
    flat = [g for s in sets.values() for g in s.genes]
    cols = universe.get_indexer(pd.Index(flat, dtype=object)) if flat else np.empty(0, np.int64)
    if (cols < 0).any():
        raise ValueError("gene sets must be filtered to the universe first")
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    data = np.ones(cols.size, dtype=np.int32)
    mat = sp.csr_matrix((data, cols, indptr), shape=(len(sets), len(universe)))
    mat.sort_indices()
    return mat


# --------------------------------------------------------------------------- over-representation


def ora(
    genes: set[str] | frozenset[str],
    background: set[str] | frozenset[str],
    sets: Mapping[str, GeneSet],
    min_size: int = 10,
    max_size: int = 500,
    *,
    direction: str = "all",
) -> pd.DataFrame:
    """Hypergeometric over-representation of ``genes`` in each set, relative to ``background``.

    Parameters
    ----------
    genes: the selected genes (e.g. significantly up-regulated). Genes outside ``background`` are
        ignored (logged).
    background: every gene that could have been selected (genes measured and tested).
    sets: gene sets from :func:`markerflow.io.gmt.read_gmt` (unfiltered).
    min_size, max_size: set sizes allowed after intersecting with the background.
    direction: value written to the ``direction`` column (``up``/``down`` from
        :func:`ora_up_down`).

    Returns
    -------
    One row per set passing the size filter, columns :data:`ORA_COLUMNS`: ``set_size`` (K, in the
    background), ``overlap`` (k), ``expected`` (n K / N), ``fold_enrichment`` (k / expected; NaN
    when nothing is selected), ``pvalue`` = ``hypergeom.sf(k - 1, N, K, n)``, ``padj`` (BH over
    the rows), ``genes`` (overlap, sorted, ``;``-joined). Sorted by p-value, then fold enrichment
    (descending), then term ID.
    """
    library = _OraLibrary.build(background, sets, min_size, max_size, direction)
    selected = library.background.intersection(genes)
    if len(selected) < len(genes):
        log.info(
            "ORA %s: %d selected gene(s) not in the background are ignored",
            direction,
            len(genes) - len(selected),
        )
    return library.test(selected, direction)


@dataclass(frozen=True)
class _OraLibrary:
    """A library restricted to one background once (sorted universe, size-filtered sets and their
    sets x universe membership), shared by the up and the down test of :func:`ora_up_down`."""

    universe: pd.Index
    background: frozenset[str]
    sets: dict[str, GeneSet]
    membership: sp.csr_matrix | None

    @classmethod
    def build(
        cls,
        background: set[str] | frozenset[str],
        sets: Mapping[str, GeneSet],
        min_size: int,
        max_size: int,
        what: str,
    ) -> _OraLibrary:
        universe = pd.Index(sorted(background), dtype=object)
        if universe.empty:
            raise InputError("the background gene list is empty", hint="check the DE table")
        bg = frozenset(universe)
        fsets = filter_sets(sets, bg, min_size, max_size)
        if not fsets:
            log.warning(
                "ORA %s: no gene set has %d-%d genes in the background", what, min_size, max_size
            )
        mat = _membership(fsets, universe) if fsets else None
        return cls(universe, bg, fsets, mat)

    def test(self, selected: frozenset[str] | set[str], direction: str) -> pd.DataFrame:
        """The ORA table (:func:`ora`) of ``selected`` (a subset of the background)."""
        universe, fsets, mat = self.universe, self.sets, self.membership
        if mat is None:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in ORA_COLUMNS})
        is_sel = np.zeros(len(universe), dtype=np.int32)
        sel_idx = np.sort(universe.get_indexer(pd.Index(list(selected), dtype=object)))
        is_sel[sel_idx] = 1

        n_bg = len(universe)
        n_sel = len(selected)
        set_size = np.diff(mat.indptr)
        overlap = np.asarray(mat @ is_sel).ravel()
        expected = n_sel * set_size / n_bg
        with np.errstate(divide="ignore", invalid="ignore"):
            fold = np.where(expected > 0, overlap / expected, np.nan)
        pvalue = hypergeom_sf(overlap - 1, n_bg, set_size, n_sel)
        pvalue = np.clip(pvalue, 0.0, 1.0)

        # overlapping genes: restrict columns to the selected genes, then split rows
        sub = mat[:, sel_idx].tocsr()
        sub.sort_indices()
        names = universe.to_numpy()[sel_idx][sub.indices]
        pieces = np.split(names, sub.indptr[1:-1])
        gene_str = [";".join(p) for p in pieces]

        df = pd.DataFrame(
            {
                "term_id": list(fsets.keys()),
                "term_name": [s.name for s in fsets.values()],
                "direction": direction,
                "set_size": set_size.astype(np.int64),
                "overlap": overlap.astype(np.int64),
                "expected": expected,
                "fold_enrichment": fold,
                "pvalue": pvalue,
                "padj": p_adjust_bh(pvalue),
                "genes": gene_str,
            }
        )
        df = df.sort_values(
            ["pvalue", "fold_enrichment", "term_id"],
            ascending=[True, False, True],
            kind="mergesort",
            na_position="last",
        )
        log.info(
            "ORA %s: %d selected of %d background genes, %d sets, %d at padj < 0.05",
            direction,
            n_sel,
            n_bg,
            len(df),
            int((df["padj"] < 0.05).sum()),
        )
        return df.reset_index(drop=True)


def _dedupe_table(table: pd.DataFrame, gene_col: str, key: pd.Series, what: str) -> pd.DataFrame:
    """Keep one row per gene: the one with the largest ``key`` (first on ties); log the count."""
    dup = table[gene_col].duplicated(keep=False)
    if not dup.any():
        return table
    order = np.lexsort((np.arange(len(table)), -key.to_numpy(dtype=np.float64)))
    kept = table.iloc[order].drop_duplicates(gene_col, keep="first").sort_index()
    log.warning(
        "%s: %d gene(s) listed more than once; kept the row with %s (%d rows dropped)",
        what,
        table.loc[dup, gene_col].nunique(),
        key.name,
        len(table) - len(kept),
    )
    return kept


def ora_up_down(
    de_table: pd.DataFrame,
    sets: Mapping[str, GeneSet],
    padj_threshold: float = 0.05,
    lfc_threshold: float = 0.0,
    min_size: int = 10,
    max_size: int = 500,
    *,
    gene_col: str = "gene",
    lfc_col: str = "log2fc",
    padj_col: str = "padj",
) -> pd.DataFrame:
    """ORA of up- and of down-regulated genes separately, concatenated (``direction`` up/down).

    Background = genes of ``de_table`` with a non-missing adjusted p-value and effect (genes that
    were measured *and* tested; DESeq2's independently filtered genes are excluded because they
    could never be selected). Up: ``padj < padj_threshold`` and ``lfc > lfc_threshold``; down:
    ``padj < padj_threshold`` and ``lfc < -lfc_threshold``. BH is applied per library and
    direction. For a meta-analysis table pass e.g. ``lfc_col="pooled_effect", padj_col="fdr"``.
    """
    missing = [c for c in (gene_col, lfc_col, padj_col) if c not in de_table.columns]
    if missing:
        raise InputError(
            f"table lacks column(s) {missing}; it has {list(de_table.columns)}",
            hint="the DE/meta table must have the gene, effect and FDR columns",
        )
    tab = de_table[[gene_col, lfc_col, padj_col]].copy()
    tab[gene_col] = tab[gene_col].astype(str)
    tab = tab.dropna(subset=[lfc_col, padj_col])
    if len(tab) < len(de_table):
        log.info(
            "ORA: %d gene(s) without %s/%s left out of the background",
            len(de_table) - len(tab),
            lfc_col,
            padj_col,
        )
    tab = _dedupe_table(tab, gene_col, (-tab[padj_col]).rename(f"the smallest {padj_col}"), "ORA")
    background = set(tab[gene_col])
    sig = tab[padj_col].to_numpy() < padj_threshold
    lfc = tab[lfc_col].to_numpy(dtype=np.float64)
    up = set(tab[gene_col].to_numpy()[sig & (lfc > lfc_threshold)])
    down = set(tab[gene_col].to_numpy()[sig & (lfc < -lfc_threshold)])
    library = _OraLibrary.build(background, sets, min_size, max_size, "up/down")
    parts = [library.test(up, "up"), library.test(down, "down")]
    result = pd.concat(parts, ignore_index=True)[ORA_COLUMNS]
    # the n and N of each direction, for clusterProfiler's GeneRatio / BgRatio
    result.attrs["ora_sizes"] = {
        "up": (len(up), len(background)),
        "down": (len(down), len(background)),
    }
    return result


def ora_clusterprofiler(
    table: pd.DataFrame, sizes: Mapping[str, tuple[int, int]] | None = None
) -> pd.DataFrame:
    """The ORA table of :func:`ora_up_down` with clusterProfiler's columns (module docstring),
    rows in the same order (by direction, then p-value). ``sizes``: direction -> (selected genes
    ``n``, background genes ``N``); default ``table.attrs["ora_sizes"]`` as :func:`ora_up_down`
    leaves it."""
    if sizes is None:
        sizes = table.attrs.get("ora_sizes")
    if sizes is None:
        raise InputError("ORA table without selection sizes (ora_up_down's attrs['ora_sizes'])")
    if table.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CLUSTERPROFILER_COLUMNS})
    direction = table["direction"].astype(str).to_numpy()
    unknown = sorted(set(direction) - set(sizes))
    if unknown:
        raise InputError(f"ORA sizes missing for direction(s) {', '.join(unknown)}")
    n_sel = np.array([sizes[d][0] for d in direction], dtype=np.int64)
    n_bg = np.array([sizes[d][1] for d in direction], dtype=np.int64)
    qvalues = np.full(len(table), np.nan)
    pvalues = table["pvalue"].to_numpy(dtype=np.float64)
    for d in dict.fromkeys(direction):  # one qvalue() call per direction, as per enricher call
        rows = direction == d
        qvalues[rows] = clusterprofiler_qvalue(pvalues[rows])
    overlap = table["overlap"].to_numpy(dtype=np.int64)
    set_size = table["set_size"].to_numpy(dtype=np.int64)
    genes = table["genes"].fillna("").astype(str).str.replace(";", "/", regex=False)
    return pd.DataFrame(
        {
            "Cluster": direction,
            "ID": table["term_id"].to_numpy(),
            "Description": table["term_name"].to_numpy(),
            "GeneRatio": [f"{k}/{n}" for k, n in zip(overlap, n_sel, strict=True)],
            "BgRatio": [f"{k}/{n}" for k, n in zip(set_size, n_bg, strict=True)],
            "pvalue": pvalues,
            "p.adjust": table["padj"].to_numpy(dtype=np.float64),
            "qvalue": qvalues,
            "geneID": genes.to_numpy(),
            "Count": overlap,
        }
    )[CLUSTERPROFILER_COLUMNS]


# --------------------------------------------------------------------------- preranked GSEA


def prepare_ranking(stats: pd.Series) -> pd.Series:
    """Ranked statistics for GSEA: drop NaN, dedupe genes (max ``|stat|``), sort decreasing.

    Ties in the statistic are broken by gene symbol (ascending), so the order is deterministic
    whatever the input order. Returns a float Series indexed by gene, in rank order.
    """
    s = pd.Series(np.asarray(stats, dtype=np.float64), index=stats.index.astype(str))
    n_nan = int(s.isna().sum())
    if n_nan:
        log.info("GSEA: %d gene(s) with a missing statistic dropped", n_nan)
        s = s[s.notna()]
    if not np.isfinite(s.to_numpy()).all():
        bad = s.index[~np.isfinite(s.to_numpy())][:5].tolist()
        raise InputError(
            f"infinite ranking statistic for gene(s) {bad}",
            hint="use a finite statistic (t, z) to rank genes",
        )
    if s.index.has_duplicates:
        genes = s.index.to_numpy()
        order = np.lexsort((genes, -np.abs(s.to_numpy())))
        dup = s.index.duplicated(keep=False)
        n_dup_genes = s.index[dup].nunique()
        s = s.iloc[order]
        s = s[~s.index.duplicated(keep="first")]
        log.warning(
            "GSEA: %d gene(s) listed more than once; kept the entry with the largest |stat|",
            n_dup_genes,
        )
    genes = s.index.to_numpy()
    order = np.lexsort((genes, -s.to_numpy()))
    out = s.iloc[order]
    out.index.name = "gene"
    return out


def _segment_es(
    pos: np.ndarray, w: np.ndarray, starts: np.ndarray, sizes: np.ndarray, n_genes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ES of many sets given flat, per-set sorted rank positions (0-based) and weights.

    Returns (es, index of the running-sum extreme inside each segment, positive-side flag). This is
    fgsea's ``calcGseaStat``: tops = cumsum(w)/NR - (pos - j)/(N - m), bottoms = tops - w/NR.
    """
    seg = np.repeat(np.arange(sizes.size), sizes)
    nr = np.add.reduceat(w, starts)
    zero = nr == 0
    if zero.any():  # a set whose statistics are all 0: equal weights, as fgsea
        w = np.where(zero[seg], 1.0, w)
        nr = np.add.reduceat(w, starts)
    cs = np.cumsum(w)
    before = np.concatenate([[0.0], cs[starts[1:] - 1]]) if starts.size else cs
    cs_seg = cs - before[seg]
    j = np.arange(pos.size) - starts[seg]
    tops = cs_seg / nr[seg] - (pos - j) / (n_genes - sizes[seg])
    bottoms = tops - w / nr[seg]
    maxp = np.maximum.reduceat(tops, starts)
    minn = np.minimum.reduceat(bottoms, starts)
    es = np.where(maxp > -minn, maxp, np.where(maxp < -minn, minn, 0.0))
    positive = es >= 0
    # first index of the extreme within each segment
    target = np.where(positive, maxp, minn)[seg]
    hit = np.flatnonzero(np.where(positive[seg], tops, bottoms) == target)
    _, first = np.unique(seg[hit], return_index=True)
    arg = hit[first] - starts
    return es, arg, positive


def _null_es(
    absw: np.ndarray, sizes: np.ndarray, permutations: int, rng: np.random.Generator
) -> dict[int, np.ndarray]:
    """Null ES of ``permutations`` random gene sets for each size (fgsea ``fgseaSimple``).

    One random ordered sample of ``max(sizes)`` rank positions is drawn per permutation; its
    first ``m`` elements are a uniform random set of size ``m``. The ES of every prefix size are
    computed by :func:`markerflow.engines.gsea_kernel.null_es` (compiled; one insertion-sorted
    pass per permutation instead of a sort per size, bit-identical to the numpy formulation of
    tests/test_gsea_multilevel.py, 10-20x faster on GO BP's ~400 set sizes).
    """
    from markerflow.engines.gsea_kernel import null_es

    n = absw.size
    kmax = int(sizes.max())
    draws = np.empty((permutations, kmax), dtype=np.int32)
    for i in range(permutations):
        draws[i] = rng.choice(n, size=kmax, replace=False, shuffle=True)
    uniq = np.unique(sizes).astype(np.int64)
    values = null_es(np.ascontiguousarray(absw, dtype=np.float64), draws, uniq)
    return {int(m): values[i] for i, m in enumerate(uniq)}


def gsea_prerank(
    stats: pd.Series,
    sets: Mapping[str, GeneSet],
    permutations: int = 1000,
    seed: int = 0,
    min_size: int = 15,
    max_size: int = 500,
    weight: float = 1.0,
    *,
    method: str = "multilevel",
    sample_size: int = 101,
    eps: float = 1e-50,
    threads: int = 1,
) -> pd.DataFrame:
    """Preranked GSEA (Subramanian et al. 2005) with fgsea's p-values (``fgseaMultilevel``).

    Parameters
    ----------
    stats: gene -> ranking statistic (DE moderated t / Wald stat, meta-analysis z).
    sets: gene sets (unfiltered); restricted to ranked genes, then ``min_size <= size <= max_size``.
    permutations: random gene sets per set size for the null distribution.
    seed: seed of ``numpy.random.default_rng``; equal seeds give identical tables.
    weight: GSEA's ``p`` (0 = classic Kolmogorov–Smirnov, 1 = weighted).
    method: ``"multilevel"`` (the default, as fgsea's ``fgsea()`` = ``fgseaMultilevel``): the
        simple permutation p-value,
        then, for every set whose simple estimate is less precise than a multilevel one would be
        (fgsea's rule: ``multilevelError < simpleError``), the adaptive multilevel estimate of
        :mod:`markerflow.engines.gsea_multilevel`, so small p-values are estimated instead of
        floored at ``1/(permutations + 1)``; ``"simple"``: permutations only (``fgseaSimple``).
    sample_size, eps: fgsea's ``sampleSize`` (samples per level) and ``eps`` (p-values below it are
        reported as ``eps``, with ``log2err`` missing).
    threads: multilevel rulers computed at once (fgsea's ``nproc``); the table is the same for any
        number.

    Returns
    -------
    Columns :data:`GSEA_COLUMNS` (see the module docstring), sorted by p-value, then ``|NES|``
    descending, then term ID. ``rank_at_max`` is the 1-based rank of the running-sum extreme.
    """
    if permutations < 1:
        raise InputError(
            f"permutations must be >= 1, got {permutations}",
            hint="set enrichment.gsea.permutations (1000 or more)",
        )
    if method not in GSEA_METHODS:
        raise InputError(
            f"unknown GSEA p-value method {method!r}",
            hint=f"set enrichment.gsea.method to one of {', '.join(GSEA_METHODS)}",
        )
    ranked = prepare_ranking(stats)
    genes = ranked.index
    n = len(genes)
    fsets = filter_sets(sets, set(genes), min_size, max_size)
    fsets = {k: v for k, v in fsets.items() if len(v.genes) < n}
    if not fsets:
        log.warning(
            "GSEA: no gene set has %d-%d genes among the %d ranked genes", min_size, max_size, n
        )
        return pd.DataFrame({c: pd.Series(dtype=object) for c in GSEA_COLUMNS})
    absw = np.abs(ranked.to_numpy()) ** weight if weight != 0 else np.ones(n)

    # observed ES, all sets at once on flat per-set sorted positions
    sizes = np.fromiter((len(s.genes) for s in fsets.values()), dtype=np.int64, count=len(fsets))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = pd.Index([g for s in fsets.values() for g in s.genes], dtype=object)
    pos = genes.get_indexer(flat).astype(np.int64)
    seg = np.repeat(np.arange(sizes.size), sizes)
    order = np.lexsort((pos, seg))
    pos = pos[order]
    es, arg, positive = _segment_es(pos, absw[pos], starts, sizes, n)

    # null distributions per size, p-values and NES
    rng = np.random.default_rng(seed)
    null = _null_es(absw, sizes, permutations, rng)
    pval = np.empty(sizes.size)
    nes = np.empty(sizes.size)
    n_more = np.empty(sizes.size)  # fgsea's nMoreExtreme: null ES at least as extreme, same sign
    n_mode = np.empty(sizes.size)  # fgsea's modeFraction: null ES of the same sign
    pos_mean: dict[int, float] = {}
    neg_mean: dict[int, float] = {}
    for m, ne in null.items():
        idx = np.flatnonzero(sizes == m)
        srt = np.sort(ne)
        e = es[idx]
        n_le = np.searchsorted(srt, e, side="right")
        n_ge = srt.size - np.searchsorted(srt, e, side="left")
        n_le0 = np.searchsorted(srt, 0.0, side="right")
        n_ge0 = srt.size - np.searchsorted(srt, 0.0, side="left")
        pval[idx] = np.minimum((1 + n_le) / (1 + n_le0), (1 + n_ge) / (1 + n_ge0))
        n_more[idx] = np.where(e >= 0, n_ge, n_le)
        n_mode[idx] = np.where(e >= 0, n_ge0, n_le0)
        pos_mean[m] = float(ne[ne >= 0].mean()) if n_ge0 else np.nan
        neg_mean[m] = float(np.abs(ne[ne <= 0].mean())) if n_le0 else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            nes[idx] = np.where(e > 0, e / pos_mean[m], np.where(e < 0, e / neg_mean[m], 0.0))
    pval = np.minimum(pval, 1.0)
    log2err = _simple_log2err(n_more, permutations)
    estimator = np.full(sizes.size, "simple", dtype=object)
    if method == "multilevel":
        pval, log2err, estimator = _multilevel(
            es, sizes, absw, pval, log2err, estimator, n_more, n_mode, permutations,
            sample_size=sample_size, eps=eps, seed=seed, threads=threads,
        )  # fmt: skip
    fdr = _gsea_fdr(nes, sizes, null, pos_mean, neg_mean)

    # leading edge (rank order from the extreme end inwards)
    le_idx: list[str] = []
    le_size = np.empty(sizes.size, dtype=np.int64)
    rank_at_max = np.empty(sizes.size, dtype=np.int64)
    names = genes.to_numpy()
    for i, (st, sz) in enumerate(zip(starts, sizes, strict=True)):
        p = pos[st : st + sz]
        a = arg[i]
        edge = p[: a + 1] if positive[i] else p[a:][::-1]
        le_size[i] = edge.size
        rank_at_max[i] = p[a] + 1
        le_idx.append(";".join(names[edge]))

    df = pd.DataFrame(
        {
            "term_id": list(fsets.keys()),
            "term_name": [s.name for s in fsets.values()],
            "direction": np.where(es >= 0, "up", "down"),
            "set_size": sizes,
            "es": es,
            "nes": nes,
            "pvalue": pval,
            "padj": p_adjust_bh(pval),
            "fdr_gsea": fdr,
            "rank_at_max": rank_at_max,
            "leading_edge_size": le_size,
            "leading_edge": le_idx,
            "log2err": log2err,
            "pvalue_method": estimator,
        }
    )
    df = (
        df.assign(_abs=-np.abs(df["nes"]))
        .sort_values(["pvalue", "_abs", "term_id"], kind="mergesort")
        .drop(columns="_abs")
    )
    log.info(
        "GSEA: %d ranked genes, %d sets, %d permutations, %d at padj < 0.05",
        n,
        len(df),
        permutations,
        int((df["padj"] < 0.05).sum()),
    )
    return df.reset_index(drop=True)


def _simple_log2err(n_more: np.ndarray, permutations: int) -> np.ndarray:
    """Standard deviation of log2 of the simple estimate (fgsea: sqrt(trigamma(nMore + 1) -
    trigamma(nPerm + 1)) / log 2)."""
    from scipy.special import polygamma

    return np.sqrt(polygamma(1, n_more + 1) - polygamma(1, permutations + 1)) / np.log(2)


def _multilevel(
    es: np.ndarray,
    sizes: np.ndarray,
    absw: np.ndarray,
    pval: np.ndarray,
    log2err: np.ndarray,
    estimator: np.ndarray,
    n_more: np.ndarray,
    n_mode: np.ndarray,
    permutations: int,
    *,
    sample_size: int,
    eps: float,
    seed: int,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """fgseaMultilevel's second stage: sets whose simple estimate is the less precise one get the
    multilevel estimate (grouped by size, one ruler per size and sign; ``threads`` sizes at once,
    as fgsea's ``nproc``, with identical results)."""
    from markerflow.engines.gsea_multilevel import multilevel_error, multilevel_pvalues

    pval, log2err, estimator = pval.copy(), log2err.copy(), estimator.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.log2(beta_ppf(0.025, n_more, permutations - n_more + 1))
        right = np.log2(beta_ppf(0.975, n_more + 1, permutations - n_more))
    crude = np.log2((n_more + 1) / (permutations + 1))
    simple_error = 0.5 * np.fmax(crude - left, right - crude)
    simple_error = np.where(np.isnan(simple_error), np.inf, simple_error)
    use = multilevel_error((n_more + 1) / (permutations + 1), sample_size) < simple_error
    denominator = (n_mode + 1) / (permutations + 1)
    groups = [np.flatnonzero(use & (sizes == m)) for m in np.unique(sizes[use])]
    # largest expected work first (size x levels), so threads finish together; each ruler has its
    # own random stream, so the result does not depend on threads or order
    groups.sort(key=lambda idx: -int(sizes[idx[0]]) * float(-np.log2(pval[idx].min())))

    def one(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return multilevel_pvalues(
            es[idx], absw, int(sizes[idx[0]]), denominator[idx], sample_size=sample_size,
            eps=eps, seed=seed,
        )  # fmt: skip

    if threads > 1 and len(groups) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:  # the kernel releases the GIL
            results = list(pool.map(one, groups))
    else:
        results = [one(idx) for idx in groups]
    for idx, (p, good) in zip(groups, results, strict=True):
        pval[idx] = p
        log2err[idx] = np.where(good, multilevel_error(p, sample_size), np.nan)
        estimator[idx] = "multilevel"
    return pval, log2err, estimator


def _gsea_fdr(
    nes: np.ndarray,
    sizes: np.ndarray,
    null: Mapping[int, np.ndarray],
    pos_mean: Mapping[int, float],
    neg_mean: Mapping[int, float],
) -> np.ndarray:
    """GSEA FDR q-values (Subramanian et al. 2005) from the pooled null NES of all sets.

    Every set contributes its own null NES distribution; sets of one size share it, so each
    size's null is weighted by its number of sets.
    """
    fdr = np.ones(nes.size)
    uniq, counts = np.unique(sizes, return_counts=True)
    for sign in (1.0, -1.0):
        vals, wts = [], []
        for m, c in zip(uniq, counts, strict=True):
            ne = null[int(m)] * sign
            v = ne[ne >= 0] / (pos_mean[int(m)] if sign > 0 else neg_mean[int(m)])
            vals.append(v)
            wts.append(np.full(v.size, float(c)))
        v = np.concatenate(vals)
        w = np.concatenate(wts)
        order = np.argsort(v, kind="mergesort")
        v, w = v[order], w[order]
        tail = np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]])  # tail[i] = sum w[i:]
        total = tail[0]
        obs = nes * sign
        mask = obs >= 0 if sign > 0 else obs > 0
        if not mask.any() or total == 0:
            continue
        o = obs[mask]
        o_sorted = np.sort(o)
        null_frac = tail[np.searchsorted(v, o, side="left")] / total
        obs_frac = (o_sorted.size - np.searchsorted(o_sorted, o, side="left")) / o_sorted.size
        fdr[mask] = np.minimum(1.0, null_frac / obs_frac)
    return fdr


def running_score(
    ranked: pd.Series, genes: tuple[str, ...] | list[str], weight: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Running enrichment score along a ranking (output of :func:`prepare_ranking`).

    Returns (running score after each rank position, boolean hit vector).
    """
    hit = ranked.index.isin(list(genes))
    m = int(hit.sum())
    n = hit.size
    absw = np.abs(ranked.to_numpy()) ** weight if weight != 0 else np.ones(n)
    w = np.where(hit, absw, 0.0)
    nr = w.sum()
    if nr == 0:
        w, nr = hit.astype(float), float(m)
    step = np.where(hit, w / nr, -1.0 / (n - m))
    return np.cumsum(step), hit


@dataclass(frozen=True)
class RunningPanel:
    """One GSEA term's running enrichment score, for the running-score figure."""

    term_name: str
    es: float
    nes: float
    fdr_gsea: float
    score: np.ndarray  #: running score after each rank position
    hit: np.ndarray  #: boolean, the term's genes along the ranking


def running_panels(
    ranked: pd.Series,
    sets: Mapping[str, GeneSet],
    gsea_df: pd.DataFrame,
    top_n: int = 3,
    weight: float = 1.0,
) -> list[RunningPanel]:
    """Running scores (:func:`running_score`) of the ``top_n`` most significant up terms, then down
    terms, of a GSEA table (in its row order)."""
    picks = []
    if not gsea_df.empty:
        for direction in ("up", "down"):
            picks += gsea_df[gsea_df["direction"] == direction].head(top_n).to_dict("records")
    panels = []
    for row in picks:
        score, hit = running_score(ranked, sets[row["term_id"]].genes, weight)
        panels.append(RunningPanel(str(row["term_name"]), row["es"], row["nes"], row["fdr_gsea"],
                                   score, hit))  # fmt: skip
    return panels


# --------------------------------------------------------------------------- one library, one run


@dataclass
class EnrichmentResult:
    """Tables of one gene-set library for one analysis (and the ranking GSEA used)."""

    ora: pd.DataFrame
    gsea: pd.DataFrame
    ranked: pd.Series
    #: the ORA rows with clusterProfiler's columns (:func:`ora_clusterprofiler`)
    ora_clusterprofiler: pd.DataFrame | None = None


def run_enrichment(
    table: pd.DataFrame,
    sets: Mapping[str, GeneSet],
    *,
    gene_col: str = "gene",
    stat_col: str = "stat",
    lfc_col: str = "log2fc",
    padj_col: str = "padj",
    ora_padj_threshold: float = 0.05,
    ora_lfc_threshold: float = 0.0,
    ora_min_size: int = 10,
    ora_max_size: int = 500,
    gsea_permutations: int = 1000,
    gsea_min_size: int = 15,
    gsea_max_size: int = 500,
    gsea_method: str = "multilevel",
    gsea_sample_size: int = 101,
    gsea_eps: float = 1e-50,
    gsea_threads: int = 1,
    seed: int = 0,
) -> EnrichmentResult:
    """ORA (up and down) and preranked GSEA of one DE or meta-analysis table against one library.

    For a DE table the defaults apply (``gene``, ``stat``, ``log2fc``, ``padj``); for the meta table
    use ``stat_col="pooled_z", lfc_col="pooled_effect", padj_col="fdr"``.
    """
    if stat_col not in table.columns or gene_col not in table.columns:
        raise InputError(
            f"table lacks column {stat_col!r} or {gene_col!r}; it has {list(table.columns)}",
            hint="check the enrichment input table",
        )
    ora_df = ora_up_down(
        table,
        sets,
        ora_padj_threshold,
        ora_lfc_threshold,
        ora_min_size,
        ora_max_size,
        gene_col=gene_col,
        lfc_col=lfc_col,
        padj_col=padj_col,
    )
    stats = pd.Series(table[stat_col].to_numpy(dtype=np.float64), index=table[gene_col].astype(str))
    gsea_df = gsea_prerank(
        stats, sets, gsea_permutations, seed, gsea_min_size, gsea_max_size,
        method=gsea_method, sample_size=gsea_sample_size, eps=gsea_eps, threads=gsea_threads,
    )  # fmt: skip
    return EnrichmentResult(
        ora=ora_df,
        gsea=gsea_df,
        ranked=prepare_ranking(stats),
        ora_clusterprofiler=ora_clusterprofiler(ora_df),
    )
