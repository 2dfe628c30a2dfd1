"""The value types of scenario fields, as pydantic types that reject a bad value with the
message a user can act on (``expected a whole number, got a string '102000'``).

Each type carries a :class:`Kind`: its name in the reference (``int``, ``prob``, ``names``
...) and, for a choice, its options. Ranges are the fields' own ``ge``/``le``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from annotated_types import Ge, Le
from pydantic import BeforeValidator
from pydantic.fields import FieldInfo

from ..errors import clip, did_you_mean, not_a_regular_file
from .messages import (
    RANGE_FIX,
    as_float,
    close_files,
    expected,
    fail,
    is_number_text,
    num,
    unusable_path,
)

MAX_TEXT = 20_000  # characters of one string
MAX_NAMES = 1000  # names in one list


@dataclass(frozen=True)
class Kind:
    """What a field holds, as the reference names it, and a choice's options."""

    name: str  # str text int float prob bool date path names pair name choice
    options: tuple[str, ...] = ()


def _string(v: Any, nonempty: bool) -> str:
    if not isinstance(v, str):
        expected("a string in double quotes", v)
    if nonempty and not v.strip():
        expected("a non-empty string", v)
    if len(v) > MAX_TEXT:
        expected(f"a string shorter than {MAX_TEXT:,} characters", v)
    return v


def _path(v: Any) -> str:
    if not isinstance(v, str):
        expected("a string in double quotes", v)
    if len(v) > MAX_TEXT:
        expected(f"a string shorter than {MAX_TEXT:,} characters", v)
    if v.strip():
        if why := unusable_path(Path(v)):
            fail(
                f"{clip(v)} {why}", "give a path with shorter names, relative to the scenario file"
            )
        if not Path(v).exists():
            fail(
                f"file not found: {v}",
                "give a path relative to the scenario file"
                + close_files(Path(v), "; did you mean {}?"),
            )
        if Path(v).is_dir():
            fail(f"{v} is a folder, not a file", "give the path of the file")
        if why := not_a_regular_file(v):  # a named pipe would hang the reader, a device never end
            fail(f"{v} {why}", "give the path of a regular file")
    return v


