"""Places and roads as arrays.

The geography is read from two CSV files, always by column name (as Flee's
``locations.csv`` and ``routes.csv``, but never by position):

``locations.csv``
    ``name, kind, control, lat, lon, population, camp_population, camp_capacity,
    hosting_population`` (+ ``pcode``, ``district``, ``governorate``, source and note
    columns). Populations and capacities in people, coordinates in decimal degrees.
    ``pcode`` is the OCHA sub-district code (``SY`` + 6 digits) of the place: the key that
    joins the places to other data (maps, CCCM and REACH tables); when the column is given,
    every sub-district and camp cluster must have one.
``routes.csv``
    ``from, to, km`` (+ ``road``, ``source``): undirected road links, length in km.

:func:`read` checks both files thoroughly (missing columns, duplicated names, unknown
kinds, impossible numbers or coordinates, roads to unknown places, a disconnected road
network) and returns their :class:`Places` as Python lists (validating a scenario needs no
NumPy); :func:`load` returns the model's :class:`World` of arrays.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import InputError, Problem, clip, decode_text, did_you_mean, read_bytes

if TYPE_CHECKING:
    import numpy as np

KINDS = ("sub_district", "town", "camp_cluster", "crossing", "host_area", "abroad", "government")
#: Kinds where the model places civilians at the start.
POPULATED_KINDS = ("sub_district", "camp_cluster")
#: Kinds a fleeing household may choose as its destination (abroad only through an open crossing).
DESTINATION_KINDS = ("sub_district", "camp_cluster", "host_area", "abroad")

OPPOSITION, GOVERNMENT, TURKISH_BACKED, TURKEY = 0, 1, 2, 3
CONTROLS = {
    "opposition": OPPOSITION,
    "government": GOVERNMENT,
    "turkish_backed": TURKISH_BACKED,
    "turkey": TURKEY,
}

LOCATION_COLUMNS = (
    "name",
    "kind",
    "control",
    "lat",
    "lon",
    "population",
    "camp_population",
    "camp_capacity",
    "hosting_population",
)
ROUTE_COLUMNS = ("from", "to", "km")
# Plausible box around north-west Syria and the Turkish border towns (degrees).
LAT_RANGE = (34.0, 38.0)
LON_RANGE = (35.0, 39.0)
MAX_CSV_BYTES = 5_000_000
#: Largest count of people (population, camp places) one place may have; a road's length.
MAX_PLACE_PEOPLE = 20_000_000
MAX_ROAD_KM = 5_000
#: OCHA COD-AB sub-district pcode: "SY" + governorate (2) + district (2) + sub-district (2).
PCODE_PATTERN = re.compile(r"SY\d{6}")
#: Kinds that stand for (part of) a sub-district and so need its pcode.
PCODE_KINDS = ("sub_district", "camp_cluster")


def _lookups(names, route_from, route_to) -> tuple[dict[str, int], dict[tuple[int, int], int]]:
    """Index of each place name, and the route index of each ordered pair of places (both
    directions), for :class:`World` (arrays) and :class:`Places` (lists)."""
    routes: dict[tuple[int, int], int] = {}
    for r, (a, b) in enumerate(zip(route_from, route_to, strict=True)):
        routes[(int(a), int(b))] = r
        routes[(int(b), int(a))] = r
    return {n: i for i, n in enumerate(names)}, routes


@dataclass
class World:
    """Places (index ``i``) and roads (index ``r``); distances in km, people in people."""

    names: list[str]
    kind: np.ndarray  # str per place
    control: np.ndarray  # int8 control code at the start (see CONTROLS)
    lat: np.ndarray
    lon: np.ndarray
    population: np.ndarray  # people at the start (before scaling to the scenario total)
    camp_population: np.ndarray  # of which in formal camps
    camp_capacity: np.ndarray  # formal camp places, people
    hosting_population: np.ndarray  # residents whose homes can host the displaced, people
    border_km: np.ndarray  # straight-line km to the Turkish border (nan: not given)
    district: list[str]
    governorate: list[str]
    route_from: np.ndarray  # int
    route_to: np.ndarray  # int
    route_km: np.ndarray  # float, km
    route_road: list[str]
    pcode: list[str] = field(default_factory=list)  # OCHA sub-district pcode ("" if none)
    index: dict[str, int] = field(default_factory=dict)
    _route_lookup: dict[tuple[int, int], int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.index, self._route_lookup = _lookups(self.names, self.route_from, self.route_to)

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def n_routes(self) -> int:
        return len(self.route_km)

    def route_index(self, a: str, b: str) -> int | None:
        return self._route_lookup.get((self.index[a], self.index[b]))

    def route_between(self, i: int, j: int) -> int | None:
        return self._route_lookup.get((int(i), int(j)))

    def freeze(self) -> None:
        """Make the arrays read-only and remember the matrices below (a shared World)."""
        for value in vars(self).values():
            if hasattr(value, "setflags"):
                value.setflags(write=False)
        self._frozen = True

    def _remembered(self, name: str, make) -> np.ndarray:
        if not self.__dict__.get("_frozen"):
            return make()
        if name not in self.__dict__:
            m = make()
            m.setflags(write=False)
            self.__dict__[name] = m
        return self.__dict__[name]

    def edge_km(self) -> np.ndarray:
        """Dense (n, n) matrix of road lengths, inf where there is no road (read-only if
        the World is shared)."""
        return self._remembered("_edge_km", self._make_edge_km)

    def _make_edge_km(self) -> np.ndarray:
        import numpy as np

        m = np.full((self.n, self.n), np.inf)
        m[self.route_from, self.route_to] = self.route_km
        m[self.route_to, self.route_from] = self.route_km
        return m

    def road_distance_km(self) -> np.ndarray:
        """All-pairs shortest road distance (km) on the whole network, ignoring control
        (read-only if the World is shared)."""
        return self._remembered("_road_distance_km", self._make_road_distance_km)

    def _make_road_distance_km(self) -> np.ndarray:
        # SciPy's graph routines are imported here, not with the module: checking a
        # scenario (`idlibsim validate`) needs none of them (0.2 s of imports)
        import numpy as np
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra

        g = csr_matrix(
            (
                np.r_[self.route_km, self.route_km],
                (np.r_[self.route_from, self.route_to], np.r_[self.route_to, self.route_from]),
            ),
            shape=(self.n, self.n),
        )
        return dijkstra(g, directed=False)

    def is_kind(self, *kinds: str) -> np.ndarray:
        import numpy as np

        return np.isin(self.kind, kinds)


@dataclass
class Places:
    """The checked rows of a locations file and a routes file, as Python lists: what
    validating a scenario needs, without importing NumPy. :meth:`world` makes the arrays.

    ``columns``: every column of the locations file but ``name`` (``kind``, ``control`` as
    its code, ``lat`` ... ``border_km``, ``district``, ``governorate``, ``pcode``).
    """

    names: list[str]
    columns: dict[str, list[Any]]
    route_from: list[int]
    route_to: list[int]
    route_km: list[float]
    route_road: list[str]
    index: dict[str, int] = field(default_factory=dict)
    _routes: dict[tuple[int, int], int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.index, self._routes = _lookups(self.names, self.route_from, self.route_to)

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def kind(self) -> list[str]:
        return self.columns["kind"]

    @property
    def camp_population(self) -> list[float]:
        return self.columns["camp_population"]

    def route_index(self, a: str, b: str) -> int | None:
        return self._routes.get((self.index[a], self.index[b]))

    def world(self) -> World:
        """The places and roads as the model's arrays."""
        import numpy as np

        cols = self.columns
        return World(
            names=self.names,
            kind=np.array(cols["kind"], dtype=object),
            control=np.array(cols["control"], dtype=np.int8),
            lat=np.array(cols["lat"]),
            lon=np.array(cols["lon"]),
            population=np.array(cols["population"]),
            camp_population=np.array(cols["camp_population"]),
            camp_capacity=np.array(cols["camp_capacity"]),
            hosting_population=np.array(cols["hosting_population"]),
            border_km=np.array(cols["border_km"], dtype=float),
            district=cols["district"],
            governorate=cols["governorate"],
            route_from=np.array(self.route_from, dtype=np.int64),
            route_to=np.array(self.route_to, dtype=np.int64),
            route_km=np.array(self.route_km, dtype=float),
            route_road=self.route_road,
            pcode=cols["pcode"],
        )


