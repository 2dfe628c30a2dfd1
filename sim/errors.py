"""Errors a user can act on.

Every problem with a scenario or data file is raised as an :class:`InputError` that
names the file, the field (and the line when it can be found), what was wrong and how
to fix it. The command line prints these without a traceback and exits with status 2.
"""

from __future__ import annotations

import difflib
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
    deepest table header that matches a prefix of the path, then the key below it.
    Returns None when the field cannot be located (the message still names it).
    """
    if not dotted:
        return None
    parts = [p.split("[")[0] for p in dotted.split(".")]
    lines = text.splitlines()
    start = 0
    for depth in range(len(parts), 0, -1):
        header = ".".join(parts[:depth])
        for i, raw in enumerate(lines):
            s = raw.strip().replace('"', "").replace(" ", "")
            if s in (f"[{header}]", f"[[{header}]]"):
                start = i
                if depth == len(parts):
                    return i + 1
                key = parts[depth]
                for j in range(i + 1, len(lines)):
                    t = lines[j].strip()
                    if t.startswith("["):
                        break
                    k = t.split("=", 1)[0].strip().strip('"')
                    if "=" in t and k == key:
                        return j + 1
                return None
    key = parts[-1]
    for j in range(start, len(lines)):
        t = lines[j].strip()
        if t.startswith("["):
            break
        if "=" in t and t.split("=", 1)[0].strip().strip('"') == key:
            return j + 1
    return None
