"""Scenario files: the schema, TOML loading, ``extends`` merging and clear errors.

A scenario is a TOML file. Its tables, every field with type, unit, default and
meaning, are declared once below (:data:`SECTIONS`, :data:`BEHAVIOUR`,
:data:`EVENT_KINDS`); ``docs/scenario-reference.md`` is generated from them
(``idlibsim schema``). Loading a file

1. reads it (refusing empty, binary or huge files) and parses the TOML,
2. follows ``extends = "other.toml"`` (tables merge key by key, lists replace; a loop or a
   missing file is an error),
3. rejects every key the schema does not define, at every level, naming the closest
   valid ones,
4. checks types, ranges and dates, fills the defaults, loads the behaviour parameter
   file (``[behaviour] parameters``), loads the geography and checks every place name,
5. returns a frozen :class:`Scenario`.

All problems found are reported together as one :class:`~sim.errors.InputError`.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .errors import (
    InputError,
    Problem,
    ProblemList,
    clip,
    decode_text,
    did_you_mean,
    read_bytes,
)

MAX_FILE_BYTES = 1_000_000  # a scenario is a few kB; anything larger is a mistake
MAX_EXTENDS = 20  # files in one extends chain (the shipped what-ifs use 2)
MAX_DAYS = 1100  # about three years
MAX_POPULATION = 20_000_000  # north-west Syria holds some 4-5 million people
MIN_POPULATION = 1_000
REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One scenario field: its type, default, unit and meaning."""

    name: str
    type: str  # str text int float prob bool date path names pair kind choice
    default: Any = REQUIRED
    doc: str = ""
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    source: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# --------------------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------------------

SCENARIO_FIELDS = (
    Field(
        "name",
        "str",
        doc="Short identifier used for the results folder (letters, digits, _ and -).",
    ),
    Field("title", "str", doc="One-line title printed on plots and in the summary."),
    Field("label", "str", "", doc="Short label for plot legends; empty means the name."),
    Field(
        "description",
        "text",
        "",
        doc="What the scenario represents and where its events come from.",
    ),
    Field(
        "start", "date", doc="First simulated day (the population is at home at dawn of this day)."
    ),
    Field("end", "date", doc="Last simulated day (inclusive)."),
    Field(
        "report_from",
        "date",
        None,
        doc="First day reported in the outputs; cumulative counts start here. Days before it "
        "are a warm-up that brings the population to the state of that date "
        "(e.g. the winter 2019-2020 scenario replays 2019 first). Empty means `start`.",
    ),
    Field(
        "observed",
        "path",
        "",
        doc="CSV of observed figures for this period (plots and `idlibsim score`); empty for none.",
    ),
)

POPULATION_FIELDS = (
    Field(
        "total",
        "int",
        4_000_000,
        unit="people",
        lo=MIN_POPULATION,
        hi=MAX_POPULATION,
        doc="Civilians simulated at the start. Camp residents are taken from the locations file "
        "as counted; the rest is shared out in proportion to the sub-district estimates (with the "
        "shipped locations file, whose populated rows sum to exactly 4,000,000, nothing is scaled).",
        source="UN: 'some 4 million' people in north-west Syria (OCHA situation reports 12-13, 2019), "
        "including the opposition-held northern Aleppo districts; OCHA's mid-2019 reports give about "
        "3 million for the de-escalation zone itself. The shipped sub-districts sum to 3.0 million in "
        "the zone and 1.0 million in northern Aleppo: see scenarios/data/SOURCES.md.",
    ),
    Field(
        "household_size",
        "float",
        5.0,
        unit="people",
        lo=1.0,
        hi=15.0,
        doc="Mean household size; sizes are 1 + Poisson(mean - 1).",
        source="HNAP IDP demographic survey methodology (Sept 2021): 'an average household size "
        "of 5 members throughout the country'.",
    ),
)

GEOGRAPHY_FIELDS = (
    Field(
        "locations",
        "path",
        "data/locations.csv",
        doc="Places: sub-districts, camp clusters, crossings, host areas.",
    ),
    Field(
        "routes",
        "path",
        "data/routes.csv",
        doc="Road links between places with their length in km.",
    ),
    Field(
        "government_held",
        "names",
        [],
        doc="Places under government control at the start in addition to the locations file's "
        "`control` column (for scenarios that start after earlier captures).",
    ),
    Field(
        "camp_table",
        "path",
        "",
        doc="CSV of dated camp and site capacities (columns place, date, capacity in people; see "
        "docs/model.md): each row sets the place's formal camp places from its date on, after the "
        "locations file and before `camp_capacity` events. Empty means none.",
        source="scenarios/data/camps_sites_2019.csv: CCCM ISIMM rounds of 2019 by sub-district "
        "(occupancy; capacity ESTIMATE), see scenarios/data/SOURCES.md.",
    ),
)

CONFLICT_FIELDS = (
    Field(
        "bombardment_intensity",
        "prob",
        0.5,
        unit="0-1",
        doc="Intensity of a `bombardment` event that does not give its own: regular airstrikes and "
        "shelling. 1 is the heaviest sustained bombardment of the 2019 campaign.",
        source="ESTIMATE: a scale, not a measurement; see docs/model.md.",
    ),
    Field(
        "assault_intensity",
        "prob",
        1.0,
        unit="0-1",
        doc="Intensity of a `ground_assault` event that does not give its own.",
        source="ESTIMATE: a ground assault is the top of the scale.",
    ),
    Field(
        "ceasefire_factor",
        "prob",
        0.2,
        unit="0-1",
        doc="Factor on all intensities during a `ceasefire` event that does not give its own "
        "(0 = complete calm, 1 = ceasefire not respected).",
        source="ESTIMATE: shelling continued along the front during the 2019 ceasefires (OCHA sitreps).",
    ),
    Field(
        "bombardment_table",
        "path",
        "",
        doc="CSV of weekly bombardment intensities per place derived from conflict event data "
        "(columns place, week_start, week_end, intensity; see docs/model.md). Each row acts as a "
        "`bombardment` event for its week, on top of the scenario's events. Empty means none.",
        source="scenarios/data/ged_bombardment_2019.csv: UCDP GED 20.1 (CC BY 4.0), rule in "
        "sim/conflict.py, built as scenarios/data/SOURCES.md describes.",
    ),
)

