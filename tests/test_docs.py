"""The documentation that is generated from the code is in sync with it."""

from __future__ import annotations

import re
from pathlib import Path

from sim.cli import build_parser
from sim.schema_doc import scenario_reference

REPO = Path(__file__).resolve().parent.parent


def test_scenario_reference_is_generated_from_the_schema():
    doc = (REPO / "docs" / "scenario-reference.md").read_text(encoding="utf-8")
    assert doc == scenario_reference(), (
        "docs/scenario-reference.md is out of date: "
        "run `idlibsim schema --out docs/scenario-reference.md`"
    )


def test_every_command_in_the_readme_exists():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = set(re.findall(r"^idlibsim (\w+)", readme, flags=re.M))
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert commands and commands <= set(sub.choices), commands - set(sub.choices)


def test_the_fitted_parameters_declared_in_the_schema_are_those_of_the_shipped_fit():
    """The reference's *fitted* column and the calibration's list come from the schema's
    declarations; they must say what the shipped parameter file holds."""
    import tomllib

    from sim.calibration import FIT_PARAMETERS, FIXED_IN_FIT
    from sim.scenario.schema import fits

    text = (REPO / "scenarios" / "params" / "idlib_2019_fit.toml").read_text(encoding="utf-8")
    shipped = tomllib.loads(text)["behaviour"]
    fixed = {
        line.split("=")[0].strip() for line in text.splitlines() if "# fixed, not fitted" in line
    }
    fitted = {p.name for p in FIT_PARAMETERS}
    assert fitted == set(shipped) - fixed
    assert set(FIXED_IN_FIT) == fixed
    for name in fixed:
        assert shipped[name] == FIXED_IN_FIT[name][0] == fits()[name].held
    doc = (REPO / "docs" / "scenario-reference.md").read_text(encoding="utf-8")
    for name in shipped:
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{name}` |"))
        assert ("**fitted**" in row) == (name in fitted), row
