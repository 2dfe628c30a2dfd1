"""The scenario file reference (docs/scenario-reference.md), generated from the schema."""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo

from .scenario.messages import num
from .scenario.schema import EVENT_TYPES, SECTIONS, Behaviour, Crossing, EventFields, FitSpec
from .scenario.types import bounds_of, extra_of, kind_of, unit_of


def _default(f: FieldInfo) -> str:
    if f.is_required():
        return "**required**"
    d = f.default
    if d is None:
        return "(see description)"
    if isinstance(d, bool):
        return "true" if d else "false"
    if isinstance(d, str):
        return f'"{d}"'
    if isinstance(d, (list, tuple)):
        return "[]"
    if isinstance(d, int):
        return f"{d:_}"
    return f"{d:g}"


def _range(f: FieldInfo) -> str:
    k = kind_of(f)
    if k.name == "prob":
        return "0 to 1"
    if k.options:
        return " / ".join(k.options)
    lo, hi = bounds_of(f)
    if lo is not None and hi is not None:
        return f"{lo:g} to {hi:g}"
    return ""


def _fitted(f: FieldInfo) -> str:
    """Whether the 2019 calibration fits the parameter (column of the behaviour table)."""
    if "fit" not in extra_of(f):
        return "no"
    fit = FitSpec(**extra_of(f)["fit"])
    if fit.rank is not None:
        return "**fitted** (2019 fit)"
    if fit.held is not None:
        return f"no: held at {num(fit.held)} in the 2019 fit"
    return "no (fittable on request)"


def _sensitivity(f: FieldInfo) -> str:
    rng = extra_of(f).get("sensitivity")
    return f"{num(rng[0])} to {num(rng[1])}" if rng else ""


def _table(model: type[Any], behaviour: bool = False) -> list[str]:
    head = "| field | type | default | unit | valid | meaning | source |"
    rule = "|---|---|---|---|---|---|---|"
    if behaviour:
        head += " fitted | sensitivity range |"
        rule += "---|---|"
    out = [head, rule]
    for name, f in model.model_fields.items():
        if name == "kind" and model is not EventFields:
            continue  # the kind is the table's heading
        doc = (f.description or "").replace("|", "\\|")
        src = extra_of(f).get("source", "").replace("|", "\\|")
        row = (
            f"| `{name}` | {kind_of(f).name} | {_default(f)} | {unit_of(f)} | {_range(f)} "
            f"| {doc} | {src} |"
        )
        if behaviour:
            fitted = _fitted(f) if name in Behaviour.model_fields else ""
            row += f" {fitted} | {_sensitivity(f)} |"
        out.append(row)
    return out


def _own(model: type[Any]) -> type[Any]:
    """An event kind's own fields (without the common ones) as a table to print."""

    class Own:
        model_fields = {
            k: f
            for k, f in model.model_fields.items()
            if k not in EventFields.model_fields or k == "kind"
        }

    return Own


def scenario_reference() -> str:
    lines = [
        "# Scenario file reference",
        "",
        "Generated from `sim/scenario/schema.py` by `idlibsim schema`; do not edit by hand (a",
        "test checks that this file matches the code).",
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
    for name, model in SECTIONS.items():
        doc = " ".join((model.__doc__ or "").split())
        lines += [f"## `[{name}]`", "", doc, ""]
        if name == "behaviour":
            lines += [
                "The *fitted* column says which parameters the 2019 calibration fits (values in",
                "`scenarios/params/idlib_2019_fit.toml`, which the shipped scenarios use); the",
                "calibration report varies the others over their *sensitivity range*.",
                "",
            ]
        lines += [*_table(model, behaviour=name == "behaviour"), ""]
    lines += [
        '## `[crossings."NAME"]`',
        "",
        " ".join((Crossing.__doc__ or "").split()),
        "",
        *_table(Crossing),
        "",
        "## `[events.ID]`",
        "",
        "Named events (a scenario that extends another can change or drop one by its ID).",
        "Fields common to all kinds:",
        "",
        *_table(EventFields),
        "",
    ]
    for model in EVENT_TYPES:
        kind = model.model_fields["kind"].annotation.__args__[0]
        doc = " ".join((model.__doc__ or "").split())
        lines += [f'### kind = "{kind}"', "", doc, "", *_table(_own(model)), ""]
    lines += [
        "## Behaviour parameter files",
        "",
        '`[behaviour] parameters = "params/file.toml"` names a file with a `[behaviour]` table',
        "(any of the behaviour fields above) and an optional free-form `[fit]` table describing",
        "how the values were obtained. `idlibsim calibrate` writes such files.",
        "",
    ]
    return "\n".join(lines)