BEHAVIOUR_FIELDS = (
    Field(
        "parameters",
        "path",
        "",
        doc="TOML file of fitted behaviour parameters (written by `idlibsim calibrate`). Values in "
        "this [behaviour] table override it; fields in neither take the defaults below.",
    ),
    Field(
        "flee_rate",
        "float",
        0.1,
        unit="1/day",
        lo=0.0,
        hi=20.0,
        doc="Daily hazard of flight for a household of average propensity at expected danger 1: "
        "p = 1 - exp(-propensity * h), h = flee_rate * excess(E)^fear_exponent + "
        "bombardment_rate * B (docs/model.md section 4).",
        source="Fitted to the 2019 OCHA/CCCM series (idlibsim calibrate).",
    ),
    Field(
        "propensity_shape",
        "float",
        1.0,
        unit="-",
        lo=0.05,
        hi=100.0,
        doc="Shape k of the gamma distribution (mean 1) of household propensity to flee. Small k: "
        "a few households leave at once and many stay long; large k: all alike.",
        source="Fitted to the 2019 OCHA/CCCM series (idlibsim calibrate).",
    ),
    Field(
        "fear_distance_km",
        "float",
        10.0,
        unit="km",
        lo=0.1,
        hi=200.0,
        doc="e-folding road distance over which danger at one place frightens its neighbours.",
        source="Fitted to the 2019 OCHA/CCCM series (idlibsim calibrate).",
    ),
    Field(
        "fear_tolerance",
        "prob",
        0.05,
        unit="0-1",
        doc="Fear households live with: the rules use max(0, fear - tolerance) / (1 - tolerance). "
        "Distant shelling alone does not make people leave.",
        source="Fitted to the 2019 OCHA/CCCM series (idlibsim calibrate).",
    ),
    Field(
        "fear_exponent",
        "float",
        1.0,
        unit="-",
        lo=0.2,
        hi=10.0,
        doc="Shape of the response to fear: the hazard grows as (excess fear)^exponent. Above 1, "
        "bombardment alone moves people gradually while a ground assault moves nearly everyone.",
        source="Fitted to the 2019 OCHA/CCCM series (idlibsim calibrate).",
    ),
    Field(
        "fear_memory_days",
        "float",
        7.0,
        unit="days",
        lo=0.0,
        hi=365.0,
        doc="e-folding time of remembered danger: fear(t) = max(danger(t), fear(t-1) * exp(-1/memory)). "
        "0 means no memory.",
        source="ESTIMATE (assumption of the model).",
    ),
    Field(
        "travel_km_per_day",
        "float",
        60.0,
        unit="km/day",
        lo=1.0,
        hi=1000.0,
        doc="Road distance a household covers per day (most fled by car, truck or tractor on "
        "congested roads).",
        source="ESTIMATE; Flee (Suleimenova et al. 2017) uses 200 km/day for vehicles, "
        "we assume congestion and checkpoints.",
    ),
    Field(
        "destination_distance_km",
        "float",
        40.0,
        unit="km",
        lo=1.0,
        hi=1000.0,
        doc="Median over households of the e-folding road distance in the attractiveness of a "
        "destination (farther is less likely).",
        source="ESTIMATE.",
    ),
    Field(
        "destination_distance_spread",
        "float",
        1.0,
        unit="-",
        lo=0.0,
        hi=5.0,
        doc="Households differ in how far they are able or willing to go (vehicle, money, kin "
        "far away): each household's distance scale is destination_distance_km * exp(spread * z), "
        "z standard normal (log-normal across households, in 5 quantile classes). 0: all alike.",
        source="ESTIMATE; fitted with destination_distance_km to the 2019 series (idlibsim calibrate).",
    ),
    Field(
        "safety_weight",
        "float",
        2.0,
        unit="-",
        lo=0.0,
        hi=50.0,
        doc="Exponent a on (1 - E_j) in the attractiveness of destination j, E_j the danger "
        "expected there (remembered danger and the front's anticipated threat): places under "
        "fire or in the path of the advance are avoided.",
        source="ESTIMATE; 8 in the 2019 parameter file (held fixed in the fit: front-line "
        "places are not among REACH ISMI's main destinations).",
    ),
    Field(
        "border_pull_km",
        "float",
        25.0,
        unit="km",
        lo=1.0,
        hi=1000.0,
        doc="e-folding road distance to the nearest border crossing in the pull of the border "
        "(places by the border were rarely bombed and have the camps, the aid hubs and kin).",
        source="ESTIMATE; fitted to REACH ISMI's 2019 arrival shares by sub-district (idlibsim "
        "calibrate).",
    ),
    Field(
        "crowding_floor",
        "prob",
        0.05,
        unit="0-1",
        doc="Shelter a full place still offers, as a share of its host and camp places: the pull "
        "of a place is S = max(free places, crowding_floor * places); people still go to full "
        "places and settle in informal sites.",
        source="ESTIMATE.",
    ),
    Field(
        "camp_weight",
        "float",
        1.0,
        unit="-",
        lo=0.0,
        hi=100.0,
        doc="Attraction multiplier of camps (after Flee's camp_weight): a destination's shelter "
        "is multiplied by 1 + (camp_weight - 1) * (its share of places in formal camps). 1: "
        "camps draw as much as host communities with the same room.",
        source="ESTIMATE (Flee's default camp_weight is 1; early Flee versions used 2); fitted "
        "to REACH ISMI's 2019 arrival shares when the calibration names it.",
    ),
    Field(
        "host_capacity_share",
        "float",
        0.15,
        unit="-",
        lo=0.0,
        hi=5.0,
        doc="Displaced people a community can host in homes, rented rooms and unfinished buildings, "
        "as a share of its residents.",
        source="ESTIMATE; REACH May 2018: IDPs were already on average 36% of the population of "
        "assessed communities.",
    ),
    Field(
        "host_preference",
        "prob",
        0.65,
        unit="0-1",
        doc="Share of displaced households that look for a place in a host community (relatives, "
        "renting, unfinished buildings) and take a camp place only if none is free; the others "
        "go to camps, or to informal sites when the camps are full.",
        source="OCHA Humanitarian Update Syrian Arab Republic, Issue 04 (25 July 2019): 'roughly "
        "two-thirds of people displaced are staying outside camps'",
    ),
    Field(
        "return_rate",
        "prob",
        0.01,
        unit="1/day",
        doc="Daily probability that a displaced household sets off home when home is quiet (no "
        "danger expected there) and not captured: p = return_rate * (1 - E_home / "
        "return_fear_threshold), 0 when the expected danger E_home reaches the threshold.",
        source="ESTIMATE; REACH/CCCM ISMI reported a few thousand spontaneous returns a month in mid-2019.",
    ),
    Field(
        "return_fear_threshold",
        "prob",
        0.25,
        unit="0-1",
        doc="Expected danger at home (remembered danger and the front's threat) at which "
        "returns stop; below it they grow linearly to return_rate in a quiet home.",
        source="ESTIMATE: a quarter of the danger of a ground assault (strikes now and then "
        "nearby); REACH ISMI recorded returns during the 2019 fighting (e.g. 2,730 to Maarrat "
        "al-Nu'man in June 2019, a town under repeated strikes), so homes need not be quiet.",
    ),
    Field(
        "return_min_days",
        "int",
        14,
        unit="days",
        lo=0,
        hi=3650,
        doc="Days a household stays displaced before it considers going back.",
        source="ESTIMATE.",
    ),
    Field(
        "front_line_penalty_km",
        "float",
        1000.0,
        unit="km",
        lo=0.0,
        hi=100000.0,
        doc="Extra route length charged for passing through a government-held place: such routes "
        "are used only when no other exists (an encircled pocket).",
        source="Modelling choice.",
    ),
    Field(
        "front_distance_km",
        "float",
        15.0,
        unit="km",
        lo=0.0,
        hi=500.0,
        doc="e-folding road distance of the front's threat: A = exp(-max(0, d - T v) / L), d the "
        "road km to the nearest ground assault or recent capture, v its speed of approach, T = "
        "front_lookahead_days. The threat raises the expected danger E = 1 - (1 - fear)(1 - A), "
        "which drives flight, the choice of destination and returns. 0 turns the front off.",
        source="ESTIMATE; fitted to the 2019 OCHA series and REACH ISMI shares (idlibsim calibrate).",
    ),
    Field(
        "front_lookahead_days",
        "float",
        7.0,
        unit="days",
        lo=0.0,
        hi=60.0,
        doc="How far ahead households project the front: its speed of approach is measured over "
        "the last T days and a place counts as being as close to the front as it will be in T days.",
        source="ESTIMATE: people in Maarrat al-Nu'man and Saraqib left days before the front "
        "arrived (OCHA flash updates, August 2019 and December 2019).",
    ),
    Field(
        "front_max_speed_km_per_day",
        "float",
        2.0,
        unit="km/day",
        lo=0.0,
        hi=100.0,
        doc="Fastest approach of the front households project: the measured speed v is capped "
        "here, so that a new assault far from the old front (the nearest front place jumping) "
        "is not read as an advance.",
        source="ESTIMATE: the 2019 ground advances covered about 1 km a day (al-Habit, 11 "
        "August, to Khan Shaykhun, 20-21 August 2019: about 10 km; Wikipedia 'Northwestern Syria "
        "offensive (April-August 2019)').",
    ),
    Field(
        "front_capture_days",
        "int",
        14,
        unit="days",
        lo=0,
        hi=365,
        doc="Days a change of control keeps a place on the front (a recent capture is where the "
        "next assault starts from).",
        source="ESTIMATE.",
    ),
    Field(
        "bombardment_rate",
        "float",
        0.02,
        unit="1/day",
        lo=0.0,
        hi=5.0,
        doc="Daily hazard of flight per unit of sustained bombardment B (added to the response "
        "to expected danger): h = flee_rate * excess(E)^fear_exponent + bombardment_rate * B.",
        source="ESTIMATE; fitted to the 2019 OCHA series (idlibsim calibrate): the summer of "
        "2019 displaced people steadily with little ground advance.",
    ),
    Field(
        "bombardment_memory_days",
        "float",
        14.0,
        unit="days",
        lo=0.0,
        hi=365.0,
        doc="e-folding time T of sustained bombardment B(t) = B(t-1) e^(-1/T) + (1 - e^(-1/T)) "
        "I_b(t), I_b the day's bombardment intensity at the place: weeks of strikes, not one.",
        source="ESTIMATE.",
    ),
    Field(
        "onward_days",
        "int",
        30,
        unit="days",
        lo=0,
        hi=3650,
        doc="Days after its last flight during which a household in an informal site may move "
        "on (onward_rate); after that it has settled in an informal settlement.",
        source="ESTIMATE: reception centres were transit places for days to weeks (OCHA sitreps "
        "2019); informal settlements beside the camps lasted for years (CCCM ISIMM).",
    ),
    Field(
        "onward_rate",
        "prob",
        0.03,
        unit="1/day",
        doc="Daily probability that a household in an informal site (a reception centre, an "
        "overflow site, a full place) moves on to a place with room: host communities or camps "
        "elsewhere, chosen like a destination.",
        source="ESTIMATE: 'over the following weeks', a mean stay of about a month; OCHA sitreps "
        "2019: the share of the newly displaced in camps and reception centres fell from 54% in "
        "early May to about a third by July as people moved on.",
    ),
)

