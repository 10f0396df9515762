"""Generate a realistic synthetic markerflow study (seeded) for scale benchmarks and tests.

A study directory holds ``config.yaml`` (the keys of config/config.yaml, results inside the study
directory), ``cohorts.tsv``, one matrix + sample sheet per cohort (``source: matrix``), the
generated array platform table, a ``resources`` link to the project's resources (gene sets,
gene-ID table) and ``truth/markers.tsv`` (the planted markers and their effects).

Model (per cohort c, gene g, sample j):

- arrays: gene level ``x = m_g + s_g z + L_g F_j + delta_cg * case_j`` (log2 scale, ``m_g`` a
  bimodal mixture of unexpressed / expressed genes, ``L F`` a few shared latent factors), then
  probes of a GPL570-like platform (54,675 probes: several probes per gene with probe affinities,
  some non-responsive probes at background, ``///`` multi-gene probes, unannotated and AFFX control
  probes). Cohort batch: shift + scale of the whole matrix plus a per-probe shift; some cohorts
  have a within-cohort batch (per-probe shift, not confounded with condition).
- RNA-seq: 60,000 Ensembl IDs (mapped through resources/annotation/hs_gene_ids.tsv.gz, the rest
  unmapped), negative-binomial counts (gamma-Poisson) with a mean-dispersion trend, size factors,
  per-gene cohort effects.
- planted markers: ``n_markers`` genes (half up, half down, the up half taken from a KEGG pathway
  when possible) with heterogeneous effects: a gene's mean standardised effect ``d_g`` ~ U(0.5, 1.1)
  and per-cohort effect ~ N(d_g, 0.3 d_g); in ~10% of cohorts a marker has no effect.

Run: ``python benchmarks/scale/generate.py OUT --arrays 20 --samples 200`` (see ``--help``).
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
GENE_IDS = PROJECT_DIR / "resources" / "annotation" / "hs_gene_ids.tsv.gz"
KEGG = PROJECT_DIR / "resources" / "genesets" / "KEGG_2021_Human.gmt"
GPL570_PROBES = 54_675
ENSEMBL_GENES = 60_000
#: annotated single-gene probes per gene on GPL570 is ~2.1 (about 21,000 genes on 45,000 probes)
GENES_PER_PROBE = 0.385
MULTI_FRACTION = 0.05  # '///' probes
UNANNOTATED_FRACTION = 0.12  # empty / '---' symbol, incl. AFFX controls
N_FACTORS = 4
CASE_LABELS = [("asthma", "control"), ("Asthmatic", "Healthy"), ("disease", "healthy control")]


def _gene_table() -> pd.DataFrame:
    table = pd.read_csv(GENE_IDS, sep="\t", dtype=str)
    return table.dropna(subset=["symbol"]).drop_duplicates("symbol")


def _kegg_sets() -> dict[str, list[str]]:
    sets = {}
    with open(KEGG, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            sets[fields[0]] = [g for g in fields[2:] if g]
    return sets


def make_platform(n_probes: int, rng: np.random.Generator) -> tuple[pd.DataFrame, list[str]]:
    """A GPL570-like probe -> symbol table and the platform's gene universe (in probe order)."""
    genes_table = _gene_table()
    coding = genes_table.loc[genes_table["gene_type"] == "protein-coding", "symbol"].to_numpy()
    n_multi = round(n_probes * MULTI_FRACTION)
    n_unannotated = round(n_probes * UNANNOTATED_FRACTION)
    n_single = n_probes - n_multi - n_unannotated
    n_genes = min(round(n_probes * GENES_PER_PROBE), len(coding), n_single)
    universe = rng.permutation(coding)[:n_genes]
    extra = rng.multinomial(n_single - n_genes, rng.dirichlet(np.full(n_genes, 0.7)))
    gene_of_probe = np.repeat(np.arange(n_genes), 1 + extra)
    symbols = universe[gene_of_probe].astype(object)
    pairs = rng.choice(n_genes, size=(n_multi, 2))
    multi = np.array([f"{universe[a]} /// {universe[b]}" for a, b in pairs], dtype=object)
    n_affx = min(62, n_unannotated)
    unannotated = np.where(rng.random(n_unannotated) < 0.5, "", "---").astype(object)
    ids = np.array(
        [f"{200000 + i}_at" for i in range(n_single)]
        + [f"{250000 + i}_s_at" for i in range(n_multi)]
        + [f"AFFX-Ctrl{i}_at" for i in range(n_affx)]
        + [f"{1552256 + i}_x_at" for i in range(n_unannotated - n_affx)],
        dtype=object,
    )
    table = pd.DataFrame({"probe_id": ids, "symbol": np.concatenate([symbols, multi, unannotated])})
    table["gene_index"] = np.concatenate([gene_of_probe, np.full(n_multi + n_unannotated, -1)])
    table["pair_a"] = np.concatenate(
        [np.full(n_single, -1), pairs[:, 0], np.full(n_unannotated, -1)]
    )
    table["pair_b"] = np.concatenate(
        [np.full(n_single, -1), pairs[:, 1], np.full(n_unannotated, -1)]
    )
    order = rng.permutation(n_probes)  # probes are not sorted by gene on a real platform
    return table.iloc[order].reset_index(drop=True), list(universe)


