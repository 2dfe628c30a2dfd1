"""A planner's levers on a scenario, written as a what-if TOML file that ``extends`` it.

The dashboard (``idlibsim dashboard``) lets a planner change a scenario's main levers
without writing TOML; this module holds that logic, with no user-interface code, so it
is tested on its own. Everything the dashboard runs is a scenario *file* loaded by
:func:`sim.scenario.loading.load_scenario`: the same validation, the same numbers as
``idlibsim run FILE`` on the file it saves.

The levers (:class:`Levers`):

* **border crossings** (:class:`CrossingLever`): open for civilians from a date at a
  daily capacity (people/day), or closed throughout. A changed crossing replaces the
  scenario's whole policy for it (its ``[crossings]`` entry and every ``border`` event
  naming it).
* **new camp places** (:class:`NewCamp`): *added* formal camp places (people) at a place
  from a date, on top of the capacity the scenario already gives that place on every
  later day (its locations file and ``camp_capacity`` events).
* **a ceasefire** from a date to the scenario end: every intensity is multiplied by a
  factor (0-1; empty means the scenario's ``[conflict] ceasefire_factor``) and, since a
  ceasefire that holds stops ground gains, the captures dated on or after it are dropped.

The population scale is a run option (``--population-scale``), not a lever.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from . import geography
from .conflict import compile_timeline
from .errors import InputError
from .geography import GOVERNMENT
from .scenario.loading import Scenario, load_scenario

#: A scenario name: also its file name (``<name>.toml``) and results folder.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,64}")
#: Kinds of place where the dashboard offers new camp places (destinations on this side).
CAMP_KINDS = ("camp_cluster", "host_area", "sub_district")
#: Prefix of the ids of the events the levers write.
EVENT_PREFIX = "dashboard_"


@dataclass(frozen=True)
class CrossingLever:
    """A border crossing's policy: ``open`` from ``from_date`` at ``daily_capacity`` people/day
    to the scenario end (closed before); ``open=False``: closed throughout."""

    open: bool
    from_date: date | None = None
    daily_capacity: int = 0


@dataclass(frozen=True)
class NewCamp:
    """``places`` more formal camp places (people) at ``location`` from ``from_date`` on."""

    location: str
    from_date: date
    places: int


@dataclass
class Levers:
    """What a planner changed. Crossings not listed keep the scenario's policy."""

    crossings: dict[str, CrossingLever] = field(default_factory=dict)
    new_camps: list[NewCamp] = field(default_factory=list)
    ceasefire_from: date | None = None
    ceasefire_factor: float | None = None  # 0-1; None: [conflict] ceasefire_factor

    def is_empty(self) -> bool:
        return not self.crossings and not self.new_camps and self.ceasefire_from is None


# --------------------------------------------------------------------------------------
# Reading the scenario's current state
# --------------------------------------------------------------------------------------


def _world(scenario: Scenario):
    return geography.load(scenario.locations_file, scenario.routes_file)


def _timeline(scenario: Scenario):
    world = _world(scenario)
    return world, compile_timeline(scenario, world)


def crossing_names(scenario: Scenario) -> list[str]:
    """The places of kind 'crossing' (the border crossings into Turkey)."""
    w = _world(scenario)
    return [n for n, k in zip(w.names, w.kind, strict=True) if k == "crossing"]


def camp_places(scenario: Scenario) -> list[str]:
    """Places where camp places can be added: camp clusters first, then host areas and
    sub-districts held by the opposition or Turkish-backed groups at the start."""
    w = _world(scenario)
    held = set(scenario.government_held)
    out = []
    for kind in CAMP_KINDS:
        out += [
            n
            for n, k, c in zip(w.names, w.kind, w.control, strict=True)
            if k == kind and c != GOVERNMENT and n not in held
        ]
    return out


