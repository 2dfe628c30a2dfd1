"""The civilians: every person a row, grouped into households, held as NumPy columns.

Two frames (struct of arrays, after LASER's ``LaserFrame``):

``people`` (one row per person, :class:`People`)
    ``household`` (row of the household), ``home``, ``location``, ``status``,
    ``times_displaced``, ``first_displaced_on`` and ``displaced_on`` (day index, -1 =
    never).
``households`` (one row per household; households decide together)
    ``id`` (canonical id: entry ``id`` of each day's random draws belongs to it, so
    results do not depend on row order), ``size`` (people), ``home``, ``location``,
    ``status``, ``destination``, ``next_node``, ``km_left`` (km to ``next_node``),
    ``propensity`` (to flee, mean 1), ``times_displaced`` (flights and onward moves),
    ``displaced_on`` (day of the last flight from danger; onward moves leave it),
    ``first_displaced_on``, ``fled_in_report`` (fled at least once since the first
    reported day),
    ``returning``, ``pre_displaced`` (already in a camp when the scenario starts),
    ``queued_on`` (day it reached a border crossing, -1), ``reach_class`` (how far it
    tends to flee, :data:`REACH_QUANTILES`), ``host_draw`` (a uniform drawn once: the
    household looks for a host before a camp when it is below ``host_preference``).

The households drive the rules. People never change household and a household moves,
flees and returns as one, so every person-level column is its household's value: the
people frame stores none of them (a column is read through ``household`` when asked for),
which keeps the state at about 13 bytes per person instead of 41. Person-level questions
(how many times was each person displaced?) still have person-level answers.

At ``scale < 1`` each person-row stands for ``1/scale`` people (a whole number), and
households keep their realistic size.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincinv

from sim.model import rng as rngmod

AT_HOME, ON_THE_MOVE, IN_HOST, IN_CAMP, IN_INFORMAL, RETURNED, ABROAD = range(7)
STATUS_NAMES = (
    "at_home",
    "on_the_move",
    "in_host_community",
    "in_camp",
    "in_informal_site",
    "returned",
    "abroad",
)
N_STATUS = len(STATUS_NAMES)
#: Statuses of households that stay put today and may decide to flee.
STATIONARY = (AT_HOME, IN_HOST, IN_CAMP, IN_INFORMAL, RETURNED)
#: Statuses of displaced people settled somewhere other than home.
SETTLED_DISPLACED = (IN_HOST, IN_CAMP, IN_INFORMAL)


class Frame:
    """Named, equally long NumPy columns (a minimal LASER-style frame)."""

    def __init__(self, n: int):
        self.n = int(n)
        self._columns: dict[str, np.ndarray] = {}
        #: columns made from the others when first read (``name -> make(frame)``)
        self._derived: dict[str, Callable[[Frame], np.ndarray]] = {}

    def derive(self, name: str, make: Callable[[Frame], np.ndarray]) -> None:
        """Column ``name`` is ``make(self)``, made (and kept) when first read."""
        self._columns.pop(name, None)
        self.__dict__.pop(name, None)
        self._derived[name] = make

    def add(self, name: str, dtype: np.dtype | type, fill: float | int = 0) -> np.ndarray:
        col = np.full(self.n, fill, dtype=dtype)
        self._store(name, col)
        return col

    def set(self, name: str, values: np.ndarray) -> None:
        if len(values) != self.n:
            raise ValueError(f"column {name}: {len(values)} values for {self.n} rows")
        self._store(name, values)

    def _store(self, name: str, values: np.ndarray) -> None:
        self._columns[name] = values
        # also a plain attribute (unless the name is the class's): read without __getattr__,
        # ~150 column reads a day at 2 us each (issue 16)
        if not hasattr(type(self), name) and name not in ("n", "_columns", "_derived"):
            self.__dict__[name] = values

    def __getattr__(self, name: str) -> np.ndarray:
        columns = self.__dict__.get("_columns", {})  # (none yet while being unpickled)
        if name not in columns:
            make = self.__dict__.get("_derived", {}).get(name)
            if make is None:
                raise AttributeError(name)
            self.set(name, make(self))
        return columns[name]

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """The stored columns (derived ones once read)."""
        return self._columns

    def take(self, order: np.ndarray) -> Frame:
        out = Frame(len(order))
        for k, v in self._columns.items():
            out.set(k, v[order].copy())
        for k, make in self._derived.items():
            if k not in self._columns:
                out.derive(k, make)
        return out


class People:
    """The person rows: each person's household, and its columns read through it.

    ``household`` (int32, the household row of each person row) is stored only when the
    person rows are not in household order (a permuted population, for tests); otherwise
    it is made when asked for. Every other column (``home``, ``location``, ``status``,
    ``times_displaced``, ``displaced_on``, ``first_displaced_on``) is the household's,
    looked up on each access: a copy, never a view to write into.
    """

    COLUMNS = (
        "home",
        "location",
        "status",
        "times_displaced",
        "displaced_on",
        "first_displaced_on",
    )

    def __init__(self, households: Frame, household: np.ndarray | None = None):
        self._households = households
        self._household = household
        self.n = int(households.size.sum()) if household is None else len(household)

    @property
    def household(self) -> np.ndarray:
        if self._household is not None:
            return self._household
        hh = self._households
        return np.repeat(np.arange(hh.n, dtype=np.int32), hh.size)

    def __getattr__(self, name: str) -> np.ndarray:
        if name in People.COLUMNS:
            return self._households.columns[name][self.household]
        raise AttributeError(name)

    @property
    def nbytes(self) -> int:
        """Bytes stored for the person rows (0 when they are in household order)."""
        return 0 if self._household is None else self._household.nbytes


@dataclass
class Population:
    households: Frame
    people: People
    weight: int  # people represented by one person-row (1/scale)
    #: person rows sorted by household row; None when the person rows are in household
    #: order (the usual case: the identity, not stored)
    member_index: np.ndarray | None
    member_start: np.ndarray  # first entry in member_index of each household row
    #: gamma shape of the propensities (:meth:`propensity_of`)
    propensity_shape: float = 1.0

    # ----------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        people_at: np.ndarray,
        camp_people_at: np.ndarray,
        household_size: float,
        propensity_shape: float,
        seed: int,
    ) -> Population:
        """Place people (person-rows) at each place, in households.

        ``people_at[i]`` person-rows live at place ``i``, of whom ``camp_people_at[i]`` in
        formal camps (already displaced before the scenario starts). Household sizes are
        ``1 + Poisson(household_size - 1)``; the last household of a place is cut to fit.
        """
        gen = rngmod.generator(seed, "population")
        sizes, homes, in_camp = [], [], []
        for i in range(len(people_at)):
            for n, camp in (
                (int(camp_people_at[i]), True),
                (int(people_at[i] - camp_people_at[i]), False),
            ):
                if n <= 0:
                    continue
                k = int(n / household_size * 1.3) + 16
                s = 1 + gen.poisson(household_size - 1.0, size=k)
                while s.sum() < n:
                    s = np.r_[s, 1 + gen.poisson(household_size - 1.0, size=k)]
                c = np.cumsum(s)
                m = int(np.searchsorted(c, n)) + 1
                s = s[:m].copy()
                s[-1] -= c[m - 1] - n
                sizes.append(s)
                homes.append(np.full(m, i))
                in_camp.append(np.full(m, camp))
        size = np.concatenate(sizes).astype(np.int32)
        home = np.concatenate(homes).astype(np.intp)
        camp = np.concatenate(in_camp)
        nh = len(size)

        hh = Frame(nh)
        hh.set("id", np.arange(nh, dtype=np.int32))
        hh.set("size", size)
        hh.set("home", home)
        hh.set("location", home.copy())
        status = np.where(camp, IN_CAMP, AT_HOME).astype(np.int8)
        hh.set("status", status)
        hh.add("destination", np.intp, -1)
        hh.add("next_node", np.intp, -1)
        hh.add("km_left", np.float32, 0)
        # the uniform behind each propensity; the propensity (an inverse gamma CDF, 0.6 s
        # for 800,000 households) is computed only for the households that need it
        hh.set("propensity_draw", _propensity_uniforms(seed, nh))
        hh.derive("propensity", _propensities(propensity_shape))
        hh.derive("propensity_bucket", _buckets)
        hh.add("times_displaced", np.int16, 0)
        hh.add("displaced_on", np.int32, -1)
        hh.add("first_displaced_on", np.int32, -1)
        hh.add("fled_in_report", bool, False)
        hh.add("returning", bool, False)
        hh.set("pre_displaced", camp.copy())
        hh.add("queued_on", np.int32, -1)
        hh.set("reach_class", reach_classes(seed, nh))
        # whether it looks for a host first: this uniform below [behaviour] host_preference
        hh.set("host_draw", rngmod.uniforms(seed, "host_preference", 0, hh.id))

        member_start = np.r_[0, np.cumsum(size)[:-1]].astype(np.int64)
        return cls(hh, People(hh), 1, None, member_start, float(propensity_shape))

    # ----------------------------------------------------------------------------------
    @property
    def n_people(self) -> int:
        return self.people.n

    @property
    def n_households(self) -> int:
        return self.households.n

    def set_propensity_shape(self, seed: int, shape: float) -> None:
        """Redraw propensities for a new gamma shape from the same uniforms (common random numbers)."""
        hh = self.households
        hh.set("propensity_draw", _propensity_uniforms(seed, hh.n)[hh.id])
        hh.derive("propensity", _propensities(shape))
        hh.derive("propensity_bucket", _buckets)
        self.propensity_shape = float(shape)

    def propensity_of(self, rows: np.ndarray) -> np.ndarray:
        """The propensities (float32) of household rows ``rows``: ``households.propensity[rows]``.

        Computed for those rows only unless the whole column was read (flight asks for
        ~90,000 over the 2019 run, nearly all different households: nothing to remember).
        """
        hh = self.households
        if "propensity" in hh.columns:
            return hh.propensity[rows]
        return propensity_from_uniforms(hh.propensity_draw[rows], self.propensity_shape)

    def propensity_bound(self, rows: np.ndarray | slice, lower: bool = False) -> np.ndarray:
        """An upper (or ``lower``) bound (float64) of the propensity of household rows ``rows``.

        From the household's uniform, a table of the propensities at 4,096 evenly spaced
        uniforms (the inverse CDF increases with the uniform) with a margin of 1e-6 for
        rounding: cheap, and close except for the tiny propensities of the lowest uniforms.
        The exact values where the whole column was read.
        """
        hh = self.households
        if "propensity" in hh.columns:
            return hh.propensity[rows].astype(np.float64)
        return self.bound_of_buckets(hh.propensity_bucket[rows], lower)

    def bound_of_buckets(self, buckets: np.ndarray, lower: bool = False) -> np.ndarray:
        """:meth:`propensity_bound` of households in buckets ``buckets`` of the uniforms."""
        tables = self.__dict__.get("_propensity_tables")
        if tables is None or tables[0] != self.propensity_shape:
            tables = (self.propensity_shape, *_bound_tables(self.propensity_shape))
            self.__dict__["_propensity_tables"] = tables
        return (tables[1] if lower else tables[2])[buckets]

    def members(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person rows of the given household rows, and the household row of each."""
        rows = np.asarray(rows, dtype=np.int64)
        sizes = self.households.size[rows].astype(np.int64)
        total = int(sizes.sum())
        if total == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        starts = self.member_start[rows]
        offsets = np.cumsum(sizes) - sizes
        pos = np.repeat(starts - offsets, sizes) + np.arange(total)
        prow = pos if self.member_index is None else self.member_index[pos]
        return prow, np.repeat(rows, sizes)

    def counts(self, n_places: int) -> np.ndarray:
        """Person-rows by place and status, ``(n_places, N_STATUS)``, from the households."""
        hh = self.households
        key = hh.location * N_STATUS + hh.status
        return (
            np.bincount(key, weights=hh.size, minlength=n_places * N_STATUS)
            .astype(np.int64)
            .reshape(n_places, N_STATUS)
        )

    def people_counts(self, n_places: int) -> np.ndarray:
        """The same from the person rows (a check of :meth:`counts` and of the membership)."""
        pp = self.people
        key = pp.location.astype(np.int64) * N_STATUS + pp.status
        return np.bincount(key, minlength=n_places * N_STATUS).reshape(n_places, N_STATUS)

    def permuted(self, gen: np.random.Generator) -> Population:
        """The same population with households and people stored in a random order (for tests)."""
        horder = gen.permutation(self.households.n)
        hh = self.households.take(horder)
        new_row = np.empty_like(horder)
        new_row[horder] = np.arange(len(horder))
        porder = gen.permutation(self.people.n)
        household = new_row[self.people.household[porder]].astype(np.int32)
        member_index = np.argsort(household, kind="stable").astype(np.int64)
        member_start = np.r_[0, np.cumsum(hh.size)[:-1]].astype(np.int64)
        return Population(
            hh,
            People(hh, household),
            self.weight,
            member_index,
            member_start,
            self.propensity_shape,
        )


