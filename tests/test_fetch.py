"""GEO downloads through a local HTTP server: cache, manifest, retries, faults (markerflow.io.fetch)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from markerflow.errors import InputError
from markerflow.io import fetch, geo
from markerflow.io.tables import sha256_file

FIXTURES = Path(__file__).parent / "fixtures" / "geo"
PROJECT = Path(__file__).resolve().parents[1]
MATRIX_PATH = "/geo/series/GSE27nnn/GSE27011/matrix/GSE27011_series_matrix.txt.gz"
ANNOT_PATH = "/geo/platforms/GPL6nnn/GPL6244/annot/GPL6244.annot.gz"
SOFT_PATH = "/geo/platforms/GPL6nnn/GPL6244/soft/GPL6244_family.soft.gz"


class GeoServer:
    """A tiny GEO FTP-over-HTTPS stand-in on 127.0.0.1 with injectable faults."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.fail_first: dict[str, int] = {}  # path -> number of HTTP 500 answers first
        self.short_first: dict[str, int] = {}  # path -> answers that stop half-way
        self.delay: dict[str, float] = {}  # path -> seconds to wait before answering
        self.requests: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                path = self.path
                server.requests[path] += 1
                if server.delay.get(path):
                    time.sleep(server.delay[path])
                if server.fail_first.get(path, 0) > 0:
                    server.fail_first[path] -= 1
                    self.send_error(500, "Internal Server Error")
                    return
                if path not in server.files:
                    self.send_error(404, "Not Found")
                    return
                body = server.files[path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.short_first.get(path, 0) > 0:
                    server.short_first[path] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> GeoServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def settings(tmp_path: Path, base_url: str, **kw) -> fetch.FetchSettings:
    values = dict(retries=2, timeout_s=5.0, backoff_s=0.01, cache_dir=str(tmp_path / "cache"))
    values.update(kw)
    return fetch.FetchSettings(base_url=base_url, **values)


def outputs(tmp_path: Path, tag: str = "out") -> dict[str, Path]:
    return {
        "matrix_out": tmp_path / tag / "series_matrix.txt.gz",
        "annotation_out": tmp_path / tag / "annotation.tsv.gz",
        "checksums_out": tmp_path / tag / "checksums.tsv",
    }


def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------------------------ names


def test_names_and_urls() -> None:
    assert fetch.geo_stub("GSE27011") == "GSE27nnn"
    assert fetch.geo_stub("GSE123") == "GSEnnn"
    assert fetch.geo_stub("GPL570") == "GPLnnn"
    assert fetch.geo_stub("GPL6244") == "GPL6nnn"
    base = "https://ftp.ncbi.nlm.nih.gov"
    assert fetch.series_matrix_url("GSE27011", None, base) == base + MATRIX_PATH
    assert fetch.series_matrix_url("GSE4302", "GPL570", base + "/") == (
        base + "/geo/series/GSE4nnn/GSE4302/matrix/GSE4302-GPL570_series_matrix.txt.gz"
    )
    assert [u for u, _ in fetch.platform_urls("GPL6244", base)] == [
        base + ANNOT_PATH,
        base + SOFT_PATH,
    ]
    assert fetch.geo_key("gse1", "gpl2") == "GSE1-GPL2"
    assert fetch.split_key("GSE1-GPL2") == ("GSE1", "GPL2")
    assert fetch.split_key("GSE1") == ("GSE1", None)
    with pytest.raises(InputError, match="not a series accession"):
        fetch.geo_key("GDS507")
    with pytest.raises(InputError, match="not a GEO download key"):
        fetch.split_key("GSE1-GPL")


# ------------------------------------------------------------------------- download + cache


def test_download_then_offline_from_cache(tmp_path, matrix_bytes, annot_bytes) -> None:
    with GeoServer({MATRIX_PATH: matrix_bytes, ANNOT_PATH: annot_bytes}) as server:
        conf = settings(tmp_path, server.base_url)
        first = fetch.prepare_geo_series("GSE27011", None, conf, **outputs(tmp_path, "a"))
        assert server.requests == Counter({MATRIX_PATH: 1, ANNOT_PATH: 1})
    assert first.platform == "GPL6244"
    directory = tmp_path / "cache" / "GSE27011"
    manifest = json.loads((directory / "manifest.json").read_text())
    entry = manifest["files"]["series_matrix"]
    assert entry["url"] == server.base_url + MATRIX_PATH
    assert entry["path"] == "raw/GSE27011_series_matrix.txt.gz"
    assert entry["size"] == len(matrix_bytes)
    assert entry["sha256"] == hashlib.sha256(matrix_bytes).hexdigest()
    assert entry["retrieved_at"].endswith("+00:00")
    assert manifest["files"]["platform_table"]["sha256"] == hashlib.sha256(annot_bytes).hexdigest()
    assert manifest["platform"] == "GPL6244"
    out_a = outputs(tmp_path, "a")
    series = geo.read_series_matrix(out_a["matrix_out"])
    assert series.expression.shape == (28231, 54)
    table = geo.read_platform_table(out_a["annotation_out"])
    assert len(table) == 33297 and int(table.notna().sum()) == 25293
    checksums = pd.read_csv(out_a["checksums_out"], sep="\t")
    assert checksums["role"].tolist()[:2] == ["platform_table", "series_matrix"]
    assert "retrieved_at" not in checksums

    # server stopped: the same call succeeds from the cache, without any network access
    offline = settings(tmp_path, closed_port_url(), retries=0)
    fetch.prepare_geo_series("GSE27011", None, offline, **outputs(tmp_path, "b"))
    out_b = outputs(tmp_path, "b")
    for name in out_a:  # workflow outputs are byte-identical (no timestamps)
        assert out_a[name].read_bytes() == out_b[name].read_bytes()
    assert json.loads((directory / "manifest.json").read_text()) == manifest


def test_soft_fallback_and_platform_key(tmp_path) -> None:
    text = (FIXTURES / "quirky_series_matrix.txt").read_text().replace("GPL570", "GPL6244")
    matrix = gzip.compress(text.encode(), mtime=0)
    soft = gzip.compress((FIXTURES / "GPL6244_mini_family.soft").read_bytes(), mtime=0)
    plain = "/geo/series/GSEnnn/GSE999/matrix/GSE999_series_matrix.txt.gz"
    with GeoServer({plain: matrix, SOFT_PATH: soft}) as server:
        conf = settings(tmp_path, server.base_url)
        # platform given for a single-platform series: GSE999-GPL6244_... is absent, plain name used
        result = fetch.prepare_geo_series("GSE999", "GPL6244", conf, **outputs(tmp_path))
        assert server.requests[ANNOT_PATH] == 1 and server.requests[SOFT_PATH] == 1
        assert result.key == "GSE999-GPL6244"
        assert result.platform_table.name == "GPL6244_family.soft.gz"
        annotation = geo.read_platform_table(outputs(tmp_path)["annotation_out"])
        assert annotation["7896738"] == "OR4G2P"
        with pytest.raises(InputError, match=r"platform\(s\) GPL6244, not GPL570"):
            fetch.fetch_geo_series("GSE999", "GPL570", conf)


def test_multi_platform_file_name(tmp_path) -> None:
    text = (FIXTURES / "quirky_series_matrix.txt").read_text()
    matrix = gzip.compress(text.encode(), mtime=0)
    path = "/geo/series/GSE1nnn/GSE1234/matrix/GSE1234-GPL570_series_matrix.txt.gz"
    annot = gzip.compress((FIXTURES / "GPL570_mini.annot").read_bytes(), mtime=0)
    with GeoServer(
        {path: matrix, "/geo/platforms/GPLnnn/GPL570/annot/GPL570.annot.gz": annot}
    ) as s:
        result = fetch.fetch_geo_series("GSE1234", "GPL570", settings(tmp_path, s.base_url))
        assert result.series_matrix.name == "GSE1234-GPL570_series_matrix.txt.gz"
        with pytest.raises(InputError, match=r"(?s)GSE1234 has no series matrix.*needs `platform`"):
            fetch.fetch_geo_series("GSE1234", None, settings(tmp_path, s.base_url))


# ----------------------------------------------------------------------------------- faults


def test_http_500_is_retried(tmp_path, matrix_bytes, annot_bytes) -> None:
    with GeoServer({MATRIX_PATH: matrix_bytes, ANNOT_PATH: annot_bytes}) as server:
        server.fail_first[MATRIX_PATH] = 2
        server.short_first[ANNOT_PATH] = 1  # body shorter than Content-Length: retried too
        waits: list[float] = []
        result = fetch.fetch_geo_series(
            "GSE27011", None, settings(tmp_path, server.base_url, backoff_s=0.5), sleep=waits.append
        )
        assert server.requests[MATRIX_PATH] == 3 and server.requests[ANNOT_PATH] == 2
    assert waits == [0.5, 1.0, 0.5]  # exponential backoff per file
    assert sha256_file(result.series_matrix) == hashlib.sha256(matrix_bytes).hexdigest()


def test_http_500_exhausts_retries(tmp_path, annot_bytes) -> None:
    with GeoServer({ANNOT_PATH: annot_bytes}) as server:
        server.fail_first[MATRIX_PATH] = 99
        with pytest.raises(InputError, match=r"after 3 attempt\(s\): HTTP 500") as err:
            fetch.fetch_geo_series("GSE27011", None, settings(tmp_path, server.base_url))
        assert server.requests[MATRIX_PATH] == 3
    assert "GSE27011_series_matrix.txt.gz" in str(err.value)
    assert not list((tmp_path / "cache" / "GSE27011").glob("raw/*"))  # nothing partial left


def test_truncated_gzip_names_the_file(tmp_path, matrix_bytes) -> None:
    with GeoServer({MATRIX_PATH: matrix_bytes[: len(matrix_bytes) // 3]}) as server:
        with pytest.raises(
            InputError, match=r"GSE27011_series_matrix.txt.gz.*truncated or corrupt"
        ):
            fetch.fetch_geo_series("GSE27011", None, settings(tmp_path, server.base_url))
        assert server.requests[MATRIX_PATH] == 3  # a gzip cut short is retried (retries=2)
    raw = tmp_path / "cache" / "GSE27011" / "raw"
    assert not list(raw.glob("*"))  # the damaged download was not moved into the cache


def test_checksum_mismatch_is_an_error_not_a_redownload(tmp_path, matrix_bytes, annot_bytes):
    with GeoServer({MATRIX_PATH: matrix_bytes, ANNOT_PATH: annot_bytes}) as server:
        conf = settings(tmp_path, server.base_url)
        result = fetch.fetch_geo_series("GSE27011", None, conf)
        manifest_path = result.directory / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest["files"]["series_matrix"]["sha256"] = "0" * 64
        manifest_path.write_text(json.dumps(manifest))
        with pytest.raises(
            InputError, match=r"GSE27011_series_matrix.txt.gz: cached file does not"
        ):
            fetch.fetch_geo_series("GSE27011", None, conf)
        assert server.requests[MATRIX_PATH] == 1  # not downloaded again
        # a cached file altered on disk is caught the same way
        manifest["files"]["series_matrix"]["sha256"] = hashlib.sha256(matrix_bytes).hexdigest()
        manifest_path.write_text(json.dumps(manifest))
        with open(result.series_matrix, "ab") as handle:
            handle.write(b"x")
        with pytest.raises(InputError, match="does not match its manifest"):
            fetch.fetch_geo_series("GSE27011", None, conf)


def test_deleted_cached_file_must_match_recorded_checksum(tmp_path, matrix_bytes, annot_bytes):
    with GeoServer({MATRIX_PATH: matrix_bytes, ANNOT_PATH: annot_bytes}) as server:
        conf = settings(tmp_path, server.base_url)
        result = fetch.fetch_geo_series("GSE27011", None, conf)
        result.platform_table.unlink()
        fetch.fetch_geo_series("GSE27011", None, conf)  # same bytes: fine
        assert server.requests[ANNOT_PATH] == 2
        result.platform_table.unlink()
        server.files[ANNOT_PATH] = gzip.compress(b"ID\tGene symbol\np\tX\n", mtime=0)
        with pytest.raises(InputError, match="changed upstream"):
            fetch.fetch_geo_series("GSE27011", None, conf)


def test_timeout_within_limit(tmp_path, matrix_bytes) -> None:
    with GeoServer({MATRIX_PATH: matrix_bytes}) as server:
        server.delay[MATRIX_PATH] = 4.0
        start = time.monotonic()
        with pytest.raises(InputError, match=r"after 2 attempt\(s\).*timed out"):
            fetch.fetch_geo_series(
                "GSE27011", None, settings(tmp_path, server.base_url, timeout_s=1.0, retries=1)
            )
        elapsed = time.monotonic() - start
    assert elapsed < 3.5  # two attempts of ~1 s each + 0.01 s backoff


def test_file_placed_by_hand_is_adopted_offline(tmp_path, matrix_bytes, annot_bytes) -> None:
    raw = tmp_path / "cache" / "GSE27011" / "raw"
    raw.mkdir(parents=True)
    (raw / "GSE27011_series_matrix.txt.gz").write_bytes(matrix_bytes)
    (raw / "GPL6244.annot.gz").write_bytes(annot_bytes)
    result = fetch.fetch_geo_series(
        "GSE27011", None, settings(tmp_path, closed_port_url(), retries=0)
    )
    entry = result.manifest["files"]["series_matrix"]
    assert entry["retrieved_at"].startswith("adopted")
    assert entry["sha256"] == hashlib.sha256(matrix_bytes).hexdigest()


def test_not_found_and_no_platform_table(tmp_path) -> None:
    matrix = gzip.compress((FIXTURES / "quirky_series_matrix.txt").read_bytes(), mtime=0)
    path = "/geo/series/GSE2nnn/GSE2000/matrix/GSE2000_series_matrix.txt.gz"
    with GeoServer({path: matrix}) as server:
        conf = settings(tmp_path, server.base_url)
        with pytest.raises(InputError, match=r"GSE2001 has no series matrix.*HTTP 404"):
            fetch.fetch_geo_series("GSE2001", None, conf)
        with pytest.raises(InputError, match="no annotation table found for platform GPL570"):
            fetch.fetch_geo_series("GSE2000", None, conf)
        # the matrix stays cached and recorded even though the platform step failed
        manifest = json.loads((tmp_path / "cache/GSE2000/manifest.json").read_text())
        assert "series_matrix" in manifest["files"]


# -------------------------------------------------------------------------------- snakemake


def test_geo_download_rule_through_snakemake(tmp_path, matrix_bytes, annot_bytes) -> None:
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        "import os, sys\n"
        f"SRC = {str(PROJECT / 'src')!r}\n"
        "sys.path.insert(0, SRC)\n"
        "os.environ['PYTHONPATH'] = SRC\n"
        "RESULTS = 'results'\n"
        "LOGS = 'results/logs'\n"
        # what common.smk derives from the (schema-validated) config
        "GEO = {'base_url': 'x', 'retries': 3, 'timeout_s': 60, 'backoff_s': 2, 'deadline_s': 60, 'min_rate_bytes_s': 0,"
        " 'cache_dir': 'resources/geo', 'symbol_columns': {}, **config.get('geo', {})}\n"
        "GEO_CACHE = GEO['cache_dir']\n"
        f"include: {str(PROJECT / 'workflow/rules/resources.smk')!r}\n"
    )
    with GeoServer({MATRIX_PATH: matrix_bytes, ANNOT_PATH: annot_bytes}) as server:
        config = tmp_path / "config.yaml"
        config.write_text(f"geo:\n  base_url: {server.base_url}\n  retries: 1\n")
        target = "resources/geo/GSE27011/annotation.tsv.gz"
        cmd = [sys.executable, "-m", "snakemake", target, "-s", str(snakefile), "-d", str(tmp_path)]
        cmd += ["--cores", "1", "--configfile", str(config)]
        env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        assert server.requests[MATRIX_PATH] == 1
    out = tmp_path / "resources/geo/GSE27011"
    assert (out / "manifest.json").exists() and (out / "checksums.tsv").exists()
    assert geo.read_series_matrix_header(out / "series_matrix.txt.gz").shape[0] == 54
    assert (tmp_path / "results/logs/resources/geo_GSE27011.log").exists()


# ---------------------------------------------------------------- issue 19: limits and use


class DripServer:
    """A server on 127.0.0.1 that sends its body ``rate`` bytes per second (a slow drip)."""

    def __init__(self, body: bytes, rate: int = 128):
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for start in range(0, len(body), rate // 4):
                        self.wfile.write(body[start : start + rate // 4])
                        self.wfile.flush()
                        time.sleep(0.25)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> DripServer:
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow  # waits out a real 10 s deadline
def test_slow_drip_server_hits_the_total_deadline(tmp_path, matrix_bytes) -> None:
    with DripServer(matrix_bytes, rate=128) as server:
        conf = settings(
            tmp_path, server.base_url, timeout_s=5.0, deadline_s=10.0, min_rate_bytes_s=0.0
        )
        start = time.monotonic()
        with pytest.raises(InputError, match=r"after 1 attempt\(s\): deadline of 10 s reached"):
            fetch.fetch_geo_series("GSE27011", None, conf)
        elapsed = time.monotonic() - start
    assert 9.5 < elapsed < 12.0  # the gap timeout (5 s) alone never fires: every read progresses
    assert not list((tmp_path / "cache" / "GSE27011" / "raw").glob("*"))  # nothing partial


def test_slow_drip_below_min_rate_is_stopped_and_retried(tmp_path, matrix_bytes, caplog) -> None:
    with DripServer(matrix_bytes, rate=128) as server:
        conf = settings(
            tmp_path, server.base_url, timeout_s=5.0, deadline_s=10.0, min_rate_bytes_s=1000.0,
            retries=1,
        )  # fmt: skip
        start = time.monotonic()
        with pytest.raises(InputError, match=r"after 2 attempt\(s\): deadline of 10 s reached"):
            fetch.fetch_geo_series("GSE27011", None, conf)
        assert time.monotonic() - start < 12.0
        assert re.search(r"TooSlow: \d+ bytes/s over 5\.\d s, below geo.min_rate_bytes_s = 1000",
                         caplog.text)  # fmt: skip
        assert server.requests == 2  # stopped after the 5 s grace, retried once, then deadline


class TruncatingServer(GeoServer):
    """GeoServer whose first answers end early without a Content-Length (a dropped connection)."""

    def __init__(self, files: dict[str, bytes], cut_first: int):
        super().__init__(files)
        self.cut_first = cut_first
        server = self
        inner = self.httpd.RequestHandlerClass

        class Handler(inner):  # type: ignore[misc,valid-type]
            def do_GET(self):
                if server.cut_first > 0 and self.path in server.files:
                    server.cut_first -= 1
                    server.requests[self.path] += 1
                    body = server.files[self.path]
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                super().do_GET()

        self.httpd.RequestHandlerClass = Handler


def test_truncated_then_correct_response_is_retried(tmp_path, matrix_bytes, annot_bytes) -> None:
    files = {MATRIX_PATH: matrix_bytes, ANNOT_PATH: annot_bytes}
    with TruncatingServer(files, cut_first=1) as server:
        result = fetch.fetch_geo_series("GSE27011", None, settings(tmp_path, server.base_url))
        assert server.requests[MATRIX_PATH] == 2  # cut short once (no length: gzip check), then ok
    assert sha256_file(result.series_matrix) == hashlib.sha256(matrix_bytes).hexdigest()
    assert result.manifest["files"]["series_matrix"]["size"] == len(matrix_bytes)


def test_cached_file_edited_in_place_is_caught_at_the_point_of_use(
    tmp_path, matrix_bytes, annot_bytes
) -> None:
    out = outputs(tmp_path)
    with GeoServer({MATRIX_PATH: matrix_bytes, ANNOT_PATH: annot_bytes}) as server:
        fetch.prepare_geo_series("GSE27011", None, settings(tmp_path, server.base_url), **out)
    checksums = pd.read_csv(out["checksums_out"], sep="\t")
    assert checksums["role"].tolist() == [
        "platform_table", "series_matrix", "workflow_annotation", "workflow_matrix",
    ]  # fmt: skip
    fetch.verify_prepared(out["matrix_out"])  # unchanged: fine
    fetch.verify_prepared(out["annotation_out"])
    # the workflow file is a hard link to the raw download: editing one edits both
    raw = tmp_path / "cache" / "GSE27011" / "raw" / "GSE27011_series_matrix.txt.gz"
    data = bytearray(out["matrix_out"].read_bytes())
    data[100] ^= 1
    with open(out["matrix_out"], "r+b") as handle:
        handle.write(bytes(data))
    if os.stat(raw).st_ino == os.stat(out["matrix_out"]).st_ino:
        assert raw.read_bytes() == bytes(data)
    with pytest.raises(InputError) as err:
        fetch.verify_prepared(out["matrix_out"])
    message = str(err.value)
    assert "series_matrix.txt.gz: cached GEO file changed after download: sha256 " in message
    assert "delete" in message and "download and prepare it anew" in message
    out["annotation_out"].write_bytes(gzip.compress(b"probe_id\tsymbol\nx\tY\n"))
    with pytest.raises(InputError, match=r"annotation\.tsv\.gz: cached GEO file changed"):
        fetch.verify_prepared(out["annotation_out"])
    # a user's own table (no checksums.tsv beside it) is not checked unless required
    own = tmp_path / "own" / "annotation.tsv.gz"
    own.parent.mkdir()
    own.write_bytes(b"")
    fetch.verify_prepared(own, required=False)
    with pytest.raises(InputError, match=r"has no checksums\.tsv beside it"):
        fetch.verify_prepared(own)