def crossing_policy(scenario: Scenario) -> dict[str, CrossingLever]:
    """Each crossing's policy in the scenario, as a lever: the first day it is open and its
    capacity then (closed throughout: ``open=False``). A policy that opens and closes again
    is shown by its first opening; :func:`crossing_policy_is_simple` says whether it is exact."""
    w, t = _timeline(scenario)
    out = {}
    for name in crossing_names(scenario):
        i = w.index[name]
        open_days = np.flatnonzero(t.crossing_open[:, i])
        if open_days.size == 0:
            out[name] = CrossingLever(False)
        else:
            d = int(open_days[0])
            out[name] = CrossingLever(
                True,
                scenario.start + timedelta(days=d),
                int(t.crossing_capacity[d, i]),
            )
    return out


def crossing_policy_is_simple(scenario: Scenario, name: str) -> bool:
    """True when the crossing is closed, then open at one capacity to the end (or closed)."""
    w, t = _timeline(scenario)
    i = w.index[name]
    is_open = t.crossing_open[:, i]
    cap = t.crossing_capacity[:, i]
    days = np.flatnonzero(is_open)
    if days.size == 0:
        return True
    return bool(is_open[days[0] :].all() and (cap[days[0] :] == cap[days[0]]).all())


def camp_capacity_series(scenario: Scenario, location: str) -> np.ndarray:
    """Formal camp places (people) at a place on each simulated day, as the scenario has it."""
    w, t = _timeline(scenario)
    return t.camp_capacity[:, w.index[location]].astype(np.int64)


# --------------------------------------------------------------------------------------
# Checking the levers
# --------------------------------------------------------------------------------------


def check_levers(scenario: Scenario, levers: Levers) -> list[str]:
    """Problems with the levers, in a planner's words (empty: fine)."""
    problems: list[str] = []
    start, end = scenario.start, scenario.end
    crossings = set(crossing_names(scenario))
    for name, c in levers.crossings.items():
        if name not in crossings:
            problems.append(f"'{name}' is not a border crossing ({', '.join(sorted(crossings))})")
            continue
        if c.open:
            if c.from_date is None or not (start <= c.from_date <= end):
                problems.append(f"{name}: the opening date must be between {start} and {end}")
            if not (0 < int(c.daily_capacity) <= 1_000_000):
                problems.append(f"{name}: the daily capacity must be 1 to 1,000,000 people a day")
    places = set(camp_places(scenario))
    for k, camp in enumerate(levers.new_camps, 1):
        if camp.location not in places:
            problems.append(f"new camp places {k}: '{camp.location}' cannot take camp places")
        if not (start <= camp.from_date <= end):
            problems.append(f"new camp places {k}: the date must be between {start} and {end}")
        if not (0 < int(camp.places) <= 2_000_000):
            problems.append(f"new camp places {k}: give 1 to 2,000,000 places")
    if levers.ceasefire_from is not None and not (start <= levers.ceasefire_from <= end):
        problems.append(f"ceasefire: the date must be between {start} and {end}")
    f = levers.ceasefire_factor
    if f is not None and not (0.0 <= float(f) <= 1.0 and np.isfinite(f)):
        problems.append("ceasefire: the factor on the intensities must be between 0 and 1")
    return problems


def check_name(name: str) -> str | None:
    """Why ``name`` cannot name a scenario (None: it can)."""
    if not NAME_PATTERN.fullmatch(name or ""):
        return "use 1 to 64 letters, digits, '_' or '-' (no spaces, no dots, no slashes)"
    return None


# --------------------------------------------------------------------------------------
# Writing the what-if
# --------------------------------------------------------------------------------------