def _read_csv(
    path: Path, required: tuple[str, ...], what: str
) -> tuple[list[dict[str, str]], list[int]]:
    path = Path(path)
    if not path.exists():
        raise InputError(
            [Problem(path, "", f"{what} file not found", "check [geography] in the scenario")]
        )
    if path.is_dir():
        raise InputError(
            [
                Problem(
                    path,
                    "",
                    f"is a folder, not a {what} file",
                    "give the path of the CSV file in [geography]",
                )
            ]
        )
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise InputError(
            [
                Problem(
                    path,
                    "",
                    f"file is {size:,} bytes; too large for a {what} file (limit {MAX_CSV_BYTES:,})",
                    "check the path",
                )
            ]
        )
    text = decode_text(path, read_bytes(path, what), f"the {what} CSV file")
    if not text.strip():
        raise InputError(
            [Problem(path, "", "is empty", f"the {what} file needs a header row and data rows")]
        )
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InputError(
            [Problem(path, "header", f"cannot be read as CSV: {exc}", "save it as CSV", 1)]
        ) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError([_missing_columns(path, header, missing, required, what)])
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(
            [
                Problem(
                    path,
                    "header",
                    f"duplicated column(s) {', '.join(dupes)}",
                    "keep one of each",
                    1,
                )
            ]
        )
    rows, lines = [], []
    problems: list[Problem] = []
    try:
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            start = reader.line_num
            n = len(header)
            if None in row:  # more fields than the header
                got = n + len(row[None])
                problems.append(
                    Problem(
                        path,
                        "",
                        f"row has {got} fields but the header has {n} columns",
                        "remove the extra commas, or put a text holding commas in double quotes",
                        start,
                    )
                )
                continue
            if any(v is None for v in row.values()):  # fewer fields than the header
                got = sum(v is not None for v in row.values())
                problems.append(
                    Problem(
                        path,
                        "",
                        f"row has {got} fields but the header has {n} columns",
                        "give every column a value (leave it empty between two commas if unknown)",
                        start,
                    )
                )
                continue
            rows.append({(k or "").strip(): v.strip() for k, v in row.items()})
            lines.append(start)
    except csv.Error as exc:
        problems.append(
            Problem(
                path,
                "",
                f"cannot be read as CSV: {exc}",
                "check the quotes on this line",
                reader.line_num,
            )
        )
    problems += _unsafe_text_problems(path, rows, lines)
    if problems:
        raise InputError(problems)
    if not rows:
        raise InputError([Problem(path, "", "has a header but no data rows", f"add the {what}")])
    return rows, lines


