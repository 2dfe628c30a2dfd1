"""Loading a scenario: TOML, ``extends`` merge, validation, checks against the world.

:func:`load_scenario`

1. reads the file and the files it extends (:mod:`sim.scenario.reading`),
2. validates every table against the schema (:mod:`sim.scenario.schema`): unknown keys at
   every level (naming the closest valid ones), types, ranges, dates; the behaviour
   parameter file (``[behaviour] parameters``) fills the values the table does not give,
3. loads the geography and checks every place name, the period and the dates of the
   events, the data tables (bombardment weeks, camp capacities, observed figures),
4. returns a :class:`Scenario` whose :attr:`Scenario.spec` is the resolved file: every
   default filled in, events sorted by date (what manifests record).

All problems found are reported together as one :class:`~sim.errors.InputError`, each
naming its file, field, line and fix (:class:`sim.scenario.errors.Report`).
:func:`scenario_from_dict` does steps 2-4 for a resolved scenario recorded in a manifest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from sim.model.place_tables import load_bombardment_table, load_camp_table

from ..errors import InputError, Problem, ProblemList, clip, decode_text, did_you_mean, read_bytes
from ..safety import sha256_limited
from .errors import Report
from .messages import kind_of_value, unusable_path
from .reading import read_chain, read_toml
from .schema import (
    MAX_DAYS,
    SECTIONS,
    TOP_LEVEL_KEYS,
    Behaviour,
    Crossing,
    Event,
    EventFields,
    ScenarioFile,
    ScenarioSection,
    Table,
)
from .types import example_of

PARAMETER_FILE_KEYS = ("behaviour", "fit")
_EVENT = TypeAdapter(Event)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: the resolved file (:attr:`spec`) and what was read with it."""

    path: Path
    spec: ScenarioFile
    files: tuple[Path, ...]  # every input file read, for the manifest's hashes
    #: weeks of event-derived bombardment ([conflict] bombardment_table), sim.model.place_tables.BombardmentRow
    bombardment_table: tuple = ()
    #: dated camp capacities ([geography] camp_table), sim.model.place_tables.CampCapacityRow, by date
    camp_table: tuple = ()
    #: multipliers of places' population estimates (place name -> factor), drawn by an
    #: ensemble with population uncertainty (sim.analysis.uncertainty); empty: as estimated
    population_factors: dict = field(default_factory=dict)

    # -- shorthands for the resolved file's values ------------------------------------
    @property
    def name(self) -> str:
        return self.spec.scenario.name

    @property
    def title(self) -> str:
        return self.spec.scenario.title

    @property
    def label(self) -> str:
        return self.spec.scenario.label

    @property
    def description(self) -> str:
        return self.spec.scenario.description

    @property
    def start(self) -> date:
        return self.spec.scenario.start

    @property
    def end(self) -> date:
        return self.spec.scenario.end

    @property
    def report_from(self) -> date:
        return self.spec.scenario.report_from

    @property
    def observed(self) -> Path | None:
        return Path(self.spec.scenario.observed) if self.spec.scenario.observed else None

    @property
    def population_total(self) -> int:
        return self.spec.population.total

    @property
    def household_size(self) -> float:
        return self.spec.population.household_size

    @property
    def locations_file(self) -> Path:
        return Path(self.spec.geography.locations)

    @property
    def routes_file(self) -> Path:
        return Path(self.spec.geography.routes)

    @property
    def government_held(self) -> tuple[str, ...]:
        return self.spec.geography.government_held

    @property
    def camp_table_file(self) -> str:
        return self.spec.geography.camp_table

    @property
    def conflict(self) -> dict[str, Any]:
        return self.spec.conflict.model_dump()

    @cached_property
    def behaviour(self) -> Behaviour:
        return self.spec.behaviour.behaviour()

    @property
    def parameters_file(self) -> Path | None:
        return Path(self.spec.behaviour.parameters) if self.spec.behaviour.parameters else None

    @property
    def needs(self) -> dict[str, Any]:
        return self.spec.needs.model_dump()

    @property
    def crossings(self) -> dict[str, Crossing]:
        return self.spec.crossings

    @property
    def events(self) -> tuple[Any, ...]:
        """The enabled events with their defaults filled in, sorted by start date, then id."""
        return tuple(self.spec.events.values())

    @property
    def resolved(self) -> dict[str, Any]:
        """The scenario as plain data with every default filled in (manifests, `validate --show`)."""
        return self.spec.resolved()

    # -- days --------------------------------------------------------------------------
    @property
    def n_days(self) -> int:
        """Number of simulated days, both ends included."""
        return (self.end - self.start).days + 1

    @property
    def report_offset(self) -> int:
        """Index of the first reported day."""
        return (self.report_from - self.start).days

    def day_index(self, d: date) -> int:
        return (d - self.start).days

    def with_behaviour(self, **changes: float) -> Scenario:
        """A copy with some behaviour parameters changed (calibration, sensitivity)."""
        unknown = set(changes) - set(Behaviour.model_fields)
        if unknown:
            raise KeyError(f"unknown behaviour parameters: {sorted(unknown)}")
        beh = self.spec.behaviour.model_copy(update=changes)
        return replace(self, spec=self.spec.model_copy(update={"behaviour": beh}))

    def truncated(self, days: int) -> Scenario:
        """The same scenario simulating only its first ``days`` days (``--days``)."""
        if days < 1:
            raise ValueError("--days must be at least 1")
        if days > self.n_days:
            raise ValueError(
                f"--days {days} is longer than the scenario ({self.n_days} days, {self.start} to {self.end})"
            )
        end = self.start + timedelta(days=days - 1)
        if end < self.report_from:
            raise ValueError(
                f"--days {days} ends on {end}, before the first reported day {self.report_from}; "
                f"give at least {(self.report_from - self.start).days + 1} days"
            )
        return self._with_scenario(end=end)

    def reporting_from(self, first: date) -> Scenario:
        """The same scenario counting and reporting from ``first`` (``report_from``); the
        days before are simulated as a warm-up. ``first`` must lie in the period."""
        if not self.start <= first <= self.end:
            raise ValueError(f"{first} is outside the scenario period {self.start} to {self.end}")
        return self._with_scenario(report_from=first)

    def _with_scenario(self, **fields: Any) -> Scenario:
        """A copy with these ``[scenario]`` fields changed (already checked by the caller)."""
        head = self.spec.scenario.model_copy(update=fields)
        return replace(self, spec=self.spec.model_copy(update={"scenario": head}))

    def input_hashes(self) -> dict[str, str]:
        return {str(p): sha256_limited(p) for p in self.files}


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def load_parameters(path: Path) -> dict[str, Any]:
    """Read a behaviour parameter file (``[behaviour]`` values and optional ``[fit]`` metadata)."""
    raw, text = read_toml(path, what="parameter")
    pl = ProblemList(path, text)
    for k in raw:
        if k not in PARAMETER_FILE_KEYS:
            pl.add(
                k, f"unknown key '{k}' in a parameter file", did_you_mean(k, PARAMETER_FILE_KEYS)
            )
    table = raw.get("behaviour", {})
    if not isinstance(table, dict):
        pl.add("behaviour", "must be a table", "write [behaviour]")
        table = {}
    rep = Report(path, {}, {path: text})
    beh = rep.validate(
        Behaviour, {k: v for k, v in table.items() if k != "parameters"}, "behaviour."
    )
    if "parameters" in table:
        rep.unknown_key("parameters", list(Behaviour.model_fields), "behaviour.")
    pl.items.extend(rep.problems)
    pl.raise_if_any()
    return {k: getattr(beh, k) for k in table if k in Behaviour.model_fields}


