"""Shared fixtures: tiny hand-checkable worlds written to a temporary folder."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

# Every model built by the suite checks its invariants every day (conservation, counts,
# capacities, nobody settled in a captured place): `idlibsim run --check` for all tests.
# Set before any Dask worker starts, so worker processes inherit it.
os.environ["IDLIBSIM_CHECK"] = "1"

# Hypothesis: reproducible in CI (CI=true, as CI services set it: the same examples on
# every run, no example database), exploring new examples on every local run. Both print
# the failing example and a blob to replay it (@reproduce_failure). HYPOTHESIS_PROFILE
# picks a profile explicitly; `--hypothesis-seed=N` replays a local exploration.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
_in_ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if _in_ci else "dev"))

TWO_TOWNS_LOCATIONS = """\
name,kind,control,lat,lon,population,camp_population,camp_capacity,hosting_population
Bombed Town,sub_district,opposition,35.50,36.60,50000,0,0,
Safe Town,sub_district,opposition,36.10,36.70,50000,0,0,
Border Camp,camp_cluster,opposition,36.30,36.68,2000,2000,5000,
Crossing,crossing,opposition,36.23,36.69,0,0,0,0
Turkey,abroad,turkey,36.27,36.57,0,0,0,0
"""

TWO_TOWNS_ROUTES = """\
from,to,km
Bombed Town,Safe Town,70
Safe Town,Border Camp,25
Border Camp,Crossing,5
Crossing,Turkey,8
"""

BASE_SCENARIO = """\
[scenario]
name = "tiny"
title = "One bombarded town and one safe town"
start = 2019-05-01
end = 2019-05-30

[population]
total = 102000

[geography]
locations = "data/locations.csv"
routes = "data/routes.csv"
"""

#: One bombarded town, 2-20 May at intensity 0.5 (shared by the tests).
BOMB = """
[events.bomb]
kind = "bombardment"
locations = ["Bombed Town"]
start = 2019-05-02
end = 2019-05-20
intensity = 0.5
source = "test"
"""
#: One more bombardment late in the period (a scenario differing from BOMB).
BOMB_AGAIN = """
[events.again]
kind = "bombardment"
locations = ["Bombed Town"]
start = 2019-05-24
end = 2019-05-27
intensity = 0.5
source = "test"
"""


def captured_and_cut_off(capture_day: int, close_day: int, reopen_day: int | None = None) -> str:
    """Events: Bombed Town (whose only road goes to Safe Town) captured on day
    ``capture_day`` of May 2019 and that road closed from ``close_day`` (to the day
    before ``reopen_day``): people of a captured place with no way out (issues 9, 17)."""
    end = f"end = 2019-05-{reopen_day - 1:02d}" if reopen_day else ""
    return f"""
[events.taken]
kind = "capture"
locations = ["Bombed Town"]
date = 2019-05-{capture_day:02d}
source = "test"

[events.cut]
kind = "route_closure"
between = ["Bombed Town", "Safe Town"]
start = 2019-05-{close_day:02d}
{end}
source = "test"
"""


class World:
    """Writes a tiny world (CSV files + scenario TOML) into a folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        (folder / "data").mkdir(parents=True, exist_ok=True)
        self.locations(TWO_TOWNS_LOCATIONS)
        self.routes(TWO_TOWNS_ROUTES)

    def locations(self, text: str) -> Path:
        p = self.folder / "data" / "locations.csv"
        p.write_text(textwrap.dedent(text))
        return p

    def routes(self, text: str) -> Path:
        p = self.folder / "data" / "routes.csv"
        p.write_text(textwrap.dedent(text))
        return p

    def scenario(self, extra: str = "", name: str = "tiny.toml", base: str = BASE_SCENARIO) -> Path:
        p = self.folder / name
        p.write_text(textwrap.dedent(base) + "\n" + textwrap.dedent(extra))
        return p


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