CROSSING_FIELDS = (
    Field("open", "bool", False, doc="Whether civilians may cross into Turkey at the start."),
    Field(
        "daily_capacity",
        "int",
        0,
        unit="people/day",
        lo=0,
        hi=1_000_000,
        doc="People who may cross per day when open.",
    ),
)

NEEDS_FIELDS = (
    Field(
        "covered_space_m2_per_person",
        "float",
        3.5,
        unit="m2/person",
        lo=0.0,
        hi=100.0,
        doc="Covered living space to provide for each displaced person without shelter "
        "(in informal sites or on the move; camp residents and hosted people are counted as "
        "sheltered).",
        source="Sphere Handbook 2018, Shelter and settlement standard 3 (Living space), key "
        "indicator: minimum 3.5 m2 of living space per person, excluding cooking, bathing and "
        "sanitation space.",
    ),
    Field(
        "water_litres_per_person_day",
        "float",
        15.0,
        unit="litres/person/day",
        lo=0.0,
        hi=1000.0,
        doc="Water for drinking and domestic hygiene, for every displaced person.",
        source="Sphere Handbook 2018, WASH Water supply standard 2.1 (Access and water "
        "quantity), key indicator: minimum 15 litres per person per day.",
    ),
    Field(
        "people_per_latrine",
        "float",
        20.0,
        unit="people/latrine",
        lo=1.0,
        hi=1000.0,
        doc="People sharing one communal toilet, for displaced people in camps and informal "
        "sites (hosted people use their hosts' toilets); latrines are rounded up per place.",
        source="Sphere Handbook 2018, WASH Excreta management standard 3.2 and Appendix 4 "
        "(minimum numbers of toilets): 1 shared toilet per 20 people.",
    ),
    Field(
        "kcal_per_person_day",
        "float",
        2100.0,
        unit="kcal/person/day",
        lo=0.0,
        hi=10000.0,
        doc="Food energy for every displaced person.",
        source="Sphere Handbook 2018, Food security and nutrition, Appendix 6 (Nutritional "
        "requirements): 2,100 kcal per person per day.",
    ),
    Field(
        "nfi_kits_per_household",
        "float",
        1.0,
        unit="kits/household",
        lo=0.0,
        hi=10.0,
        doc="Non-food-item kits (bedding, mats, kitchen set, jerrycans, hygiene items) per "
        "displaced household in camps, informal sites or on the move; households = people / "
        "`population.household_size`.",
        source="ESTIMATE: planning assumption of one standard household kit per displaced "
        "household, following Sphere Handbook 2018 Shelter and settlement standard 4 (Household "
        "items); the kit's content is the cluster's, not modelled.",
    ),
    Field(
        "winterisation_kits_per_household",
        "float",
        1.0,
        unit="kits/household",
        lo=0.0,
        hi=10.0,
        doc="Winterisation kits (extra blankets, heating fuel or stove, winter clothes) per "
        "displaced household in camps, informal sites or on the move, during the winter months.",
        source="ESTIMATE: planning assumption of one kit per displaced household, following "
        "Sphere Handbook 2018 Shelter and settlement standard 4 (thermal comfort).",
    ),
    Field(
        "winter_start_month",
        "int",
        11,
        unit="month",
        lo=1,
        hi=12,
        doc="First month (1-12) in which winterisation kits are needed.",
        source="ESTIMATE: north-west Syria winter response plans run about November to March.",
    ),
    Field(
        "winter_end_month",
        "int",
        3,
        unit="month",
        lo=1,
        hi=12,
        doc="Last month (1-12, inclusive) in which winterisation kits are needed; may be "
        "before `winter_start_month` (the winter spans the new year).",
        source="ESTIMATE: as `winter_start_month`.",
    ),
)

_COMMON_EVENT_FIELDS = (
    Field("kind", "choice", doc="What happens (see the kinds below)."),
    Field("source", "text", doc="Public source of the event, or 'what-if: ...' for a hypothesis."),
    Field("note", "text", "", doc="Free text."),
    Field(
        "enabled",
        "bool",
        True,
        doc="Set to false in a scenario that extends another to drop the event.",
    ),
)

EVENT_KINDS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "bombardment": (
        "Airstrikes and shelling on places from `start` to `end` at an intensity.",
        (
            Field("locations", "names", doc="Places bombarded."),
            Field("start", "date", doc="First day."),
            Field("end", "date", None, doc="Last day (inclusive); empty means the scenario end."),
            Field(
                "intensity",
                "prob",
                None,
                unit="0-1",
                doc="Empty means [conflict] bombardment_intensity.",
            ),
        ),
    ),
    "ground_assault": (
        "Fighting on the ground in and around places.",
        (
            Field("locations", "names", doc="Places assaulted."),
            Field("start", "date", doc="First day."),
            Field("end", "date", None, doc="Last day (inclusive); empty means the scenario end."),
            Field(
                "intensity",
                "prob",
                None,
                unit="0-1",
                doc="Empty means [conflict] assault_intensity.",
            ),
        ),
    ),
    "capture": (
        "Change of control on `date`. A place captured by the government empties: everyone there "
        "leaves that day, and nobody returns while it is held.",
        (
            Field("locations", "names", doc="Places captured."),
            Field("date", "date", doc="Day of the capture."),
            Field(
                "by",
                "choice",
                "government",
                choices=("government", "opposition"),
                doc="New controller.",
            ),
        ),
    ),
    "ceasefire": (
        "All intensities at the given places (all places if none) are multiplied by `factor`.",
        (
            Field("locations", "names", [], doc="Places covered; empty means everywhere."),
            Field("start", "date", doc="First day."),
            Field("end", "date", None, doc="Last day (inclusive); empty means the scenario end."),
            Field(
                "factor", "prob", None, unit="0-1", doc="Empty means [conflict] ceasefire_factor."
            ),
        ),
    ),
    "border": (
        "A border crossing opens or closes for civilians from `start` to `end`.",
        (
            Field("crossing", "name", doc="A place of kind 'crossing'."),
            Field("start", "date", doc="First day."),
            Field("end", "date", None, doc="Last day (inclusive); empty means the scenario end."),
            Field("open", "bool", doc="Open (true) or closed (false) for civilians."),
            Field(
                "daily_capacity",
                "int",
                0,
                unit="people/day",
                lo=0,
                hi=1_000_000,
                doc="People who may cross per day.",
            ),
        ),
    ),
    "camp_capacity": (
        "The formal camp capacity of places changes from `date` on (new camps, closures).",
        (
            Field("locations", "names", doc="Places whose camps change."),
            Field("date", "date", doc="Day the new capacity applies."),
            Field("capacity", "int", unit="people", lo=0, hi=10_000_000, doc="Formal camp places."),
        ),
    ),
    "route_closure": (
        "A road link is impassable from `start` to `end`.",
        (
            Field(
                "between",
                "pair",
                doc='The two places the road joins, e.g. ["Hish", "Maarrat al-Nu\'man"].',
            ),
            Field("start", "date", doc="First day."),
            Field("end", "date", None, doc="Last day (inclusive); empty means the scenario end."),
        ),
    ),
}