#: Quantiles (class midpoints) at which household reach is represented.
REACH_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)


def reach_classes(seed: int, n: int) -> np.ndarray:
    """Reach class (0 = shortest) of households 0..n-1, equal shares, fixed per household."""
    u = rngmod.generator(seed, "reach").random(n)
    return np.minimum((u * len(REACH_QUANTILES)).astype(np.int8), len(REACH_QUANTILES) - 1)


def _propensity_uniforms(seed: int, n: int) -> np.ndarray:
    u = rngmod.generator(seed, "propensity").random(n)
    return np.clip(u, 1e-12, 1 - 1e-12)


def _propensities(shape: float) -> Callable[[Frame], np.ndarray]:
    """The ``propensity`` column of a household frame, from its ``propensity_draw``
    (a partial of a module function, so that a population can be pickled)."""
    return functools.partial(_propensity_column, shape=shape)


def _propensity_column(frame: Frame, shape: float) -> np.ndarray:
    return propensity_from_uniforms(frame.propensity_draw, shape)


#: Buckets of the uniforms in :meth:`Population.propensity_bound`.
_BOUND_BUCKETS = 4096


def _buckets(frame: Frame) -> np.ndarray:
    """The ``propensity_bucket`` column (uint16): bucket ``k`` holds the uniforms in
    ``[k, k + 1) / K``."""
    bucket = (frame.propensity_draw * _BOUND_BUCKETS).astype(np.intp)
    return np.minimum(bucket, _BOUND_BUCKETS - 1).astype(np.uint16)


def _bound_tables(shape: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the propensity of a uniform in each bucket ``[k, k + 1) / K``."""
    edges = np.arange(_BOUND_BUCKETS + 1, dtype=np.float64) / _BOUND_BUCKETS
    edges = np.clip(edges, 1e-12, 1 - 1e-12)  # the uniforms are clipped so (_propensity_uniforms)
    at = propensity_from_uniforms(edges, shape).astype(np.float64)
    return at[:-1] * (1.0 - 1e-6), at[1:] * (1.0 + 1e-6)


def propensity_from_uniforms(u: np.ndarray, shape: float) -> np.ndarray:
    """Gamma(shape, 1/shape) propensities (mean 1) by inverse CDF of uniforms ``u``.

    The inverse CDF keeps each household's rank whatever the shape, so a calibration that
    varies the shape compares like with like (common random numbers).
    """
    return (gammaincinv(shape, u) / shape).astype(np.float32)