def load_scenario(path: str | Path) -> Scenario:
    """Load, merge and validate a scenario file. Raises :class:`InputError` on any problem."""
    path = Path(path)
    if unusable_path(path) is None and path.suffix.lower() != ".toml" and path.is_file():
        raise InputError(
            [
                Problem(
                    path,
                    "",
                    "a scenario file must end in .toml",
                    "rename it or give the .toml file",
                )
            ]
        )
    merged, prov, texts, files = read_chain(path)
    root = path.resolve()
    return _build(merged, Report(root, prov, texts), root, files)


def scenario_from_dict(data: dict[str, Any], origin: Path) -> Scenario:
    """A scenario from resolved data (a manifest's ``scenario``); problems name ``origin``
    and the fields as ``scenario.<section>.<key>``."""
    rep = _Prefixed(origin, {}, {})
    return _build(data, rep, origin, [])


class _Prefixed(Report):
    def add(self, dotted: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(self.root, f"scenario.{dotted}", message, fix))


def _build(merged: dict, rep: Report, root: Path, files: list[Path]) -> Scenario:
    from sim.model import geography  # read without NumPy: `validate` imports none

    rep.unknown_keys(merged, TOP_LEVEL_KEYS, "")
    sec: dict[str, Any] = {}
    for name, model in SECTIONS.items():
        required = [k for k, f in model.model_fields.items() if f.is_required()]
        if name not in merged and required:
            rep.add(
                name,
                f"missing the [{name}] table ({', '.join(required)} are required)",
                f"add [{name}] with "
                + ", ".join(f"{k} = {example_of(model.model_fields[k])}" for k in required)
                + " (or extends = another scenario)",
            )
            sec[name] = None
            continue
        raw = merged.get(name, {})
        if name == "behaviour" and isinstance(raw, dict):
            raw = {**_parameter_file(raw, rep, files), **raw}
        sec[name] = rep.validate(model, raw, f"{name}.")

    s = sec["scenario"]
    # the period is checked even when another field of [scenario] is wrong
    head = {
        k: getattr(s, k) if s is not None else _field(ScenarioSection, merged.get("scenario"), k)
        for k in ("name", "start", "end", "report_from")
    }
    start, end, rf = head["start"], head["end"], head["report_from"]
    if head["name"] is not None and not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", head["name"]):
        rep.add(
            "scenario.name",
            f"'{head['name']}' may hold only letters, digits, '_' and '-' (at most 64)",
            'e.g. name = "idlib_2019_border_open"',
        )
    if start is not None and end is not None:
        if end < start:
            rep.add(
                "scenario.end", f"end {end} is before start {start}", "swap them or fix the dates"
            )
        elif (end - start).days + 1 > MAX_DAYS:
            rep.add(
                "scenario.end",
                f"the period is {(end - start).days + 1} days; at most {MAX_DAYS} are supported",
                "shorten the period",
            )
        if rf is not None and not (start <= rf <= end):
            rep.add(
                "scenario.report_from",
                f"{rf} is outside the period {start} to {end}",
                "choose a day within the period",
            )
    else:
        start = end = None
    if s is not None:
        s = s.model_copy(update={"report_from": rf or start, "label": s.label or s.name})
    period_ok = start is not None and start <= end

    # Geography: needed to check every place name.
    world = None
    g = sec["geography"]
    given = merged.get("geography") if isinstance(merged.get("geography"), dict) else {}
    if g is not None and any(
        k in given and given[k] != getattr(g, k) for k in ("locations", "routes")
    ):
        g = None  # a path given but refused (reported): no world to check names against
    if g is not None:
        for key in ("locations", "routes"):
            if key not in given:
                # a default is relative to the scenario file, like a path written in it
                default = (root.parent / getattr(g, key)).resolve()
                g = g.model_copy(update={key: str(default)})
                if not default.is_file():
                    rep.add(
                        f"geography.{key}",
                        f"no {key} file given and the default {default} does not exist",
                        f'add [geography] {key} = "path/to/{key}.csv" (relative to the scenario file)',
                    )
                    g = None
                    break
    if g is not None:
        try:
            world = geography.read(Path(g.locations), Path(g.routes))
            files += [Path(g.locations), Path(g.routes)]
        except InputError as exc:
            rep.problems.extend(exc.problems)
    names = list(world.names) if world is not None else None

    # The observed figures are a data file too: check them now, not after a run.
    if s is not None and s.observed and Path(s.observed).is_file():
        _check_observed(Path(s.observed), rep)

    def check_names(values, dotted: str, kinds: tuple[str, ...] | None = None) -> None:
        if names is None or not values:
            return
        for i, n in enumerate(values):
            if n not in world.index:
                rep.add(
                    f"{dotted}[{i}]" if len(values) > 1 else dotted,
                    f"unknown location '{clip(n)}'",
                    did_you_mean(n, names),
                )
            elif kinds and world.kind[world.index[n]] not in kinds:
                ok = [x for x in names if world.kind[world.index[x]] in kinds]
                rep.add(
                    dotted,
                    f"'{clip(n)}' is a {world.kind[world.index[n]]}, not a {' or '.join(kinds)}",
                    did_you_mean(n, ok),
                )

    if g is not None:
        check_names(g.government_held, "geography.government_held")
    pop = sec["population"]
    if world is not None and pop is not None and pop.total <= sum(world.camp_population):
        rep.add(
            "population.total",
            f"{pop.total:,} people is not more than the {int(sum(world.camp_population)):,} camp residents of the locations file",
            "raise the total or lower camp_population in the locations file",
        )

    crossings = _crossings(merged, rep, world, check_names)
    conflict = sec["conflict"]
    bombardment_rows = camp_rows = ()
    if names is not None:
        if conflict is not None:
            bombardment_rows = _data_table(
                conflict.bombardment_table, load_bombardment_table, names, rep, files
            )
        if g is not None:
            camp_rows = _data_table(g.camp_table, load_camp_table, names, rep, files)

    events = _events(merged, rep, world, check_names, start, end, period_ok, conflict)

    if rep.problems:
        raise InputError(rep.problems)

    spec = ScenarioFile.model_construct(
        scenario=s,
        population=sec["population"],
        geography=g,
        conflict=conflict,
        behaviour=sec["behaviour"],
        needs=sec["needs"],
        crossings=crossings,
        events=events,
    )
    observed = [Path(s.observed)] if s.observed else []
    return Scenario(
        path=root,
        spec=spec,
        files=tuple(dict.fromkeys(files + observed)),
        bombardment_table=bombardment_rows,
        camp_table=camp_rows,
    )