SECTIONS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "scenario": ("What the scenario is and the period it covers.", SCENARIO_FIELDS),
    "population": ("Who is simulated.", POPULATION_FIELDS),
    "geography": ("The places and roads.", GEOGRAPHY_FIELDS),
    "conflict": ("Default intensities of conflict events.", CONFLICT_FIELDS),
    "behaviour": ("Parameters of the households' rules (see docs/model.md).", BEHAVIOUR_FIELDS),
    "needs": (
        "Minimum standards that turn displaced people into needs (`needs.csv`); every figure "
        "cited, every one overridable.",
        NEEDS_FIELDS,
    ),
}
TOP_LEVEL_KEYS = ("extends", *SECTIONS, "crossings", "events")
PATH_FIELDS = (
    ("scenario", "observed"),
    ("geography", "locations"),
    ("geography", "routes"),
    ("geography", "camp_table"),
    ("conflict", "bombardment_table"),
    ("behaviour", "parameters"),
)
PARAMETER_FILE_KEYS = ("behaviour", "fit")


# --------------------------------------------------------------------------------------
# Typed scenario
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """Behaviour parameters; meanings, units and sources in :data:`BEHAVIOUR_FIELDS`."""

    flee_rate: float
    propensity_shape: float
    fear_distance_km: float
    fear_tolerance: float
    fear_exponent: float
    fear_memory_days: float
    travel_km_per_day: float
    destination_distance_km: float
    destination_distance_spread: float
    safety_weight: float
    border_pull_km: float
    crowding_floor: float
    camp_weight: float
    host_capacity_share: float
    host_preference: float
    return_rate: float
    return_fear_threshold: float
    return_min_days: int
    front_line_penalty_km: float
    front_distance_km: float
    front_lookahead_days: float
    front_max_speed_km_per_day: float
    front_capture_days: int
    bombardment_rate: float
    bombardment_memory_days: float
    onward_days: int
    onward_rate: float

    def replace(self, **changes: float) -> Behaviour:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = set(changes) - set(values)
        if unknown:
            raise KeyError(f"unknown behaviour parameters: {sorted(unknown)}")
        values.update(changes)
        return Behaviour(**values)

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Event:
    """One dated event; fields that do not apply to its kind are None."""

    id: str
    kind: str
    source: str
    note: str = ""
    locations: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    intensity: float | None = None
    by: str | None = None
    factor: float | None = None
    crossing: str | None = None
    open: bool | None = None
    daily_capacity: int | None = None
    capacity: int | None = None
    between: tuple[str, str] | None = None


@dataclass(frozen=True)
class Crossing:
    open: bool
    daily_capacity: int


@dataclass(frozen=True)
class Scenario:
    """A validated scenario with every default filled in."""

    path: Path
    name: str
    title: str
    label: str
    description: str
    start: date
    end: date
    report_from: date
    observed: Path | None
    population_total: int
    household_size: float
    locations_file: Path
    routes_file: Path
    government_held: tuple[str, ...]
    conflict: dict[str, Any]
    behaviour: Behaviour
    parameters_file: Path | None
    crossings: dict[str, Crossing]
    events: tuple[Event, ...]
    files: tuple[Path, ...]  # every input file read, for the manifest's hashes
    #: weeks of event-derived bombardment ([conflict] bombardment_table), sim.conflict.BombardmentRow
    bombardment_table: tuple = ()
    #: dated camp capacities ([geography] camp_table), sim.conflict.CampCapacityRow, by date
    camp_table: tuple = ()
    camp_table_file: str = ""
    resolved: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    #: the [needs] standards (NEEDS_FIELDS names -> values); defaults when empty
    needs: dict[str, Any] = field(default_factory=dict)
    #: multipliers of places' population estimates (place name -> factor), drawn by an
    #: ensemble with population uncertainty (sim.analysis.uncertainty); empty: as estimated
    population_factors: dict[str, float] = field(default_factory=dict)

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
        from dataclasses import replace

        beh = self.behaviour.replace(**changes)
        resolved = dict(self.resolved)
        resolved["behaviour"] = {**resolved.get("behaviour", {}), **beh.as_dict()}
        return replace(self, behaviour=beh, resolved=resolved)

    def truncated(self, days: int) -> Scenario:
        """The same scenario simulating only its first ``days`` days (``--days``)."""
        from dataclasses import replace
        from datetime import timedelta

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
        resolved = {
            **self.resolved,
            "scenario": {**self.resolved["scenario"], "end": end.isoformat()},
        }
        return replace(self, end=end, resolved=resolved)

    def input_hashes(self) -> dict[str, str]:
        return {str(p): sha256_file(p) for p in self.files}