#: Columns of names and labels that are copied into the output CSVs.
TEXT_COLUMNS = ("name", "from", "to", "district", "governorate", "road")
#: A cell starting with one of these runs as a formula when the CSV opens in a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@")


def _unsafe_text_problems(path: Path, rows: list[dict], lines: list[int]) -> list[Problem]:
    """Names that a spreadsheet would run as formulas, or that hold control characters."""
    out = []
    for row, line in zip(rows, lines, strict=True):
        for col in TEXT_COLUMNS:
            v = row.get(col)
            if not isinstance(v, str) or not v:
                continue
            if v.startswith(FORMULA_STARTS):
                out.append(
                    Problem(
                        path,
                        col,
                        f"'{clip(v)}' begins with '{v[0]}': a spreadsheet opening the results "
                        "would run it as a formula",
                        "begin the name with a letter or a digit",
                        line,
                    )
                )
            elif any(ord(c) < 32 or ord(c) == 127 for c in v):
                out.append(
                    Problem(
                        path,
                        col,
                        f"{clip(v)!r} holds a tab, line break or other control character",
                        "write the name on one line with plain spaces",
                        line,
                    )
                )
    return out


def _missing_columns(
    path: Path, header: list[str], missing: list[str], required: tuple[str, ...], what: str
) -> Problem:
    """One problem for missing columns, with the columns of the file they may be."""
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        sep = next(sep for sep in (";", "\t", "|") if sep in header[0])
        return Problem(
            path,
            "header",
            f"the columns are separated by {sep!r}, not commas",
            "save the file as CSV with commas (in a spreadsheet: CSV UTF-8, comma delimited)",
            1,
        )
    if path.suffix.lower() == ".toml":
        return Problem(
            path,
            "",
            f"is a TOML file, not the {what} CSV file",
            f"check [geography] {what} in the scenario",
        )
    for other, columns in (("locations", LOCATION_COLUMNS), ("routes", ROUTE_COLUMNS)):
        if other != what and all(c in header for c in columns):
            return Problem(
                path,
                "header",
                f"this is a {other} file (columns {', '.join(columns)}), not a {what} file",
                f"check [geography] {what} and {other} in the scenario: they may be swapped",
                1,
            )
    extra = [h for h in header if h not in required]
    hints = []
    lowered = {h.lower(): h for h in extra}
    for m in missing:
        close = difflib.get_close_matches(m.lower(), list(lowered), n=1, cutoff=0.5)
        orig = lowered[close[0]] if close else None
        orig = orig or next((h for h in extra if h.lower().startswith(m.lower())), None)
        if orig is not None:
            hints.append(f"rename column '{orig}' to '{m}'")
    needs = f"the {what} file needs the columns {', '.join(required)} (read by name, in any order)"
    fix = "; ".join(hints) if len(hints) == len(missing) else "; ".join([*hints, needs])
    return Problem(path, "header", f"missing column(s) {', '.join(missing)}", fix, 1)


