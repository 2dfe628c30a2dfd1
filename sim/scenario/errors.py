"""Validation errors turned into problems a user can act on.

pydantic reports where (``loc``) and what (``type``); :class:`Report` turns each into a
:class:`~sim.errors.Problem` naming the file the value came from (``extends`` chains and
parameter files included), the dotted field, the line, what was wrong and the fix.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import Problem, ProblemList, did_you_mean
from .messages import RANGE_FIX, WRITE_EXAMPLE, kind_of_value, num, short
from .types import example_of, kind_of, range_fix, unit_of


def header(prefix: str) -> str:
    """How a table is written in the file, from its dotted prefix ('' is the top level)."""
    if not prefix:
        return "the top level"
    parts = prefix.rstrip(".").split(".")
    return (
        "[" + ".".join(p if re.fullmatch(r"[A-Za-z0-9_\-]+", p) else f'"{p}"' for p in parts) + "]"
    )


def homes(key: str) -> list[str]:
    """Where a key is valid: 'the top level', '[scenario]', '[events.<name>]'..."""
    from .schema import EVENT_TYPES, SECTIONS, TOP_LEVEL_KEYS, Crossing

    out = []
    if key in TOP_LEVEL_KEYS:
        out.append("the top level")
    out += [f"[{name}]" for name, model in SECTIONS.items() if key in model.model_fields]
    if key in Crossing.model_fields:
        out.append('[crossings."<crossing name>"]')
    if any(key in t.model_fields for t in EVENT_TYPES):
        out.append("[events.<name>]")
    return out


class Report:
    """Problems found in a scenario, each filed under the file its value came from."""

    def __init__(self, root: Path, prov: dict[str, Path], texts: dict[Path, str]):
        self.root = root
        self.prov = prov
        self.texts = texts
        self.problems: list[Problem] = []

    def file_of(self, dotted: str) -> Path:
        parts = dotted.split(".")
        while parts:
            key = ".".join(parts)
            if key in self.prov:
                return self.prov[key]
            parts.pop()
        return self.root

    def add(self, dotted: str, message: str, fix: str = "") -> None:
        f = self.file_of(dotted)
        pl = ProblemList(f, self.texts.get(f))
        pl.add(dotted, message, fix)
        self.problems.extend(pl.items)

    def unknown_key(self, k: str, valid: list[str], prefix: str) -> list[str]:
        """Report a key the schema does not define; return the valid names it resembles."""
        here = header(prefix)
        places = [
            h
            for h in homes(k)
            if h != here
            and not (h.startswith("[events.") and prefix.startswith("events."))
            and not (h.startswith("[crossings.") and prefix.startswith("crossings."))
        ]
        meant: list[str] = []
        if places and not prefix:  # e.g. start = ... written before any [table] header
            fix = f"'{k}' belongs in {' or '.join(places)}: move it below that header"
        elif places:  # a valid key in the wrong table beats a look-alike in this one
            fix = (
                f"'{k}' belongs in {' or '.join(places)}: a key written below a [table] header "
                "belongs to that table, so move it"
                + (" before the first [table] header" if places[0] == "the top level" else "")
            )
        else:
            fix = did_you_mean(k, valid)
            meant = difflib.get_close_matches(k, valid, n=1, cutoff=0.6)
        self.add(f"{prefix}{k}", f"unknown key '{k}'", fix)
        return meant

    def unknown_keys(self, table: dict, valid: list[str] | tuple[str, ...], prefix: str) -> None:
        for k in table:
            if k not in valid:
                self.unknown_key(k, list(valid), prefix)

    def validate(self, model: type[BaseModel], raw: Any, prefix: str, adapter: Any = None) -> Any:
        """``model`` validated from ``raw``, or None; every error becomes a problem.

        When some fields are wrong, the others are still returned when they make a valid
        table on their own (so that later checks, e.g. of place names, still run)."""
        validate = adapter.validate_python if adapter is not None else model.model_validate
        try:
            return validate(raw)
        except ValidationError as exc:
            errors = exc.errors()
        bad = self.translate(errors, model, raw, prefix)
        if isinstance(raw, dict) and bad:
            try:
                return validate({k: v for k, v in raw.items() if k not in bad})
            except ValidationError:
                return None
        return None

    def translate(
        self, errors: list[dict], model: type[BaseModel], raw: Any, prefix: str
    ) -> set[str]:
        """File each pydantic error as today's message; return the keys that were wrong."""
        from .schema import EVENT_KINDS

        bad: set[str] = set()
        if not isinstance(raw, dict):
            with_kind = " with kind = ..." if prefix.startswith("events.") else ""
            self.add(
                prefix.rstrip("."),
                f"must be a table, got {kind_of_value(raw)}",
                f"write {header(prefix)}{with_kind}",
            )
            return bad
        if any(e["type"] == "union_tag_invalid" for e in errors) or any(
            e["type"] == "union_tag_not_found" for e in errors
        ):
            kind = raw.get("kind") if isinstance(raw, dict) else None
            if kind is None:
                self.add(
                    f"{prefix}kind",
                    "missing required field 'kind'",
                    f"add kind = one of {', '.join(EVENT_KINDS)}",
                )
            else:
                self.add(
                    f"{prefix}kind",
                    f"unknown event kind {short(kind)}",
                    did_you_mean(str(kind), EVENT_KINDS),
                )
            return bad
        if errors and errors[0]["loc"] and errors[0]["loc"][0] in EVENT_KINDS:
            model = EVENT_KINDS[errors[0]["loc"][0]]
            errors = [{**e, "loc": e["loc"][1:]} for e in errors]
        extras = [e for e in errors if e["type"] == "extra_forbidden"]
        meant: set[str] = set()
        valid = list(model.model_fields)
        for e in extras:
            key = str(e["loc"][0])
            meant.update(self.unknown_key(key, valid, prefix))
            bad.add(key)
        for e in errors:
            if e["type"] == "extra_forbidden":
                continue
            name = str(e["loc"][0]) if e["loc"] else ""
            f = model.model_fields.get(name)
            dotted = f"{prefix}{name}"
            bad.add(name)
            if f is None:  # not expected: a message all the same
                self.add(dotted, e["msg"], "see docs/scenario-reference.md")
            elif e["type"] == "missing":
                if name not in meant:  # else reported as a misspelling of it ("did you mean")
                    doc = (f.description or "").rstrip(".")
                    self.add(
                        dotted,
                        f"missing required field '{name}' ({doc})",
                        f"add {name} = {example_of(f)}",
                    )
            elif e["type"] == "scenario_value":
                self.add(dotted, e["ctx"]["message"], self._fix(e["ctx"]["fix"], name, f))
            elif e["type"] in ("greater_than_equal", "less_than_equal"):
                prob = kind_of(f).name == "prob"
                what = "a probability or share (0 to 1)" if prob else "this field"
                unit = unit_of(f)
                unit = f" {unit}" if unit and unit != "0-1" else ""
                shown = num(e["input"])
                if shown.startswith("a number"):
                    unit = ""
                self.add(
                    dotted, f"{shown}{unit} is outside the valid range of {what}", range_fix(f)
                )
            else:
                self.add(dotted, e["msg"], self._fix(WRITE_EXAMPLE, name, f))
        return bad

    @staticmethod
    def _fix(fix: str, name: str, f: Any) -> str:
        if fix == RANGE_FIX:
            return range_fix(f)
        return fix.replace("{name}", name).replace("{example}", example_of(f))