def choose_markers(universe: list[str], n_markers: int, rng: np.random.Generator) -> pd.DataFrame:
    """Planted markers: up half from the largest-overlap KEGG pathway of moderate size, down random."""
    in_universe = set(universe)
    n_up = n_markers // 2
    best: list[str] = []
    for name in sorted(_kegg_sets_cache):
        members = [g for g in _kegg_sets_cache[name] if g in in_universe]
        if 40 <= len(_kegg_sets_cache[name]) <= 120 and len(members) > len(best):
            best = members
    up = list(rng.permutation(best)[:n_up]) if best else []
    rest = [g for g in rng.permutation(universe) if g not in set(up)]
    up += rest[: n_up - len(up)]
    down = [g for g in rest if g not in set(up)][: n_markers - n_up]
    genes = up + down
    return pd.DataFrame(
        {
            "gene": genes,
            "direction": [1] * len(up) + [-1] * len(down),
            "mean_effect": rng.uniform(0.5, 1.1, size=len(genes)),
        }
    )


_kegg_sets_cache: dict[str, list[str]] = {}


def _conditions(n: int, rng: np.random.Generator) -> np.ndarray:
    n_case = round(n * rng.uniform(0.4, 0.6))
    return rng.permutation(np.r_[np.ones(n_case, bool), np.zeros(n - n_case, bool)])


def _cohort_effects(markers: pd.DataFrame, n_cohorts: int, rng: np.random.Generator) -> np.ndarray:
    """markers x cohorts standardised effects, heterogeneous, sometimes absent."""
    mean = markers["mean_effect"].to_numpy()[:, None]
    effect = rng.normal(mean, 0.3 * mean, size=(len(mean), n_cohorts))
    effect[rng.random(effect.shape) < 0.1] = 0.0
    return effect * markers["direction"].to_numpy()[:, None]


