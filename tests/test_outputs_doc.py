"""docs/outputs.md lists every column of every table (issue 18 acceptance 1).

The page parses and its column lists equal the column constants of the code; and, on the
session's example run that the fast workflow tests share (``example_run`` in conftest.py, so this
costs no extra run), every TSV the example writes has a section, its columns are the documented
ones in that order, and every sheet of ``tables.xlsx`` has the columns of the TSV it copies.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import pytest

from markerflow.contracts import (
    DE_COLUMNS,
    DESEQ2_COLUMNS,
    LIMMA_COLUMNS,
    NATIVE_ID_COLUMNS,
    SAMPLE_COLUMNS,
)
from markerflow.stages.de import FTEST_COLUMNS
from markerflow.stages.enrichment import CLUSTERPROFILER_COLUMNS, GSEA_COLUMNS, ORA_COLUMNS
from markerflow.stages.genes import FEATURE_COLUMNS
from markerflow.stages.guards import GUARD_COLUMNS
from markerflow.stages.meta import META_COLUMNS
from markerflow.stages.performance import CLINICAL_COLUMNS, PREDICTIVE_COLUMNS, REFERENCE_COLUMNS
from markerflow.stages.provenance import MANIFEST_COLUMNS
from markerflow.stages.qc import ALTERATION_COLUMNS
from markerflow.stages.signature import SIGNATURE_COLUMNS
from markerflow.stages.validation import PERFORMANCE_COLUMNS, SCORE_COLUMNS

DOC = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"
_PLACEHOLDER = re.compile(r"<[a-z_]+>")
_ROW = re.compile(r"^\| `([^`]+)` \|([^|]*)\|")


@dataclass
class Section:
    paths: list[str]
    columns: list[tuple[str, bool]] = field(default_factory=list)  # (name, always present)

    def matches(self, rel: str) -> bool:
        return any(_pattern(p, "[^/]+").fullmatch(rel) for p in self.paths)

    def always(self) -> list[str]:
        return [c for c, always in self.columns if always]

    def documents(self, column: str) -> bool:
        return any(_pattern(c, ".+").fullmatch(column) for c, _ in self.columns)


def _pattern(text: str, wildcard: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(text)
    return re.compile(wildcard.join(re.escape(p) for p in parts))


def parse_doc(text: str) -> list[Section]:
    """Sections: a ``###`` heading naming one or more backticked paths, then its column table."""
    sections: list[Section] = []
    for line in text.splitlines():
        if line.startswith("### "):
            sections.append(Section(re.findall(r"`([^`]+)`", line)))
        elif sections and (m := _ROW.match(line)):
            sections[-1].columns.append((m.group(1), not m.group(2).strip()))
    return sections


@pytest.fixture(scope="module")
def sections() -> list[Section]:
    return parse_doc(DOC.read_text(encoding="utf-8"))


def _section(sections: list[Section], rel: str) -> Section:
    found = [s for s in sections if s.matches(rel)]
    assert len(found) == 1, f"{rel}: {len(found)} sections of docs/outputs.md match"
    return found[0]


def test_every_section_has_columns(sections):
    assert len(sections) >= 30
    for s in sections:
        assert s.paths and s.columns, s.paths