def _field(model: type[Table], raw: Any, key: str) -> Any:
    """One field of a table checked on its own (None if absent or wrong: reported already)."""
    if not isinstance(raw, dict) or key not in raw:
        return None
    f = model.model_fields[key]
    try:
        return TypeAdapter(Annotated[f.annotation, f]).validate_python(raw[key])
    except ValidationError:
        return None


def _data_table(table: str, loader: Any, names: list[str], rep: Report, files: list[Path]) -> tuple:
    """The rows of a data table a path field names (bombardment weeks, camp capacities)."""
    if not (table and table.strip() and Path(table).is_file()):
        return ()
    try:
        rows = loader(Path(table), names)
    except InputError as exc:
        rep.problems.extend(exc.problems)
        return ()
    files.append(Path(table))
    return rows


def _parameter_file(raw: dict, rep: Report, files: list[Path]) -> dict[str, Any]:
    """The values of the behaviour parameter file the [behaviour] table names (checked)."""
    pfile = raw.get("parameters")
    if (
        isinstance(pfile, str)
        and pfile.strip()
        and unusable_path(Path(pfile)) is None
        and Path(pfile).is_file()
    ):
        # a missing file or a folder is reported by the table's own check
        try:
            values = load_parameters(Path(pfile))
            files.append(Path(pfile))
            return values
        except InputError as exc:
            rep.problems.extend(exc.problems)
    return {}


