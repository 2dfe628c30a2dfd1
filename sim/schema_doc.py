"""The scenario file reference (docs/scenario-reference.md), generated from the schema."""

from __future__ import annotations

from .config import (
    _COMMON_EVENT_FIELDS,
    BEHAVIOUR_FIELDS,
    CROSSING_FIELDS,
    EVENT_KINDS,
    SECTIONS,
    Field,
)


def _default(f: Field) -> str:
    if f.required:
        return "**required**"
    if f.default is None:
        return "(see description)"
    if isinstance(f.default, bool):
        return "true" if f.default else "false"
    if isinstance(f.default, str):
        return f'"{f.default}"'
    if isinstance(f.default, list):
        return "[]"
    if isinstance(f.default, int):
        return f"{f.default:_}"
    return f"{f.default:g}"


def _range(f: Field) -> str:
    if f.type == "prob":
        return "0 to 1"
    if f.choices:
        return " / ".join(f.choices)
    if f.lo is not None and f.hi is not None:
        return f"{f.lo:g} to {f.hi:g}"
    return ""


def _table(fields: tuple[Field, ...]) -> list[str]:
    out = [
        "| field | type | default | unit | valid | meaning | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in fields:
        doc = f.doc.replace("|", "\\|")
        src = f.source.replace("|", "\\|")
        out.append(
            f"| `{f.name}` | {f.type} | {_default(f)} | {f.unit} | {_range(f)} | {doc} | {src} |"
        )
    return out


def scenario_reference() -> str:
    lines = [
        "# Scenario file reference",
        "",
        "Generated from `sim/config.py` by `idlibsim schema`; do not edit by hand (a test checks",
        "that this file matches the code).",
        "",
        'A scenario is a TOML file. `extends = "other.toml"` (a top-level key, written before',
        "any table) starts from another scenario: tables merge key by key, lists replace. Paths",
        "are relative to the file that names them. Unknown keys are errors at every level.",
        "`idlibsim validate FILE --show` prints a scenario with every default filled in.",
        "",
        "Types: `date` is a TOML date (2019-04-28); `names` a list of place names from the",
        "locations file; `prob` a number from 0 to 1.",
        "",
    ]
    for name, (doc, fields) in SECTIONS.items():
        lines += [f"## `[{name}]`", "", doc, "", *_table(fields), ""]
    lines += [
        '## `[crossings."NAME"]`',
        "",
        "Border policy at the start for a place of kind `crossing`; crossings not listed are closed.",
        "",
        *_table(CROSSING_FIELDS),
        "",
        "## `[events.ID]`",
        "",
        "Named events (a scenario that extends another can change or drop one by its ID).",
        "Fields common to all kinds:",
        "",
        *_table(_COMMON_EVENT_FIELDS),
        "",
    ]
    for kind, (doc, fields) in EVENT_KINDS.items():
        lines += [f'### kind = "{kind}"', "", doc, "", *_table(fields), ""]
    lines += [
        "## Behaviour parameter files",
        "",
        '`[behaviour] parameters = "params/file.toml"` names a file with a `[behaviour]` table',
        "(any of the behaviour fields above) and an optional free-form `[fit]` table describing",
        "how the values were obtained. `idlibsim calibrate` writes such files.",
        "",
    ]
    assert BEHAVIOUR_FIELDS
    return "\n".join(lines)