def _s(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; control characters are dropped)."""
    clean = "".join(ch for ch in str(text) if ch in "\n\t" or (ord(ch) >= 32 and ord(ch) != 127))
    return json.dumps(clean, ensure_ascii=False)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_\-]+", key) else _s(key)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _fmt(n: int) -> str:
    return f"{int(n):,}"


def describe(levers: Levers) -> list[str]:
    """The levers as short sentences (title, label, description of the saved file)."""
    out = []
    for name, c in levers.crossings.items():
        if c.open:
            out.append(f"{name} open from {c.from_date} ({_fmt(c.daily_capacity)}/day)")
        else:
            out.append(f"{name} closed")
    for camp in levers.new_camps:
        out.append(f"+{_fmt(camp.places)} camp places at {camp.location} from {camp.from_date}")
    if levers.ceasefire_from is not None:
        f = (
            ""
            if levers.ceasefire_factor is None
            else f" (intensities x{levers.ceasefire_factor:g})"
        )
        out.append(f"ceasefire from {levers.ceasefire_from}{f}")
    return out


def what_if_toml(scenario: Scenario, levers: Levers, name: str, extends: str) -> str:
    """The text of a what-if file: ``extends`` the scenario and changes only the levers.

    ``extends`` is the path of ``scenario``'s file as the new file will see it (relative to
    the new file's folder, or absolute). Raises ValueError with the planner's problems.
    """
    problems = check_levers(scenario, levers)
    why = check_name(name)
    if why:
        problems.insert(0, f"name '{name}': {why}")
    if problems:
        raise ValueError("; ".join(problems))
    changes = describe(levers)
    said = "; ".join(changes) if changes else "no change"
    lines = [
        "# WHAT-IF made in the idlibsim dashboard: the scenario it extends, with these changes:",
        *[f"#   * {c}" for c in changes],
        f"# Reproduce: idlibsim run {name}.toml --seed N --population-scale F",
        "",
        f"extends = {_s(extends)}",
        "",
        "[scenario]",
        f"name = {_s(name)}",
        f"title = {_s(f'What-if ({said}) on: {scenario.title}'[:300])}",
        f"label = {_s(f'what-if: {said}'[:120])}",
        f"description = {_s(f'Made in the dashboard from {scenario.name}: {said}. Planning assumptions, not observed figures.')}",
        "",
    ]
    events: list[str] = []

    def event(eid: str, body: list[str]) -> None:
        events.extend([f"[events.{_key(eid)}]", *body, ""])

    def disable(eid: str) -> None:
        events.extend([f"[events.{_key(eid)}]", "enabled = false", ""])

    # Border crossings: replace the scenario's whole policy for each changed crossing.
    for cname, c in levers.crossings.items():
        opens_at_start = c.open and c.from_date == scenario.start
        lines += [
            f"[crossings.{_key(cname)}]",
            f"open = {'true' if opens_at_start else 'false'}",
            f"daily_capacity = {int(c.daily_capacity) if opens_at_start else 0}",
            "",
        ]
        for e in scenario.events:
            if e.kind == "border" and e.crossing == cname:
                disable(e.id)
        if c.open and not opens_at_start:
            event(
                f"{EVENT_PREFIX}open_{_slug(cname)}",
                [
                    'kind = "border"',
                    f"crossing = {_s(cname)}",
                    f"start = {c.from_date.isoformat()}",
                    "open = true",
                    f"daily_capacity = {int(c.daily_capacity)}",
                    f"source = {_s(f'what-if (dashboard): {cname} open to civilians from {c.from_date} at {_fmt(c.daily_capacity)} people a day (planning assumption)')}",
                ],
            )

    # New camp places: the place's capacity series is rewritten as the scenario's plus the
    # added places; the scenario's own camp_capacity events for it are replaced (and kept
    # for the other places they name).
    added: dict[str, list[NewCamp]] = {}
    for camp in levers.new_camps:
        added.setdefault(camp.location, []).append(camp)
    if added:
        w, t = _timeline(scenario)
        for e in scenario.events:
            if e.kind != "camp_capacity" or not set(e.locations) & set(added):
                continue
            disable(e.id)
            others = [p for p in e.locations if p not in added]
            if others:
                event(
                    f"{EVENT_PREFIX}{e.id}_others",
                    [
                        'kind = "camp_capacity"',
                        f"locations = [{', '.join(_s(p) for p in others)}]",
                        f"date = {e.start.isoformat()}",
                        f"capacity = {int(e.capacity)}",
                        f"source = {_s(e.source)}",
                        f"note = {_s(f'{e.id} without the places the dashboard changes')}",
                    ],
                )
        for place, camps in added.items():
            i = w.index[place]
            want = t.camp_capacity[:, i].astype(np.int64).copy()
            for camp in camps:
                want[scenario.day_index(camp.from_date) :] += int(camp.places)
            file_capacity = int(w.camp_capacity[i])
            total = sum(int(c.places) for c in camps)
            for d in range(scenario.n_days):
                before = file_capacity if d == 0 else int(want[d - 1])
                if int(want[d]) == before:
                    continue
                day = scenario.start + timedelta(days=d)
                event(
                    f"{EVENT_PREFIX}camps_{_slug(place)}_{day:%Y%m%d}",
                    [
                        'kind = "camp_capacity"',
                        f"locations = [{_s(place)}]",
                        f"date = {day.isoformat()}",
                        f"capacity = {int(want[d])}",
                        f"source = {_s(f'what-if (dashboard): the scenario capacity at {place} plus {_fmt(total)} new camp places from the dates chosen (planning assumption)')}",
                    ],
                )

    # Ceasefire from a date to the end; the captures it prevents are dropped.
    if levers.ceasefire_from is not None:
        d0 = levers.ceasefire_from
        body = [
            'kind = "ceasefire"',
            f"start = {d0.isoformat()}",
            f"source = {_s(f'what-if (dashboard): a ceasefire that holds from {d0} to the end of the scenario')}",
        ]
        if levers.ceasefire_factor is not None:
            body.insert(2, f"factor = {float(levers.ceasefire_factor)!r}")
        event(f"{EVENT_PREFIX}ceasefire", body)
        for e in scenario.events:
            if e.kind == "capture" and e.start >= d0:
                disable(e.id)

    return "\n".join(lines + events).rstrip() + "\n"


def _extends_from(folder: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(base.resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return base.resolve().as_posix()


def edited_scenario(scenario: Scenario, levers: Levers, name: str | None = None) -> Scenario:
    """The scenario with the levers applied, loaded from a what-if file in a temporary
    folder (so it is validated exactly as the saved file will be). No levers: ``scenario``."""
    if levers.is_empty():
        return scenario
    name = name or f"{scenario.name}_edited"[:64]
    with tempfile.TemporaryDirectory(prefix="idlibsim_edit_") as tmp:
        path = Path(tmp) / f"{name}.toml"
        path.write_text(
            what_if_toml(scenario, levers, name, scenario.path.resolve().as_posix()),
            encoding="utf-8",
        )
        return load_scenario(path)


def save_what_if(scenario: Scenario, levers: Levers, name: str, folder: Path | str) -> Path:
    """Write ``<folder>/<name>.toml`` extending ``scenario``'s file, validated, never
    replacing a file. Returns its path. Raises ValueError (bad levers or name),
    FileExistsError (the file exists) or InputError (the file does not validate: then
    nothing is left behind)."""
    folder = Path(folder)
    why = check_name(name)
    if why:
        raise ValueError(f"name '{name}': {why}")
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    path = folder / f"{name}.toml"
    text = what_if_toml(scenario, levers, name, _extends_from(folder, scenario.path))
    with open(path, "x", encoding="utf-8") as fh:  # "x": never replace a file
        fh.write(text)
    try:
        load_scenario(path)
    except InputError:
        path.unlink()
        raise
    return path


def same_scenario(a: Scenario, b: Scenario) -> list[str]:
    """The fields in which two scenarios differ, ignoring where their files are and their
    name, title, label and description (empty: they simulate the same thing)."""
    skip = {"name", "title", "label", "description"}
    out = []
    for section in type(a.spec).model_fields:
        x, y = getattr(a.spec, section), getattr(b.spec, section)
        if section == "scenario":
            out += [
                f"scenario.{k}"
                for k in type(x).model_fields
                if k not in skip and getattr(x, k) != getattr(y, k)
            ]
        elif x != y:
            out.append(section)
    return out + [k for k in ("bombardment_table", "camp_table") if getattr(a, k) != getattr(b, k)]


def list_scenarios(folder: Path | str) -> list[Path]:
    """The scenario files of a folder, historical scenarios first, then what-ifs, by name."""
    files = sorted(Path(folder).glob("*.toml"))
    return sorted(files, key=lambda p: (p.name.startswith("whatif"), p.name))
