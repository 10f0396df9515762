"""Download GEO series matrices and platform tables into a checksummed cache (standard library only).

Layout (``cache_dir`` defaults to ``resources/geo``; ``key`` is ``GSExxx`` or ``GSExxx-GPLyyy``)::

    {cache_dir}/{key}/raw/{key}_series_matrix.txt.gz    bytes exactly as served by GEO
    {cache_dir}/{key}/raw/GPLyyy.annot.gz               (or GPLyyy_family.soft.gz)
    {cache_dir}/{key}/manifest.json                      url, path, size, sha256, retrieved_at
    {cache_dir}/{key}/series_matrix.txt.gz               workflow outputs (see prepare_geo_series)
    {cache_dir}/{key}/annotation.tsv.gz                  probe_id, symbol (derived, deterministic)
    {cache_dir}/{key}/checksums.tsv                      role, file, url, size, sha256 (no times)

URLs follow NCBI's FTP layout (as GEOquery's ``getGEO``/``getGEOfile``):
``{base}/geo/series/GSE27nnn/GSE27011/matrix/GSE27011_series_matrix.txt.gz`` (``GSExxx-GPLyyy_...``
for a series on several platforms), ``{base}/geo/platforms/GPL6nnn/GPL6244/annot/GPL6244.annot.gz``
and, when a platform has no annot file, ``.../soft/GPL6244_family.soft.gz``.

RNA-seq series (issue 17): GEO computes raw counts for human RNA-seq series from SRA (NCBI's
pipeline, https://www.ncbi.nlm.nih.gov/geo/info/rnaseqcounts.html) and serves them, with one gene
annotation table for all series, through its download CGI (the URLs of GEO2R's generated R script)::

    {rnaseq_url}?type=rnaseq_counts&acc=GSExxx&format=file&file=GSExxx_raw_counts_GRCh38.p13_NCBI.tsv.gz
    {rnaseq_url}?format=file&type=rnaseq_counts&file=Human.GRCh38.p13.annot.tsv.gz

They are cached next to the series matrix (``{cache_dir}/GSExxx/raw/``, roles ``rnaseq_counts`` and
``rnaseq_annotation`` in the same manifest); the workflow's files go to ``{cache_dir}/GSExxx/rnaseq/``
(see :func:`prepare_geo_rnaseq`).

Rules: a file in the manifest whose bytes still match its sha256 is never downloaded again (a warm
cache works offline); a cached file that no longer matches is an :class:`InputError` naming it, not
a silent re-download; a file present in ``raw/`` but not in the manifest (placed by hand) is
adopted after a gzip check. Downloads retry on connection errors, timeouts and HTTP 5xx/429 with
exponential backoff; 404 is not retried. Every download goes to a temporary file, is checked
(length, gzip integrity) and only then moved into place. A body that is cut short (fewer bytes
than its Content-Length, or a gzip stream that ends early) is retried like a connection error.

Time limits (config ``geo:``): ``timeout_s`` bounds each wait for data (connect or one read);
``deadline_s`` bounds the whole download of one file, all attempts and back-off waits included;
``min_rate_bytes_s`` stops an attempt whose average rate, measured after the first
``RATE_GRACE_S`` seconds of its body, is below that many bytes per second (a server that drips a
few bytes a second would otherwise never time out, as every read makes some progress).

Point of use: :func:`verify_prepared` checks a workflow file of the cache (series matrix,
annotation) against the sha256 recorded in its ``checksums.tsv`` every time a stage reads it, so a
cached file edited in place is an error naming it even when the download step does not run again.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import http.client
import json
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from markerflow.errors import InputError
from markerflow.io import geo
from markerflow.io.tables import atomic_path, reading, sha256_file, write_tsv

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://ftp.ncbi.nlm.nih.gov"
DEFAULT_RNASEQ_URL = "https://www.ncbi.nlm.nih.gov/geo/download/"
DEFAULT_RNASEQ_COUNTS_FILE = "{accession}_raw_counts_GRCh38.p13_NCBI.tsv.gz"
DEFAULT_RNASEQ_ANNOTATION_FILE = "Human.GRCh38.p13.annot.tsv.gz"
MANIFEST = "manifest.json"
RAW_DIR = "raw"
GSE_RE = re.compile(r"^GSE\d+$")
GPL_RE = re.compile(r"^GPL\d+$")
KEY_RE = re.compile(r"^(GSE\d+)(?:-(GPL\d+))?$")
CHUNK = 1 << 20
#: Bytes asked for per read while downloading (``read1`` returns what has arrived, up to this).
READ_CHUNK = 1 << 16
#: Seconds of a body before ``min_rate_bytes_s`` is enforced (slow start, TCP ramp-up).
RATE_GRACE_S = 5.0
CHECKSUMS = "checksums.tsv"


@dataclass(frozen=True)
class FetchSettings:
    """Download settings (config ``geo:``)."""

    base_url: str = DEFAULT_BASE_URL
    retries: int = 3  # extra attempts after the first one
    timeout_s: float = 60.0  # max seconds without progress (connect or read)
    backoff_s: float = 2.0  # wait before the 1st retry; doubles each retry
    cache_dir: str = "resources/geo"
    rnaseq_url: str = DEFAULT_RNASEQ_URL  # GEO's download CGI for NCBI-computed RNA-seq counts
    rnaseq_counts_file: str = DEFAULT_RNASEQ_COUNTS_FILE  # ``{accession}`` is filled in
    rnaseq_annotation_file: str = DEFAULT_RNASEQ_ANNOTATION_FILE
    deadline_s: float = 3600.0  # max seconds for one file, all attempts and waits included
    min_rate_bytes_s: float = 1024.0  # slowest average rate accepted after RATE_GRACE_S seconds


class NotFound(Exception):
    """HTTP 404/410: the file does not exist at that URL (not retried)."""


# --------------------------------------------------------------------------------------- names


def geo_key(accession: str, platform: str | None = None) -> str:
    """Cache key / wildcard value of a cohort: ``GSE27011`` or ``GSE12345-GPL570``."""
    accession = accession.strip().upper()
    if not GSE_RE.match(accession):
        raise InputError(f"GEO accession {accession!r} is not a series accession (GSE + digits)")
    if platform:
        platform = platform.strip().upper()
        if not GPL_RE.match(platform):
            raise InputError(
                f"GEO platform {platform!r} is not a platform accession (GPL + digits)"
            )
        return f"{accession}-{platform}"
    return accession


def split_key(key: str) -> tuple[str, str | None]:
    """Inverse of :func:`geo_key`."""
    match = KEY_RE.match(key)
    if not match:
        raise InputError(f"{key!r} is not a GEO download key (GSExxx or GSExxx-GPLyyy)")
    return match.group(1), match.group(2)


def geo_stub(accession: str) -> str:
    """NCBI FTP folder of an accession: GSE27011 -> GSE27nnn, GSE123 -> GSEnnn, GPL570 -> GPLnnn."""
    prefix, digits = accession[:3], accession[3:]
    return f"{prefix}{digits[:-3]}nnn"


def series_matrix_url(accession: str, platform: str | None, base_url: str) -> str:
    """The URL of a series matrix on GEO's FTP layout (one file per platform when several)."""
    name = f"{accession}-{platform}" if platform else accession
    return (
        f"{base_url.rstrip('/')}/geo/series/{geo_stub(accession)}/{accession}/matrix/"
        f"{name}_series_matrix.txt.gz"
    )


