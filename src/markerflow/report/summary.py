"""A one-page, self-contained HTML summary of a study run, for a person (``report/summary.html``).

Built from whichever stage outputs the run produced (the files handed in; nothing else on disk is
read): study design, cohorts with sample counts, QC verdicts, DE summaries and tables, merge,
meta-analysis, enrichment, candidates with their evidence columns and a per-gene view of the top
candidates (:mod:`markerflow.report.genes`), the signature and its validation AUCs, and the
provenance of the run.

Every table is complete (issue 18): sortable by any column, searchable and paged by a small
vanilla script shipped in the package (``templates/tables.js``) and inlined; tables above
:data:`STATIC_ROWS` rows are one gzip-compressed JSON block the script inflates with the browser's
own ``DecompressionStream``. Figures are embedded as base64 PNG, drawings as inline SVG. The page
makes no request of any kind (a Content-Security-Policy forbids any but data: images): the only
links leaving it are gene names pointing at NCBI Gene, followed only when clicked. There are no
timestamps, so the page is byte-reproducible when its inputs are. The page skeleton (head, style
sheet, navigation) is the template ``templates/summary.html`` (``string.Template``); the sections
are built here.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import json
import logging
import math
import string
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import yaml

from markerflow.io.tables import read_matrix, read_tsv
from markerflow.report.genes import de_rows_table, gene_panel, panel_id

log = logging.getLogger(__name__)

#: Stage order on the page (folders under the results directory); unknown stages follow.
STAGE_ORDER = ("qc", "de_ftest", "de", "merge", "meta", "enrichment", "candidates", "signature",
               "performance", "validation")  # fmt: skip
STAGE_TITLES = {
    "qc": "Quality control",
    "de_ftest": "Test across condition levels (F-test / LRT)",
    "de": "Differential expression",
    "merge": "Merged discovery cohorts (ComBat)",
    "meta": "Meta-analysis",
    "enrichment": "Enrichment",
    "candidates": "Candidate biomarkers",
    "signature": "Signature and its performance",
    "performance": "External validation: clinical performance",
    "validation": "Leave-one-cohort-out folds (out-of-cohort)",
}
#: Folders whose files feed other sections but are not sections themselves.
NOT_SECTIONS = ("ingest", "genes", "genesets", "provenance", "report", "logs", "guards")
#: Files of a comparison folder (results/<comparison>/) that are not a stage.
COMPARISON_FILES = ("skipped_cohorts.tsv",)
KEY_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "pydeseq2",
    "matplotlib",
    "snakemake",
)

#: The page skeleton (head, style, navigation): ``string.Template`` with ``$title``, ``$toc``, ``$body``.
TEMPLATE = "summary.html"


# --- formatting ----------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any, max_chars: int = 80) -> tuple[str, bool]:
    """Text of one table cell and whether it is numeric (4 significant digits for floats)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA", False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, int) or (
        hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"
    ):
        return str(int(value)), True
    if isinstance(value, float) or (
        hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "f"
    ):
        return f"{float(value):.4g}", True
    text = str(value)
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text, False


#: Tables with at most this many rows are written as HTML rows; larger ones as one compact JSON
#: block that the page's script (``templates/tables.js``) renders a page at a time.
STATIC_ROWS = 200
#: Columns holding one gene symbol: their cells link to NCBI Gene (a link, never a request).
GENE_COLUMNS = ("gene", "symbol")
NCBI_GENE = "https://www.ncbi.nlm.nih.gov/gene/?term="
#: Script inlined into the page: sorting, search and paging of every table.
SCRIPT = "tables.js"


def gene_link(symbol: str) -> str:
    """An anchor to the NCBI Gene search for ``symbol`` (opens a new tab; nothing is fetched)."""
    return (
        f'<a href="{NCBI_GENE}{quote(symbol, safe="")}" target="_blank" '
        f'rel="noopener noreferrer">{_esc(symbol)}</a>'
    )