def _row_label(row: dict) -> str:
    if "name" in row:
        return f"row '{row['name']}'"
    return f"road '{row.get('from', '?')}' - '{row.get('to', '?')}'"


def _number(
    row: dict,
    col: str,
    line: int,
    problems: list[Problem],
    path: Path,
    *,
    default: float | None = None,
    integer: bool = False,
    positive: bool = False,
) -> float:
    raw = row.get(col, "")
    if raw == "" and default is not None:
        return default
    where = f"{col} ({_row_label(row)})"
    unit, example = ("km", "12.5") if col in ("km", "border_km") else ("people", "12000")
    if raw == "":
        problems.append(
            Problem(path, where, "is empty", f"write a number of {unit}, e.g. {example}", line)
        )
        return math.nan
    try:
        v = float(raw.replace("_", ""))
    except ValueError:
        problems.append(
            Problem(
                path,
                where,
                f"'{raw}' is not a number",
                f"write a plain number of {unit} such as {example} "
                "(no units, no thousands separators)",
                line,
            )
        )
        return math.nan
    if not math.isfinite(v):
        problems.append(
            Problem(
                path, where, f"'{raw}' is not a finite number", f"write a number of {unit}", line
            )
        )
    elif positive and v <= 0:
        problems.append(
            Problem(
                path,
                where,
                f"road length {raw} km is not positive",
                "give the length of the road in km (more than 0)",
                line,
            )
        )
    elif v < 0:
        problems.append(
            Problem(
                path,
                where,
                f"{raw} is negative",
                "populations, capacities and distances are >= 0",
                line,
            )
        )
    elif integer and not v.is_integer():
        problems.append(
            Problem(path, where, f"{raw} is not a whole number of people", "round it", line)
        )
    elif v > (MAX_ROAD_KM if col == "km" else MAX_PLACE_PEOPLE):
        limit = f"{MAX_ROAD_KM:,} km" if col == "km" else f"{MAX_PLACE_PEOPLE:,} people"
        problems.append(
            Problem(
                path, where, f"{raw} is absurdly large (limit {limit})", "check the number", line
            )
        )
    return v


#: Worlds this process made, by the SHA-256 of their two files (read-only: shared).
_WORLDS: dict[tuple[str, str], World] = {}


def load(locations_file: Path, routes_file: Path) -> World:
    """Read and check the locations and routes files: the model's arrays.

    The same two files' contents (SHA-256) give the same :class:`World` in one process, its
    arrays read-only (a worker runs many replicates of one scenario: reading and checking
    the files took ~30 ms of each, hashing them takes < 1 ms). A World is kept only if the
    files hashed the same before and after they were read.
    """
    from sim.safety import sha256_limited

    def digest() -> tuple[str, str]:
        return sha256_limited(locations_file), sha256_limited(routes_file)

    try:
        key = digest()
    except (OSError, InputError):  # read() says what is wrong with the file, as always
        return read(locations_file, routes_file).world()
    found = _WORLDS.get(key)
    if found is not None:
        return found
    world = read(locations_file, routes_file).world()
    try:
        unchanged = digest() == key
    except (OSError, InputError):
        unchanged = False
    if unchanged:
        world.freeze()
        if len(_WORLDS) >= 16:  # a few scenarios' worth; never grow without bound
            _WORLDS.clear()
        _WORLDS[key] = world
    return world