def platform_urls(platform: str, base_url: str) -> list[tuple[str, str]]:
    """(url, file name) of the platform's annot table, then of its full SOFT table."""
    root = f"{base_url.rstrip('/')}/geo/platforms/{geo_stub(platform)}/{platform}"
    return [
        (f"{root}/annot/{platform}.annot.gz", f"{platform}.annot.gz"),
        (f"{root}/soft/{platform}_family.soft.gz", f"{platform}_family.soft.gz"),
    ]


def rnaseq_urls(accession: str, settings: FetchSettings) -> dict[str, tuple[str, str]]:
    """(url, file name) of a series' NCBI raw-count table and of the gene annotation table."""
    counts = settings.rnaseq_counts_file.format(accession=accession)
    annot = settings.rnaseq_annotation_file.format(accession=accession)
    base = settings.rnaseq_url
    return {
        "rnaseq_counts": (
            f"{base}?type=rnaseq_counts&acc={accession}&format=file&file={counts}",
            counts,
        ),
        "rnaseq_annotation": (f"{base}?format=file&type=rnaseq_counts&file={annot}", annot),
    }


# ------------------------------------------------------------------------------------ checking


def check_gzip(path: str | Path, name: str | None = None) -> None:
    """Decompress the whole file (CRC and length checked); InputError naming it if damaged."""
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(CHUNK):
                pass
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise InputError(
            f"{name or Path(path).name} is a truncated or corrupt gzip file ({exc})",
            path=path,
            hint="delete it and run again to download it anew; if it persists, the copy on the "
            "server is damaged",
        ) from None


