"""Per-gene panels of the summary page: one ``<details>`` element per top candidate.

Each panel shows, for one comparison and one gene: its candidate score broken into the weighted
contributions of its evidence components (they add up to ``composite``), its DE row in every
cohort of the comparison, its forest row (per-cohort Hedges' g with 95% CI g +/- 1.96 se and the
pooled random-effects estimate, as in :func:`markerflow.plots.meta.forest_plot`, numbers written
beside the marks) and its expression by group in every cohort (the DE stage's log-scale matrix of
the comparison's two sides, ``de/<cohort>/normalized.parquet``). Drawings are small inline SVG (no
image files, no script, no request), so the page stays self-contained.

Score contributions follow :mod:`markerflow.stages.candidates`: ``composite`` is the weighted mean
over the components present for the gene, so component c contributes w_c x_c / sum of w over the
gene's present components; the weights are the config's ``candidates.weights`` (1 when absent, the
stage's default).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: One colour per evidence component (the score bar); unknown components cycle the last ones.
COMPONENT_COLOURS = {
    "effect_size": "#4c72b0",
    "significance": "#dd8452",
    "consistency": "#55a868",
    "auc": "#c44e52",
    "stability": "#8172b3",
    "pathway": "#937860",
    "expression": "#da8bc3",
}
#: Case and control in the expression strips; the same as the figures' condition palette
#: (:data:`markerflow.plots.figure.CONDITION_COLOURS`: the report layer may not import plots).
CASE_COLOUR, CONTROL_COLOUR = "#c0392b", "#2e86c1"
DE_COLUMNS = ("log2fc", "ave_expr", "pvalue", "padj", "hedges_g", "hedges_g_se", "method")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    return "NA" if math.isnan(v) else f"{v:.3g}"


def panel_id(comparison: str, gene: str) -> str:
    """The anchor of a gene's panel (``#<comparison>-gene-<gene>``)."""
    return f"{comparison}-gene-{gene}"


def contributions(row: Mapping[str, Any], weights: Mapping[str, float]) -> dict[str, float]:
    """Component -> w_c x_c / sum of w over the gene's present components (sums to composite)."""
    used = [c for c in str(row.get("components_used", "") or "").split(",") if c]
    present = {}
    for c in used:
        value = row.get(c)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            present[c] = float(value)
    total = sum(float(weights.get(c, 1.0)) for c in present)
    if total <= 0:
        return {}
    return {c: float(weights.get(c, 1.0)) * v / total for c, v in present.items()}


def score_svg(parts: Mapping[str, float], width: int = 420) -> str:
    """A horizontal stacked bar of the contributions on [0, 1], each segment labelled."""
    x, bars, keys = 0.0, [], []
    for i, (c, v) in enumerate(parts.items()):
        w = max(0.0, v) * width
        colour = COMPONENT_COLOURS.get(c, ("#8c8c8c", "#ccb974", "#64b5cd")[i % 3])
        bars.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="14" fill="{colour}">'
            f"<title>{_esc(c)}: {v:.3f}</title></rect>"
        )
        keys.append(f'<span class="mf-key" style="background:{colour}"></span>{_esc(c)} {v:.3f}')
        x += w
    frame = f'<rect x="0" y="0" width="{width}" height="14" fill="none" stroke="#999"/>'
    svg = (
        f'<svg class="mf-svg" width="{width}" height="16" viewBox="0 0 {width} 16" role="img" '
        f'aria-label="score contributions">{"".join(bars)}{frame}</svg>'
    )
    return f'<div>{svg}</div><div class="mf-keys">{" · ".join(keys)}</div>'


def forest_svg(meta_row: Mapping[str, Any], cohorts: Sequence[str], width: int = 460) -> str:
    """One gene's forest row: per-cohort g with 95% CI and the pooled diamond, numbers beside."""
    rows: list[tuple[str, float, float, bool]] = []
    for c in cohorts:
        g, se = meta_row.get(f"g_{c}"), meta_row.get(f"se_{c}")
        if g is not None and se is not None and np.isfinite(g) and np.isfinite(se):
            rows.append((c, float(g), float(se), False))
    mu, se = meta_row.get("pooled_effect"), meta_row.get("pooled_se")
    if mu is not None and se is not None and np.isfinite(mu) and np.isfinite(se):
        rows.append(("pooled (RE)", float(mu), float(se), True))
    if not rows:
        return '<p class="note">No forest row (the gene is not in the meta-analysis).</p>'
    lo = min(min(g - 1.96 * s for _, g, s, _ in rows), 0.0)
    hi = max(max(g + 1.96 * s for _, g, s, _ in rows), 0.0)
    pad = 0.05 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    left, plot = 110, width - 110 - 150

    def sx(v: float) -> float:
        return left + plot * (v - lo) / (hi - lo)

    h = 18 * len(rows) + 22
    out = [
        f'<line x1="{sx(0):.1f}" y1="2" x2="{sx(0):.1f}" y2="{h - 18}" stroke="#999" '
        'stroke-dasharray="2,2"/>'
    ]
    for k, (name, g, s, pooled) in enumerate(rows):
        y = 12 + 18 * k
        a, b = g - 1.96 * s, g + 1.96 * s
        out.append(f'<text x="0" y="{y + 4}" font-size="11">{_esc(name)}</text>')
        if pooled:
            out.append(
                f'<polygon points="{sx(a):.1f},{y} {sx(g):.1f},{y - 5} {sx(b):.1f},{y} '
                f'{sx(g):.1f},{y + 5}" fill="#222"/>'
            )
        else:
            out.append(
                f'<line x1="{sx(a):.1f}" y1="{y}" x2="{sx(b):.1f}" y2="{y}" stroke="#333"/>'
                f'<rect x="{sx(g) - 3:.1f}" y="{y - 3}" width="6" height="6" fill="#333"/>'
            )
        out.append(
            f'<text x="{left + plot + 8}" y="{y + 4}" font-size="11">{g:.2f} '
            f"[{a:.2f}, {b:.2f}]</text>"
        )
    axis_y = h - 14
    out.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{left + plot}" y2="{axis_y}" stroke="#666"/>'
        f'<text x="{left}" y="{h - 2}" font-size="10">{lo:.2f}</text>'
        f'<text x="{left + plot}" y="{h - 2}" font-size="10" text-anchor="end">{hi:.2f}</text>'
    )
    if min(sx(0) - left, left + plot - sx(0)) > 0.12 * plot:  # no "0" over an end label
        out.append(
            f'<text x="{sx(0):.1f}" y="{h - 2}" font-size="10" text-anchor="middle">0</text>'
        )
    return (
        f'<svg class="mf-svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img" '
        f'aria-label="forest row: Hedges g with 95% CI">{"".join(out)}</svg>'
    )