def read(locations_file: Path, routes_file: Path) -> Places:
    """Read and check the locations and routes files: their rows as Python lists."""
    problems: list[Problem] = []
    rows, lines = _read_csv(locations_file, LOCATION_COLUMNS, "locations")
    names: list[str] = []
    seen: dict[str, int] = {}
    # every column of the file but the name, then the optional ones
    cols: dict[str, list] = {
        c: [] for c in (*LOCATION_COLUMNS[1:], "border_km", "district", "governorate", "pcode")
    }
    for row, line in zip(rows, lines, strict=True):
        name = row["name"]
        if not name:
            problems.append(
                Problem(locations_file, "name", "empty place name", "every row needs a name", line)
            )
        elif name in seen:
            problems.append(
                Problem(
                    locations_file,
                    "name",
                    f"duplicated name '{clip(name)}' (also on line {seen[name]})",
                    "names must be unique: rename or remove one row",
                    line,
                )
            )
        seen.setdefault(name, line)
        names.append(name)
        kind = row["kind"]
        if kind not in KINDS:
            problems.append(
                Problem(
                    locations_file,
                    f"kind (row '{name}')",
                    f"unknown kind '{kind}'",
                    did_you_mean(kind, KINDS),
                    line,
                )
            )
        ctrl = row["control"]
        if ctrl not in CONTROLS:
            problems.append(
                Problem(
                    locations_file,
                    f"control (row '{name}')",
                    f"unknown control '{ctrl}'",
                    did_you_mean(ctrl, CONTROLS),
                    line,
                )
            )
        lat = _number_signed(row, "lat", line, problems, locations_file)
        lon = _number_signed(row, "lon", line, problems, locations_file)
        if math.isfinite(lat) and math.isfinite(lon):
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                problems.append(
                    Problem(
                        locations_file,
                        f"lat/lon (row '{name}')",
                        f"({lat}, {lon}) is not a coordinate on Earth",
                        "latitude within -90..90, longitude within -180..180, decimal degrees",
                        line,
                    )
                )
            elif not (LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LON_RANGE[0] <= lon <= LON_RANGE[1]):
                problems.append(
                    Problem(
                        locations_file,
                        f"lat/lon (row '{name}')",
                        f"({lat}, {lon}) is outside north-west Syria and the Turkish border area "
                        f"({LAT_RANGE[0]}-{LAT_RANGE[1]} N, {LON_RANGE[0]}-{LON_RANGE[1]} E)",
                        "check for swapped latitude and longitude or a typo",
                        line,
                    )
                )
        pop = _number(row, "population", line, problems, locations_file, default=0.0, integer=True)
        camp = _number(
            row, "camp_population", line, problems, locations_file, default=0.0, integer=True
        )
        cap = _number(
            row, "camp_capacity", line, problems, locations_file, default=0.0, integer=True
        )
        host = _number(
            row, "hosting_population", line, problems, locations_file, default=-1.0, integer=True
        )
        # optional: straight-line km to the Turkish border (blank: the road km to the
        # nearest border crossing is used instead, see sim.model.movement)
        border = _number(row, "border_km", line, problems, locations_file, default=math.nan)
        if math.isfinite(border) and border > MAX_ROAD_KM:
            problems.append(
                Problem(
                    locations_file,
                    f"border_km (row '{name}')",
                    f"{border:g} km is not a distance within north-west Syria",
                    f"give the km to the Turkish border (0 to {MAX_ROAD_KM}), or leave it blank",
                    line,
                )
            )
        if math.isfinite(pop) and math.isfinite(camp) and 0 <= pop < camp:
            problems.append(
                Problem(
                    locations_file,
                    f"camp_population (row '{name}')",
                    f"{camp:g} people in camps but population is only {pop:g}",
                    "camp_population is part of population",
                    line,
                )
            )
        if kind in KINDS and kind not in POPULATED_KINDS and math.isfinite(pop) and pop > 0:
            problems.append(
                Problem(
                    locations_file,
                    f"population (row '{name}')",
                    f"a {kind} holds no simulated civilians at the start, got {pop:g}",
                    f"set population to 0, or make it a {' or '.join(POPULATED_KINDS)}",
                    line,
                )
            )
        if ctrl == "government" and math.isfinite(pop) and pop > 0:
            problems.append(
                Problem(
                    locations_file,
                    f"population (row '{name}')",
                    "a government-held place starts with no simulated civilians",
                    "set population to 0",
                    line,
                )
            )
        cols["kind"].append(kind)
        cols["control"].append(CONTROLS.get(ctrl, 0))
        cols["lat"].append(lat)
        cols["lon"].append(lon)
        cols["population"].append(pop)
        cols["camp_population"].append(camp)
        cols["camp_capacity"].append(cap)
        cols["hosting_population"].append(pop if host < 0 else host)
        cols["border_km"].append(border)
        pcode = row.get("pcode", "")
        if pcode and not PCODE_PATTERN.fullmatch(pcode):
            problems.append(
                Problem(
                    locations_file,
                    f"pcode (row '{name}')",
                    f"'{clip(pcode)}' is not an OCHA sub-district pcode",
                    "write SY followed by 6 digits, e.g. SY070000 (OCHA COD-AB admin 3)",
                    line,
                )
            )
        elif not pcode and "pcode" in row and kind in PCODE_KINDS:
            problems.append(
                Problem(
                    locations_file,
                    f"pcode (row '{name}')",
                    f"a {kind} needs the pcode of its sub-district",
                    "give its OCHA sub-district pcode, e.g. SY070000",
                    line,
                )
            )
        cols["pcode"].append(pcode)
        cols["district"].append(row.get("district", "") or name)
        cols["governorate"].append(row.get("governorate", ""))
    if not problems and sum(cols["population"]) <= 0:
        problems.append(
            Problem(
                locations_file,
                "population",
                "no place has any population",
                "give the sub-districts their populations",
            )
        )

    # The routes are checked even when the locations have problems: all are reported at once.
    index = {n: i for i, n in enumerate(names)}
    try:
        rrows, rlines = _read_csv(routes_file, ROUTE_COLUMNS, "routes")
    except InputError as exc:
        raise InputError(problems + exc.problems) from None
    rf, rt, rk, road = [], [], [], []
    pairs: dict[tuple[int, int], int] = {}
    for row, line in zip(rrows, rlines, strict=True):
        a, b = row["from"], row["to"]
        bad = False
        for end_, col in ((a, "from"), (b, "to")):
            if end_ not in index:
                problems.append(
                    Problem(
                        routes_file,
                        col,
                        f"unknown place '{clip(end_)}' (not in {Path(locations_file).name})",
                        did_you_mean(end_, names),
                        line,
                    )
                )
                bad = True
        if bad:
            continue
        if a == b:
            problems.append(
                Problem(routes_file, "to", f"road from '{a}' to itself", "remove the row", line)
            )
            continue
        key = (min(index[a], index[b]), max(index[a], index[b]))
        if key in pairs:
            problems.append(
                Problem(
                    routes_file,
                    "from/to",
                    f"duplicated road '{a}' - '{b}' (also on line {pairs[key]})",
                    "keep one row per pair of places",
                    line,
                )
            )
            continue
        pairs[key] = line
        km = _number(row, "km", line, problems, routes_file, positive=True)
        rf.append(index[a])
        rt.append(index[b])
        rk.append(km)
        road.append(row.get("road", ""))
    if problems:
        raise InputError(problems)

    places = Places(names, cols, rf, rt, rk, road)
    ncomp, labels = _components(places.n, rf, rt)
    if ncomp > 1:
        size = [0] * ncomp
        for label in labels:
            size[label] += 1
        main = size.index(max(size))  # the largest component, the first of equals
        cut = [names[i] for i in range(places.n) if labels[i] != main]
        raise InputError(
            [
                Problem(
                    routes_file,
                    "",
                    f"the road network is not connected: {len(cut)} place(s) cannot be reached from the rest: "
                    + ", ".join(f"'{c}'" for c in cut[:10])
                    + (" ..." if len(cut) > 10 else ""),
                    "add road links joining them to the network",
                )
            ]
        )
    return places


def _components(n: int, a: list[int], b: list[int]) -> tuple[int, list[int]]:
    """Connected components of the undirected graph on ``n`` nodes with edges ``a[k]-b[k]``.

    Returns their number and each node's component, numbered in the order of each
    component's first node (as ``scipy.sparse.csgraph.connected_components`` numbers them).
    A union-find over a few hundred roads: no SciPy import to validate a scenario.
    """
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(a, b, strict=True):
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    number: dict[int, int] = {}
    labels = [number.setdefault(root(i), len(number)) for i in range(n)]
    return len(number), labels


def _number_signed(row: dict, col: str, line: int, problems: list[Problem], path: Path) -> float:
    raw = row.get(col, "")
    where = f"{col} ({_row_label(row)})"
    try:
        v = float(raw)
    except ValueError:
        problems.append(
            Problem(
                path,
                where,
                "is empty" if raw == "" else f"'{raw}' is not a number",
                "decimal degrees, e.g. 35.93",
                line,
            )
        )
        return math.nan
    if not math.isfinite(v):
        problems.append(
            Problem(
                path, where, f"'{raw}' is not a finite number", "decimal degrees, e.g. 35.93", line
            )
        )
    return v


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km (Earth radius 6371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))
