"""Gene-set libraries: reading GMT files and restricting sets to a study's background.

GMT ("Gene Matrix Transposed", Broad Institute / MSigDB) is one gene set per line, tab separated:
``set_id <TAB> description <TAB> gene1 <TAB> gene2 ...``. Two layouts occur in practice and both are
read:

- ID + description (MSigDB, the GO files in ``resources/genesets``): ``GO:0000002<TAB>mitochondrial
  genome maintenance<TAB>AKT3<TAB>...``. An MSigDB URL or ``na`` in column 2 is not used as a name.
- Enrichr libraries: the set *name* in column 1, an empty column 2, genes, and usually a trailing
  tab. The name is then both the ID and the display name.

Files ending in ``.gz`` are decompressed transparently. Sizes used for filtering are always counted
after intersecting a set with the genes actually measured (the background), as in clusterProfiler's
``enricher`` and fgsea (DESIGN.md, "Enrichment").
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from markerflow.errors import InputError

log = logging.getLogger(__name__)

GMT_HINT = (
    "a GMT file has one gene set per line: set ID <TAB> description (may be empty) <TAB> gene "
    "symbols separated by tabs; see resources/README_genesets.md"
)


@dataclass(frozen=True)
class GeneSet:
    """One gene set: ``id`` (column 1), display ``name``, raw ``description`` (column 2), ``genes``.

    ``genes`` is a tuple of unique symbols in file order (duplicates within a line are dropped).
    """

    id: str
    name: str
    description: str
    genes: tuple[str, ...]

    @property
    def size(self) -> int:
        """Number of genes in the set."""
        return len(self.genes)


def _display_name(set_id: str, description: str) -> str:
    d = description.strip()
    if not d or d.lower() in {"na", "n/a", "-"} or d.lower().startswith(("http://", "https://")):
        return set_id
    return d


def _read_lines(path: Path) -> list[str]:
    if not path.exists():
        raise InputError(
            "gene-set file does not exist",
            path=path,
            hint="check enrichment.libraries in the config",
        )
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"is a damaged gzip file ({exc})", path=path) from None
    elif path.suffix == ".gz":
        raise InputError(
            "ends in .gz but is not gzip-compressed", path=path, hint="rename it to .gmt or gzip it"
        )
    if b"\x00" in raw[:4096]:
        raise InputError("is a binary file, not a GMT text file", path=path, hint=GMT_HINT)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"is not UTF-8 text (byte {exc.start})", path=path, hint="re-save the file as UTF-8"
        ) from None
    return text.lstrip("\ufeff").splitlines()


def _looks_numeric(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_gmt(path: str | Path) -> dict[str, GeneSet]:
    """Read a GMT (or ``.gmt.gz``) file into ``{set_id: GeneSet}``, in file order.

    Blank lines and lines starting with ``#`` are ignored. Gene symbols are stripped of surrounding
    whitespace; empty fields (Enrichr's trailing tab) are dropped, as are duplicate genes within a
    set. Sets without any gene are skipped and counted in the log.

    Raises :class:`~markerflow.errors.InputError` when the file is missing, binary or not UTF-8,
    when a line has fewer than two tab-separated fields or an empty ID, when a set ID occurs twice
    (naming both lines), when the gene columns are mostly numbers (an expression table, not a
    GMT), or when the file holds no non-empty set.
    """
    path = Path(path)
    lines = _read_lines(path)
    sets: dict[str, GeneSet] = {}
    first_line: dict[str, int] = {}
    n_empty = 0
    n_tokens = 0
    n_numeric = 0
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) < 2:
            sep = "," if "," in line else None
            what = "comma-separated" if sep else "without a tab"
            raise InputError(
                f"line {lineno} is {what} ({line[:60]!r}...), not a GMT line",
                path=path,
                hint=GMT_HINT,
            )
        set_id = fields[0].strip()
        if not set_id:
            raise InputError(
                f"line {lineno} has an empty gene-set ID (column 1)", path=path, hint=GMT_HINT
            )
        if set_id in first_line:
            raise InputError(
                f"gene-set ID {set_id!r} occurs twice, on lines {first_line[set_id]} and {lineno}",
                path=path,
                hint="gene-set IDs (column 1) must be unique; rename or merge the sets",
            )
        first_line[set_id] = lineno
        description = fields[1].strip()
        genes = tuple(dict.fromkeys(g for g in (f.strip() for f in fields[2:]) if g))
        if n_tokens < 2000:
            n_tokens += len(genes)
            n_numeric += sum(_looks_numeric(g) for g in genes)
        if not genes:
            n_empty += 1
            continue
        sets[set_id] = GeneSet(set_id, _display_name(set_id, description), description, genes)
    if n_tokens and n_numeric > 0.5 * n_tokens:
        raise InputError(
            "gene columns are mostly numbers: this looks like an expression or "
            "statistics table, not a GMT gene-set file",
            path=path,
            hint=GMT_HINT,
        )
    if not sets:
        raise InputError("contains no gene set with at least one gene", path=path, hint=GMT_HINT)
    if n_empty:
        log.info("%s: skipped %d empty gene set(s)", path, n_empty)
    log.info("%s: read %d gene sets", path, len(sets))
    return sets


def filter_sets(
    sets: Mapping[str, GeneSet],
    background: Iterable[str],
    min_size: int = 1,
    max_size: int | None = None,
) -> dict[str, GeneSet]:
    """Restrict every set to the background and keep those with ``min_size <= size <= max_size``.

    The size is counted AFTER intersecting with the background (the genes measured/tested), so a
    500-gene GO term of which 12 genes were measured is a 12-gene set here. The returned sets hold
    only background genes, in their original order.
    """
    if min_size < 1:
        raise ValueError("min_size must be >= 1")
    if max_size is not None and max_size < min_size:
        raise InputError(
            f"max_size ({max_size}) is smaller than min_size ({min_size})",
            hint="fix enrichment.*.min_size/max_size in the config",
        )
    bg = background if isinstance(background, set | frozenset) else set(background)
    out: dict[str, GeneSet] = {}
    n_small = n_large = 0
    for sid, gs in sets.items():
        genes = tuple(g for g in gs.genes if g in bg)
        if len(genes) < min_size:
            n_small += 1
        elif max_size is not None and len(genes) > max_size:
            n_large += 1
        else:
            out[sid] = GeneSet(gs.id, gs.name, gs.description, genes)
    log.info(
        "gene sets kept %d of %d (%d below %d genes, %d above %s genes in the background "
        "of %d genes)",
        len(out),
        len(sets),
        n_small,
        min_size,
        n_large,
        max_size,
        len(bg),
    )
    return out


def write_gmt(sets: Mapping[str, GeneSet], path: str | Path) -> None:
    """Write gene sets as GMT (id, description, genes; tab-separated), atomically, in the given
    order; :func:`read_gmt` reads back the same sets."""
    from markerflow.io.tables import atomic_open

    with atomic_open(path) as handle:
        for gene_set in sets.values():
            handle.write("\t".join([gene_set.id, gene_set.description, *gene_set.genes]) + "\n")