@pytest.mark.parametrize(
    ("rel", "columns"),
    [
        ("cmp/de/C/de.tsv", [*DE_COLUMNS, "method", "feature_id"]),
        ("cmp/de/C/de.limma.tsv", [*NATIVE_ID_COLUMNS, *LIMMA_COLUMNS]),
        ("cmp/de/C/de.deseq2.tsv", [*NATIVE_ID_COLUMNS, *DESEQ2_COLUMNS]),
        ("cmp/enrichment/C/GO_ora.tsv", ORA_COLUMNS),
        ("cmp/enrichment/meta/GO_ora_clusterprofiler.tsv", CLUSTERPROFILER_COLUMNS),
        ("cmp/enrichment/C/KEGG_gsea.tsv", GSEA_COLUMNS),
        ("genes/C/features.tsv", FEATURE_COLUMNS),
        ("genes/C/alterations.tsv", ALTERATION_COLUMNS),
        (
            "de_ftest/C/ftest.tsv",
            [*FTEST_COLUMNS, "log2fc_<level>_vs_<reference>", "method", "feature_id"],
        ),
        ("cmp/meta/meta.tsv", [*META_COLUMNS, "g_<cohort>", "se_<cohort>"]),
        ("ingest/C/samples.tsv", SAMPLE_COLUMNS),
        ("cmp/guards/warnings.tsv", GUARD_COLUMNS),
        ("cmp/performance/clinical.tsv", CLINICAL_COLUMNS),
        ("cmp/performance/predictive_values.tsv", PREDICTIVE_COLUMNS),
        ("cmp/performance/reference_signatures.tsv", REFERENCE_COLUMNS),
        ("cmp/signature/signature.tsv", SIGNATURE_COLUMNS),
        ("cmp/validation/out_of_cohort.tsv", PERFORMANCE_COLUMNS),
        ("cmp/signature/performance.tsv", PERFORMANCE_COLUMNS),
        ("cmp/validation/loco/C/score.tsv", SCORE_COLUMNS),
        ("provenance/manifest.tsv", MANIFEST_COLUMNS),
    ],
)
def test_doc_columns_equal_the_code_constants(sections, rel, columns):
    assert _section(sections, rel).always() == list(columns)


def _xlsx_headers(path: Path) -> dict[str, list[str]]:
    """Each sheet's header row (read up to the end of row 1 only) and that its pane is frozen."""
    m = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    out = {}
    with zipfile.ZipFile(path) as archive:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        names = [str(s.get("name")) for s in book.iter(f"{m}sheet")]
        for i, name in enumerate(names, start=1):
            frozen, header = False, []
            with archive.open(f"xl/worksheets/sheet{i}.xml") as handle:
                for _, element in ElementTree.iterparse(handle):
                    if element.tag == f"{m}pane":
                        frozen = element.get("state") == "frozen"
                    elif element.tag == f"{m}row":
                        header = [str(t.text) for t in element.iter(f"{m}t")]
                        break
            assert frozen, name
            out[name] = header
    return out


@pytest.mark.workflow
def test_every_table_of_the_example_is_documented(sections, example_run):
    tables = sorted(example_run.rglob("*.tsv"))
    assert len(tables) > 30
    for path in tables:
        rel = path.relative_to(example_run).as_posix()
        section = _section(sections, rel)
        header = path.open(encoding="utf-8").readline().rstrip("\n").split("\t")
        undocumented = [c for c in header if not section.documents(c)]
        assert not undocumented, f"{rel}: columns {undocumented} not in docs/outputs.md"
        always = section.always()
        present = [c for c in header if any(_pattern(a, ".+").fullmatch(c) for a in always)]
        collapsed = [a for a in always if any(_pattern(a, ".+").fullmatch(c) for c in present)]
        assert collapsed == always, (
            f"{rel}: documented columns missing: {set(always) - set(collapsed)}"
        )
        order = [next(a for a in always if _pattern(a, ".+").fullmatch(c)) for c in present]
        assert order == sorted(order, key=always.index), f"{rel}: column order differs from the doc"
    # the workbook: every sheet has the columns of the TSV it copies
    headers = _xlsx_headers(example_run / "tables.xlsx")
    assert headers["Contents"] == ["sheet", "comparison", "file", "rows", "columns"]
    with zipfile.ZipFile(example_run / "tables.xlsx") as archive:
        contents = archive.read("xl/worksheets/sheet1.xml").decode()
    files = re.findall(r'<c r="C\d+" t="inlineStr"><is><t>([^<]+)</t>', contents)
    assert len(files) == len(headers) - 1
    for (name, header), rel in zip(list(headers.items())[1:], files, strict=True):
        tsv = (example_run / rel).open(encoding="utf-8").readline().rstrip("\n").split("\t")
        assert header == tsv, name
