"""Semantic checks of the config and of cohort IDs that a JSON schema cannot express (issue 19).

Called from ``workflow/rules/common.smk`` right after Snakemake's schema validation and before the
cohort sheet is read, the DAG built or any job started; every problem is an
:class:`~markerflow.errors.InputError` naming the config key (``config geo.cache_dir: ...``) or the
cohort ID. What is checked:

- **Types the schema lets through.** JSON Schema (draft 2020-12, as implemented by ``jsonschema``)
  accepts ``20261123.0`` as an ``integer`` and ``.nan``/``.inf`` as a ``number`` that passes every
  ``minimum``. Every key the schema types ``integer`` must hold a Python ``int`` (not a float),
  every ``number`` must be finite (:func:`check_value_types`, driven by the schema itself, so a
  key added to the schema later is covered).
- **Seeds.** ``seed`` is an integer in ``[0, SEED_MAX]``: scikit-learn's ``random_state`` takes
  ``[0, 2**32 - 1]`` and the signature stage derives ``seed + 1``, so ``SEED_MAX = 2**32 - 2``
  (numpy's ``SeedSequence`` would take any non-negative integer; the narrower bound is the one
  every consumer accepts).
- **Labels.** ``study.case_label`` / ``study.control_label`` are written into sample sheets and
  read back: a label that cannot round-trip a TSV cell (empty, surrounding whitespace, tab,
  newline or other control characters) is refused (:func:`check_labels`).
- **Ordered pairs**: ``min_size <= max_size`` (ORA, GSEA).
- **Outputs stay in their place** (:func:`check_output_dir`): ``results`` and ``geo.cache_dir``
  are non-empty, inside the project (lexically), and neither they nor what a symbolic link makes
  of them (``realpath``) is the filesystem root, a home directory, the project or one of its
  parents, or a directory of the workflow's own code; results and cache are not nested in each
  other. Inputs may live anywhere (issue 19, class 2).
- **Cohort IDs** (:func:`check_cohort_ids`): not a word the workflow uses in its own paths or as
  a rule name (derived from the rules, :func:`workflow_words`), not an ID that makes two outputs
  one file (:func:`check_output_collisions`), no two IDs equal after
  case-folding (case-insensitive file systems), at most ``MAX_ID_LENGTH`` characters and, joined
  with the longest file name the workflow builds from it, at most 255 bytes.
"""

from __future__ import annotations

import math
import os
import pwd
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from markerflow.errors import InputError