# ----------------------------------------------------------------------------------- download


def download(
    url: str,
    dest: str | Path,
    settings: FetchSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Download ``url`` to ``dest`` atomically, retrying transient failures, within a deadline.

    Retried: connection errors, timeouts (``timeout_s`` without progress), HTTP 5xx and 429,
    bodies shorter than their Content-Length, gzip streams cut short, and attempts slower than
    ``min_rate_bytes_s``. Not retried: 404/410 (:class:`NotFound`), other 4xx. The whole download
    (every attempt and back-off wait) stops at ``deadline_s``. A ``.gz`` file is checked for gzip
    integrity before it is moved into place.
    """
    dest = Path(dest)
    attempts = max(int(settings.retries), 0) + 1
    deadline = clock() + float(settings.deadline_s)
    last = "no attempt"
    made = 0
    for attempt in range(attempts):
        if attempt:
            wait = settings.backoff_s * 2 ** (attempt - 1)
            if clock() + wait >= deadline:
                break
            log.warning("retrying %s in %.1f s (attempt %d/%d): %s", url, wait, attempt + 1,
                        attempts, last)  # fmt: skip
            sleep(wait)
        made += 1
        try:
            with atomic_path(dest) as tmp:
                _fetch_once(url, tmp, settings, deadline, clock)
                if dest.name.endswith(".gz"):
                    try:
                        check_gzip(tmp, name=f"{dest.name} downloaded from {url}")
                    except InputError as exc:
                        raise _Truncated(str(exc)) from None
            log.info("downloaded %s -> %s (%d bytes)", url, dest, dest.stat().st_size)
            return
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                raise NotFound(f"{url}: HTTP {exc.code}") from None
            if exc.code < 500 and exc.code != 429:
                raise InputError(
                    f"download of {url} refused: HTTP {exc.code} {exc.reason}",
                    path=dest,
                    hint="check geo.base_url in the config",
                ) from None
            last = f"HTTP {exc.code} {exc.reason}"
        except _Deadline as exc:
            last = str(exc)
            break
        except (
            urllib.error.URLError,
            TimeoutError,
            ConnectionError,
            http.client.HTTPException,
            _Truncated,
            _TooSlow,
        ) as exc:
            reason = getattr(exc, "reason", None)
            last = f"{type(exc).__name__.lstrip('_')}: {reason if reason is not None else exc}"
        if clock() >= deadline:
            last += f"; deadline of {settings.deadline_s:g} s reached"
            break
    raise InputError(
        f"could not download {url} after {made} attempt(s): {last}",
        path=dest,
        hint="check the network and geo.base_url (geo.retries, geo.timeout_s, geo.deadline_s and "
        "geo.min_rate_bytes_s tune the retries and limits); offline, copy the file into this "
        "path by hand and run again",
    )


class _Truncated(Exception):
    pass


class _TooSlow(Exception):
    pass


class _Deadline(Exception):
    pass


def _fetch_once(
    url: str,
    tmp: Path,
    settings: FetchSettings,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """One attempt: stream the body to ``tmp``, checking the deadline and the rate at every read."""
    from markerflow import __version__  # on use: it reads the installed metadata

    request = urllib.request.Request(url, headers={"User-Agent": f"markerflow/{__version__}"})
    remaining = deadline - clock()
    if remaining <= 0:
        raise _Deadline(f"deadline of {settings.deadline_s:g} s reached before the attempt")
    timeout = min(float(settings.timeout_s), remaining)
    with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
        expected = response.headers.get("Content-Length")
        start = clock()
        size = 0
        while True:
            chunk = response.read1(READ_CHUNK)
            if not chunk:
                break
            out.write(chunk)
            size += len(chunk)
            now = clock()
            if now >= deadline:
                raise _Deadline(
                    f"deadline of {settings.deadline_s:g} s reached after {size} bytes "
                    f"({size / max(now - start, 1e-9):.0f} bytes/s)"
                )
            elapsed = now - start
            if elapsed >= RATE_GRACE_S and size / elapsed < settings.min_rate_bytes_s:
                raise _TooSlow(
                    f"{size / elapsed:.0f} bytes/s over {elapsed:.1f} s, below "
                    f"geo.min_rate_bytes_s = {settings.min_rate_bytes_s:g}"
                )
    if expected is not None and expected.isdigit() and int(expected) != size:
        raise _Truncated(f"received {size} of {expected} bytes")


# ------------------------------------------------------------------------------------ manifest


def read_manifest(directory: Path) -> dict:
    """The cache manifest of a download directory (file -> sha256, URL, size); empty if none."""
    path = directory / MANIFEST
    if not path.exists():
        return {"files": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"download manifest is not valid JSON ({exc})",
            path=path,
            hint="restore it, or delete the folder to download everything again",
        ) from None
    if not isinstance(manifest.get("files"), dict):
        raise InputError("download manifest has no `files` mapping", path=path)
    return manifest


def write_manifest(directory: Path, manifest: dict) -> None:
    """Write the cache manifest atomically (sorted keys, so identical caches give identical bytes)."""
    with atomic_path(directory / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def verify_cached(directory: Path, entry: dict) -> Path:
    """The cached file of a manifest entry, after checking its size and sha256."""
    path = directory / entry["path"]
    size = path.stat().st_size
    digest = sha256_file(path)
    if size != entry["size"] or digest != entry["sha256"]:
        raise InputError(
            f"cached file does not match its manifest (sha256 {digest}, {size} bytes; manifest "
            f"sha256 {entry['sha256']}, {entry['size']} bytes)",
            path=path,
            hint=f"the file changed after it was downloaded from {entry['url']}; delete it and its "
            f"entry in {directory / MANIFEST} to download it again (results will then differ)",
        )
    return path


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def fetch_file(
    directory: Path,
    role: str,
    candidates: list[tuple[str, str]],
    settings: FetchSettings,
    manifest: dict,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Path, dict]:
    """Cached-or-downloaded file for ``role`` (first candidate URL that exists); updates manifest.

    ``candidates`` are (url, file name) in order of preference.
    """
    entry = manifest["files"].get(role)
    if entry is not None:
        path = directory / entry["path"]
        if path.exists():
            return verify_cached(directory, entry), entry
        # listed but deleted: download it again; it must still have the recorded checksum
        candidates = [(entry["url"], Path(entry["path"]).name)]
    else:
        for url, name in candidates:
            path = directory / RAW_DIR / name
            if path.exists():  # placed by hand (offline use): adopt it
                if name.endswith(".gz"):
                    check_gzip(path)
                new = _entry(directory, path, url, "adopted (not downloaded)")
                log.info("%s: using the file already present at %s", role, path)
                manifest["files"][role] = new
                return path, new
    tried = []
    for url, name in candidates:
        path = directory / RAW_DIR / name
        try:
            download(url, path, settings, sleep=sleep)
        except NotFound as exc:
            tried.append(str(exc))
            continue
        new = _entry(directory, path, url, _now())
        if entry is not None and new["sha256"] != entry["sha256"]:
            raise InputError(
                f"downloaded again from {url}, but its sha256 {new['sha256']} differs from the one "
                f"recorded in the manifest ({entry['sha256']}): the file changed upstream",
                path=path,
                hint=f"to accept the new version, delete {directory / MANIFEST} and run again",
            )
        manifest["files"][role] = new
        return path, new
    raise NotFound("; ".join(tried))


def _entry(directory: Path, path: Path, url: str, retrieved_at: str) -> dict:
    return {
        "url": url,
        "path": path.relative_to(directory).as_posix(),
        "size": path.stat().st_size,
        "sha256": sha256_file(path),
        "retrieved_at": retrieved_at,
    }


# ------------------------------------------------------------------------------------- series


@dataclass
class GeoDownload:
    """A prepared GEO series in the cache: its files and their checksums."""

    key: str
    accession: str
    platform: str
    directory: Path
    series_matrix: Path  # raw file in the cache
    platform_table: Path  # raw file in the cache
    manifest: dict


def fetch_geo_series(
    accession: str,
    platform: str | None = None,
    settings: FetchSettings | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> GeoDownload:
    """Series matrix + platform table of a GEO series, from the cache or downloaded into it.

    ``platform`` is required for a series on several platforms (GEO then only has
    ``GSExxx-GPLyyy_series_matrix.txt.gz``); for a single-platform series it is checked against
    the file. The platform comes from the series matrix' ``!Sample_platform_id``.
    """
    settings = settings or FetchSettings()
    key = geo_key(accession, platform)
    accession, platform = split_key(key)
    directory = Path(settings.cache_dir) / key
    directory.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(directory)
    manifest.setdefault("accession", accession)
    base = settings.base_url
    matrix_name = f"{key}_series_matrix.txt.gz"
    candidates = [(series_matrix_url(accession, platform, base), matrix_name)]
    if platform:  # a single-platform series has only the plain file name
        candidates.append((series_matrix_url(accession, None, base), matrix_name))
    try:
        try:
            matrix, _ = fetch_file(directory, "series_matrix", candidates, settings, manifest,
                                   sleep=sleep)  # fmt: skip
        except NotFound as exc:
            raise InputError(
                f"GEO series {accession} has no series matrix"
                f"{f' for platform {platform}' if platform else ''} ({exc})",
                hint="check the accession; a series on several platforms needs `platform` "
                "(GPLxxx) in the cohort sheet; RNA-seq series often have no matrix at all (use "
                "the supplementary count file with source `matrix`)",
            ) from None
        platform = _platform_of(matrix, platform)
        manifest["platform"] = platform
        try:
            table, _ = fetch_file(directory, "platform_table", platform_urls(platform, base),
                                  settings, manifest, sleep=sleep)  # fmt: skip
        except NotFound as exc:
            raise InputError(
                f"no annotation table found for platform {platform} ({exc})",
                hint="give a local probe->symbol table in the cohort sheet's `annotation` column",
            ) from None
    finally:
        write_manifest(directory, manifest)
    return GeoDownload(key, accession, platform, directory, matrix, table, manifest)


def _platform_of(matrix: Path, wanted: str | None) -> str:
    samples = geo.read_series_matrix_header(matrix)
    platforms = sorted(set(samples.get("platform_id", pd.Series(dtype=object)).dropna()))
    if wanted:
        if platforms and wanted not in platforms:
            raise InputError(
                f"series matrix is for platform(s) {', '.join(platforms)}, not {wanted}",
                path=matrix,
                hint="fix the `platform` cell of the cohort sheet",
            )
        return wanted
    if len(platforms) != 1:
        raise InputError(
            f"series matrix lists {len(platforms)} platforms ({', '.join(platforms) or 'none'})",
            path=matrix,
            hint="set `platform` (GPLxxx) in the cohort sheet",
        )
    return platforms[0]


def prepare_geo_series(
    accession: str,
    platform: str | None,
    settings: FetchSettings,
    *,
    matrix_out: str | Path,
    annotation_out: str | Path,
    checksums_out: str | Path,
    symbol_column: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> GeoDownload:
    """Fetch (or reuse) a series and write the workflow's files, all deterministic.

    ``matrix_out``: the series matrix (hard link to / copy of the raw bytes); ``annotation_out``:
    probe_id -> symbol TSV (gzip without timestamp) from :func:`markerflow.io.geo.read_platform_table`
    with the platform's symbol column; ``checksums_out``: role, file, url, size, sha256 of the raw
    files (no retrieval times, so reruns give identical bytes).
    """
    result = fetch_geo_series(accession, platform, settings, sleep=sleep)
    table = geo.read_platform_table(
        result.platform_table, symbol_column=symbol_column, platform=result.platform
    )
    frame = table.rename_axis("probe_id").reset_index()
    text = frame.to_csv(sep="\t", index=False, na_rep="", lineterminator="\n")
    with atomic_path(annotation_out) as tmp:
        tmp.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    with atomic_path(matrix_out) as tmp:
        tmp.unlink()
        try:
            os.link(result.series_matrix, tmp)
        except OSError:
            shutil.copyfile(result.series_matrix, tmp)
    rows = [
        {
            "role": role,
            "file": entry["path"],
            "url": entry["url"],
            "size": entry["size"],
            "sha256": entry["sha256"],
        }
        for role, entry in sorted(result.manifest["files"].items())
    ]
    base = Path(checksums_out).parent
    for role, path, source in (
        ("workflow_annotation", annotation_out, "derived from platform_table"),
        ("workflow_matrix", matrix_out, "copy of series_matrix"),
    ):
        rows.append(
            {
                "role": role,
                "file": Path(os.path.relpath(path, base)).as_posix(),
                "url": source,
                "size": Path(path).stat().st_size,
                "sha256": sha256_file(path),
            }
        )
    write_tsv(pd.DataFrame(rows), checksums_out)
    return result


# ------------------------------------------------------------------------------ RNA-seq series


@dataclass
class GeoRnaseqDownload:
    """A GEO RNA-seq series in the cache: series matrix (phenotypes), counts, gene annotation."""

    accession: str
    directory: Path
    series_matrix: Path
    counts: Path
    annotation: Path
    manifest: dict


def fetch_geo_rnaseq(
    accession: str,
    settings: FetchSettings | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> GeoRnaseqDownload:
    """Series matrix + NCBI raw counts + gene annotation of an RNA-seq series (cached)."""
    settings = settings or FetchSettings()
    key = geo_key(accession)
    directory = Path(settings.cache_dir) / key
    directory.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(directory)
    manifest.setdefault("accession", key)
    candidates = [(series_matrix_url(key, None, settings.base_url), f"{key}_series_matrix.txt.gz")]
    files: dict[str, Path] = {}
    try:
        try:
            files["series_matrix"], _ = fetch_file(directory, "series_matrix", candidates,
                                                   settings, manifest, sleep=sleep)  # fmt: skip
        except NotFound as exc:
            raise InputError(
                f"GEO series {key} has no series matrix ({exc})",
                hint="check the accession; a series on several platforms needs `platform`",
            ) from None
        for role, (url, name) in rnaseq_urls(key, settings).items():
            try:
                files[role], _ = fetch_file(directory, role, [(url, name)], settings, manifest,
                                            sleep=sleep)  # fmt: skip
            except NotFound as exc:
                raise InputError(
                    f"GEO has no NCBI-computed {role.replace('_', ' ')} file for {key} ({exc})",
                    hint="GEO computes counts only for human (and mouse) RNA-seq series with SRA "
                    "runs; otherwise download the submitters' count matrix from the series' "
                    "supplementary files and use source `matrix` with a sample sheet",
                ) from None
    finally:
        write_manifest(directory, manifest)
    return GeoRnaseqDownload(key, directory, files["series_matrix"], files["rnaseq_counts"],
                             files["rnaseq_annotation"], manifest)  # fmt: skip


def ncbi_gene_table(path: str | Path) -> pd.DataFrame:
    """GEO's ``Human.GRCh38.p13.annot.tsv.gz`` -> the gene ID table of the genes stage.

    Columns used (case-insensitive): ``GeneID`` (Entrez) and ``Symbol`` (required), ``GeneType`` and
    ``EnsemblGeneID`` (optional). Returns columns ``entrez symbol ensembl gene_type`` (strings, as
    :data:`markerflow.stages.genes.GENE_TABLE_COLUMNS`), one row per GeneID.
    """
    path = Path(path)
    with reading(path, "GEO RNA-seq gene annotation"):
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    lower = {str(c).strip().lower(): c for c in table.columns}
    missing = [c for c in ("geneid", "symbol") if c not in lower]
    if missing:
        raise InputError(
            f"GEO gene annotation lacks column(s) {', '.join(missing)} "
            f"(columns: {', '.join(map(str, table.columns[:20]))})",
            path=path,
            hint="expected NCBI's Human.GRCh38.p13.annot.tsv(.gz) with GeneID and Symbol columns",
        )

    def column(name: str) -> pd.Series:
        if name in lower:
            return table[lower[name]].astype(str).str.strip()
        return pd.Series([""] * len(table), index=table.index)

    out = pd.DataFrame(
        {
            "entrez": column("geneid"),
            "symbol": column("symbol"),
            "ensembl": column("ensemblgeneid"),
            "gene_type": column("genetype"),
        }
    )
    out = out[out["entrez"] != ""].drop_duplicates("entrez")
    return out.replace({"": None}).reset_index(drop=True)


def prepare_geo_rnaseq(
    accession: str,
    settings: FetchSettings,
    *,
    matrix_out: str | Path,
    counts_out: str | Path,
    annotation_out: str | Path,
    checksums_out: str | Path,
    sleep: Callable[[float], None] = time.sleep,
) -> GeoRnaseqDownload:
    """Fetch (or reuse) an RNA-seq series and write the workflow's files, all deterministic.

    ``matrix_out``: the series matrix (phenotypes only; RNA-seq series have no table);
    ``counts_out``: the NCBI raw-count table as served (GeneID + one column per GSM);
    ``annotation_out``: gene table ``entrez symbol ensembl gene_type`` (:func:`ncbi_gene_table`,
    gzip without timestamp); ``checksums_out``: role, file, url, size, sha256 of the raw files.
    """
    result = fetch_geo_rnaseq(accession, settings, sleep=sleep)
    table = ncbi_gene_table(result.annotation)
    text = table.to_csv(sep="\t", index=False, na_rep="", lineterminator="\n")
    with atomic_path(annotation_out) as tmp:
        tmp.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    for source, out in ((result.series_matrix, matrix_out), (result.counts, counts_out)):
        with atomic_path(out) as tmp:
            tmp.unlink()
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
    roles = ("series_matrix", "rnaseq_counts", "rnaseq_annotation")
    rows = [
        {"role": role, "file": entry["path"], "url": entry["url"], "size": entry["size"],
         "sha256": entry["sha256"]}
        for role, entry in sorted(result.manifest["files"].items()) if role in roles
    ]  # fmt: skip
    write_tsv(pd.DataFrame(rows), checksums_out)
    return result


# --------------------------------------------------------------------------- SOFT family / GDS

SOFT_RE = re.compile(r"^G(SE|DS)\d+$")


def soft_url(accession: str, base_url: str) -> tuple[str, str]:
    """(url, file name) of a series' family SOFT file or a GDS SOFT file on GEO's FTP layout.

    ``{base}/geo/series/GSEnnn/GSE781/soft/GSE781_family.soft.gz`` and
    ``{base}/geo/datasets/GDSnnn/GDS507/soft/GDS507.soft.gz`` (as GEOquery's ``getGEOfile``).
    """
    accession = accession.strip().upper()
    if not SOFT_RE.match(accession):
        raise InputError(f"{accession!r} is not a GSE or GDS accession")
    root = base_url.rstrip("/")
    if accession.startswith("GDS"):
        name = f"{accession}.soft.gz"
        return f"{root}/geo/datasets/{geo_stub(accession)}/{accession}/soft/{name}", name
    name = f"{accession}_family.soft.gz"
    return f"{root}/geo/series/{geo_stub(accession)}/{accession}/soft/{name}", name


def prepare_geo_soft(
    accession: str,
    settings: FetchSettings,
    *,
    soft_out: str | Path,
    checksums_out: str | Path,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Fetch (or reuse from the cache) a family SOFT / GDS file; link it to ``soft_out``.

    Cached in ``{cache_dir}/{accession}/raw/`` under role ``soft`` of that folder's manifest;
    ``checksums_out`` lists role, file, url, size, sha256 (no retrieval time).
    """
    url, name = soft_url(accession, settings.base_url)
    accession = accession.strip().upper()
    directory = Path(settings.cache_dir) / accession
    directory.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(directory)
    manifest.setdefault("accession", accession)
    try:
        path, entry = fetch_file(directory, "soft", [(url, name)], settings, manifest, sleep=sleep)
    except NotFound as exc:
        raise InputError(
            f"GEO has no SOFT file for {accession} ({exc})",
            hint="check the accession (GSE... for a family file with source `soft`, GDS... with "
            "source `gds`), or give the downloaded file as the cohort's `matrix`",
        ) from None
    finally:
        write_manifest(directory, manifest)
    with atomic_path(soft_out) as tmp:
        tmp.unlink()
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
    row = {"role": "soft", "file": entry["path"], "url": entry["url"], "size": entry["size"],
           "sha256": entry["sha256"]}  # fmt: skip
    write_tsv(pd.DataFrame([row]), checksums_out)
    return path


# ------------------------------------------------------------------- verification at the point of use


def verify_prepared(path: str | Path, *, required: bool = True) -> None:
    """Check a workflow file of the GEO cache against the sha256 in its folder's checksums.tsv.

    Called at the point of use (ingest reads the series matrix, genes the annotation), every run:
    the download rule does not run again once its outputs exist, and the series matrix is a hard
    link to the raw download, so an edit in place would otherwise go unnoticed. A file with no
    ``checksums.tsv`` beside it is an error when ``required`` (a ``geo`` cohort), else not checked
    (a user's own table). Caches written before the ``workflow_*`` rows existed are checked
    against the raw series matrix's sha256 (the matrix is a copy of it); an annotation they lack
    is logged as unverified.
    """
    path = Path(path)
    listing = path.parent / CHECKSUMS
    hint = (
        f"delete {path.parent} (or just this file) and run again to download and prepare it "
        "anew; to keep an edited copy, give it as a local file (source `series_matrix` / the "
        "`annotation` column) instead of a cached download"
    )
    if not listing.exists():
        if required:
            raise InputError(
                f"cached GEO file has no {CHECKSUMS} beside it, so it cannot be verified",
                path=path,
                hint=hint,
            )
        return
    with reading(listing, "cache checksum list"):
        table = pd.read_csv(listing, sep="\t", dtype=str, keep_default_na=False)
    if not {"role", "file", "sha256"} <= set(table.columns):
        raise InputError(
            f"cache checksum list lacks role/file/sha256 columns ({', '.join(table.columns)})",
            path=listing,
            hint=hint,
        )
    rows = table[table["file"] == path.name]
    if rows.empty and path.name == "series_matrix.txt.gz":
        rows = table[table["role"] == "series_matrix"]
    if rows.empty:
        if required:
            log.warning("%s: not listed in %s, not verified (an older cache)", path, listing)
        return
    recorded = str(rows["sha256"].iloc[0]).lower()
    digest = sha256_file(path)
    if digest != recorded:
        raise InputError(
            f"cached GEO file changed after download: sha256 {digest}, recorded in {listing} "
            f"as {recorded}",
            path=path,
            hint=hint,
        )
    log.info("%s: sha256 verified against %s", path, listing)