def _not_a_regular_file(path: str) -> str | None:
    from .safety import not_a_regular_file

    return not_a_regular_file(path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# Reading TOML
# --------------------------------------------------------------------------------------


def read_toml(path: Path, what: str = "scenario") -> tuple[dict[str, Any], str]:
    """Parse a TOML file, turning every way it can be unreadable into a clear problem."""
    path = Path(path)
    if not path.exists():
        raise InputError(
            [Problem(path, "", f"{what} file not found", "check the path and the file name")]
        )
    if path.is_dir():
        raise InputError(
            [Problem(path, "", f"is a folder, not a {what} file", "give the path of a .toml file")]
        )
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(
            [
                Problem(
                    path,
                    "",
                    f"file is {size:,} bytes; a {what} file is a few kilobytes (limit {MAX_FILE_BYTES:,})",
                    "check that this is the right file",
                )
            ]
        )
    data = read_bytes(path, what)
    text = decode_text(path, data, f"a {what} .toml file")
    if not text.strip():
        raise InputError(
            [Problem(path, "", "is empty", f"write a {what} (see scenarios/idlib_2019.toml)")]
        )
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([_syntax_problem(path, text, str(exc))]) from None
    except RecursionError:
        raise InputError(
            [
                Problem(
                    path,
                    "",
                    "TOML lists or tables are nested too deeply to read",
                    f"a {what} file needs at most lists of names: check that this is the right file",
                )
            ]
        ) from None
    return raw, text


#: What the TOML parser's terse messages usually mean in a scenario file.
_SYNTAX_HINTS = (
    (
        "Invalid value",
        "a value must be a number, a date (2019-04-28), true or false, a [list] or a string "
        'in double quotes: write name = "Kafr Nabl", not name = Kafr Nabl',
    ),
    (
        "Cannot overwrite a value",
        "a key or a table is given twice (or [[events]] clashes with [events.x]): keep one",
    ),
    ("Cannot declare", "a table header appears twice: merge the two tables into one"),
    ("Unterminated string", "a string is not closed: add the closing double quote"),
    ('Expected "\'"', "a string is not closed: add the closing single quote"),
    ("Illegal character", "a string is not closed on its line: add the closing double quote"),
    (
        "Invalid date",
        "this date does not exist: write an existing day as YYYY-MM-DD, e.g. 2019-02-28",
    ),
    (
        "Expected newline or end of document",
        "one key = value per line; numbers have no thousands commas (write 4_000_000); dates "
        "are YYYY-MM-DD with two-digit months and days (2019-05-01)",
    ),
    ("Expected '=' after a key", "every setting is written key = value"),
    ("Unclosed array", "a [list] is not closed: add the closing ]"),
    ("Unclosed inline table", "an inline {table} is not closed: add the closing }"),
    ("Expected ']' at the end of a table", "close the table header with ], e.g. [events.my_event]"),
)
_SYNTAX_GENERIC = (
    "see https://toml.io: strings in double quotes, dates like 2019-04-28, "
    "tables like [events.my_event]"
)


def _syntax_problem(path: Path, text: str, msg: str) -> Problem:
    """One problem for a TOML syntax error, with the line and what the parser means."""
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    line = int(m.group(1)) if m else None
    bare = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", msg)
    if m:
        bare_col = f"{bare} (column {m.group(2)})"
    else:
        bare_col = bare
        if "end of document" in msg:
            line = _first_failing_line(text, bare)
    fix = next((h for key, h in _SYNTAX_HINTS if bare.startswith(key)), _SYNTAX_GENERIC)
    return Problem(path, "", f"TOML syntax error: {bare_col}", fix, line)


def _first_failing_line(text: str, bare: str) -> int | None:
    """Line where an error the parser reports 'at end of document' starts.

    An unclosed string or list, or a key given twice, is only noticed at the end. The
    first line ``k`` such that the first ``k`` lines already fail with the same message
    is where it starts (found by bisection).
    """
    lines = text.splitlines(keepends=True)

    def fails(k: int) -> bool:
        try:
            tomllib.loads("".join(lines[:k]))
        except tomllib.TOMLDecodeError as exc:
            return str(exc).startswith(bare)
        return False

    lo, hi = 1, len(lines)
    if not lines or not fails(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if fails(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _load_chain(
    path: Path, seen: tuple[Path, ...] = ()
) -> tuple[dict, dict[str, Path], dict[Path, str], list[Path]]:
    """Load a file and the files it extends; return merged data, field provenance, texts, files."""
    path = Path(path).resolve()
    raw, text = read_toml(path)
    if not raw:
        raise InputError(
            [
                Problem(
                    path,
                    "",
                    "holds no settings, only comments or blank lines",
                    "write a scenario (see scenarios/idlib_2019.toml)",
                )
            ]
        )
    _absolutize_paths(raw, path.parent)
    base: dict = {}
    prov: dict[str, Path] = {}
    texts = {path: text}
    files = [path]
    if "extends" in raw:
        target = raw.pop("extends")
        if not isinstance(target, str) or not target.strip():
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"must be the path of another scenario file, got {_kind(target)} {_short(target)}",
                        'extends = "idlib_2019.toml"',
                        _line(text, "extends"),
                    )
                ]
            )
        parent = (path.parent / target).resolve()
        if not parent.exists():
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"extends '{target}', which does not exist ({parent})",
                        "give a path relative to this file"
                        + _close_files(parent, "; did you mean {}?", exclude=path),
                        _line(text, "extends"),
                    )
                ]
            )
        if parent.is_dir() or parent.suffix.lower() != ".toml":
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"extends '{target}', which is "
                        + ("a folder" if parent.is_dir() else "not a .toml scenario file"),
                        'give the path of a scenario file, e.g. extends = "idlib_2019.toml"',
                        _line(text, "extends"),
                    )
                ]
            )
        if len(seen) >= MAX_EXTENDS:
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"the chain of extends is more than {MAX_EXTENDS} files deep",
                        "extend the base scenario directly (a what-if extends idlib_2019.toml)",
                        _line(text, "extends"),
                    )
                ]
            )
        if parent in (*seen, path):
            chain = " -> ".join(p.name for p in (*seen, path, parent))
            raise InputError(
                [
                    Problem(
                        path,
                        "extends",
                        f"extends loops back on itself: {chain}",
                        "a scenario cannot extend itself or a file that extends it: remove the loop",
                        _line(text, "extends"),
                    )
                ]
            )
        base, prov, ptexts, pfiles = _load_chain(parent, (*seen, path))
        texts.update(ptexts)
        files = pfiles + files
    merged = _merge(base, raw, prov, path)
    return merged, prov, texts, files


def _close_files(path: Path, template: str, exclude: Path | None = None) -> str:
    """Template filled with the files beside ``path`` whose names are closest to its name."""
    try:
        siblings = [
            p.name
            for p in path.parent.iterdir()
            if p.suffix == path.suffix and p.is_file() and p != exclude
        ]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, siblings, n=3, cutoff=0.6)
    return template.format(" or ".join(f"'{c}'" for c in close)) if close else ""


def _line(text: str, key: str) -> int | None:
    from .errors import find_line

    return find_line(text, key)


def _absolutize_paths(raw: dict, folder: Path) -> None:
    for section, key in PATH_FIELDS:
        table = raw.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str) and table[key].strip():
            p = Path(table[key])
            table[key] = str(p if p.is_absolute() else (folder / p).resolve())


def _merge(base: dict, over: dict, prov: dict[str, Path], file: Path, prefix: str = "") -> dict:
    """Tables merge key by key; everything else (including lists) replaces."""
    out = dict(base)
    for k, v in over.items():
        dotted = f"{prefix}{k}"
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, prov, file, dotted + ".")
        else:
            out[k] = v
            _mark(prov, dotted, v, file)
    return out


def _mark(prov: dict[str, Path], dotted: str, value: Any, file: Path) -> None:
    prov[dotted] = file
    if isinstance(value, dict):
        for k, v in value.items():
            _mark(prov, f"{dotted}.{k}", v, file)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


