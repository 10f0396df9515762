"""Issue 19, acceptance 2: property-based fuzzing of every parser on mutated REAL files.

Each parser reads a real file from resources/ (or, for the SOFT reader, the GEO SOFT fixture; a
deterministic excerpt of the large ones: header and the first rows, so that one example takes
milliseconds) after 1-4 random mutations: bytes flipped, inserted or deleted, truncation, lines
duplicated, dropped or swapped, the delimiter changed, quotes inserted, another encoding (latin-1,
UTF-16, a BOM), CRLF line ends, gzip (whole or cut short). The only failure allowed is
markerflow's :class:`InputError` naming the file (for the config and cohort sheet, the study
checks after reading may instead name the cohort or key; a config that fails its JSON schema
raises Snakemake's ``WorkflowError``, which names the key, as in production). Known gap outside
markerflow: Snakemake loads ``--configfile`` itself before the Snakefile runs, and its loader
raises a bare ``UnicodeDecodeError`` on a file that is not UTF-8 (gzipped, UTF-16, binary); the
test records it as ``SnakemakeLoaderError`` rather than hiding it. Every input must be handled within ``MAX_SECONDS`` and leave no file behind.

Default suite: ``FAST_EXAMPLES`` per parser; ``-m slow``: ``SLOW_EXAMPLES`` per parser. Both
derandomised (the same examples every run).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snakemake.common.configfile import load_configfile
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from workflow_utils import PROJECT_DIR

from markerflow.errors import InputError
from markerflow.io import geo
from markerflow.io.gmt import read_gmt
from markerflow.io.matrices import read_feature_matrix
from markerflow.io.study import check_study, read_cohort_sheet, read_sample_sheet

FAST_EXAMPLES = 50
SLOW_EXAMPLES = 2000
MAX_SECONDS = 10.0
SCHEMA = yaml.safe_load((PROJECT_DIR / "workflow" / "schemas" / "config.schema.yaml").read_text())
RESOURCES = PROJECT_DIR / "resources"
FIXTURES = PROJECT_DIR / "tests" / "fixtures" / "geo"


def _lines(path: Path, n: int) -> list[bytes]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.splitlines(keepends=True)[:n]


def _series_matrix_excerpt() -> bytes:
    lines = _lines(RESOURCES / "example/GSE27011/GSE27011_series_matrix.txt.gz", 10**9)
    begin = next(
        i for i, line in enumerate(lines) if line.startswith(b"!series_matrix_table_begin")
    )
    return b"".join([*lines[: begin + 30], b"!series_matrix_table_end\n"])


# name of the input file -> (real bytes, parser); the parser gets the path of the mutated copy
class SnakemakeLoaderError(Exception):
    """Snakemake's own config loader failed before any markerflow code ran (see module doc)."""


def _parse_config(path: Path) -> None:
    try:
        config = load_configfile(str(path))
    except UnicodeDecodeError as exc:  # snakemake 9 reads the file as UTF-8 without a check
        raise SnakemakeLoaderError(str(exc)) from None
    validate(config, SCHEMA)
    check_study(config, read_cohort_sheet(PROJECT_DIR / config["cohorts"]), base=PROJECT_DIR)


def _parse_cohort_sheet(path: Path) -> None:
    sheet = read_cohort_sheet(path)
    config = yaml.safe_load((PROJECT_DIR / "config" / "config.yaml").read_text())
    check_study(config, sheet, base=PROJECT_DIR)


PARSERS: dict[str, tuple[Callable[[], bytes], str, Callable[[Path], object]]] = {
    "series_matrix": (_series_matrix_excerpt, "GSE27011_series_matrix.txt", geo.read_series_matrix),
    "platform_table": (
        lambda: b"".join(_lines(RESOURCES / "platforms/GPL6244.tsv.gz", 60)),
        "GPL6244.tsv",
        geo.read_platform_table,
    ),
    "annot_table": (
        lambda: (FIXTURES / "GPL570_mini.annot").read_bytes(),
        "GPL570.annot",
        geo.read_platform_table,
    ),
    "soft": (
        lambda: (
            (FIXTURES / "GPL6244_mini_family.soft").read_bytes()
            + (FIXTURES / "GPL6480_mini.soft").read_bytes()
        ),
        "GSE1_family.soft",
        lambda p: geo.read_platform_table(p, platform="GPL6244"),
    ),
    "gmt": (
        lambda: b"".join(_lines(RESOURCES / "genesets/KEGG_2021_Human.gmt", 30)),
        "KEGG_2021_Human.gmt",
        read_gmt,
    ),
    "count_matrix": (
        lambda: b"".join(_lines(RESOURCES / "example/GSE85567/GSE85567_counts.tsv.gz", 40)),
        "GSE85567_counts.tsv",
        lambda p: read_feature_matrix(p, integer=True),
    ),
    "array_matrix": (
        lambda: b"".join(_lines(RESOURCES / "example/GSE22528/GSE22528_subset_1000genes.tsv", 40)),
        "GSE22528_subset.tsv",
        read_feature_matrix,
    ),
    "sample_sheet": (
        lambda: (RESOURCES / "example/GSE85567/GSE85567_samples.tsv").read_bytes(),
        "GSE85567_samples.tsv",
        lambda p: read_sample_sheet(p, "column"),
    ),
    "cohort_sheet": (
        lambda: (PROJECT_DIR / "config/cohorts.tsv").read_bytes(),
        "cohorts.tsv",
        _parse_cohort_sheet,
    ),
    "config": (
        lambda: (PROJECT_DIR / "config/config.yaml").read_bytes(),
        "config.yaml",
        _parse_config,
    ),
}