def _check_observed(obs: Path, rep: Report) -> None:
    from ..observed import check_observed

    try:
        text = decode_text(obs, read_bytes(obs, "observed data"), "the observed data CSV file")
        if not text.strip():
            raise InputError(
                [
                    Problem(
                        obs, "", "is empty", "give the observed CSV or remove [scenario] observed"
                    )
                ]
            )
        check_observed(obs)
    except InputError as exc:
        rep.problems.extend(exc.problems)


def _crossings(merged: dict, rep: Report, world: Any, check_names: Any) -> dict[str, Crossing]:
    """Border policy at the start, every crossing of the world included (closed if not named)."""
    crossings: dict[str, Crossing] = {}
    raw_cross = merged.get("crossings", {})
    if not isinstance(raw_cross, dict):
        rep.add("crossings", "must be a table of crossings", '[crossings."Bab al-Hawa crossing"]')
        raw_cross = {}
    for cname, craw in raw_cross.items():
        check_names([cname], f"crossings.{cname}", ("crossing",))
        c = rep.validate(Crossing, craw, f"crossings.{cname}.")
        if c is None:
            continue
        if c.open and c.daily_capacity == 0:
            rep.add(
                f"crossings.{cname}.daily_capacity",
                "the crossing is open but lets 0 people a day through",
                "give daily_capacity > 0 or set open = false",
            )
        crossings[cname] = c
    if world is not None:
        for i in range(world.n):
            if world.kind[i] == "crossing" and world.names[i] not in crossings:
                crossings[world.names[i]] = Crossing()
    return dict(sorted(crossings.items()))