def _gene_parameters(n_genes: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    expressed = rng.random(n_genes) < 0.55
    mean = np.where(expressed, rng.normal(8.5, 1.6, n_genes), rng.normal(4.3, 0.7, n_genes))
    return {
        "mean": mean,
        "sd": np.exp(rng.normal(np.log(0.3), 0.35, n_genes)) * np.where(expressed, 1.0, 0.6),
        "loading": rng.normal(0.0, 0.12, (n_genes, N_FACTORS)),
    }


def array_cohort(
    platform: pd.DataFrame,
    params: dict[str, np.ndarray],
    marker_index: np.ndarray,
    marker_effect: np.ndarray,
    is_case: np.ndarray,
    within_batch: np.ndarray | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """probes x samples log2 intensities of one cohort."""
    n_genes, n = len(params["mean"]), len(is_case)
    scores = rng.standard_normal((N_FACTORS, n))
    genes = params["mean"][:, None] + params["sd"][:, None] * rng.standard_normal((n_genes, n))
    genes += params["loading"] @ scores
    genes[marker_index] += (params["sd"][marker_index] * marker_effect)[:, None] * is_case[None, :]
    gi = platform["gene_index"].to_numpy()
    single = gi >= 0
    multi = platform["pair_a"].to_numpy() >= 0
    values = np.empty((len(platform), n))
    values[single] = genes[gi[single]]
    values[multi] = 0.5 * (
        genes[platform["pair_a"].to_numpy()[multi]] + genes[platform["pair_b"].to_numpy()[multi]]
    )
    none = ~single & ~multi
    values[none] = rng.normal(5.0, 1.5, none.sum())[:, None]
    values += platform["affinity"].to_numpy()[:, None]
    dead = platform["dead"].to_numpy()
    values[dead] = 3.5 + platform["affinity"].to_numpy()[dead, None] * 0.3
    values += rng.normal(0.0, 0.15, values.shape)
    # cohort batch: global shift + scale and a per-probe shift
    shift, scale = rng.normal(0.0, 0.6), rng.uniform(0.85, 1.15)
    centre = values.mean()
    values = centre + shift + scale * (values - centre) + rng.normal(0, 0.2, (len(values), 1))
    if within_batch is not None:
        values += rng.normal(0.0, 0.3, (len(values), 1)) * within_batch[None, :]
    return np.clip(values, 1.0, 16.0)


def counts_cohort(
    ids: pd.DataFrame,
    marker_rows: np.ndarray,
    marker_effect: np.ndarray,
    is_case: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """genes x samples negative-binomial counts of one RNA-seq cohort."""
    n_genes, n = len(ids), len(is_case)
    log_mean = ids["log_mean"].to_numpy() + rng.normal(0.0, 0.3, n_genes)  # cohort effect
    size = np.exp(rng.normal(0.0, 0.25, n))
    latent = rng.normal(0.0, 0.08, (n_genes, N_FACTORS)) @ rng.standard_normal((N_FACTORS, n))
    log_mu = log_mean[:, None] + latent + np.log(size)[None, :]
    lfc = np.zeros(n_genes)
    lfc[marker_rows] = marker_effect  # log2 fold change ~ standardised effect for counts
    log_mu += (lfc * np.log(2))[:, None] * is_case[None, :]
    mu = np.exp(log_mu)
    dispersion = 0.03 + 1.5 / (np.exp(log_mean) + 1.0)
    shape = 1.0 / dispersion[:, None]
    return rng.poisson(rng.gamma(shape, mu / shape)).astype(np.int64)


def rnaseq_ids(universe: list[str], rng: np.random.Generator, n_ids: int) -> pd.DataFrame:
    """n_ids Ensembl IDs: the platform's genes first, then other annotated, then unmapped IDs."""
    table = _gene_table()
    table = table.drop_duplicates("ensembl")
    by_symbol = table.set_index("symbol")["ensembl"]
    first = [by_symbol[g] for g in universe if g in by_symbol.index]
    used = set(first)
    others = [e for e in rng.permutation(table["ensembl"].to_numpy()) if e not in used]
    ids = (first + others)[:n_ids]
    ids += [f"ENSG9{i:010d}" for i in range(n_ids - len(ids))]  # not in the annotation
    coding = len(first)
    log_mean = np.where(
        np.arange(n_ids) < coding, rng.normal(5.0, 1.8, n_ids), rng.normal(0.5, 2.0, n_ids)
    )
    versions = rng.integers(1, 20, n_ids)
    return pd.DataFrame(
        {"gene_id": [f"{e}.{v}" for e, v in zip(ids, versions, strict=True)], "log_mean": log_mean}
    )


def _write_matrix(
    values: np.ndarray, ids, samples, path: Path, fmt: str, id_name: str, float32: bool = False
) -> str:
    if float32 and values.dtype.kind == "f":  # the float32 columns are read back as float64
        values = values.astype(np.float32)
    frame = pd.DataFrame(values, columns=samples)
    frame.insert(0, id_name, np.asarray(ids, dtype=object))
    if fmt == "parquet":
        path = path.with_suffix(".parquet")
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="zstd")
    else:
        path = path.with_suffix(".tsv.gz")
        with gzip.open(path, "wt", compresslevel=4, encoding="utf-8") as handle:
            frame.to_csv(handle, sep="\t", index=False, float_format="%.5g", lineterminator="\n")
    return path.name


def generate_study(
    out: str | Path,
    *,
    n_arrays: int = 20,
    n_counts: int = 0,
    samples: int = 200,
    n_probes: int = GPL570_PROBES,
    n_ensembl: int = ENSEMBL_GENES,
    n_markers: int = 40,
    n_validation: int = 0,
    fmt: str = "parquet",
    seed: int = 1,
    config_overrides: dict | None = None,
    float32: bool = False,
) -> Path:
    """Write a study directory; return its path. Validation cohorts are extra array cohorts.

    ``float32``: array values are stored as float32 Parquet columns (about 7 significant digits,
    more than a GEO series matrix's text carries), which halves the inputs of the 100-cohort study
    (22 -> 13 GB) on a machine whose disk it fills; markerflow reads them as float64.
    """
    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)
    if not (out / "resources").exists():
        (out / "resources").symlink_to(PROJECT_DIR / "resources")
    rng = np.random.default_rng([seed, 0])
    _kegg_sets_cache.update(_kegg_sets())
    platform, universe = make_platform(n_probes, rng)
    params = _gene_parameters(len(universe), rng)
    platform["affinity"] = rng.normal(0.0, 0.7, len(platform))
    # ~25% of the extra probes of multi-probe genes do not respond (background level)
    first_probe = ~pd.Series(platform["gene_index"]).duplicated().to_numpy()
    platform["dead"] = (
        (platform["gene_index"] >= 0) & ~first_probe & (rng.random(len(platform)) < 0.25)
    )
    gpl = "platform/GPL570_synthetic.tsv.gz"
    (out / "platform").mkdir(exist_ok=True)
    platform[["probe_id", "symbol"]].to_csv(out / gpl, sep="\t", index=False)
    markers = choose_markers(universe, n_markers, rng)
    n_cohorts = n_arrays + n_counts + n_validation
    effects = _cohort_effects(markers, n_cohorts, rng)
    gene_pos = {g: i for i, g in enumerate(universe)}
    marker_index = np.array([gene_pos[g] for g in markers["gene"]])
    ids = rnaseq_ids(universe, rng, n_ensembl) if n_counts else None
    rows = []
    kinds = ["array"] * n_arrays + ["counts"] * n_counts + ["validation"] * n_validation
    for c, kind in enumerate(kinds):
        crng = np.random.default_rng([seed, 1 + c])
        name = f"{'SYNV' if kind == 'validation' else 'SYN'}{c + 1:03d}"
        is_case = _conditions(samples, crng)
        case_raw, control_raw = CASE_LABELS[c % len(CASE_LABELS)]
        within = (np.arange(samples) % 2 == crng.integers(0, 2)).astype(float)
        within = crng.permutation(within) if c % 3 == 1 and kind != "counts" else None
        sample_ids = [f"{name}_S{j + 1:04d}" for j in range(samples)]
        sheet = pd.DataFrame(
            {
                "sample": sample_ids,
                "group": np.where(is_case, case_raw, control_raw),
                "sex": crng.choice(["F", "M"], samples),
                "age": np.round(crng.normal(45, 12, samples)).astype(int),
            }
        )
        if within is not None:
            sheet["scan_batch"] = np.where(within > 0, "B2", "B1")
        if kind == "counts":
            rows_idx = marker_index  # the platform's genes come first in rnaseq_ids
            values = counts_cohort(ids, rows_idx, effects[:, c], is_case, crng)
            matrix = _write_matrix(values, ids["gene_id"], sample_ids, out / "data" / f"{name}_counts",
                                   fmt, "gene_id")  # fmt: skip
            annotation, data_type = "resources/annotation/hs_gene_ids.tsv.gz", "counts"
        else:
            values = array_cohort(
                platform, params, marker_index, effects[:, c], is_case, within, crng
            )
            matrix = _write_matrix(values, platform["probe_id"], sample_ids,
                                   out / "data" / f"{name}_expression", fmt, "ID_REF",
                                   float32)  # fmt: skip
            annotation, data_type = gpl, "array"
        sheet.to_csv(out / "data" / f"{name}_samples.tsv", sep="\t", index=False)
        rows.append(
            {
                "cohort": name,
                "role": "validation" if kind == "validation" else "discovery",
                "source": "matrix",
                "data_type": data_type,
                "matrix": f"data/{matrix}",
                "samples": f"data/{name}_samples.tsv",
                "annotation": annotation,
                "sample_column": "sample",
                "condition_column": "group",
                "case_values": case_raw,
                "control_values": control_raw,
                "batch_column": "scan_batch" if within is not None else "",
                "covariates": "age;sex" if c % 4 == 3 else "",
                "log2": "",
                "description": f"synthetic {data_type} cohort {c + 1} (seed {seed})",
            }
        )
    pd.DataFrame(rows).to_csv(out / "cohorts.tsv", sep="\t", index=False)
    per_cohort = {f"effect_{row['cohort']}": effects[:, c] for c, row in enumerate(rows)}
    truth = pd.concat([markers, pd.DataFrame(per_cohort, index=markers.index)], axis=1)
    truth.to_csv(out / "truth" / "markers.tsv", sep="\t", index=False, float_format="%.4f")
    with open(PROJECT_DIR / "config" / "config.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config["study"]["name"] = f"synthetic_{n_arrays}a_{n_counts}c_{samples}s"
    config["study"]["case_label"], config["study"]["control_label"] = "case", "control"
    config.pop("comparisons", None)  # one comparison, case_vs_control (the example has four)
    config["cohorts"] = "cohorts.tsv"
    config["results"] = "results"
    config["seed"] = seed
    for dotted, value in (config_overrides or {}).items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    with open(out / "config.yaml", "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="study directory to write")
    parser.add_argument("--arrays", type=int, default=20, help="array discovery cohorts")
    parser.add_argument("--counts", type=int, default=0, help="RNA-seq discovery cohorts")
    parser.add_argument("--validation", type=int, default=0, help="array validation cohorts")
    parser.add_argument("--samples", type=int, default=200, help="samples per cohort")
    parser.add_argument("--probes", type=int, default=GPL570_PROBES)
    parser.add_argument("--ensembl", type=int, default=ENSEMBL_GENES)
    parser.add_argument("--markers", type=int, default=40)
    parser.add_argument("--format", choices=["parquet", "tsv.gz"], default="parquet")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--float32", action="store_true", help="array values as float32 Parquet")
    args = parser.parse_args(argv)
    path = generate_study(
        args.out, n_arrays=args.arrays, n_counts=args.counts, n_validation=args.validation,
        samples=args.samples, n_probes=args.probes, n_ensembl=args.ensembl,
        n_markers=args.markers, fmt=args.format, seed=args.seed, float32=args.float32,
    )  # fmt: skip
    print(f"wrote {path} ({os.path.getsize(path / 'cohorts.tsv')} byte cohort sheet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