def strip_svg(groups: Mapping[str, np.ndarray], title: str, width: int = 220) -> str:
    """Expression of one gene in one cohort: a dot per sample per group (jitter fixed by the
    sample's position, so the drawing is deterministic) and the group mean as a bar."""
    values = [v[np.isfinite(v)] for v in groups.values()]
    if not values or not any(v.size for v in values):
        return ""
    lo = float(min(v.min() for v in values if v.size))
    hi = float(max(v.max() for v in values if v.size))
    span = hi - lo or 1.0
    h, top, bottom, left = 130, 18, 20, 34

    def sy(v: float) -> float:
        return top + (h - top - bottom) * (1 - (v - lo) / span)

    col = (width - left) / max(1, len(groups))
    out = [
        f'<text x="{width / 2:.0f}" y="12" font-size="11" text-anchor="middle">{_esc(title)}</text>',
        f'<text x="2" y="{sy(hi) + 4:.1f}" font-size="9">{hi:.3g}</text>',
        f'<text x="2" y="{sy(lo) + 4:.1f}" font-size="9">{lo:.3g}</text>',
    ]
    for k, (name, v) in enumerate(groups.items()):
        v = v[np.isfinite(v)]
        colour = CASE_COLOUR if k == 0 else CONTROL_COLOUR
        cx = left + col * (k + 0.5)
        jitter = ((np.arange(v.size) * 0.618) % 1.0 - 0.5) * col * 0.5
        dots = "".join(
            f'<circle cx="{cx + j:.1f}" cy="{sy(y):.1f}" r="2"/>'
            for j, y in zip(jitter, v, strict=True)
        )
        out.append(f'<g fill="{colour}" fill-opacity="0.7">{dots}</g>')
        if v.size:
            m = float(v.mean())
            out.append(
                f'<line x1="{cx - col * 0.3:.1f}" x2="{cx + col * 0.3:.1f}" y1="{sy(m):.1f}" '
                f'y2="{sy(m):.1f}" stroke="#111" stroke-width="2"/>'
            )
        out.append(
            f'<text x="{cx:.1f}" y="{h - 6}" font-size="10" text-anchor="middle">'
            f"{_esc(name)} (n={v.size})</text>"
        )
    return (
        f'<svg class="mf-svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img" '
        f'aria-label="expression of {_esc(title)} by group">{"".join(out)}</svg>'
    )


def gene_panel(
    comparison: str,
    candidate: Mapping[str, Any],
    weights: Mapping[str, float],
    de_rows: Mapping[str, Mapping[str, Any]],
    meta_row: Mapping[str, Any] | None,
    meta_cohorts: Sequence[str],
    expression: Mapping[str, Mapping[str, np.ndarray]],
    table: str,
) -> str:
    """The ``<details>`` panel of one candidate (see the module docstring). ``de_rows``: cohort ->
    the gene's DE row; ``expression``: cohort -> group -> values; ``table``: the HTML of the DE rows
    (built by the caller with the page's table function)."""
    gene = str(candidate["gene"])
    parts = contributions(candidate, weights)
    rank = candidate.get("rank", "")
    composite = candidate.get("composite", float("nan"))
    summary = (
        f"<summary><b>{_esc(gene)}</b> (rank {_esc(rank)}, composite {_fmt(composite)})</summary>"
    )
    body = [
        "<h4>Candidate score: weighted contributions (they add up to the composite)</h4>",
        score_svg(parts) if parts else '<p class="note">No component available.</p>',
        f"<h4>Differential expression in every cohort ({len(de_rows)})</h4>",
        table,
        "<h4>Forest row (Hedges' g, 95% CI)</h4>",
        forest_svg(meta_row, meta_cohorts) if meta_row is not None else
        '<p class="note">Not in the meta-analysis.</p>',
    ]  # fmt: skip
    strips = [strip_svg(groups, cohort) for cohort, groups in expression.items()]
    strips = [s for s in strips if s]
    if strips:
        body.append("<h4>Expression by group (log scale, as tested)</h4>")
        body.append('<div class="mf-strips">' + "".join(strips) + "</div>")
    return (
        f'<details class="mf-gene" id="{_esc(panel_id(comparison, gene))}">{summary}'
        f"{''.join(body)}</details>"
    )


def de_rows_table(rows: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The gene's DE rows as one table (cohort first, the DE columns present)."""
    records = []
    for cohort, row in rows.items():
        records.append({"cohort": cohort, **{c: row[c] for c in DE_COLUMNS if c in row}})
    return pd.DataFrame(records)


__all__ = ["contributions", "forest_svg", "gene_panel", "panel_id", "score_svg", "strip_svg"]
