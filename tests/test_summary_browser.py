"""The summary page in a real headless browser (issue 18, acceptance 3): Chromium from Debian,
driven over the DevTools protocol (tests/browser.py, standard library only).

Checked: every table holds all rows of its file (the in-page model and the rendered rows), sorting
by a header orders the rows (numbers numerically, NA last, a second click reverses), the search box
keeps exactly the matching rows, a per-gene panel opens from its link, and no request leaves the
file: every request the page makes is the file itself or a data: URI (hosts resolve to nothing and
the proxy is a closed port besides), no request fails, no script error is logged.

The fast test renders a small synthetic page (a 260-row table, so the compressed-JSON path runs);
the slow one opens the example study's page.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import Browser, chromium_path

from markerflow.report.summary import STATIC_ROWS, summary_page

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium is not installed (Debian: apt-get install chromium); the page checks need a "
    "real browser",
)

#: Per table: its file, rows in the model, rows rendered (JSON-safe summary).
TABLES_JS = """Array.from(document.querySelectorAll('div.mf-table')).map(d => ({
  file: d.getAttribute('data-file'), rows: Number(d.getAttribute('data-rows')),
  shown: d.querySelector('tbody') ? d.querySelector('tbody').rows.length : -1}))"""


def _render_all(browser: Browser) -> list[dict]:
    """Set every table to "all rows" and count what it renders."""
    return browser.evaluate(
        """Array.from(document.querySelectorAll('div.mf-table')).map(d => {
          const size = d.querySelector('select.mf-size');
          if (size) { size.value = 'all'; size.dispatchEvent(new Event('change')); }
          const n = d.querySelector('tbody').rows.length;
          if (size) { size.value = '100'; size.dispatchEvent(new Event('change')); }
          return {file: d.getAttribute('data-file'), rows: Number(d.getAttribute('data-rows')),
                  rendered: n};
        })"""
    )


def _column(browser: Browser, box: str, column: str) -> list[str]:
    """The displayed texts of ``column`` in the table ``box`` (a JS expression), current page."""
    return browser.evaluate(
        f"""(() => {{ const d = {box};
          const heads = Array.from(d.querySelectorAll('thead th')).map(h => h.textContent
            .replace(/[\\u25B2\\u25BC]/g, '').trim());
          const i = heads.indexOf({json.dumps(column)});
          return Array.from(d.querySelector('tbody').rows).map(r => r.cells[i].textContent); }})()"""
    )


def _click_header(browser: Browser, box: str, column: str) -> None:
    browser.evaluate(
        f"""(() => {{ const d = {box};
          Array.from(d.querySelectorAll('thead th')).find(h => h.textContent.replace(
            /[\\u25B2\\u25BC]/g, '').trim() === {json.dumps(column)}).click(); }})()"""
    )


def _search(browser: Browser, box: str, text: str) -> int:
    return browser.evaluate(
        f"""(() => {{ const d = {box}; const s = d.querySelector('input.mf-search');
          s.value = {json.dumps(text)}; s.dispatchEvent(new Event('input'));
          return Number(d.getAttribute('data-matching')); }})()"""
    )


def _numbers(texts: list[str]) -> list[float]:
    return [float("nan") if t == "NA" else float(t) for t in texts]


def _assert_nothing_left(browser: Browser, page: Path) -> None:
    own = page.resolve().as_uri()
    outside = [u for u in browser.requests if u != own and not u.startswith("data:")]
    assert not outside, outside[:5]
    assert not browser.failed, browser.failed[:5]
    errors = [m for m in browser.console if m.startswith(("exception", "error"))]
    assert not errors, errors[:5]


def _synthetic_results(root: Path) -> tuple[list[str], dict, list[dict]]:
    rng = np.random.default_rng(7)
    n = STATIC_ROWS + 60
    genes = [f"G{i:03d}" for i in range(n)]
    p = rng.uniform(size=n)
    p[5] = np.nan
    de = pd.DataFrame({"gene": genes, "log2fc": rng.normal(size=n), "pvalue": p,
                       "padj": np.minimum(p * 3, 1)})  # fmt: skip
    files = {
        "ingest/A/samples.tsv": "sample\tcohort\tcondition\tbatch\ns1\tA\tcase\t1\ns2\tA\tcontrol\t1\n",
        "qc/A/summary.tsv": "metric\tvalue\nfeatures\t10\nsamples\t2\noutlier_samples\tnone\n",
        "cmp/de/A/summary.tsv": "metric\tvalue\ncohort\tA\nmethod\tlimma\n",
        "cmp/candidates/candidates.tsv": "rank\tgene\tcomposite\teffect_size\tcomponents_used\n"
        "1\tG002\t0.9\t0.9\teffect_size\n2\tG001\t0.5\t0.5\teffect_size\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    de.to_csv(root / "cmp/de/A/de.tsv", sep="\t", index=False, na_rep="NA")
    given = [str(root / rel) for rel in files] + [str(root / "cmp/de/A/de.tsv")]
    config = {
        "study": {"name": "demo", "case_label": "case", "control_label": "control"},
        "comparisons": [{"name": "cmp", "case": "case", "control": "control"}],
        "seed": 1,
    }
    return given, config, [{"cohort": "A", "role": "discovery", "data_type": "array"}]


def test_synthetic_page_in_chromium(tmp_path):
    results = tmp_path / "results"
    given, config, cohorts = _synthetic_results(results)
    page = tmp_path / "summary.html"
    page.write_text(summary_page(given, results, config, cohorts), encoding="utf-8")
    de_box = "document.querySelector('div.mf-table[data-file=\"cmp/de/A/de.tsv\"]')"
    with Browser() as browser:
        browser.open(page)
        n_tables = browser.wait_for("document.body.getAttribute('data-tables-ready')")
        tables = browser.evaluate(TABLES_JS)
        assert int(n_tables) == len(tables) >= 4
        by_file = {t["file"]: t for t in tables if t["file"]}
        assert by_file["cmp/de/A/de.tsv"]["rows"] == STATIC_ROWS + 60  # the JSON path
        assert by_file["cmp/de/A/de.tsv"]["shown"] == 100  # first page
        assert by_file["cmp/candidates/candidates.tsv"]["rows"] == 2  # the HTML path
        for table in _render_all(browser):
            assert table["rendered"] == table["rows"], table
        # sort by p-value: ascending, NA last; again: descending, NA still last
        _click_header(browser, de_box, "pvalue")
        browser.evaluate(f"{de_box}.querySelector('select.mf-size').value = 'all'")
        browser.evaluate(
            f"{de_box}.querySelector('select.mf-size').dispatchEvent(new Event('change'))"
        )
        values = _numbers(_column(browser, de_box, "pvalue"))
        assert values[:-1] == sorted(values[:-1]) and np.isnan(values[-1])
        _click_header(browser, de_box, "pvalue")
        values = _numbers(_column(browser, de_box, "pvalue"))
        assert values[:-1] == sorted(values[:-1], reverse=True) and np.isnan(values[-1])
        _click_header(browser, de_box, "gene")
        genes = _column(browser, de_box, "gene")
        assert genes == sorted(genes)
        # search: any cell, case-insensitive
        assert _search(browser, de_box, "g01") == 10  # G010..G019
        assert _column(browser, de_box, "gene") == [f"G01{i}" for i in range(10)]
        assert _search(browser, de_box, "") == STATIC_ROWS + 60
        # gene names link to NCBI Gene; nothing was requested
        href = browser.evaluate(f"{de_box}.querySelector('tbody a').href")
        assert href.startswith("https://www.ncbi.nlm.nih.gov/gene/?term=G")
        browser.evaluate("location.hash = 'cmp-gene-G002'")
        assert browser.wait_for("document.getElementById('cmp-gene-G002').open", timeout=10)
        _assert_nothing_left(browser, page)


@pytest.mark.slow
@pytest.mark.workflow
def test_example_summary_page_in_chromium(example_run, tmp_path):
    page = example_run / "report" / "summary.html"
    with Browser(timeout=300) as browser:
        browser.open(page)
        n_tables = browser.wait_for("document.body.getAttribute('data-tables-ready')", 300)
        tables = browser.evaluate(TABLES_JS)
        assert int(n_tables) == len(tables) > 30
        files = [t for t in tables if t["file"]]
        assert len(files) >= 20  # DE, F-test, merge, meta, enrichment, candidates, folds
        for table in files:  # every table holds every row of its file
            expected = len(pd.read_csv(example_run / table["file"], sep="\t", usecols=[0]))
            assert table["rows"] == expected, table
        for table in _render_all(browser):
            assert table["rendered"] == table["rows"], table
        de_file = "asthma_vs_control/de/GSE27011/de.tsv"
        box = f"document.querySelector('div.mf-table[data-file=\"{de_file}\"]')"
        _click_header(browser, box, "log2fc")
        values = _numbers(_column(browser, box, "log2fc"))
        full = pd.read_csv(example_run / de_file, sep="\t")["log2fc"]
        assert values == sorted(values) and values[0] == pytest.approx(full.min(), rel=1e-3)
        _click_header(browser, box, "log2fc")
        values = _numbers(_column(browser, box, "log2fc"))
        assert values == sorted(values, reverse=True)
        assert values[0] == pytest.approx(full.max(), rel=1e-3)
        candidates = "asthma_vs_control/candidates/candidates.tsv"
        cbox = f"document.querySelector('div.mf-table[data-file=\"{candidates}\"]')"
        table = pd.read_csv(example_run / candidates, sep="\t")
        gene = str(table.sort_values("rank")["gene"].iloc[0])
        hits = table["gene"].astype(str).str.lower().str.contains(gene.lower(), regex=False)
        assert _search(browser, cbox, gene) == int(hits.sum()) >= 1
        assert gene in _column(browser, cbox, "gene")
        browser.evaluate(f"location.hash = 'asthma_vs_control-gene-{gene}'")
        assert browser.wait_for(
            f"document.getElementById('asthma_vs_control-gene-{gene}').open", timeout=10
        )
        browser.screenshot(tmp_path / "summary.png")
        _assert_nothing_left(browser, page)