def _events(
    merged: dict,
    rep: Report,
    world: Any,
    check_names: Any,
    start: date | None,
    end: date | None,
    period_ok: bool,
    conflict: Table | None,
) -> dict[str, Any]:
    """The enabled events, checked against the world and the period, defaults filled in,
    sorted by start date then id."""
    raw_events = merged.get("events", {})
    if isinstance(raw_events, list):
        rep.add(
            "events",
            "events must be named tables ([events.my_event]), not an array ([[events]])",
            "write each event as [events.some_name] so that scenarios that extend this one can change it by name",
        )
        raw_events = {}
    elif not isinstance(raw_events, dict):
        rep.add("events", "must be a table of named events", "write [events.some_name]")
        raw_events = {}
    out = []
    for eid, eraw in raw_events.items():
        prefix = f"events.{eid}."
        if not isinstance(eraw, dict):
            rep.add(
                f"events.{eid}",
                f"must be a table, got {kind_of_value(eraw)}",
                f"write [events.{eid}] with kind = ...",
            )
            continue
        e = rep.validate(EventFields, eraw, prefix, adapter=_EVENT)
        if e is None or not e.enabled:
            continue
        if not e.source.strip():
            rep.add(
                f"{prefix}source",
                "is empty: every event names its public source",
                'source = "OCHA Sitrep 10 (23 Aug 2019) https://..." or "what-if: ..."',
            )
        kind = e.kind
        if hasattr(e, "locations"):
            check_names(e.locations, f"{prefix}locations")
        if kind == "border":
            check_names([e.crossing], f"{prefix}crossing", ("crossing",))
            if e.open and e.daily_capacity == 0:
                rep.add(
                    f"{prefix}daily_capacity",
                    "the crossing opens but lets 0 people a day through",
                    "give daily_capacity > 0",
                )
        if kind == "route_closure" and world is not None:
            check_names(list(e.between), f"{prefix}between")
            a, b = e.between
            if a in world.index and b in world.index and world.route_index(a, b) is None:
                rep.add(
                    f"{prefix}between",
                    f"there is no road between '{a}' and '{b}' in the routes file",
                    "name two places joined by a row of routes.csv",
                )
        has_end = "end" in type(e).model_fields
        d0 = e.start
        if period_ok:
            key = "start" if "start" in type(e).model_fields else "date"
            if not (start <= d0 <= end):
                rep.add(
                    f"{prefix}{key}",
                    f"{d0} is outside the scenario period {start} to {end}",
                    "move the event into the period or change [scenario] start/end",
                )
            if has_end and e.end is not None:
                if e.end < d0:
                    rep.add(f"{prefix}end", f"end {e.end} is before start {d0}", "swap the dates")
                elif e.end > end:
                    rep.add(
                        f"{prefix}end",
                        f"{e.end} is after the scenario end {end}",
                        "end the event by the scenario end",
                    )
        changes: dict[str, Any] = {}
        if kind in ("bombardment", "ground_assault") and e.intensity is None and conflict:
            changes["intensity"] = getattr(
                conflict, "bombardment_intensity" if kind == "bombardment" else "assault_intensity"
            )
        if kind == "ceasefire" and e.factor is None and conflict:
            changes["factor"] = conflict.ceasefire_factor
        if has_end and e.end is None:
            changes["end"] = end
        out.append(e.named(eid, **changes))
    out.sort(key=lambda ev: (ev.start, ev.id))
    return {ev.id: ev for ev in out}
