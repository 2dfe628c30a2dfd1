"""Errors a user can act on.

Every problem with a scenario or data file is raised as an :class:`InputError` that
names the file, the field (and the line when it can be found), what was wrong and how
to fix it. The command line prints these without a traceback and exits with status 2.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input file."""

    file: Path | str
    field: str
    message: str
    fix: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = str(self.file)
        if self.line is not None:
            where += f":{self.line}"
        text = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text


@dataclass
class InputError(Exception):
    """One or more problems in the user's input files; nothing was run or written."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.problems)
        head = "1 problem" if n == 1 else f"{n} problems"
        return f"{head} in the input:\n" + "\n".join(f"  {p}" for p in self.problems)


class OutputError(Exception):
    """An output path that must not be written or replaced (printed, exit status 2)."""


class ResultsExistError(FileExistsError):
    """The results folder exists and ``force`` was not given."""


class UsageError(Exception):
    """A bad command-line option (printed, exit 2)."""


class ProblemList:
    """Collects problems so that a user sees all of them at once, not one per run."""

    def __init__(self, file: Path | str, text: str | None = None):
        self.file = file
        self.text = text
        self.items: list[Problem] = []

    def add(self, field: str, message: str, fix: str = "", line: int | None = None) -> None:
        if line is None and self.text is not None:
            line = find_line(self.text, field)
        self.items.append(Problem(self.file, field, message, fix, line))

    def raise_if_any(self) -> None:
        if self.items:
            raise InputError(list(self.items))

    def __bool__(self) -> bool:
        return bool(self.items)


# --------------------------------------------------------------------------------------
# What kind of file is this?
# --------------------------------------------------------------------------------------


def describe_mode(mode: int) -> str:
    """'a folder', 'a named pipe (FIFO)', ... for an ``st_mode``."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def not_a_regular_file(path: Path | str) -> str | None:
    """Why ``path`` is not a readable regular file (following links), or None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "does not exist" if not os.path.islink(path) else "is a broken symbolic link"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if stat.S_ISREG(st.st_mode):
        return None
    what = describe_mode(st.st_mode)
    via = " (through a symbolic link)" if os.path.islink(path) else ""
    return f"is {what}{via}, not a regular file"


def read_limited(path: Path | str, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or a clear :class:`InputError`.

    The file type is checked before opening (opening a FIFO for reading blocks until a
    writer appears; a device may never end) and again on the open descriptor.
    """
    path = Path(path)

    def refuse(why: str, fix: str = "") -> InputError:
        return InputError([Problem(path, "", why, fix or f"give the path of the {what} file")])

    why = not_a_regular_file(path)
    if why:
        return_fix = "check the path" if "exist" in why else f"give the path of a {what} file"
        raise refuse(f"{what} file {why}", return_fix)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise refuse(
            f"cannot read the {what} file: {exc.strerror or exc}",
            "check that the file exists and that you may read it",
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise refuse(f"{what} file is {describe_mode(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise refuse(
                f"{what} file is {st.st_size:,} bytes (limit {limit:,})",
                "check that this is the right file",
            )
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise refuse(f"{what} file is larger than {limit:,} bytes", "check the file")
        return b"".join(chunks)
    except OSError as exc:
        raise refuse(f"cannot read the {what} file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def require_columns(
    path: Path | str, header: Iterable[str], required: Iterable[str], fix: str
) -> None:
    """Raise an :class:`InputError` naming the ``required`` columns missing from a table
    file's ``header`` (its line 1), with ``fix`` saying what the file needs."""
    have = set(header)
    missing = [c for c in required if c not in have]
    if missing:
        raise InputError(
            [Problem(path, "header", f"missing column(s) {', '.join(missing)}", fix, 1)]
        )


#: Largest input file read at all (each reader has its own, smaller, limit too).
MAX_INPUT_BYTES = 50_000_000


def read_bytes(path: Path, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of an input file; an unreadable file is a problem, not a traceback.

    Only a regular file is read (a named pipe would block, a device never end), and at
    most ``limit`` bytes (see :func:`read_limited`).
    """
    return read_limited(Path(path), limit, what)


_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def decode_text(path: Path, data: bytes, what: str) -> str:
    """UTF-8 text of a file (a leading byte-order mark is allowed), or a clear problem."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            raise InputError(
                [
                    Problem(
                        path,
                        "",
                        f"is {enc} text; input files must be UTF-8",
                        "save the file as UTF-8 (in most editors: Save As, encoding UTF-8)",
                    )
                ]
            )
    if b"\x00" in data:
        raise InputError([Problem(path, "", "is a binary file, not text", f"give {what}")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            [
                Problem(
                    path,
                    "",
                    f"is not UTF-8 text (byte {exc.start} is {data[exc.start : exc.start + 1]!r}; "
                    "probably saved as Latin-1 or Windows-1252)",
                    "save the file as UTF-8",
                    line,
                )
            ]
        ) from None


def clip(text: str, n: int = 60) -> str:
    """A name or value short enough to print in a message."""
    return text if len(text) <= n else text[: n - 3] + "..."


def did_you_mean(name: str, valid: Iterable[str], n: int = 3) -> str:
    """' did you mean 'X'?' for the closest valid names, or a short list of valid ones."""
    valid = sorted(set(valid))
    close = difflib.get_close_matches(name, valid, n=n, cutoff=0.6)
    if not close:
        lowered = {v.lower(): v for v in valid}
        close = [lowered[k] for k in difflib.get_close_matches(name.lower(), list(lowered), n=n)]
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    if len(valid) <= 12:
        return "valid: " + ", ".join(f"'{v}'" for v in valid)
    return f"see the {len(valid)} valid names in the data file"


def find_line(text: str, dotted: str) -> int | None:
    """Best-effort line number of a dotted TOML field such as ``events.x.start``.

    TOML parsers do not report key positions, so we search the text: first the
    deepest table header that matches a prefix of the path (quoted names such as
    ``[crossings."Bab al-Hawa crossing"]`` included), then the key below it. A field
    missing from its table points at the table's header. Returns None when the field
    cannot be located (the message still names it).
    """
    if not dotted:
        return None
    dotted = re.sub(r"\[\d+\]", "", dotted)
    lines = text.splitlines()
    headers: list[tuple[int, str]] = []  # (line index, joined key path)
    for i, raw in enumerate(lines):
        t = raw.strip()
        if t.startswith("["):
            m = re.match(r"^\[\[?(.*?)\]\]?\s*(#.*)?$", t)
            path = _key_path(m.group(1)) if m else None
            if path is not None:
                headers.append((i, ".".join(path)))
    best: tuple[int, str] | None = None
    for i, h in headers:
        if (dotted == h or dotted.startswith(h + ".")) and (best is None or len(h) > len(best[1])):
            best = (i, h)
    if best is not None and best[1] == dotted:
        return best[0] + 1
    first = best[0] + 1 if best is not None else 0
    rest = dotted[len(best[1]) + 1 :] if best is not None else dotted
    for j in range(first, len(lines)):
        t = lines[j].strip()
        if t.startswith("["):
            break
        if "=" in t and not t.startswith("#"):
            key = _key_path(t.split("=", 1)[0])
            if key and (rest == ".".join(key) or rest.startswith(".".join(key) + ".")):
                return j + 1
    return best[0] + 1 if best is not None else None


def _key_path(s: str) -> list[str] | None:
    """The keys of a TOML key such as ``crossings."Bab al-Hawa crossing"`` (None if not one)."""
    keys: list[str] = []
    s = s.strip()
    while s:
        m = re.match(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_\-]+)', s)
        if not m:
            return None
        keys.append(next(g for g in m.groups() if g is not None))
        s = s[m.end() :].lstrip()
        if s.startswith("."):
            s = s[1:].lstrip()
            if not s:
                return None
        elif s:
            return None
    return keys or None