# ------------------------------------------------------------------------------------- mutations


@st.composite
def mutated(draw, original: bytes) -> tuple[bytes, bool, list[str]]:
    """(bytes, gzip the file?, the mutations applied) from 1-4 mutations of ``original``."""
    data = original
    applied: list[str] = []
    gz = False
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                [
                    "flip",
                    "insert",
                    "delete",
                    "truncate",
                    "dup_line",
                    "drop_line",
                    "swap_lines",
                    "delimiter",
                    "quote",
                    "encoding",
                    "crlf",
                    "gzip",
                    "empty_field",
                    "long_field",
                ]
            )
        )
        n = len(data)
        pos = draw(st.integers(0, max(n - 1, 0)))
        if kind == "flip" and n:
            data = data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1 :]
        elif kind == "insert":
            data = data[:pos] + draw(st.binary(min_size=1, max_size=8)) + data[pos:]
        elif kind == "delete":
            data = data[:pos] + data[pos + draw(st.integers(1, 200)) :]
        elif kind == "truncate":
            data = data[:pos]
        elif kind in ("dup_line", "drop_line", "swap_lines"):
            lines = data.splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                j = draw(st.integers(0, len(lines) - 1))
                if kind == "dup_line":
                    lines.insert(j, lines[i])
                elif kind == "drop_line":
                    del lines[i]
                else:
                    lines[i], lines[j] = lines[j], lines[i]
                data = b"".join(lines)
        elif kind == "delimiter":
            new = draw(st.sampled_from([b",", b";", b" ", b"|", b"\t\t", b""]))
            data = data.replace(b"\t", new) if draw(st.booleans()) else data.replace(b"\t", new, 3)
        elif kind == "quote":
            data = data[:pos] + draw(st.sampled_from([b'"', b"'", b'""', b'"\n"'])) + data[pos:]
        elif kind == "encoding":
            codec = draw(st.sampled_from(["latin-1", "utf-16", "utf-8-sig", "cp1252"]))
            text = data.decode("utf-8", errors="replace") + draw(st.sampled_from(["", "é", "µ"]))
            data = text.encode(codec, errors="replace")
        elif kind == "crlf":
            data = (
                data.replace(b"\n", b"\r\n") if draw(st.booleans()) else data.replace(b"\n", b"\r")
            )
        elif kind == "gzip":
            gz = True
        elif kind == "empty_field":
            data = data.replace(b"\t", b"\t\t", 1) if pos % 2 else data.replace(b"\t", b"\tNA\t", 2)
        elif kind == "long_field":
            data = data[:pos] + b"x" * draw(st.integers(1000, 200_000)) + data[pos:]
        applied.append(kind)
    return data, gz, applied


def check_parser(name: str, tmp_path_factory, example: tuple[bytes, bool, list[str]]) -> None:
    _make, filename, parse = PARSERS[name]
    data, gz, applied = example
    folder = tmp_path_factory.mktemp(name)
    path = folder / (filename + (".gz" if gz else ""))
    if gz:
        data = gzip.compress(data, mtime=0)
        if "truncate" in applied:  # a gzip cut short as well
            data = data[: max(10, len(data) // 2)]
    path.write_bytes(data)
    start = time.monotonic()
    try:
        parse(path)
    except InputError as exc:
        text = str(exc)
        reading = name not in ("config", "cohort_sheet")
        assert path.name in text or not reading, f"{applied}: InputError without the file: {text}"
    except (WorkflowError, SnakemakeLoaderError):
        assert name == "config", f"{applied}: WorkflowError from {name}"
    elapsed = time.monotonic() - start
    assert elapsed < MAX_SECONDS, f"{applied}: {elapsed:.1f} s"
    assert [p.name for p in folder.iterdir()] == [path.name], "output written beside the input"


ORIGINALS = {name: make() for name, (make, _, _) in PARSERS.items()}


def _fuzz(name: str, examples: int):
    @settings(
        max_examples=examples,
        deadline=None,  # timed inside (MAX_SECONDS), not by hypothesis' 200 ms default
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )
    @given(example=mutated(ORIGINALS[name]))
    def run(tmp_path_factory, example):
        check_parser(name, tmp_path_factory, example)

    return run


@pytest.mark.parametrize("name", list(PARSERS))
def test_unmutated_real_file_parses(name, tmp_path_factory):
    check_parser(name, tmp_path_factory, (ORIGINALS[name], False, []))


@pytest.mark.parametrize("name", list(PARSERS))
def test_fuzz_parser(name, tmp_path_factory):
    _fuzz(name, FAST_EXAMPLES)(tmp_path_factory)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PARSERS))
def test_fuzz_parser_slow(name, tmp_path_factory):
    _fuzz(name, SLOW_EXAMPLES)(tmp_path_factory)