def _packed(payload: Any) -> str:
    """``payload`` as compact JSON, gzip-compressed (mtime 0: byte-reproducible) and base64
    encoded, for a ``<script type="application/octet-stream">`` block: the page's script inflates
    it with the browser's own ``DecompressionStream`` (no library). Tables of gene-level results
    shrink about fivefold this way, which keeps the page (and Snakemake's report, which embeds it)
    small."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    packed = gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)
    return base64.b64encode(packed).decode("ascii")


def _column_texts(column: pd.Series, max_chars: int = 400) -> tuple[list[str | None], bool]:
    """Display texts of one column (``None`` for missing) and whether it is numeric: integers as
    they are, floats to 4 significant digits (``%.4g``, formatted for the whole column at once),
    text cut to ``max_chars``; booleans are text."""
    values = column.to_numpy()
    kind = column.dtype.kind
    if kind in "iu":
        return [str(v) for v in values.tolist()], True
    if kind == "f":
        fmt = "{:.4g}".format
        return [None if v != v else fmt(v) for v in values.tolist()], True  # v != v: NaN
    if kind == "b":
        return [str(v) for v in values.tolist()], False
    missing = column.isna().to_numpy().tolist()
    texts = column.astype(str).tolist()
    is_text = [isinstance(v, str) for v in values.tolist()]
    if all(is_text[i] or missing[i] for i in range(len(texts))):  # plain text: cut long cells
        cut = max_chars - 1
        return [
            None if gone else (t if len(t) <= max_chars else t[:cut] + "…")
            for t, gone in zip(texts, missing, strict=True)
        ], False
    cells = [_cell(v, max_chars) for v in values.tolist()]  # mixed objects: cell by cell
    present = [num for t, num in cells if t != "NA"]
    return [None if t == "NA" else t for t, _ in cells], bool(present) and all(present)


def table_html(df: pd.DataFrame, index: bool = False, label: str = "", panels: str = "") -> str:
    """Every row of ``df`` as an interactive table: sortable by any column, searchable, paged.

    Cells are escaped, floats shown to 4 significant digits (the TSV files keep full precision),
    gene symbols link to NCBI Gene. Up to :data:`STATIC_ROWS` rows are HTML; larger tables are a
    JSON block the inlined script renders (the page stays a fraction of the HTML size). The table
    sits in a scroll container so wide or long tables never run off the page. ``label`` names the
    table for the search box (e.g. its file). ``panels``: the comparison whose per-gene panels
    the non-empty cells of a ``view`` column link to (``#<comparison>-gene-<gene>``).
    """
    if index:
        df = df.reset_index()
    columns = [str(c) for c in df.columns]
    gene_col = next((i for i, c in enumerate(columns) if c in GENE_COLUMNS), -1)
    view_col = columns.index("view") if panels and "view" in columns and gene_col >= 0 else -1
    n = len(df)
    formatted = [_column_texts(df.iloc[:, i]) for i in range(len(columns))]
    numeric = [is_num for _, is_num in formatted]
    data = [texts for texts, _ in formatted]
    what = f" {label}" if label else ""
    source = f' data-file="{_esc(label)}"' if label.endswith(".tsv") else ""
    controls = (
        f'<div class="mf-controls"><input type="search" class="mf-search" '
        f'placeholder="Search {n} row{"s" if n != 1 else ""}{_esc(what)}" '
        f'aria-label="Search the table{_esc(what)}"> <span class="mf-count">{n} rows</span>'
    )
    if n > 25:
        default = "all" if n <= STATIC_ROWS else "100"
        options = "".join(
            f'<option value="{v}"{" selected" if v == default else ""}>{v}</option>'
            for v in ("25", "100", "1000", "all")
        )
        controls += (
            f' <label>rows per page <select class="mf-size">{options}</select></label>'
            ' <button type="button" class="mf-prev">&lsaquo; previous</button>'
            ' <button type="button" class="mf-next">next &rsaquo;</button>'
        )
    controls += "</div>"
    if n > STATIC_ROWS:
        payload = {"c": columns, "n": numeric, "g": gene_col, "d": data}
        if view_col >= 0:
            payload |= {"v": view_col, "p": f"{panels}-gene-"}
        inner = (
            '<script type="application/octet-stream" class="mf-data" '
            f'data-encoding="gzip+base64">{_packed(payload)}</script>'
        )
        return (
            f'<div class="mf-table"{source} data-rows="{n}">{controls}<div class="mf-scroll"></div>'
            f'{inner}<noscript><p class="note">{n} rows: the table needs JavaScript.</p>'
            "</noscript></div>"
        )
    head = "".join(
        f'<th class="num">{_esc(c)}</th>' if numeric[i] else f"<th>{_esc(c)}</th>"
        for i, c in enumerate(columns)
    )
    rows = []
    for row in zip(*data, strict=True) if columns else []:
        cells = []
        for i, text in enumerate(row):
            if text is None:
                cells.append("<td>NA</td>")
            elif i == gene_col:
                cells.append(f"<td>{gene_link(text)}</td>")
            elif i == view_col and text:
                anchor = _esc(panel_id(panels, str(row[gene_col])))
                cells.append(f'<td><a href="#{anchor}">{_esc(text)}</a></td>')
            elif numeric[i]:
                cells.append(f'<td class="num">{_esc(text)}</td>')
            else:
                cells.append(f"<td>{_esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="mf-table"{source} data-rows="{n}">{controls}<div class="mf-scroll"><table>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></div>"
    )


def figure_html(path: str | Path, caption: str) -> str:
    """A PNG embedded as a base64 data URI, with its caption."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{_esc(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


@functools.cache
def page_template() -> string.Template:
    """The page skeleton, ``templates/summary.html`` shipped inside the package."""
    text = resources.files("markerflow.report").joinpath("templates", TEMPLATE).read_text("utf-8")
    return string.Template(text)


@functools.cache
def page_script() -> str:
    """The page's table script, ``templates/tables.js`` shipped inside the package (inlined)."""
    return resources.files("markerflow.report").joinpath("templates", SCRIPT).read_text("utf-8")


def _read(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    if "keep_default_na" in kwargs:
        return pd.read_csv(path, sep="\t", **kwargs)
    return read_tsv(path, **kwargs)  # ID columns (sample, condition, gene, ...) stay text


def _metric_table(path: str | Path) -> dict[str, str]:
    """A two-column ``metric``/``value`` summary as a dict."""
    table = _read(path, dtype=str, keep_default_na=False)
    return dict(zip(table.iloc[:, 0], table.iloc[:, 1], strict=True))


def _columns(df: pd.DataFrame, wanted: Sequence[str]) -> pd.DataFrame:
    present = [c for c in wanted if c in df.columns]
    return df[present] if present else df


def _sorted_by_p(df: pd.DataFrame, column: str = "pvalue") -> pd.DataFrame:
    if column in df.columns:
        return df.sort_values(column, kind="mergesort", na_position="last")
    return df


# --- the page ------------------------------------------------------------------------------------


class _Files:
    """The run's output files, addressed by their path relative to the results directory."""

    def __init__(self, files: Sequence[str | Path], results: str | Path, prefix: str = ""):
        root = Path(results)
        self.prefix = prefix  # this root relative to the results directory ("" or "<comparison>/")
        self.by_rel: dict[str, Path] = {}
        for file in files:
            path = Path(file)
            try:
                rel = path.relative_to(root).as_posix()
            except ValueError:
                continue
            if path.is_file():
                self.by_rel[rel] = path
            elif path.is_dir():  # a directory output (e.g. performance/figures)
                for inner in sorted(p for p in path.rglob("*") if p.is_file()):
                    self.by_rel[inner.relative_to(root).as_posix()] = inner

    def name(self, rel: str) -> str:
        """``rel`` relative to the results directory (the file a table on the page shows)."""
        return self.prefix + rel

    def get(self, rel: str) -> Path | None:
        return self.by_rel.get(rel)

    def stage(self, stage: str, suffix: str = "") -> list[tuple[str, Path]]:
        return sorted(
            (rel, path)
            for rel, path in self.by_rel.items()
            if rel.startswith(f"{stage}/") and rel.endswith(suffix)
        )

    def stages(self) -> list[str]:
        present = {PurePosixPath(rel).parts[0] for rel in self.by_rel if "/" in rel}
        known = [s for s in STAGE_ORDER if s in present]
        return known + sorted(present - set(STAGE_ORDER) - set(NOT_SECTIONS))


def _figure_caption(rel: str) -> str:
    parts = PurePosixPath(rel).parts
    name = PurePosixPath(rel).stem
    captions = {
        ("qc", "pca"): "QC PCA of {0} (outliers marked)",
        ("de", "volcano"): "Volcano plot of {0}",
        ("de", "heatmap_top"): "Top 30 genes of {0} by p-value (z per gene, samples by condition)",
        ("de", "sample_distances"): "Sample distances in {0} (1 - Pearson r, samples by condition)",
        ("merge", "pca_before"): "Discovery cohorts before ComBat (PCA)",
        ("merge", "pca_after"): "Discovery cohorts after ComBat (PCA)",
    }
    key = (parts[0], name)
    if key in captions:
        return captions[key].format(parts[1] if len(parts) > 2 else "")
    where = " / ".join(parts[1:-1])
    return f"{STAGE_TITLES.get(parts[0], parts[0])}: {name.replace('_', ' ')}" + (
        f" ({where})" if where else ""
    )


def _figures(files: _Files, stage: str, cohorts: Sequence[str] = ()) -> str:
    """Every PNG of a stage: per-cohort figures in cohort-sheet order, "before" ahead of "after"."""

    def key(item: tuple[str, Path]) -> tuple[int, str]:
        parts = PurePosixPath(item[0]).parts
        order = cohorts.index(parts[1]) if len(parts) > 2 and parts[1] in cohorts else len(cohorts)
        return order, item[0].replace("_before", "_0").replace("_after", "_1")

    pngs = sorted(files.stage(stage, ".png"), key=key)
    figures = [figure_html(path, _figure_caption(rel)) for rel, path in pngs]
    return "<div>" + "".join(figures) + "</div>" if figures else ""


def _cohort_section(
    files: _Files,
    cohorts: Sequence[Mapping[str, Any]],
    case: str,
    control: str,
    levels: Sequence[str] = (),
) -> str:
    rows = []
    for row in cohorts:
        c = row["cohort"]
        record = {
            "cohort": c,
            "role": row.get("role", ""),
            "data type": row.get("data_type", ""),
            "source": row.get("source", ""),
        }
        samples = files.get(f"ingest/{c}/samples.tsv")
        if samples is not None:
            counts = _read(samples, dtype=str)["condition"].value_counts(sort=False)
            record["samples"] = int(counts.sum())
            # every level of the study's condition: case and control first, then the others
            for level in dict.fromkeys([case, control, *levels, *counts.index]):
                record[level] = int(counts.get(level, 0))
        excluded = files.get(f"ingest/{c}/excluded_samples.tsv")
        if excluded is not None:
            record["excluded"] = len(_read(excluded, dtype=str))
        mapping = files.get(f"genes/{c}/mapping.tsv")
        if mapping is not None:
            metrics = _metric_table(mapping)
            if "symbols_renamed" in metrics:
                record["symbols renamed"] = metrics["symbols_renamed"]
                record["Excel names repaired / dropped"] = (
                    f"{metrics.get('excel_repaired', 0)} / {metrics.get('excel_dropped', 0)}"
                )
        record["description"] = row.get("description", "")
        rows.append(record)
    table = pd.DataFrame(rows)
    if "description" in table.columns:  # level counts before the description
        table = table[[c for c in table.columns if c != "description"] + ["description"]]
    return table_html(table.fillna(0) if "samples" in table.columns else table)


def _qc_section(files: _Files, cohorts: Sequence[str]) -> str:
    rows = []
    notes: list[str] = []
    for c in cohorts:
        path = files.get(f"qc/{c}/summary.tsv")
        if path is None:
            continue
        m = _metric_table(path)
        outliers = [s for s in m.get("outlier_samples", "none").split(";") if s and s != "none"]
        missing = m.get("missing_values", "0")
        problems = []
        if outliers:
            problems.append(f"{len(outliers)} outlier sample(s) flagged")
        if missing not in ("0", ""):
            problems.append(f"{missing} missing values")
        altered = _alterations(files, c)
        if altered:
            problems.append(f"{len(altered)} data alteration(s), listed below")
            notes += [f"{c}: {line}" for line in altered]
        rows.append(
            {
                "cohort": c,
                "verdict": "; ".join(problems) if problems else "ok",
                "features": m.get("features", ""),
                "samples": m.get("samples", ""),
                "log2 applied": m.get("log2_applied", ""),
                "outliers": ", ".join(outliers) or "none",
            }
        )
    text = (
        "<p>Outlier samples are flagged (robust z of their distance to the other samples) and "
        "reported, not removed.</p>"
    )
    listed = (
        "<p>Values changed or dropped before the analysis (genes/&lt;cohort&gt;/alterations.tsv):"
        "</p><ul>" + "".join(f'<li class="warn">{_esc(n)}</li>' for n in notes) + "</ul>"
        if notes
        else ""
    )
    table = table_html(pd.DataFrame(rows)) if rows else ""
    return text + table + listed + _figures(files, "qc", cohorts)


def _alterations(files: _Files, cohort: str) -> list[str]:
    """One line per recorded alteration of a cohort's values (``genes/<cohort>/alterations.tsv``)."""
    path = files.get(f"genes/{cohort}/alterations.tsv")
    if path is None:
        return []
    table = _read(path, dtype=str, keep_default_na=False)
    lines = []
    for _, row in table.iterrows():
        counts = ", ".join(
            f"{row[k]} {k}" for k in ("cells", "features", "samples") if row.get(k) not in ("", "0")
        )
        detail = "; ".join(x for x in (counts, row.get("examples", "")) if x)
        lines.append(f"{row['alteration']}" + (f" ({detail})" if detail else ""))
    return lines


def _de_section(files: _Files, cohorts: Sequence[str], top: int) -> str:
    summaries = {}
    for c in cohorts:
        path = files.get(f"de/{c}/summary.tsv")
        if path is not None:
            summaries[c] = _metric_table(path)
    parts = []
    if summaries:
        wide = pd.DataFrame(summaries).drop(index="cohort", errors="ignore")
        wide.index.name = "metric"
        parts.append(table_html(wide, index=True))
    for c in cohorts:
        path = files.get(f"de/{c}/de.tsv")
        if path is None:
            continue
        de = _sorted_by_p(_read(path))
        rel = f"de/{c}/de.tsv"
        parts.append(
            f"<h3>{_esc(c)}: all {len(de)} genes by p-value (<code>{_esc(rel)}</code>)</h3>"
        )
        parts.append(
            table_html(
                _columns(de, ["gene", "log2fc", "ave_expr", "pvalue", "padj", "hedges_g"]),
                label=files.name(rel),
            )
        )
    return "".join(parts) + _figures(files, "de", cohorts)


def _ftest_section(files: _Files, top: int) -> str:
    """Per cohort with >= 3 levels: genes significant across levels, the top genes by p-value."""
    parts = [
        "<p>Cohorts with three or more condition levels: one test per gene of any difference "
        "between the levels (arrays: limma moderated F, counts: DESeq2 likelihood-ratio test), "
        "on the same model as the cohort's comparisons.</p>"
    ]
    for rel, path in files.stage("de_ftest", "ftest.tsv"):
        table = _sorted_by_p(_read(path))
        cohort = PurePosixPath(rel).parts[1]
        method = str(table["method"].iloc[0]) if "method" in table and len(table) else ""
        n_sig = int((table["padj"] < 0.05).sum()) if "padj" in table else 0
        parts.append(
            f"<h3>{_esc(cohort)} ({_esc(method)}): {n_sig} of {int(table['pvalue'].notna().sum())} "
            f"genes with padj &lt; 0.05, by p-value (<code>{_esc(rel)}</code>)</h3>"
        )
        lfc = [c for c in table.columns if c.startswith("log2fc_")]
        parts.append(
            table_html(
                _columns(table, ["gene", "stat", "pvalue", "padj", *lfc]), label=files.name(rel)
            )
        )
    return "".join(parts)


def _merge_section(files: _Files, top: int) -> str:
    parts = []
    path = files.get("merge/batch_mixing.tsv")
    if path is not None:
        parts.append(table_html(_read(path), label=files.name("merge/batch_mixing.tsv")))
    return "".join(parts) + _figures(files, "merge")


def _meta_section(files: _Files, top: int) -> str:
    path = files.get("meta/meta.tsv")
    parts = []
    if path is not None:
        meta = _sorted_by_p(_read(path))
        if "fdr" in meta.columns:
            parts.append(
                f"<p>{int((meta['fdr'] < 0.05).sum())} of {len(meta)} genes with random-effects "
                "FDR &lt; 0.05.</p>"
            )
        wanted = [
            "gene",
            "pooled_effect",
            "pooled_se",
            "pvalue",
            "fdr",
            "i2",
            "n_cohorts",
            "sign_agreement",
            "loo_max_fdr",
        ]
        parts.append(
            f"<h3>All {len(meta)} genes by pooled p-value (<code>meta/meta.tsv</code>)</h3>"
        )
        parts.append(table_html(_columns(meta, wanted), label=files.name("meta/meta.tsv")))
    return "".join(parts) + _figures(files, "meta")


def _enrichment_section(files: _Files, top: int, analyses: Sequence[str] = ()) -> str:
    parts = []

    def order(item: tuple[str, Path]) -> tuple[int, str]:
        analysis = PurePosixPath(item[0]).parts[1]
        return (analyses.index(analysis) if analysis in analyses else len(analyses)), item[0]

    for rel, path in sorted(files.stage("enrichment", ".tsv"), key=order):
        kind = "ORA" if rel.endswith("_ora.tsv") else "GSEA" if rel.endswith("_gsea.tsv") else ""
        table = _sorted_by_p(_read(path))
        wanted = (
            ["term_name", "direction", "set_size", "overlap", "fold_enrichment", "padj"]
            if kind == "ORA"
            else ["term_name", "direction", "set_size", "nes", "padj"]
        )
        name = PurePosixPath(rel)
        parts.append(
            f"<h3>{_esc(name.parent.name)} · {_esc(name.stem)}: all {len(table)} terms by "
            f"p-value (<code>{_esc(rel)}</code>)</h3>"
        )
        parts.append(table_html(_columns(table, wanted), label=files.name(rel)))
    return "".join(parts) + _figures(files, "enrichment", analyses)


#: Top candidates that get a per-gene panel (at most; the config's ``candidates.top_n`` if smaller).
GENE_PANELS = 50


def _expression_by_group(
    files: _Files, cohort: str, genes: Sequence[str], case: str, control: str
) -> dict[str, dict[str, np.ndarray]]:
    """gene -> {case: values, control: values} in one cohort, from the DE stage's log-scale
    matrix and sample sheet of the comparison (``de/<cohort>/normalized.parquet``/``samples.tsv``);
    empty when the files were not handed in."""
    matrix, sheet = (
        files.get(f"de/{cohort}/normalized.parquet"),
        files.get(f"de/{cohort}/samples.tsv"),
    )
    if matrix is None or sheet is None:
        return {}
    values = read_matrix(matrix)
    samples = _read(sheet, dtype=str)
    condition = dict(zip(samples["sample"], samples["condition"], strict=True))
    present = values.index.intersection(pd.Index(genes))
    sub = values.loc[present]
    labels = np.array([condition.get(str(s), "") for s in sub.columns])
    data = sub.to_numpy(dtype=np.float64)
    return {
        str(g): {case: data[i, labels == case], control: data[i, labels == control]}
        for i, g in enumerate(present)
    }


def _gene_panels(
    files: _Files,
    comparison: Mapping[str, Any],
    table: pd.DataFrame,
    weights: Mapping[str, float],
    cohorts: Sequence[str],
    n_panels: int,
) -> str:
    """One ``<details>`` per top candidate (:func:`markerflow.report.genes.gene_panel`)."""
    top = table.sort_values("rank", kind="mergesort").head(n_panels) if "rank" in table else table
    genes = [str(g) for g in top["gene"]]
    case, control, cname = (
        str(comparison["case"]),
        str(comparison["control"]),
        str(comparison["name"]),
    )
    de: dict[str, pd.DataFrame] = {}
    expression: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for c in cohorts:
        path = files.get(f"de/{c}/de.tsv")
        if path is not None:
            de[c] = _read(path).set_index("gene")
            expression[c] = _expression_by_group(files, c, genes, case, control)
    meta_path = files.get("meta/meta.tsv")
    meta = _read(meta_path).set_index("gene") if meta_path is not None else None
    meta_cohorts = [] if meta is None else [c[2:] for c in meta.columns if c.startswith("g_")]
    panels = []
    for record in top.to_dict("records"):
        gene = str(record["gene"])
        rows = {c: t.loc[gene].to_dict() for c, t in de.items() if gene in t.index}
        meta_row = meta.loc[gene].to_dict() if meta is not None and gene in meta.index else None
        strips = {c: e[gene] for c, e in expression.items() if gene in e}
        panels.append(
            gene_panel(cname, record, weights, rows, meta_row, meta_cohorts, strips,
                       table_html(de_rows_table(rows)) if rows else "")
        )  # fmt: skip
    return (
        f"<h3>Per-gene view: the top {len(panels)} candidates</h3>"
        '<p class="note">Open a gene for its score components, its DE in every cohort, its forest '
        "row and its expression by group; the gene names in the tables link to NCBI Gene.</p>"
        + "".join(panels)
    )


def _one_value(table: pd.DataFrame, column: str) -> str:
    values = sorted({str(v) for v in table[column]}) if column in table else []
    return " / ".join(values) or "not recorded"


def _candidates_section(
    files: _Files,
    comparison: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    cohorts: Sequence[str] = (),
) -> str:
    """The full candidate table (its gene cells open the per-gene panel), the score broken into
    its weighted components per top candidate, and the per-gene panels."""
    path = files.get("candidates/candidates.tsv")
    parts = []
    cand_config = dict((config or {}).get("candidates") or {})
    weights = {str(k): float(v) for k, v in dict(cand_config.get("weights") or {}).items()}
    if path is not None:
        table = _read(path)
        parts.append(
            "<p>Every evidence component is a column (normalised to [0, 1]) so the ranking can be "
            f"traced; all {len(table)} genes (<code>candidates/candidates.tsv</code>). "
            "<code>composite</code> is the weighted mean of the components present for the gene "
            f"(weights {_esc(weights or 'all 1')}; components used: "
            f"{_esc(_one_value(table, 'components_used'))}); a gene's panel below shows each "
            "component's share.</p>"
        )
        if comparison is not None and "gene" in table.columns:
            cname = str(comparison["name"])
            view = table.copy()
            n_panels = min(GENE_PANELS, int(cand_config.get("top_n", GENE_PANELS)))
            ranked = view["rank"] if "rank" in view else pd.Series(range(1, len(view) + 1))
            view.insert(1, "view", ["panel" if r <= n_panels else "" for r in ranked.to_numpy()])
            view = view.drop(columns=["components_used"], errors="ignore")  # one value, above
            parts.append(
                table_html(view, label=files.name("candidates/candidates.tsv"), panels=cname)
            )
            parts.append(_gene_panels(files, comparison, table, weights, cohorts, n_panels))
        else:
            parts.append(table_html(table, label=files.name("candidates/candidates.tsv")))
    others = [
        (r, p) for r, p in files.stage("candidates", ".tsv") if r != "candidates/candidates.tsv"
    ]
    for rel, other in others:
        parts.append(f"<h3>{_esc(rel)}</h3>" + table_html(_read(other), label=files.name(rel)))
    return "".join(parts) + _figures(files, "candidates")


def _signature_section(files: _Files, top: int, external: bool = True) -> str:
    parts = []
    path = files.get("signature/performance.tsv")
    if path is not None:
        table = _read(path)
        kinds = set(table["kind"]) if "kind" in table.columns else {"in-sample"}
        if not external and kinds <= {
            "in-sample"
        }:  # nothing independent was tested: never call it validation
            parts.append("<h3>Performance: in-sample only (AUC with 95% CI)</h3>")
            parts.append('<p class="warn">In-sample only: the signature was scored on the '
                         "samples it was selected on; no out-of-cohort or external cohort "
                         "tested it, so these AUCs are optimistic.</p>")  # fmt: skip
        else:
            parts.append("<h3>Performance by kind: in-sample, out-of-cohort and external "
                         "(AUC with 95% CI)</h3>")  # fmt: skip
            parts.append('<p class="note">Only out-of-cohort (leave-one-discovery-cohort-out, '
                         "whole chain refitted) and external (validation cohorts, frozen "
                         "signature) rows are validation; in-sample rows are optimistic.</p>")  # fmt: skip
        parts.append(table_html(table, label=files.name("signature/performance.tsv")))
    for rel, other in files.stage("signature", ".tsv"):
        if rel != "signature/performance.tsv":
            parts.append(f"<h3>{_esc(rel)}</h3>" + table_html(_read(other), label=files.name(rel)))
    return "".join(parts) + _figures(files, "signature")


def _performance_section(files: _Files) -> str:
    """Per validation cohort: AUC [CI] (method), threshold, sensitivity/specificity, calibration;
    reference signatures with the paired DeLong p; PPV/NPV by prevalence; figures."""
    parts = []
    clinical = files.get("performance/clinical.tsv")
    if clinical is not None:
        table = _read(clinical)
        table = table.drop(columns=[c for c in table.columns if c.startswith("calibration")
                                    and table[c].isna().all()])  # fmt: skip
        parts.append(
            "<p>The locked signature scored in cohorts that took no part in choosing it. The "
            "threshold is fixed on the discovery cohorts (Youden); intervals: DeLong, or "
            "Newcombe's (2006) score interval when a class has fewer than 10 samples or the AUC "
            "is 0 or 1 (<code>ci_method</code>); sensitivity/specificity: Wilson.</p>"
        )
        parts.append(table_html(table, label=files.name("performance/clinical.tsv")))
    refs = files.get("performance/reference_signatures.tsv")
    if refs is not None:
        parts.append("<h3>Reference signatures (paired DeLong test against the discovered)</h3>")
        parts.append(
            table_html(_read(refs), label=files.name("performance/reference_signatures.tsv"))
        )
    pv = files.get("performance/predictive_values.tsv")
    if pv is not None:
        parts.append(
            "<h3>Predictive values by prevalence</h3>"
            + table_html(_read(pv), label=files.name("performance/predictive_values.tsv"))
        )
    return "".join(parts) + _figures(files, "performance")


def _warnings_section(files: _Files) -> str:
    path = files.get("guards/warnings.tsv")
    if path is None:
        return ""
    table = _read(path, dtype=str, keep_default_na=False)
    if table.empty:
        return '<p class="ok">No warning: no shared or near-duplicate samples across cohorts.</p>'
    items = "".join(f'<li class="warn">{_esc(m)}</li>' for m in table["message"])
    return f"<ul>{items}</ul>"


NOT_KNOWN = "not known to the workflow: state it in the paper"


def _checklist_section(
    files: _Files,
    config: Mapping[str, Any],
    cohorts: Sequence[Mapping[str, Any]],
    case: str,
    control: str,
    root: _Files | None = None,
) -> str:
    """A TRIPOD+AI style checklist (Collins et al. 2024, BMJ 385:e078378) filled from the run;
    items the workflow cannot know are marked as such. ``files``: the comparison's outputs;
    ``root``: the whole results directory (per-cohort ingest files), default ``files``."""
    root = files if root is None else root
    disc = [r for r in cohorts if r.get("role") == "discovery"]
    val = [r for r in cohorts if r.get("role") == "validation"]
    rows: list[tuple[str, str, str]] = []

    def add(item: str, text: str, known: bool = True) -> None:
        rows.append((item, text if known else NOT_KNOWN + (f" ({text})" if text else ""),
                     "from the run" if known else "not known"))  # fmt: skip

    def source(r: Mapping[str, Any]) -> str:
        where = r.get("accession") or r.get("matrix") or ""
        return f"{r['cohort']}: {r.get('source', '')} {where}".strip()

    add("Source of data (5a)", "; ".join(source(r) for r in cohorts))
    add("Dates of data collection (5b)", "GEO submission dates are in each series' header", False)
    sizes, excluded = [], []
    for r in cohorts:
        c = r["cohort"]
        path = files.get(f"de/{c}/samples.tsv") or root.get(f"ingest/{c}/samples.tsv")
        if path is not None:
            counts = _read(path, dtype=str)["condition"].value_counts()
            sizes.append(f"{c} ({r.get('role', '')}): {int(counts.get(case, 0))} {case}, "
                         f"{int(counts.get(control, 0))} {control}")  # fmt: skip
        ex = root.get(f"ingest/{c}/excluded_samples.tsv")
        if ex is not None:
            reasons = _read(ex, dtype=str)["reason"].value_counts()
            if len(reasons):
                excluded.append(f"{c}: " + ", ".join(f"{n} {k}" for k, n in reasons.items()))
    add("Eligibility criteria (6a)", "; ".join(
        f"{r['cohort']}: {case} = {r.get('case_values', '')}, {control} = "
        f"{r.get('control_values', '')} (column {r.get('condition_column', '')})"
        for r in cohorts))  # fmt: skip
    add("Setting, recruitment, treatments (6b, 6c)", "", False)
    add("Outcome definition and blinding (7a, 7b)",
        f"{case} vs {control} as labelled in the source; blinding of outcome assessment is "
        "not known", False)  # fmt: skip
    add("Sample size (9, 20b)", "; ".join(sizes) or "no sample sheet in this run")
    add("Missing data (10)",
        ("samples excluded: " + "; ".join(excluded) + ". " if excluded else "no sample excluded. ")
        + "Signature genes a cohort lacks are dropped and listed per cohort (note, "
        "missing_genes); a missing value inside a score counts as 1 (MetaIntegrator) or z = 0 "
        "(logistic); candidate evidence not computed is left out, not 0.")  # fmt: skip
    sig = config.get("signature", {})
    cand = config.get("candidates", {})
    add("Analytical methods: candidates and model (12a-12c)",
        f"candidate score weights {cand.get('weights', {})} (preselect "
        f"{cand.get('preselect', '')}); signature {sig.get('method', '')}, at most "
        f"{sig.get('max_genes', '')} genes, chosen on the {len(disc)} discovery cohort(s) only; "
        f"seed {config.get('seed', '')}")  # fmt: skip
    subjects = [r["cohort"] for r in cohorts if r.get("subject_column")]
    add("Repeated measures / clustering (12c)",
        f"subjects declared in {', '.join(subjects)}: folds grouped by subject" if subjects
        else "no subject_column declared: samples treated as independent")  # fmt: skip
    internal = ("out-of-cohort (leave-one-discovery-cohort-out) in signature/"
                if any("loco" in rel for rel in files.by_rel) else
                "cross-validation inside the discovery cohorts (see signature performance)")  # fmt: skip
    add("Evaluation inside the discovery cohorts (12e)", internal if len(disc) > 1 or sig.get("method") == "logistic"
        else "none: one discovery cohort; discovery figures are in-sample")  # fmt: skip
    add("Evaluation in independent cohorts (12e, 24)",
        ", ".join(r["cohort"] for r in val) + ": locked signature, no refit" if val
        else "none: no independent cohort, nothing external was tested")  # fmt: skip
    clinical = files.get("performance/clinical.tsv")
    if clinical is not None:
        t = _read(clinical)
        add("Performance with intervals (23a)", "; ".join(
            f"{r.cohort}: AUC {r.auc:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] ({r.ci_method}), "
            f"sensitivity {r.sensitivity:.2f}, specificity {r.specificity:.2f}"
            for r in t.itertuples(index=False)))  # fmt: skip
    else:
        add("Performance with intervals (23a)", "no external performance in this run")
    tissues = sorted({str(r["tissue"]) for r in disc if r.get("tissue")})
    add("Heterogeneity of the discovery cohorts", "tissues: " + ", ".join(tissues) if tissues
        else "tissue not declared (sheet column tissue)", bool(tissues))  # fmt: skip
    add("Model specification (22)", "signature/signature.tsv: genes, directions, weights")
    add("Fairness, subgroups, intended use, clinical pathway (3c, 14, 26)", "", False)
    add("Ethics, funding, conflicts, registration, patient involvement (18, 19, 21)", "", False)
    add("Software and reproducibility (18e)",
        "provenance/versions.tsv, config.frozen.yaml (sha256 of every input), manifest.tsv")  # fmt: skip
    table = pd.DataFrame(rows, columns=["item (TRIPOD+AI)", "this study", "status"])
    return (
        '<p class="note">Filled from the run; "not known" items are outside what the workflow '
        "can see.</p>" + table_html(table)
    )


def _generic_section(files: _Files, stage: str, top: int) -> str:
    parts = [
        f"<h3>{_esc(rel)}</h3>" + table_html(_read(path), label=files.name(rel))
        for rel, path in files.stage(stage, ".tsv")
    ]
    return "".join(parts) + _figures(files, stage)


def _provenance_section(frozen: Path | None, versions: Path | None, results: str, seed: Any) -> str:
    parts = [f"<p>Seed: <code>{_esc(seed)}</code>.</p>"]
    if versions is not None:
        table = _read(versions, dtype=str, keep_default_na=False)
        runtime = table[table["kind"] != "package"]
        packages = table[
            (table["kind"] == "package") & table["name"].str.lower().isin(KEY_PACKAGES)
        ]
        parts.append(table_html(pd.concat([runtime, packages])))
        parts.append(
            f'<p class="note">All {int((table["kind"] == "package").sum())} installed packages: '
            f"<code>{_esc(results)}/provenance/versions.tsv</code>.</p>"
        )
    if frozen is not None:
        with open(frozen, encoding="utf-8") as handle:
            checksums = (yaml.safe_load(handle) or {}).get("checksums") or {}
        rows = pd.DataFrame(sorted(checksums.items()), columns=["input file", "sha256"])
        parts.append(f"<h3>Input files ({len(rows)}, sha256)</h3>" + table_html(rows))
    parts.append(
        "<h3>Reproduce</h3><pre>"
        f"snakemake --cores N --configfile {_esc(results)}/provenance/config.frozen.yaml\n"
        f"python -m markerflow.stages.provenance verify {_esc(results)}/provenance/manifest.tsv "
        "NEW_RESULTS/provenance/manifest.tsv</pre>"
    )
    return "".join(parts)


def comparisons_of(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The study's comparisons as the workflow runs them (``name``, ``case``, ``control``,
    ``pool``): config ``comparisons:``, or one ``<case_label>_vs_<control_label>`` (the rule of
    :func:`markerflow.model.comparisons.comparisons_from_config`, which checked them before the
    run; the report layer reads only the config)."""
    study = config.get("study", {})
    entries = config.get("comparisons")
    if entries:
        return [dict(e) for e in entries]
    case, control = study.get("case_label", "case"), study.get("control_label", "control")
    return [{"name": f"{case}_vs_{control}", "case": case, "control": control}]


def _comparison_intro(
    files: _Files, comparison: Mapping[str, Any], cohorts: Sequence[Mapping[str, Any]]
) -> tuple[str, list[str], list[str]]:
    """The comparison's design paragraph and skipped-cohort table; its discovery and validation
    cohorts (the sheet's cohorts minus the skipped ones)."""
    skipped = files.get("skipped_cohorts.tsv")
    table = _read(skipped, dtype=str, keep_default_na=False) if skipped is not None else None
    gone = set() if table is None else set(table["cohort"])
    serving = [r for r in cohorts if str(r["cohort"]) not in gone]
    disc = [str(r["cohort"]) for r in serving if r.get("role") == "discovery"]
    val = [str(r["cohort"]) for r in serving if r.get("role") == "validation"]
    pool = {str(k): list(v) for k, v in dict(comparison.get("pool") or {}).items()}
    pooled = "".join(
        f" {_esc(side)} pools the levels {_esc(', '.join([side, *levels]))}."
        for side, levels in pool.items()
    )
    text = (
        f"<p><b>{_esc(comparison['case'])}</b> vs <b>{_esc(comparison['control'])}</b>.{pooled} "
        f"Discovery: {_esc(', '.join(disc) or 'none')}; "
        + (f"validation: {_esc(', '.join(val))}. " if val else "no independent cohort. ")
        + "Each cohort's model is fitted on all its levels; "
        "later stages use the samples of the two compared sides.</p>"
    )
    if table is not None and len(table):
        text += "<h3>Skipped cohorts</h3>" + table_html(table.drop(columns=["comparison"]))
    elif table is not None:
        text += '<p class="ok">No cohort skipped.</p>'
    return text, disc, val


def summary_page(
    files: Sequence[str | Path],
    results: str | Path,
    config: Mapping[str, Any],
    cohorts: Sequence[Mapping[str, Any]],
    *,
    frozen_config: str | Path | None = None,
    versions: str | Path | None = None,
    top: int = 15,
) -> str:
    """The HTML text of the summary page.

    ``files``: the run's outputs (paths under ``results``) the page may use; ``cohorts``: the
    cohort sheet rows (as in the frozen config); ``frozen_config``/``versions``: provenance files.
    The per-cohort stages (QC) come first; then one section per comparison (issue 16) with its
    skipped cohorts and every stage under ``results/<comparison>/``, and its checklist.
    A section whose table cannot be read is replaced by a note naming the file, not an exception.
    """
    index = _Files(files, results)
    study = config.get("study", {})
    case, control = study.get("case_label", "case"), study.get("control_label", "control")
    comparisons = comparisons_of(config)
    names = [str(c["name"]) for c in comparisons]
    levels = [
        lv
        for c in comparisons
        for lv in (c["case"], c["control"], *[x for v in (c.get("pool") or {}).values() for x in v])
    ]
    ids = [str(row["cohort"]) for row in cohorts]
    discovery = [str(r["cohort"]) for r in cohorts if r.get("role") == "discovery"]
    validation = [str(r["cohort"]) for r in cohorts if r.get("role") == "validation"]
    name = study.get("name", "markerflow study")
    toc: list[tuple[str, str]] = [("design", "Design"), ("cohorts", "Cohorts")]

    def section(title: str, anchor: str, build: Callable[[], str], in_toc: str = "") -> str:
        try:
            body = build()
        except Exception as error:  # a report page must not fail the run; say what is missing
            log.warning("summary section %s could not be built: %s", title, error)
            body = f'<p class="note">This section could not be built: {_esc(error)}</p>'
        if in_toc:
            toc.append((anchor, in_toc))
        return f'<h2 id="{anchor}">{_esc(title)}</h2>{body}'

    listed = "; ".join(
        f"<b>{_esc(c['name'])}</b> ({_esc(c['case'])} vs {_esc(c['control'])})" for c in comparisons
    )
    design = (
        f"<p>Comparison{'s' if len(comparisons) > 1 else ''}: {listed}. "
        f"{len(discovery)} discovery cohort(s) ({_esc(', '.join(discovery))}) find and rank "
        f"candidates; {len(validation)} validation cohort(s) "
        f"({_esc(', '.join(validation) or 'none')}) are used only to test the signature. "
        "Per cohort: ingest, QC, probe/gene mapping; per comparison and cohort, differential "
        "expression (arrays: limma moderated t; counts: DESeq2); per comparison, across its "
        "discovery cohorts: ComBat-merged matrix, random-effects meta-analysis of Hedges' g, "
        "enrichment, candidate score, signature. A cohort lacking one of a comparison's levels "
        "is skipped for that comparison (listed in its section).</p>"
    )
    if not validation:
        design = design.replace(
            f"{len(validation)} validation cohort(s) ({_esc('none')}) are used only to test the "
            "signature.",
            "No independent cohort: every performance figure is in-sample.",
        )
    body = [f"<h1>{_esc(name)}</h1>", section("Study design", "design", lambda: design)]
    body.append(
        section(
            "Cohorts", "cohorts", lambda: _cohort_section(index, cohorts, case, control, levels)
        )
    )
    builders: dict[str, Callable[[], str]] = {
        "qc": lambda: _qc_section(index, ids),
        "de_ftest": lambda: _ftest_section(index, top),
    }
    for stage in index.stages():
        if stage in names:
            continue  # a comparison folder: its own section below
        build = builders.get(stage, functools.partial(_generic_section, index, stage, top))
        title = STAGE_TITLES.get(stage, stage)
        body.append(section(title, stage, build, title))

    def comparison_sections(comparison: Mapping[str, Any]) -> list[str]:
        cname = str(comparison["name"])
        sub = _Files(files, Path(results) / cname, f"{cname}/")
        intro, disc, val = _comparison_intro(sub, comparison, cohorts)
        c_case, c_control = str(comparison["case"]), str(comparison["control"])
        parts = [section(f"Comparison {cname}", cname, lambda: intro, cname)]
        if sub.get("guards/warnings.tsv") is not None:
            parts.append(
                section(f"{cname} · Warnings", f"{cname}-warnings", lambda: _warnings_section(sub))
            )
        stage_builders: dict[str, Callable[[], str]] = {
            "de": lambda: _de_section(sub, ids, top),
            "merge": lambda: _merge_section(sub, top),
            "meta": lambda: _meta_section(sub, top),
            "enrichment": lambda: _enrichment_section(sub, top, [*disc, "meta"]),
            "candidates": lambda: _candidates_section(sub, comparison, config, ids),
            "signature": lambda: _signature_section(sub, top, bool(val)),
            "performance": lambda: _performance_section(sub),
        }
        for stage in sub.stages():
            build = stage_builders.get(stage, functools.partial(_generic_section, sub, stage, top))
            title = STAGE_TITLES.get(stage, stage)
            if stage == "signature" and not val:
                title = "Signature (in-sample only)"
            parts.append(section(f"{cname} · {title}", f"{cname}-{stage}", build))
        serving = [r for r in cohorts if str(r["cohort"]) in {*disc, *val}]
        parts.append(
            section(
                f"{cname} · Checklist for the paper (TRIPOD+AI)",
                f"{cname}-checklist",
                lambda: _checklist_section(sub, config, serving, c_case, c_control, index),
            )
        )
        return parts

    for comparison in comparisons:
        body += comparison_sections(comparison)
    body.append(
        section(
            "Provenance",
            "provenance",
            lambda: _provenance_section(
                None if frozen_config is None else Path(frozen_config),
                None if versions is None else Path(versions),
                str(results),
                config.get("seed"),
            ),
            "Provenance",
        )
    )
    nav = " · ".join(f'<a href="#{a}">{_esc(t)}</a>' for a, t in toc)
    return page_template().substitute(
        title=_esc(name), toc=nav, body="\n".join(body), script=page_script()
    )
