"""Benchmark: the steps of one enrichment job (rule enrichment, issue 20), new vs previous code.

Run as ``python benchmarks/bench_enrichment_job.py [--de DE.tsv] [--gmt A.gmt B.gmt ...]``
(default: the synthetic 20,000-gene ranking of ``bench_enrichment.py`` against the shipped GO BP
and KEGG libraries). For each step that issue 20 changed, the previous implementation (kept here,
in this file) and the library's current one run in the same process on the same inputs, their
results are checked to be identical, and the CPU seconds (``time.process_time``, best of
``--repeat``) and their ratio are printed:

- ORA up + down: previously each direction filtered the library, built its membership matrix and
  evaluated Boost's hypergeometric tail for every set; now one filter/membership is shared and the
  tail is evaluated only inside the support (most sets have no selected gene);
- GSEA null ES: previously three divisions at every position of every prefix; now reciprocal
  multiplications locate the extremes and divisions run only near them (bit-identical values);
- figures: previously an RGBA PNG was encoded and decoded before the palette PNG was written; now
  the raw RGBA buffer is used (identical pixels).

The multilevel kernel, unchanged, is timed for scale. Timings under load are noisy: the ratios
of steps measured in the same run are what to compare; state ``uptime`` with them.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from markerflow.io.gmt import GeneSet, filter_sets, read_gmt  # noqa: E402
from markerflow.io.tables import read_de_table  # noqa: E402
from markerflow.stages import enrichment as E  # noqa: E402


@numba.njit(cache=False)
def previous_null_es(absw: np.ndarray, draws: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """markerflow.engines.gsea_kernel.null_es before issue 20: divisions at every position."""
    n = absw.size
    perms = draws.shape[0]
    kmax = draws.shape[1]
    out = np.empty((sizes.size, perms))
    pos = np.empty(kmax, dtype=np.int64)
    for p in range(perms):
        filled = 0
        for si in range(sizes.size):
            m = sizes[si]
            while filled < m:
                x = np.int64(draws[p, filled])
                j = filled
                while j > 0 and pos[j - 1] > x:
                    pos[j] = pos[j - 1]
                    j -= 1
                pos[j] = x
                filled += 1
            nr = 0.0
            for i in range(m):
                nr += absw[pos[i]]
            equal = nr == 0.0
            if equal:
                nr = 0.0
                for _ in range(m):
                    nr += 1.0
            cs = 0.0
            maxp = -np.inf
            minn = np.inf
            for i in range(m):
                w = 1.0 if equal else absw[pos[i]]
                cs += w
                top = cs / nr - (pos[i] - i) / (n - m)
                bottom = top - w / nr
                if top > maxp:
                    maxp = top
                if bottom < minn:
                    minn = bottom
            if maxp > -minn:
                out[si, p] = maxp
            elif maxp < -minn:
                out[si, p] = minn
            else:
                out[si, p] = 0.0
    return out


def previous_ora_up_down(de: pd.DataFrame, sets: dict[str, GeneSet]) -> pd.DataFrame:
    """ORA up and down as before issue 20: one library restriction and one full hypergeometric
    evaluation (scipy.stats, which hypergeom_sf equals bit for bit; imported by main(), outside
    the timing) per direction."""
    from scipy import stats

    full = lambda k, total, good, draws: stats.hypergeom.sf(k, total, good, draws)  # noqa: E731
    saved = E.hypergeom_sf
    E.hypergeom_sf = full
    try:
        tab = de.dropna(subset=["log2fc", "padj"])
        background = set(tab["gene"].astype(str))
        sig = tab["padj"].to_numpy() < 0.05
        lfc = tab["log2fc"].to_numpy()
        genes = tab["gene"].astype(str).to_numpy()
        parts = [
            E.ora(set(genes[sig & (lfc > 0)]), background, sets, 10, 500, direction="up"),
            E.ora(set(genes[sig & (lfc < 0)]), background, sets, 10, 500, direction="down"),
        ]
    finally:
        E.hypergeom_sf = saved
    return pd.concat(parts, ignore_index=True)[E.ORA_COLUMNS]


def previous_save(fig: Any) -> bytes:
    """markerflow.plots.figure.save_figure before issue 20 (RGBA PNG round trip), to bytes."""
    from PIL import Image

    from markerflow.plots.figure import PNG_METADATA, plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata=PNG_METADATA)
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        paletted = image.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    out = io.BytesIO()
    paletted.save(out, format="PNG", optimize=True)
    return out.getvalue()


def current_save(fig: Any, tmp: Path) -> bytes:
    from markerflow.plots.figure import save_figure

    save_figure(fig, tmp)
    return tmp.read_bytes()


def _draw_save(make: Callable[[], Any], tmp: Path | None) -> bytes:
    """Build a figure and save it the previous way (``tmp`` None) or the current way."""
    return previous_save(make()) if tmp is None else current_save(make(), tmp)


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best CPU seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.process_time()
        result = fn()
        times.append(time.process_time() - t0)
    return min(times), result


def synthetic_de(sets: dict[str, GeneSet], n_genes: int = 20_000) -> pd.DataFrame:
    """bench_enrichment.py's ranking: N(0, 1) with 30 shifted terms (seeded)."""
    rng = np.random.default_rng(20261123)
    universe = sorted({g for s in sets.values() for g in s.genes})[:n_genes]
    universe += [f"FAKE{i:05d}" for i in range(n_genes - len(universe))]
    s = pd.Series(rng.normal(size=len(universe)), index=universe)
    for i, sid in enumerate(rng.choice(list(sets), 30, replace=False)):
        members = [g for g in sets[sid].genes if g in s.index]
        s[members] += 1.0 if i % 2 == 0 else -1.0
    de = pd.DataFrame({"gene": s.index, "stat": s.to_numpy(), "log2fc": s.to_numpy() / 4})
    de["padj"] = np.minimum(1.0, 2 * np.exp(-np.abs(de["stat"]) * 1.5))
    return de