def _flag(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    word = v.strip().lower() if isinstance(v, str) else None
    if word in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        value = "true" if word in ("true", "yes", "on", "1") else "false"
        expected("true or false (no quotes)", v, f"write {{name}} = {value} (without quotes)")
    expected("true or false (no quotes)", v)


def _whole(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        expected("a whole number without a decimal point", v, f"write {{name}} = {int(v)}")
    if isinstance(v, float):
        fail(f"must be a finite whole number, got {v}", RANGE_FIX)
    if is_number_text(v):
        expected("a whole number", v, f"write {{name}} = {v.strip()} without the quotes")
    expected("a whole number", v)


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        if is_number_text(v):
            expected("a number", v, f"write {{name}} = {v.strip()} without the quotes")
        expected("a number", v)
    if not math.isfinite(v if isinstance(v, float) else as_float(v)):
        fail(f"must be a finite number, got {num(v)}", RANGE_FIX)
    return float(v)


def _day(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        expected("a date without a time (e.g. 2019-04-28)", v)
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            pass
    expected("a date like 2019-04-28", v)


def _names(v: Any, required: bool) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if isinstance(v, tuple):
        v = list(v)
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        expected('a list of place names, e.g. ["Kafr Nabl", "Hish"]', v)
    if len(v) > MAX_NAMES:
        expected(f"a list of at most {MAX_NAMES} names", v)
    if not v and required:
        expected('at least one place name, e.g. ["Kafr Nabl"]', v)
    if len(set(v)) < len(v):
        dup = sorted({x for x in v if v.count(x) > 1})
        fail(f"names {', '.join(repr(x) for x in dup)} more than once", "give each place once")
    return tuple(v)


def _pair(v: Any) -> tuple[str, str]:
    if isinstance(v, tuple):
        v = list(v)
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
        expected('two place names, e.g. ["Hish", "Maarrat al-Nu\'man"]', v)
    if v[0] == v[1]:
        expected("two different place names", v)
    return (v[0], v[1])


def _one_of(options: tuple[str, ...]):
    def check(v: Any) -> str:
        v = _string(v, nonempty=True)
        if v not in options:
            fail(f"'{v}' is not one of {', '.join(options)}", did_you_mean(v, options))
        return v

    return check


Text = Annotated[str, BeforeValidator(lambda v: _string(v, False)), Kind("text")]
Str = Annotated[str, BeforeValidator(lambda v: _string(v, True)), Kind("str")]
PlaceName = Annotated[str, BeforeValidator(lambda v: _string(v, True)), Kind("name")]
FilePath = Annotated[str, BeforeValidator(_path), Kind("path")]
Flag = Annotated[bool, BeforeValidator(_flag), Kind("bool")]
Whole = Annotated[int, BeforeValidator(_whole), Kind("int")]
Number = Annotated[float, BeforeValidator(_number), Kind("float")]
Share = Annotated[float, BeforeValidator(_number), Kind("prob"), Ge(0.0), Le(1.0)]
Day = Annotated[dt.date, BeforeValidator(_day), Kind("date")]
Names = Annotated[tuple[str, ...], BeforeValidator(lambda v: _names(v, False)), Kind("names")]
SomeNames = Annotated[tuple[str, ...], BeforeValidator(lambda v: _names(v, True)), Kind("names")]
Pair = Annotated[tuple[str, str], BeforeValidator(_pair), Kind("pair")]


def choice(*options: str) -> Any:
    """A string that must be one of ``options``."""
    return Annotated[str, BeforeValidator(_one_of(options)), Kind("choice", options)]


# --------------------------------------------------------------------------------------
# Reading a field's declaration back
# --------------------------------------------------------------------------------------


def _metadata(f: FieldInfo) -> list[Any]:
    """The field's metadata and that of the Annotated types inside its annotation."""
    out = list(f.metadata)
    todo = [f.annotation]
    while todo:
        tp = todo.pop()
        if get_origin(tp) is Annotated:
            out += list(tp.__metadata__)
            todo.append(get_args(tp)[0])
        else:
            todo += [a for a in get_args(tp) if a is not type(None)]
    return out


def kind_of(f: FieldInfo) -> Kind:
    return next((m for m in _metadata(f) if isinstance(m, Kind)), Kind("?"))


def bounds_of(f: FieldInfo) -> tuple[float | None, float | None]:
    """The declared range of a number field (``ge``, ``le``), None where open."""
    meta = _metadata(f)
    lo = next((m.ge for m in meta if isinstance(m, Ge)), None)
    hi = next((m.le for m in meta if isinstance(m, Le)), None)
    return lo, hi


def extra_of(f: FieldInfo) -> dict[str, Any]:
    """Unit, source, fit and sensitivity range of a field (its ``json_schema_extra``)."""
    return f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}


def unit_of(f: FieldInfo) -> str:
    return extra_of(f).get("unit", "")


def range_fix(f: FieldInfo) -> str:
    """'use a value between LO and HI UNIT' for a number field."""
    lo, hi = bounds_of(f)
    unit = unit_of(f)
    unit = f" {unit}" if unit and unit != "0-1" else ""
    if lo is not None and hi is not None:
        return f"use a value between {num(lo)} and {num(hi)}{unit}"
    if lo is not None:
        return f"use a value of at least {num(lo)}{unit}"
    return f"use a value of at most {num(hi)}{unit}"


def example_of(f: FieldInfo) -> str:
    """A value to show in a fix, e.g. ``write total = 4000000``."""
    k = kind_of(f)
    d = f.default
    return {
        "str": '"..."',
        "text": '"..."',
        "path": '"data/file.csv"',
        "name": '"Bab al-Hawa crossing"',
        "choice": '"' + (k.options[0] if k.options else "...") + '"',
        "bool": "true",
        "int": str(d if isinstance(d, int) and not isinstance(d, bool) else 1000),
        "float": str(d if isinstance(d, float) else 1.0),
        "prob": str(d if isinstance(d, float) else 0.5),
        "date": "2019-04-28",
        "names": '["Kafr Nabl"]',
        "pair": '["Hish", "Maarrat al-Nu\'man"]',
    }.get(k.name, "...")