class _Checker:
    """Type and range checks that report into per-file problem lists."""

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

    def unknown_keys(
        self, table: dict, valid: tuple[str, ...] | list[str], prefix: str
    ) -> set[str]:
        """Report keys the schema does not define; return the valid names they resemble."""
        meant: set[str] = set()
        for k in table:
            if k in valid:
                continue
            close = difflib.get_close_matches(k, list(valid), n=1, cutoff=0.6)
            here = _header(prefix)
            homes = [
                h
                for h in _homes(k)
                if h != here
                and not (h.startswith("[events.") and prefix.startswith("events."))
                and not (h.startswith("[crossings.") and prefix.startswith("crossings."))
            ]
            if homes and not prefix:  # e.g. start = ... written before any [table] header
                fix = f"'{k}' belongs in {' or '.join(homes)}: move it below that header"
            elif homes:  # a valid key in the wrong table beats a look-alike in this one
                fix = (
                    f"'{k}' belongs in {' or '.join(homes)}: a key written below a [table] header "
                    "belongs to that table, so move it"
                    + (" before the first [table] header" if homes[0] == "the top level" else "")
                )
            else:
                fix = did_you_mean(k, valid)
                meant.update(close)
            self.add(f"{prefix}{k}", f"unknown key '{k}'", fix)
        return meant

    def table(
        self, raw: Any, spec: tuple[Field, ...], prefix: str, defaults: dict | None = None
    ) -> dict:
        """Check one table against its fields; return typed values with defaults filled."""
        out: dict[str, Any] = {}
        if not isinstance(raw, dict):
            self.add(
                prefix.rstrip("."), f"must be a table, got {_kind(raw)}", f"write {_header(prefix)}"
            )
            raw = {}
        meant = self.unknown_keys(raw, [f.name for f in spec], prefix)
        for f in spec:
            dotted = f"{prefix}{f.name}"
            if f.name in raw:
                out[f.name] = self.value(raw[f.name], f, dotted)
            elif defaults is not None and f.name in defaults:
                out[f.name] = defaults[f.name]
            elif f.required and f.name in meant:
                out[f.name] = None  # reported as a misspelling of it ("did you mean")
            elif f.required:
                self.add(
                    dotted,
                    f"missing required field '{f.name}' ({f.doc.rstrip('.')})",
                    f"add {f.name} = {_example(f)}",
                )
                out[f.name] = None
            else:
                out[f.name] = _copy(f.default)
        return out

    def value(self, v: Any, f: Field, dotted: str) -> Any:
        t = f.type
        bad = None
        fix = f"write {f.name} = {_example(f)}"
        if t in ("str", "text", "path", "name", "choice", "kind"):
            if not isinstance(v, str):
                bad = "a string in double quotes"
            elif t in ("str", "name", "choice") and not v.strip():
                bad = "a non-empty string"
            elif t == "choice" and f.choices and v not in f.choices:
                self.add(
                    dotted,
                    f"'{v}' is not one of {', '.join(f.choices)}",
                    did_you_mean(v, f.choices),
                )
                return None
            elif t == "path" and v.strip() and not Path(v).exists():
                self.add(
                    dotted,
                    f"file not found: {v}",
                    "give a path relative to the scenario file"
                    + _close_files(Path(v), "; did you mean {}?"),
                )
                return None
            elif t == "path" and v.strip() and Path(v).is_dir():
                self.add(dotted, f"{v} is a folder, not a file", "give the path of the file")
                return None
            elif t == "path" and v.strip() and (why := _not_a_regular_file(v)):
                # a named pipe would hang the reader, a device never end
                self.add(dotted, f"{v} {why}", "give the path of a regular file")
                return None
            elif len(v) > 20_000:
                bad = "a string shorter than 20,000 characters"
            if bad is None:
                return v
        elif t == "bool":
            if isinstance(v, bool):
                return v
            bad = "true or false (no quotes)"
            word = v.strip().lower() if isinstance(v, str) else None
            if word in ("true", "false", "yes", "no", "on", "off", "1", "0"):
                value = "true" if word in ("true", "yes", "on", "1") else "false"
                fix = f"write {f.name} = {value} (without quotes)"
        elif t == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                if isinstance(v, float) and math.isfinite(v) and v.is_integer():
                    bad = "a whole number without a decimal point"
                    fix = f"write {f.name} = {int(v)}"
                elif isinstance(v, float):
                    self.add(dotted, f"must be a finite whole number, got {v}", _range_fix(f))
                    return None
                else:
                    bad = "a whole number"
                    if _is_number_text(v):
                        fix = f"write {f.name} = {v.strip()} without the quotes"
            else:
                return self.in_range(v, f, dotted)
        elif t in ("float", "prob"):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                bad = "a number"
                if _is_number_text(v):
                    fix = f"write {f.name} = {v.strip()} without the quotes"
            elif not math.isfinite(v if isinstance(v, float) else _float(v)):
                self.add(dotted, f"must be a finite number, got {_num(v)}", _range_fix(f))
                return None
            else:
                return self.in_range(float(v), f, dotted)
        elif t == "date":
            if isinstance(v, datetime):
                bad = "a date without a time (e.g. 2019-04-28)"
            elif isinstance(v, date):
                return v
            elif isinstance(v, str):
                try:
                    return date.fromisoformat(v.strip())
                except ValueError:
                    bad = "a date like 2019-04-28"
            else:
                bad = "a date like 2019-04-28"
        elif t == "names":
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
                bad = 'a list of place names, e.g. ["Kafr Nabl", "Hish"]'
            elif len(v) > 1000:
                bad = "a list of at most 1000 names"
            elif not v and f.required:
                bad = 'at least one place name, e.g. ["Kafr Nabl"]'
            elif len(set(v)) < len(v):
                dup = sorted({x for x in v if v.count(x) > 1})
                self.add(
                    dotted,
                    f"names {', '.join(repr(x) for x in dup)} more than once",
                    "give each place once",
                )
                return None
            else:
                return list(v)
        elif t == "pair":
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
                bad = 'two place names, e.g. ["Hish", "Maarrat al-Nu\'man"]'
            elif v[0] == v[1]:
                bad = "two different place names"
            else:
                return (v[0], v[1])
        if bad is not None:
            self.add(dotted, f"expected {bad}, got {_kind(v)} {_short(v)}", fix)
        return None

    def in_range(self, v: float, f: Field, dotted: str) -> float | None:
        lo, hi = (0.0, 1.0) if f.type == "prob" else (f.lo, f.hi)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            what = "a probability or share (0 to 1)" if f.type == "prob" else "this field"
            unit = f" {f.unit}" if f.unit and f.unit != "0-1" else ""
            shown = _num(v)
            if shown.startswith("a number"):
                unit = ""
            self.add(dotted, f"{shown}{unit} is outside the valid range of {what}", _range_fix(f))
            return None
        return v


def _header(prefix: str) -> str:
    """How a table is written in the file, from its dotted prefix ('' is the top level)."""
    if not prefix:
        return "the top level"
    parts = prefix.rstrip(".").split(".")
    return (
        "[" + ".".join(p if re.fullmatch(r"[A-Za-z0-9_\-]+", p) else f'"{p}"' for p in parts) + "]"
    )


def _homes(key: str) -> list[str]:
    """Where a key is valid: 'the top level', '[scenario]', '[events.<name>]'..."""
    homes = []
    if key in TOP_LEVEL_KEYS:
        homes.append("the top level")
    homes += [f"[{name}]" for name, (_, spec) in SECTIONS.items() if key in (f.name for f in spec)]
    if key in (f.name for f in CROSSING_FIELDS):
        homes.append('[crossings."<crossing name>"]')
    kinds = [k for k, (_, spec) in EVENT_KINDS.items() if key in (f.name for f in spec)]
    if key in (f.name for f in _COMMON_EVENT_FIELDS) or kinds:
        homes.append("[events.<name>]")
    return homes


def _range_fix(f: Field) -> str:
    lo, hi = (0.0, 1.0) if f.type == "prob" else (f.lo, f.hi)
    unit = f" {f.unit}" if f.unit and f.unit != "0-1" else ""
    if lo is not None and hi is not None:
        return f"use a value between {_num(lo)} and {_num(hi)}{unit}"
    if lo is not None:
        return f"use a value of at least {_num(lo)}{unit}"
    return f"use a value of at most {_num(hi)}{unit}"


def _num(v: float) -> str:
    """A number as a reader writes it: 20,000,000 rather than 2e+07, 0.05 rather than 5e-02."""
    if isinstance(v, int):
        return f"{v:,}" if abs(v) < 10**18 else f"a number of {len(str(abs(v)))} digits"
    if math.isfinite(v) and v.is_integer() and abs(v) < 1e18:
        return f"{int(v):,}"
    return f"{v:g}"


def _float(v: int | float) -> float:
    try:
        return float(v)
    except OverflowError:  # an integer of hundreds of digits
        return math.inf


