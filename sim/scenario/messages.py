"""How values and ranges are written in messages to the user (shared by the schema's types
and the translation of validation errors)."""

from __future__ import annotations

import difflib
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

from pydantic_core import PydanticCustomError

#: The fix a type error gets unless it says otherwise; ``{name}`` and ``{example}`` are
#: filled in with the field's name and an example value (:func:`sim.scenario.errors.translate`).
WRITE_EXAMPLE = "write {name} = {example}"
#: Placeholder for "use a value between LO and HI UNIT" of the field.
RANGE_FIX = "{range}"


def fail(message: str, fix: str = WRITE_EXAMPLE) -> NoReturn:
    """Reject a value with today's message and fix (placeholders filled on translation)."""
    raise PydanticCustomError("scenario_value", "{message}", {"message": message, "fix": fix})


def expected(what: str, v: Any, fix: str = WRITE_EXAMPLE) -> NoReturn:
    fail(f"expected {what}, got {kind_of_value(v)} {short(v)}", fix)


def num(v: float) -> str:
    """A number as a reader writes it: 20,000,000 rather than 2e+07, 0.05 rather than 5e-02."""
    if isinstance(v, int):
        return f"{v:,}" if abs(v) < 10**18 else f"a number of {len(str(abs(v)))} digits"
    if math.isfinite(v) and v.is_integer() and abs(v) < 1e18:
        return f"{int(v):,}"
    return f"{v:g}"


def as_float(v: int | float) -> float:
    try:
        return float(v)
    except OverflowError:  # an integer of hundreds of digits
        return math.inf


def is_number_text(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        return math.isfinite(float(v.strip().replace("_", "")))
    except ValueError:
        return False


def kind_of_value(v: Any) -> str:
    """'a number', 'a string', 'a table'... as TOML calls what was written."""
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(
        type(v),
        "a date and time"
        if isinstance(v, datetime)
        else "a date"
        if isinstance(v, date)
        else type(v).__name__,
    )


def short(v: Any) -> str:
    s = v.isoformat() if isinstance(v, date) else repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def close_files(path: Path, template: str, exclude: Path | None = None) -> str:
    """Template filled with the files beside ``path`` whose names are closest to its name."""
    try:
        siblings = [
            p.name
            for p in path.parent.iterdir()
            if p.suffix == path.suffix and p.is_file() and p != exclude
        ]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, siblings, n=3, cutoff=0.6)
    return template.format(" or ".join(f"'{c}'" for c in close)) if close else ""


def unusable_path(path: Path) -> str | None:
    """Why ``path`` cannot even be looked up (a name longer than the system allows...), or
    None. Looking such a path up raises OSError instead of saying it does not exist."""
    try:
        path.exists()
    except OSError as exc:
        return f"cannot be used as a file path ({exc.strerror or exc})"
    return None
