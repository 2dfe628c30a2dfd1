"""Reading scenario TOML: one file, then the ``extends`` chain merged with provenance.

:func:`read_chain` reads a file (refusing empty, binary or huge files, explaining TOML
syntax errors with the line), follows ``extends = "other.toml"`` (tables merge key by key,
lists replace; a loop or a missing file is an error), makes every file path absolute
(relative to the file that names it) and records which file each value came from.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from ..errors import InputError, Problem, clip, decode_text, find_line, read_bytes
from .messages import close_files, kind_of_value, short, unusable_path
from .schema import PATH_FIELDS

MAX_FILE_BYTES = 1_000_000  # a scenario is a few kB; anything larger is a mistake
MAX_EXTENDS = 20  # files in one extends chain (the shipped what-ifs use 2)


def read_toml(path: Path, what: str = "scenario") -> tuple[dict[str, Any], str]:
    """Parse a TOML file, turning every way it can be unreadable into a clear problem."""
    path = Path(path)
    if why := unusable_path(path):
        raise InputError(
            [Problem(clip(str(path)), "", why, "give the path of a .toml file with shorter names")]
        )
    if not path.exists():
        raise InputError(
            [Problem(path, "", f"{what} file not found", "check the path and the file name")]
        )
    if path.is_dir():
        raise InputError(
            [Problem(path, "", f"is a folder, not a {what} file", "give the path of a .toml file")]
        )
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(
            [
                Problem(
                    path,
                    "",
                    f"file is {size:,} bytes; a {what} file is a few kilobytes (limit {MAX_FILE_BYTES:,})",
                    "check that this is the right file",
                )
            ]
        )
    data = read_bytes(path, what)
    text = decode_text(path, data, f"a {what} .toml file")
    if not text.strip():
        raise InputError(
            [Problem(path, "", "is empty", f"write a {what} (see scenarios/idlib_2019.toml)")]
        )
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([_syntax_problem(path, text, str(exc))]) from None
    except RecursionError:
        raise InputError(
            [
                Problem(
                    path,
                    "",
                    "TOML lists or tables are nested too deeply to read",
                    f"a {what} file needs at most lists of names: check that this is the right file",
                )
            ]
        ) from None
    return raw, text


#: What the TOML parser's terse messages usually mean in a scenario file.
_SYNTAX_HINTS = (
    (
        "Invalid value",
        "a value must be a number, a date (2019-04-28), true or false, a [list] or a string "
        'in double quotes: write name = "Kafr Nabl", not name = Kafr Nabl',
    ),
    (
        "Cannot overwrite a value",
        "a key or a table is given twice (or [[events]] clashes with [events.x]): keep one",
    ),
    ("Cannot declare", "a table header appears twice: merge the two tables into one"),
    ("Unterminated string", "a string is not closed: add the closing double quote"),
    ('Expected "\'"', "a string is not closed: add the closing single quote"),
    ("Illegal character", "a string is not closed on its line: add the closing double quote"),
    (
        "Invalid date",
        "this date does not exist: write an existing day as YYYY-MM-DD, e.g. 2019-02-28",
    ),
    (
        "Expected newline or end of document",
        "one key = value per line; numbers have no thousands commas (write 4_000_000); dates "
        "are YYYY-MM-DD with two-digit months and days (2019-05-01)",
    ),
    ("Expected '=' after a key", "every setting is written key = value"),
    ("Unclosed array", "a [list] is not closed: add the closing ]"),
    ("Unclosed inline table", "an inline {table} is not closed: add the closing }"),
    ("Expected ']' at the end of a table", "close the table header with ], e.g. [events.my_event]"),
)
_SYNTAX_GENERIC = (
    "see https://toml.io: strings in double quotes, dates like 2019-04-28, "
    "tables like [events.my_event]"
)


def _syntax_problem(path: Path, text: str, msg: str) -> Problem:
    """One problem for a TOML syntax error, with the line and what the parser means."""
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    line = int(m.group(1)) if m else None
    bare = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", msg)
    if m:
        bare_col = f"{bare} (column {m.group(2)})"
    else:
        bare_col = bare
        if "end of document" in msg:
            line = _first_failing_line(text, bare)
    fix = next((h for key, h in _SYNTAX_HINTS if bare.startswith(key)), _SYNTAX_GENERIC)
    return Problem(path, "", f"TOML syntax error: {bare_col}", fix, line)


def _first_failing_line(text: str, bare: str) -> int | None:
    """Line where an error the parser reports 'at end of document' starts.

    An unclosed string or list, or a key given twice, is only noticed at the end. The
    first line ``k`` such that the first ``k`` lines already fail with the same message
    is where it starts (found by bisection).
    """
    lines = text.splitlines(keepends=True)

    def fails(k: int) -> bool:
        try:
            tomllib.loads("".join(lines[:k]))
        except tomllib.TOMLDecodeError as exc:
            return str(exc).startswith(bare)
        return False

    lo, hi = 1, len(lines)
    if not lines or not fails(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if fails(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def read_chain(
    path: Path, seen: tuple[Path, ...] = ()
) -> tuple[dict, dict[str, Path], dict[Path, str], list[Path]]:
    """Load a file and the files it extends; return merged data, field provenance, texts, files."""
    path = Path(path).resolve()
    raw, text = read_toml(path)
    if not raw:
        raise InputError(
            [
                Problem(
                    path,
                    "",
                    "holds no settings, only comments or blank lines",
                    "write a scenario (see scenarios/idlib_2019.toml)",
                )
            ]
        )
    _absolutize_paths(raw, path.parent)
    base: dict = {}
    prov: dict[str, Path] = {}
    texts = {path: text}
    files = [path]
    if "extends" in raw:
        target = raw.pop("extends")
        if not isinstance(target, str) or not target.strip():
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"must be the path of another scenario file, got {kind_of_value(target)} {short(target)}",
                        'extends = "idlib_2019.toml"',
                        find_line(text, "extends"),
                    )
                ]
            )
        parent = (path.parent / target).resolve()
        if why := unusable_path(parent):
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"extends '{clip(target)}', which {why}",
                        'give the path of a scenario file, e.g. extends = "idlib_2019.toml"',
                        find_line(text, "extends"),
                    )
                ]
            )
        if not parent.exists():
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"extends '{target}', which does not exist ({parent})",
                        "give a path relative to this file"
                        + close_files(parent, "; did you mean {}?", exclude=path),
                        find_line(text, "extends"),
                    )
                ]
            )
        if parent.is_dir() or parent.suffix.lower() != ".toml":
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"extends '{target}', which is "
                        + ("a folder" if parent.is_dir() else "not a .toml scenario file"),
                        'give the path of a scenario file, e.g. extends = "idlib_2019.toml"',
                        find_line(text, "extends"),
                    )
                ]
            )
        if len(seen) >= MAX_EXTENDS:
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"the chain of extends is more than {MAX_EXTENDS} files deep",
                        "extend the base scenario directly (a what-if extends idlib_2019.toml)",
                        find_line(text, "extends"),
                    )
                ]
            )
        if parent in (*seen, path):
            chain = " -> ".join(p.name for p in (*seen, path, parent))
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"extends loops back on itself: {chain}",
                        "a scenario cannot extend itself or a file that extends it: remove the loop",
                        find_line(text, "extends"),
                    )
                ]
            )
        base, prov, ptexts, pfiles = read_chain(parent, (*seen, path))
        texts.update(ptexts)
        files = pfiles + files
    merged = _merge(base, raw, prov, path)
    return merged, prov, texts, files


def _absolutize_paths(raw: dict, folder: Path) -> None:
    for section, key in PATH_FIELDS:
        table = raw.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str) and table[key].strip():
            p = Path(table[key])
            table[key] = str(p if p.is_absolute() else (folder / p).resolve())


def _merge(base: dict, over: dict, prov: dict[str, Path], file: Path, prefix: str = "") -> dict:
    """Tables merge key by key; everything else (including lists) replaces."""
    out = dict(base)
    for k, v in over.items():
        dotted = f"{prefix}{k}"
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, prov, file, dotted + ".")
        else:
            out[k] = v
            _mark(prov, dotted, v, file)
    return out


def _mark(prov: dict[str, Path], dotted: str, value: Any, file: Path) -> None:
    prov[dotted] = file
    if isinstance(value, dict):
        for k, v in value.items():
            _mark(prov, f"{dotted}.{k}", v, file)
