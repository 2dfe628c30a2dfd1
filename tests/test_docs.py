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