def bench_library(gmt: Path, args: argparse.Namespace, tmp: Path) -> list[tuple[str, float, float]]:
    """Time one library's changed steps (previous, current); print them."""
    from markerflow.engines.gsea_kernel import null_es
    from markerflow.plots.enrichment import gsea_running, ora_dotplot

    sets = read_gmt(gmt)
    de = read_de_table(args.de) if args.de else synthetic_de(sets)
    stats = pd.Series(de["stat"].to_numpy(float), index=de["gene"].astype(str))
    ranked = E.prepare_ranking(stats)
    print(f"{gmt.name}: {len(sets)} sets, {len(ranked)} ranked genes")

    t_old, ora_old = best(lambda: previous_ora_up_down(de, sets), args.repeat)
    t_new, ora_new = best(lambda: E.ora_up_down(de, sets, 0.05, 0.0, 10, 500), args.repeat)
    pd.testing.assert_frame_equal(ora_old, ora_new)
    rows = [("ORA up + down", t_old, t_new)]

    fsets = filter_sets(sets, set(ranked.index), 15, 500)
    sizes = np.unique([len(s.genes) for s in fsets.values()]).astype(np.int64)
    absw = np.ascontiguousarray(np.abs(ranked.to_numpy()))
    rng = np.random.default_rng(args.seed)
    draws = np.empty((args.permutations, int(sizes.max())), dtype=np.int32)
    for i in range(args.permutations):
        draws[i] = rng.choice(absw.size, size=int(sizes.max()), replace=False, shuffle=True)
    previous_null_es(absw, draws[:2], sizes)  # compile
    null_es(absw, draws[:2], sizes)
    t_old, null_old = best(lambda: previous_null_es(absw, draws, sizes), args.repeat)
    t_new, null_new = best(lambda: null_es(absw, draws, sizes), args.repeat)
    assert np.array_equal(null_old, null_new), "null ES differ"
    rows.append(("GSEA null ES", t_old, t_new))

    gsea = E.gsea_prerank(stats, sets, args.permutations, args.seed, 15, 500)
    panels = E.running_panels(ranked, sets, gsea)
    figures = (lambda: ora_dotplot(ora_new, gmt.stem), lambda: gsea_running(panels, gmt.stem))
    t_old = t_new = 0.0
    for make in figures:
        t_o, png_old = best(partial(_draw_save, make, None), args.repeat)
        t_n, png_new = best(partial(_draw_save, make, tmp), args.repeat)
        assert png_old == png_new, "figure bytes differ"
        t_old, t_new = t_old + t_o, t_new + t_n
    rows.append(("figures (build + save)", t_old, t_new))

    for name, old, new in rows:
        print(f"  {name:24s} previous {old:6.3f} s  current {new:6.3f} s  ratio {new / old:.3f}")
    t_ml = best(partial(E.gsea_prerank, stats, sets, args.permutations, args.seed, 15, 500), 1)[0]
    print(f"  (whole GSEA, multilevel kernel unchanged: {t_ml:.3f} s)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--de", type=Path, help="a DE table (gene, stat, log2fc, padj)")
    ap.add_argument("--gmt", type=Path, nargs="+", help="gene-set libraries (default: GO BP, KEGG)")
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    gmts = args.gmt or [
        ROOT / "resources" / "genesets" / "GO_BP_symbols_10-500.gmt",
        ROOT / "resources" / "genesets" / "KEGG_2021_Human.gmt",
    ]
    import scipy.stats  # noqa: F401  (the previous ORA's tail; imported outside its timing)

    tmp = Path(tempfile.gettempdir()) / "markerflow_bench_fig.png"
    totals = {"previous": 0.0, "current": 0.0}
    for gmt in gmts:
        for _, old, new in bench_library(gmt, args, tmp):
            totals["previous"] += old
            totals["current"] += new
    print(
        f"changed steps, all libraries: previous {totals['previous']:.3f} s, current"
        f" {totals['current']:.3f} s, ratio {totals['current'] / totals['previous']:.3f}"
    )


if __name__ == "__main__":
    main()