#: Largest seed accepted: scikit-learn's ``random_state`` takes at most ``2**32 - 1`` and the
#: signature stage uses ``seed + 1``.
SEED_MAX = 2**32 - 2
#: Longest cohort ID (characters); a file name may be 255 bytes, the workflow adds suffixes.
MAX_ID_LENGTH = 100
#: Longest file-name component any file system used here allows (ext4, XFS, NFS: 255 bytes).
MAX_NAME_BYTES = 255
#: Words the library itself uses as cohort-like names (the merged cohort of candidate ranking,
#: the meta-analysis "cohort" of enrichment, the target rule); the rest comes from the rules.
LIBRARY_WORDS = ("all", "meta", "merged", "logs", "benchmarks", "provenance", "report")
#: Keys of the config that name an output or cache directory (dotted).
OUTPUT_KEYS = ("results", "geo.cache_dir")
#: Label keys written into sample sheets (and read back).
LABEL_KEYS = ("study.case_label", "study.control_label")
#: (min, max) key pairs that must be ordered.
ORDERED_PAIRS = (
    ("enrichment.ora.min_size", "enrichment.ora.max_size"),
    ("enrichment.gsea.min_size", "enrichment.gsea.max_size"),
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def get_key(config: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    """``config["a"]["b"]`` for ``"a.b"`` (``default`` when a level is absent)."""
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def _types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    kinds = {kind} if isinstance(kind, str) else set(kind or ())
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        kinds |= _types(option)
    return kinds


def check_value_types(value: Any, schema: Mapping[str, Any], key: str = "") -> None:
    """Walk ``value`` along ``schema``: an ``integer`` key holding a float, or a ``number`` key
    holding NaN or infinity, is an :class:`InputError` naming the dotted key."""
    name = key or "(top level)"
    kinds = _types(schema)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(
                f"config {name}: {value!r} is not a finite number",
                hint=f"set `{name}` to a finite value",
            )
        if "integer" in kinds and "number" not in kinds:
            raise InputError(
                f"config {name}: {value!r} is not an integer (a decimal point makes it a float)",
                hint=f"write `{name}` as a whole number without a decimal point or exponent",
            )
    if isinstance(value, Mapping):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k, extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                check_value_types(v, sub, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, v in enumerate(value):
            check_value_types(v, schema["items"], f"{name}[{i}]")


def check_seed(config: Mapping[str, Any]) -> None:
    """``seed`` is an ``int`` (not a bool or float) in ``[0, SEED_MAX]``."""
    seed = config.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise InputError(
            f"config seed: {seed!r} is not an integer from 0 to {SEED_MAX}",
            hint=f"set `seed` to a whole number between 0 and {SEED_MAX} (2**32 - 2: scikit-learn "
            "seeds must be below 2**32 and the signature stage uses seed + 1)",
        )


def label_problem(value: Any) -> str | None:
    """Why a label or ID cannot round-trip a TSV cell unchanged, or None if it can."""
    if not isinstance(value, str):
        return f'is a {type(value).__name__}, not text (quote it in YAML: "{value}")'
    if not value.strip():
        return "is empty"
    if value != value.strip():
        return "has leading or trailing whitespace"
    if _CONTROL.search(value):
        return "contains a tab, newline or other control character"
    return None


def check_labels(config: Mapping[str, Any]) -> None:
    """Case/control labels survive being written to and read back from a TSV unchanged."""
    for key in LABEL_KEYS:
        value = get_key(config, key)
        if value is None:
            continue
        why = label_problem(value)
        if why:
            raise InputError(
                f"config {key}: {value!r} {why}",
                hint="labels are written into sample sheets and read back; use plain text "
                "without surrounding spaces, tabs or newlines",
            )


def check_ordered_pairs(config: Mapping[str, Any]) -> None:
    """``min_size <= max_size`` for each pair of :data:`ORDERED_PAIRS` (key names in the error)."""
    for low, high in ORDERED_PAIRS:
        a, b = get_key(config, low), get_key(config, high)
        if isinstance(a, int) and isinstance(b, int) and a > b:
            raise InputError(
                f"config {low} ({a}) is larger than {high} ({b})",
                hint=f"set {low} <= {high}",
            )


def home_directories() -> set[str]:
    """``$HOME`` and every account's home directory (resolved), except the root directory."""
    homes = {os.path.expanduser("~")}
    try:
        homes |= {entry.pw_dir for entry in pwd.getpwall() if entry.pw_dir}
    except OSError:  # pragma: no cover - no passwd database
        pass
    return {os.path.realpath(h) for h in homes} - {os.path.realpath(os.sep)}


def _is_within(path: str, parent: str) -> bool:
    return os.path.commonpath([path, parent]) == parent


def check_output_dir(
    value: Any,
    key: str,
    base: str | Path = ".",
    code_dirs: Iterable[str | Path] = (),
) -> Path:
    """The output or cache directory of config ``key``, refused when it is not a safe place.

    Refused: not a string, empty or whitespace-padded; lexically outside the project ``base`` or
    the project itself; a path whose ``realpath`` (symbolic links followed) is the filesystem
    root, a home directory, the project directory or a parent of it, or inside one of
    ``code_dirs`` (the workflow's own directories); an existing file.
    """
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"config {key}: {value!r} is empty",
            hint=f"set `{key}` to a directory inside the project, e.g. "
            f"{'results' if key == 'results' else 'resources/geo'}",
        )
    if value != value.strip() or _CONTROL.search(value):
        raise InputError(
            f"config {key}: {value!r} has surrounding whitespace or control characters"
        )
    from markerflow.io.study import confined_path

    root = os.path.abspath(base)
    path = confined_path(value, f"config `{key}`", base)
    lexical = os.path.normpath(os.path.join(root, value))
    real = os.path.realpath(lexical)
    project = os.path.realpath(root)
    where = f"config {key}: {value!r}"
    if lexical == root:
        raise InputError(
            f"{where} is the project directory itself",
            hint=f"outputs go into a directory of their own: set `{key}` to e.g. results",
        )
    if real == os.path.realpath(os.sep):
        raise InputError(f"{where} resolves to the filesystem root", hint="choose another place")
    if real in home_directories():
        raise InputError(f"{where} resolves to the home directory {real}",
                         hint="choose a directory of its own inside the project")  # fmt: skip
    if _is_within(project, real):
        raise InputError(f"{where} resolves to {real}, the project directory or a parent of it",
                         hint="choose a directory of its own inside the project")  # fmt: skip
    for code in code_dirs:
        code_real = os.path.realpath(code)
        if _is_within(real, code_real):
            raise InputError(f"{where} lies inside the workflow's own directory {code_real}",
                             hint="choose a directory of its own, e.g. results")  # fmt: skip
    if os.path.exists(real) and not os.path.isdir(real):
        raise InputError(f"{where} exists and is not a directory")
    return path


def check_outputs(
    config: Mapping[str, Any], base: str | Path = ".", code_dirs: Iterable[str | Path] = ()
) -> dict[str, str]:
    """Check every output/cache key (:data:`OUTPUT_KEYS`); ``{key: absolute real path}``."""
    code_dirs = list(code_dirs)
    places = {}
    for key in OUTPUT_KEYS:
        default = "results" if key == "results" else "resources/geo"
        check_output_dir(get_key(config, key, default), key, base, code_dirs)
        value = get_key(config, key, default)
        places[key] = os.path.realpath(os.path.join(os.path.abspath(base), value))
    a, b = places["results"], places["geo.cache_dir"]
    if _is_within(a, b) or _is_within(b, a):
        raise InputError(
            f"config results ({get_key(config, 'results')!r}) and geo.cache_dir "
            f"({get_key(config, 'geo.cache_dir')!r}) overlap",
            hint="the download cache outlives runs and results are rewritten: keep them apart",
        )
    return places


def check_inputs_outside_outputs(
    inputs: Mapping[str, str | Path], places: Mapping[str, str], base: str | Path = "."
) -> None:
    """No input file (``{what: path}``) lies inside an output directory (a rerun would overwrite
    or delete it, and results would mix with data)."""
    root = os.path.abspath(base)
    for what, path in inputs.items():
        real = os.path.realpath(os.path.join(root, os.fspath(path)))
        results = places.get("results")
        if results and _is_within(real, results):
            raise InputError(
                f"{what}: input {os.fspath(path)!r} lies inside the results directory {results}",
                hint="keep input data outside `results` (results are rewritten by every run)",
            )


def check_config(
    config: Mapping[str, Any],
    schema: Mapping[str, Any],
    base: str | Path = ".",
    code_dirs: Iterable[str | Path] = (),
) -> dict[str, str]:
    """Every semantic check of the config (after schema validation); returns the output places."""
    check_value_types(config, schema)
    check_seed(config)
    check_labels(config)
    check_ordered_pairs(config)
    return check_outputs(config, base, code_dirs)


# --- cohort IDs ---------------------------------------------------------------------------------


def workflow_words(
    paths: Iterable[str], rule_names: Iterable[str] = (), cohorts: Iterable[str] = ()
) -> set[str]:
    """Words the workflow uses in its own paths: every component of every path pattern (and its
    stem before the first '.') that holds no wildcard, plus the rule names and
    :data:`LIBRARY_WORDS`; case-folded. In a concrete path (no wildcard) a component whose stem
    is one of ``cohorts`` came from expanding the cohort list (``performance/GSE1.png``) and is
    not a word of the workflow (a real clash there is caught by :func:`check_output_collisions`)."""
    words = {w.casefold() for w in (*LIBRARY_WORDS, *rule_names)}
    expanded = {c.casefold() for c in cohorts}
    for path in paths:
        concrete = "{" not in str(path)
        for part in str(path).split("/"):
            if not part or "{" in part or part in (".", ".."):
                continue
            stem = part.split(".")[0].casefold()
            if concrete and (stem in expanded or part.casefold() in expanded):
                continue  # performance/GSE1.png: the expansion of a cohort, not a word
            words.add(part.casefold())
            words.add(stem)
    words.discard("")
    return words


def check_output_collisions(paths: Iterable[str], cohorts: Iterable[str]) -> None:
    """Two outputs of the workflow on one path (a cohort ID that spells another output's name,
    e.g. a validation cohort ``summary_roc`` whose figure ``performance/summary_roc.png`` is the
    summary ROC figure): :class:`InputError` naming the cohort and the path. ``paths`` are the
    rules' concrete (wildcard-free) output paths, each listed once per rule output."""
    seen: set[str] = set()
    ids = list(cohorts)
    for path in paths:
        if "{" in path:
            continue
        if path in seen:
            named = [c for c in ids if c in path.split("/") or c in path.split("/")[-1].split(".")]
            who = f"cohort ID {named[0]!r}" if named else "a cohort ID"
            raise InputError(
                f"{who} makes two outputs of the workflow the same file {path!r}",
                hint=f"rename the cohort (e.g. study_{named[0] if named else 'X'})",
            )
        seen.add(path)


def longest_suffix(paths: Iterable[str], wildcard: str = "cohort") -> int:
    """Bytes a file-name component adds around ``{wildcard}`` in the workflow's path patterns."""
    longest = 0
    token = "{" + wildcard + "}"
    for path in paths:
        for part in str(path).split("/"):
            if token in part:
                longest = max(longest, len(part.replace(token, "").encode()))
    return longest


def check_cohort_ids(
    ids: Iterable[str],
    reserved: Iterable[str] = LIBRARY_WORDS,
    suffix_bytes: int = 0,
    path: str | Path | None = None,
) -> None:
    """Cohort IDs that would collide in or overflow the workflow's paths: a reserved word (compared
    case-folded), two IDs equal after case-folding, longer than :data:`MAX_ID_LENGTH` characters
    or than :data:`MAX_NAME_BYTES` with the longest suffix. :class:`InputError` naming the ID."""
    reserved = {w.casefold() for w in reserved}
    seen: dict[str, str] = {}
    for cohort in ids:
        folded = cohort.casefold()
        if folded in reserved:
            raise InputError(
                path=path,
                message=f"cohort ID {cohort!r} is a name the workflow uses for its own files or rules",
                hint=f"rename the cohort (e.g. study_{cohort}): its outputs would collide with "
                "the workflow's own files",
            )
        if folded in seen:
            raise InputError(
                path=path,
                message=f"cohort IDs {seen[folded]!r} and {cohort!r} differ only by case",
                hint="on case-insensitive file systems (macOS, Windows shares) their outputs "
                "would overwrite each other: rename one",
            )
        seen[folded] = cohort
        if len(cohort) > MAX_ID_LENGTH:
            raise InputError(
                path=path,
                message=f"cohort ID {cohort[:40]!r}... is {len(cohort)} characters long "
                f"(at most {MAX_ID_LENGTH})",
                hint="use a shorter cohort ID (the ID is part of file names)",
            )
        if len(cohort.encode()) + suffix_bytes > MAX_NAME_BYTES:
            raise InputError(
                path=path,
                message=f"cohort ID {cohort!r} makes file names longer than {MAX_NAME_BYTES} bytes",
                hint="use a shorter cohort ID",
            )