def _is_number_text(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        return math.isfinite(float(v.strip().replace("_", "")))
    except ValueError:
        return False


def _kind(v: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(
        type(v),
        "a date and time"
        if isinstance(v, datetime)
        else "a date"
        if isinstance(v, date)
        else type(v).__name__,
    )


def _short(v: Any) -> str:
    s = v.isoformat() if isinstance(v, date) else repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _example(f: Field) -> str:
    return {
        "str": '"..."',
        "text": '"..."',
        "path": '"data/file.csv"',
        "name": '"Bab al-Hawa crossing"',
        "choice": '"' + (f.choices[0] if f.choices else "...") + '"',
        "bool": "true",
        "int": str(
            f.default if isinstance(f.default, int) and not isinstance(f.default, bool) else 1000
        ),
        "float": str(f.default if isinstance(f.default, float) else 1.0),
        "prob": str(f.default if isinstance(f.default, float) else 0.5),
        "date": "2019-04-28",
        "names": '["Kafr Nabl"]',
        "pair": '["Hish", "Maarrat al-Nu\'man"]',
    }.get(f.type, "...")


def _copy(v: Any) -> Any:
    return list(v) if isinstance(v, list) else v


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
    names = [f.name for f in BEHAVIOUR_FIELDS if f.name != "parameters"]
    chk = _Checker(path, {}, {path: text})
    chk.unknown_keys(table, names, "behaviour.")
    spec = {f.name: f for f in BEHAVIOUR_FIELDS}
    values = {
        k: chk.value(v, spec[k], f"behaviour.{k}")
        for k, v in table.items()
        if k in spec and k != "parameters"
    }
    pl.items.extend(chk.problems)
    pl.raise_if_any()
    return values


def load_scenario(path: str | Path) -> Scenario:
    """Load, merge and validate a scenario file. Raises :class:`InputError` on any problem."""
    from . import geography  # late import: geography depends on errors only

    path = Path(path)
    if path.suffix.lower() != ".toml" and path.exists() and path.is_file():
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
    merged, prov, texts, files = _load_chain(path)
    root = path.resolve()
    chk = _Checker(root, prov, texts)
    chk.unknown_keys(merged, list(TOP_LEVEL_KEYS), "")

    sec: dict[str, dict] = {}
    for name, (_, spec) in SECTIONS.items():
        raw = merged.get(name, {})
        required = [f for f in spec if f.required]
        if name not in merged and required:
            chk.add(
                name,
                f"missing the [{name}] table ({', '.join(f.name for f in required)} are required)",
                f"add [{name}] with "
                + ", ".join(f"{f.name} = {_example(f)}" for f in required)
                + " (or extends = another scenario)",
            )
            sec[name] = {f.name: None if f.required else _copy(f.default) for f in spec}
            continue
        if name == "behaviour":
            sec[name] = _behaviour_section(raw, chk, files)
        else:
            sec[name] = chk.table(raw, spec, f"{name}.")

    s = sec["scenario"]
    if isinstance(s.get("name"), str) and not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", s["name"]):
        chk.add(
            "scenario.name",
            f"'{s['name']}' may hold only letters, digits, '_' and '-' (at most 64)",
            'e.g. name = "idlib_2019_border_open"',
        )
    start, end = s.get("start"), s.get("end")
    if isinstance(start, date) and isinstance(end, date):
        if end < start:
            chk.add(
                "scenario.end", f"end {end} is before start {start}", "swap them or fix the dates"
            )
        elif (end - start).days + 1 > MAX_DAYS:
            chk.add(
                "scenario.end",
                f"the period is {(end - start).days + 1} days; at most {MAX_DAYS} are supported",
                "shorten the period",
            )
        rf = s.get("report_from")
        if rf is None:
            s["report_from"] = start
        elif isinstance(rf, date) and not (start <= rf <= end):
            chk.add(
                "scenario.report_from",
                f"{rf} is outside the period {start} to {end}",
                "choose a day within the period",
            )
    period_ok = isinstance(start, date) and isinstance(end, date) and start <= end

    # Geography: needed to check every place name.
    world = None
    g = sec["geography"]
    given = merged.get("geography") if isinstance(merged.get("geography"), dict) else {}
    for key in ("locations", "routes"):
        if key not in given and isinstance(g.get(key), str):
            # a default is relative to the scenario file, like a path written in it
            default = (root.parent / g[key]).resolve()
            g[key] = str(default)
            if not default.is_file():
                chk.add(
                    f"geography.{key}",
                    f"no {key} file given and the default {default} does not exist",
                    f'add [geography] {key} = "path/to/{key}.csv" (relative to the scenario file)',
                )
                g[key] = None
    if g.get("locations") and g.get("routes"):
        try:
            world = geography.load(Path(g["locations"]), Path(g["routes"]))
            files += [Path(g["locations"]), Path(g["routes"])]
        except InputError as exc:
            chk.problems.extend(exc.problems)
    names = list(world.names) if world is not None else None

    # The observed figures are a data file too: check them now, not after a run.
    if isinstance(s.get("observed"), str) and s["observed"] and Path(s["observed"]).is_file():
        from .observed import load_observed  # late import: pandas

        obs = Path(s["observed"])
        try:
            text = decode_text(obs, read_bytes(obs, "observed data"), "the observed data CSV file")
            if not text.strip():
                raise InputError(
                    [
                        Problem(
                            obs,
                            "",
                            "is empty",
                            "give the observed CSV or remove [scenario] observed",
                        )
                    ]
                )
            load_observed(obs)
        except InputError as exc:
            chk.problems.extend(exc.problems)

    def check_names(values: list[str], dotted: str, kinds: tuple[str, ...] | None = None) -> None:
        if names is None or not values:
            return
        for i, n in enumerate(values):
            if n not in world.index:
                chk.add(
                    f"{dotted}[{i}]" if len(values) > 1 else dotted,
                    f"unknown location '{clip(n)}'",
                    did_you_mean(n, names),
                )
            elif kinds and world.kind[world.index[n]] not in kinds:
                ok = [x for x in names if world.kind[world.index[x]] in kinds]
                chk.add(
                    dotted,
                    f"'{clip(n)}' is a {world.kind[world.index[n]]}, not a {' or '.join(kinds)}",
                    did_you_mean(n, ok),
                )

    check_names(g.get("government_held") or [], "geography.government_held")
    total = sec["population"].get("total")
    if world is not None and isinstance(total, int) and total <= world.camp_population.sum():
        chk.add(
            "population.total",
            f"{total:,} people is not more than the {int(world.camp_population.sum()):,} camp residents of the locations file",
            "raise the total or lower camp_population in the locations file",
        )

    # Crossings
    crossings: dict[str, Crossing] = {}
    raw_cross = merged.get("crossings", {})
    if not isinstance(raw_cross, dict):
        chk.add("crossings", "must be a table of crossings", '[crossings."Bab al-Hawa crossing"]')
        raw_cross = {}
    for cname, craw in raw_cross.items():
        check_names([cname], f"crossings.{cname}", ("crossing",))
        c = chk.table(craw, CROSSING_FIELDS, f"crossings.{cname}.")
        if c["open"] and c["daily_capacity"] == 0:
            chk.add(
                f"crossings.{cname}.daily_capacity",
                "the crossing is open but lets 0 people a day through",
                "give daily_capacity > 0 or set open = false",
            )
        if None not in c.values():
            crossings[cname] = Crossing(bool(c["open"]), int(c["daily_capacity"]))
    if world is not None:
        for i in range(world.n):
            if world.kind[i] == "crossing" and world.names[i] not in crossings:
                crossings[world.names[i]] = Crossing(False, 0)

    # Events
    events: list[Event] = []
    raw_events = merged.get("events", {})
    if isinstance(raw_events, list):
        chk.add(
            "events",
            "events must be named tables ([events.my_event]), not an array ([[events]])",
            "write each event as [events.some_name] so that scenarios that extend this one can change it by name",
        )
        raw_events = {}
    elif not isinstance(raw_events, dict):
        chk.add("events", "must be a table of named events", "write [events.some_name]")
        raw_events = {}
    conflict = sec["conflict"]
    bombardment_rows: tuple = ()
    btable = conflict.get("bombardment_table")
    if isinstance(btable, str) and btable.strip() and Path(btable).is_file() and names is not None:
        from .conflict import load_bombardment_table  # late import: conflict imports config

        try:
            bombardment_rows = load_bombardment_table(Path(btable), names)
            files.append(Path(btable))
        except InputError as exc:
            chk.problems.extend(exc.problems)
    camp_rows: tuple = ()
    ctable = g.get("camp_table")
    if isinstance(ctable, str) and ctable.strip() and Path(ctable).is_file() and names is not None:
        from .conflict import load_camp_table  # late import: conflict imports config

        try:
            camp_rows = load_camp_table(Path(ctable), names)
            files.append(Path(ctable))
        except InputError as exc:
            chk.problems.extend(exc.problems)
    for eid, eraw in raw_events.items():
        prefix = f"events.{eid}."
        if not isinstance(eraw, dict):
            chk.add(
                f"events.{eid}",
                f"must be a table, got {_kind(eraw)}",
                f"write [events.{eid}] with kind = ...",
            )
            continue
        kind = eraw.get("kind")
        if kind not in EVENT_KINDS:
            if kind is None:
                chk.add(
                    f"{prefix}kind",
                    "missing required field 'kind'",
                    f"add kind = one of {', '.join(EVENT_KINDS)}",
                )
            else:
                chk.add(
                    f"{prefix}kind",
                    f"unknown event kind {_short(kind)}",
                    did_you_mean(str(kind), EVENT_KINDS),
                )
            continue
        spec = _COMMON_EVENT_FIELDS + EVENT_KINDS[kind][1]
        spec = tuple(
            Field(
                f.name,
                f.type,
                f.default,
                f.doc,
                f.unit,
                f.lo,
                f.hi,
                tuple(EVENT_KINDS) if f.name == "kind" else f.choices,
            )
            for f in spec
        )
        e = chk.table(eraw, spec, prefix)
        if not e.get("enabled", True):
            continue
        if isinstance(e.get("source"), str) and not e["source"].strip():
            chk.add(
                f"{prefix}source",
                "is empty: every event names its public source",
                'source = "OCHA Sitrep 10 (23 Aug 2019) https://..." or "what-if: ..."',
            )
        if None in (e.get(f.name) for f in spec if f.required):
            continue
        if "locations" in e:
            check_names(e["locations"], f"{prefix}locations")
        if kind == "border":
            check_names([e["crossing"]], f"{prefix}crossing", ("crossing",))
            if e["open"] and e["daily_capacity"] == 0:
                chk.add(
                    f"{prefix}daily_capacity",
                    "the crossing opens but lets 0 people a day through",
                    "give daily_capacity > 0",
                )
        if kind == "route_closure" and world is not None:
            check_names(list(e["between"]), f"{prefix}between")
            a, b = e["between"]
            if a in world.index and b in world.index and world.route_index(a, b) is None:
                chk.add(
                    f"{prefix}between",
                    f"there is no road between '{a}' and '{b}' in the routes file",
                    "name two places joined by a row of routes.csv",
                )
        # dates
        d0 = e.get("start", e.get("date"))
        d1 = e.get("end") if "end" in e else d0
        if "end" in e and e["end"] is None and period_ok:
            d1 = end
        if period_ok and isinstance(d0, date):
            key = "start" if "start" in e else "date"
            if not (start <= d0 <= end):
                chk.add(
                    f"{prefix}{key}",
                    f"{d0} is outside the scenario period {start} to {end}",
                    "move the event into the period or change [scenario] start/end",
                )
            if isinstance(d1, date) and "end" in e and e["end"] is not None:
                if d1 < d0:
                    chk.add(f"{prefix}end", f"end {d1} is before start {d0}", "swap the dates")
                elif d1 > end:
                    chk.add(
                        f"{prefix}end",
                        f"{d1} is after the scenario end {end}",
                        "end the event by the scenario end",
                    )
        if kind in ("bombardment", "ground_assault") and e.get("intensity") is None:
            e["intensity"] = conflict[
                "bombardment_intensity" if kind == "bombardment" else "assault_intensity"
            ]
        if kind == "ceasefire" and e.get("factor") is None:
            e["factor"] = conflict["ceasefire_factor"]
        if "end" in e and e["end"] is None:
            e["end"] = end
        if kind in ("capture", "camp_capacity"):
            e["start"] = e.pop("date")
        events.append(
            Event(
                id=eid,
                kind=kind,
                source=e["source"],
                note=e.get("note", ""),
                locations=tuple(e.get("locations") or ()),
                start=e.get("start"),
                end=e.get("end"),
                intensity=e.get("intensity"),
                by=e.get("by"),
                factor=e.get("factor"),
                crossing=e.get("crossing"),
                open=e.get("open"),
                daily_capacity=e.get("daily_capacity"),
                capacity=e.get("capacity"),
                between=e.get("between"),
            )
        )

    if chk.problems:
        raise InputError(chk.problems)

    beh_values = sec["behaviour"]
    pfile = beh_values.pop("parameters")
    behaviour = Behaviour(**beh_values)
    events.sort(key=lambda ev: (ev.start, ev.id))
    scenario = Scenario(
        path=root,
        name=s["name"],
        title=s["title"],
        label=s["label"] or s["name"],
        description=s["description"],
        start=start,
        end=end,
        report_from=s["report_from"],
        observed=Path(s["observed"]) if s["observed"] else None,
        population_total=int(sec["population"]["total"]),
        household_size=float(sec["population"]["household_size"]),
        locations_file=Path(g["locations"]),
        routes_file=Path(g["routes"]),
        government_held=tuple(g["government_held"]),
        conflict=dict(conflict),
        behaviour=behaviour,
        parameters_file=Path(pfile) if pfile else None,
        crossings=crossings,
        events=tuple(events),
        files=tuple(dict.fromkeys(files + ([Path(s["observed"])] if s["observed"] else []))),
        bombardment_table=bombardment_rows,
        camp_table=camp_rows,
        camp_table_file=str(g.get("camp_table") or ""),
        needs=dict(sec["needs"]),
    )
    object.__setattr__(scenario, "resolved", resolved_dict(scenario))
    return scenario


def _behaviour_section(raw: Any, chk: _Checker, files: list[Path]) -> dict:
    """Defaults <- parameter file <- values in the scenario's [behaviour] table."""
    if not isinstance(raw, dict):
        chk.add("behaviour", f"must be a table, got {_kind(raw)}", "write [behaviour]")
        raw = {}
    fromfile: dict[str, Any] = {}
    pfile = raw.get("parameters")
    if isinstance(pfile, str) and pfile.strip():
        if Path(pfile).is_file():  # a missing file or a folder is reported by chk.table
            try:
                fromfile = load_parameters(Path(pfile))
                files.append(Path(pfile))
            except InputError as exc:
                chk.problems.extend(exc.problems)
    return chk.table(raw, BEHAVIOUR_FIELDS, "behaviour.", defaults=fromfile)


def _iso(v: Any) -> Any:
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, tuple):
        return [_iso(x) for x in v]
    return v


def resolved_dict(sc: Scenario) -> dict[str, Any]:
    """The scenario as plain data with every default filled in (for manifests and `validate --show`)."""
    events = {}
    for e in sc.events:
        spec = _COMMON_EVENT_FIELDS + EVENT_KINDS[e.kind][1]
        d = {}
        for f in spec:
            name = f.name
            if name == "enabled":
                continue
            attr = "start" if name == "date" else name
            d[name] = _iso(getattr(e, attr))
        events[e.id] = d
    return {
        "scenario": {
            "name": sc.name,
            "title": sc.title,
            "label": sc.label,
            "description": sc.description,
            "start": sc.start.isoformat(),
            "end": sc.end.isoformat(),
            "report_from": sc.report_from.isoformat(),
            "observed": str(sc.observed) if sc.observed else "",
        },
        "population": {"total": sc.population_total, "household_size": sc.household_size},
        "geography": {
            "locations": str(sc.locations_file),
            "routes": str(sc.routes_file),
            "government_held": list(sc.government_held),
            "camp_table": sc.camp_table_file,
        },
        "conflict": dict(sc.conflict),
        "behaviour": {"parameters": str(sc.parameters_file or ""), **sc.behaviour.as_dict()},
        "needs": {f.name: sc.needs.get(f.name, f.default) for f in NEEDS_FIELDS},
        "crossings": {
            k: {"open": v.open, "daily_capacity": v.daily_capacity}
            for k, v in sorted(sc.crossings.items())
        },
        "events": events,
    }
