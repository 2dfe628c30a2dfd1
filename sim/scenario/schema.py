"""The scenario schema: every table and field of a scenario file, declared once.

Each field carries its type (:mod:`sim.scenario.types`), default, range (``ge``/``le``),
meaning (``description``) and, in ``json_schema_extra``, its unit, its public source,
whether the 2019 calibration fits it (:class:`FitSpec`) and the range the sensitivity analysis
varies it over. Everything else is derived from here: the checks and messages of
:mod:`sim.scenario.loading`, ``docs/scenario-reference.md`` (:mod:`sim.schema_doc`), the
resolved scenario in each manifest (a model dump), the fitted-parameter list of
:mod:`sim.analysis.calibration` (:func:`fit_parameters`) and the sensitivity ranges
(:func:`sensitivity_ranges`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .types import (
    Day,
    FilePath,
    Flag,
    Kind,
    Names,
    Number,
    Pair,
    PlaceName,
    Share,
    SomeNames,
    Str,
    Text,
    Whole,
    choice,
    extra_of,
    kind_of,
)

MAX_DAYS = 1100  # about three years
MAX_POPULATION = 20_000_000  # north-west Syria holds some 4-5 million people
MIN_POPULATION = 1_000
FIT_2019 = "scenarios/params/idlib_2019_fit.toml"


@dataclass(frozen=True)
class FitSpec:
    """How the 2019 calibration (:mod:`sim.analysis.calibration`) treats a behaviour parameter.

    ``rank``: position in the default fit (None: fitted only on request); ``space``: the
    search space ("log" or "logit"); ``start``: starting value (None: the default);
    ``held``: the value the default fit holds it at and writes into the parameter file.
    """

    space: str
    why: str
    start: float | None = None
    rank: int | None = None
    held: float | None = None
    held_why: str = ""


def param(
    default: Any = PydanticUndefined,
    doc: str = "",
    *,
    unit: str = "",
    ge: float | None = None,
    le: float | None = None,
    source: str = "",
    fit: FitSpec | None = None,
    sensitivity: tuple[float, float] | None = None,
) -> Any:
    """A field with its declaration (no default: required)."""
    extra: dict[str, Any] = {"unit": unit, "source": source}
    if fit is not None:
        extra["fit"] = asdict(fit)
    if sensitivity is not None:
        extra["sensitivity"] = list(sensitivity)
    return Field(default, description=doc, ge=ge, le=le, json_schema_extra=extra)


class Table(BaseModel):
    """A TOML table: unknown keys are errors, values are frozen once checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --------------------------------------------------------------------------------------
# The sections
# --------------------------------------------------------------------------------------


class ScenarioSection(Table):
    """What the scenario is and the period it covers."""

    name: Str = param(
        doc="Short identifier used for the results folder (letters, digits, _ and -)."
    )
    title: Str = param(doc="One-line title printed on plots and in the summary.")
    label: Str = param("", "Short label for plot legends; empty means the name.")
    description: Text = param("", "What the scenario represents and where its events come from.")
    start: Day = param(doc="First simulated day (the population is at home at dawn of this day).")
    end: Day = param(doc="Last simulated day (inclusive).")
    report_from: Day | None = param(
        None,
        "First day reported in the outputs; cumulative counts start here. Days before it "
        "are a warm-up that brings the population to the state of that date "
        "(e.g. the winter 2019-2020 scenario replays 2019 first). Empty means `start`.",
    )
    observed: FilePath = param(
        "",
        "CSV of observed figures for this period (plots and `idlibsim score`); empty for none.",
    )


class PopulationSection(Table):
    """Who is simulated."""

    total: Whole = param(
        4_000_000,
        "Civilians simulated at the start. Camp residents are taken from the locations file "
        "as counted; the rest is shared out in proportion to the sub-district estimates (with the "
        "shipped locations file, whose populated rows sum to exactly 4,000,000, nothing is scaled).",
        unit="people",
        ge=MIN_POPULATION,
        le=MAX_POPULATION,
        source="UN: 'some 4 million' people in north-west Syria (OCHA situation reports 12-13, 2019), "
        "including the opposition-held northern Aleppo districts; OCHA's mid-2019 reports give about "
        "3 million for the de-escalation zone itself. The shipped sub-districts sum to 3.0 million in "
        "the zone and 1.0 million in northern Aleppo: see scenarios/data/SOURCES.md.",
    )
    household_size: Number = param(
        5.0,
        "Mean household size; sizes are 1 + Poisson(mean - 1).",
        unit="people",
        ge=1.0,
        le=15.0,
        source="HNAP IDP demographic survey methodology (Sept 2021): 'an average household size "
        "of 5 members throughout the country'.",
    )


class GeographySection(Table):
    """The places and roads."""

    locations: FilePath = param(
        "data/locations.csv", "Places: sub-districts, camp clusters, crossings, host areas."
    )
    routes: FilePath = param(
        "data/routes.csv", "Road links between places with their length in km."
    )
    government_held: Names = param(
        (),
        "Places under government control at the start in addition to the locations file's "
        "`control` column (for scenarios that start after earlier captures).",
    )
    camp_table: FilePath = param(
        "",
        "CSV of dated camp and site capacities (columns place, date, capacity in people; see "
        "docs/model.md): each row sets the place's formal camp places from its date on, after the "
        "locations file and before `camp_capacity` events. Empty means none.",
        source="scenarios/data/camps_sites_2019.csv: CCCM ISIMM rounds of 2019 by sub-district "
        "(occupancy; capacity ESTIMATE), see scenarios/data/SOURCES.md.",
    )


class ConflictSection(Table):
    """Default intensities of conflict events."""

    bombardment_intensity: Share = param(
        0.5,
        "Intensity of a `bombardment` event that does not give its own: regular airstrikes and "
        "shelling. 1 is the heaviest sustained bombardment of the 2019 campaign.",
        unit="0-1",
        source="ESTIMATE: a scale, not a measurement; see docs/model.md.",
    )
    assault_intensity: Share = param(
        1.0,
        "Intensity of a `ground_assault` event that does not give its own.",
        unit="0-1",
        source="ESTIMATE: a ground assault is the top of the scale.",
    )
    ceasefire_factor: Share = param(
        0.2,
        "Factor on all intensities during a `ceasefire` event that does not give its own "
        "(0 = complete calm, 1 = ceasefire not respected).",
        unit="0-1",
        source="ESTIMATE: shelling continued along the front during the 2019 ceasefires (OCHA sitreps).",
    )
    bombardment_table: FilePath = param(
        "",
        "CSV of weekly bombardment intensities per place derived from conflict event data "
        "(columns place, week_start, week_end, intensity; see docs/model.md). Each row acts as a "
        "`bombardment` event for its week, on top of the scenario's events. Empty means none.",
        source="scenarios/data/ged_bombardment_2019.csv: UCDP GED 20.1 (CC BY 4.0), rule in "
        "sim/model/conflict.py, built as scenarios/data/SOURCES.md describes.",
    )


class Behaviour(Table):
    """The behaviour parameters a run uses: the [behaviour] table without the file it names."""

    flee_rate: Number = param(
        0.1,
        "Daily hazard of flight for a household of average propensity at expected danger 1: "
        "p = 1 - exp(-propensity * h), h = flee_rate * (max(0, E - fear_tolerance) / "
        "(1 - fear_tolerance))^fear_exponent + bombardment_rate * B, E the expected danger and "
        "B the sustained bombardment at its place (docs/model.md section 4).",
        unit="1/day",
        ge=0.0,
        le=20.0,
        source="Fitted to the 2019 OCHA/CCCM series (idlibsim calibrate).",
        fit=FitSpec(
            "log",
            "response to expected danger (ground assault, the front at the door): the first wave",
            start=0.9805,
            rank=0,
        ),
    )
    propensity_shape: Number = param(
        1.0,
        "Shape k of the gamma distribution (mean 1) of household propensity to flee. Small k: "
        "a few households leave at once and many stay long; large k: all alike.",
        unit="-",
        ge=0.05,
        le=100.0,
        source="Fitted to the 2019 OCHA/CCCM series (idlibsim calibrate): the fast first wave "
        "and the slower summer.",
        fit=FitSpec(
            "log",
            "how much households differ in readiness to flee: a fast first wave, then a summer "
            "that slows as the readiest have gone",
            start=0.3031,
            rank=1,
        ),
    )
    fear_distance_km: Number = param(
        10.0,
        "e-folding road distance over which danger at one place frightens its neighbours.",
        unit="km",
        ge=0.1,
        le=200.0,
        source="ESTIMATE (not fitted: the 2019 figures do not separate it; see the sensitivity "
        "analysis of the calibration report).",
        sensitivity=(5.0, 20.0),
    )
    fear_tolerance: Share = param(
        0.05,
        "Fear households live with: the rules use max(0, fear - tolerance) / (1 - tolerance). "
        "Distant shelling alone does not make people leave.",
        unit="0-1",
        source="ESTIMATE (not fitted by default).",
        fit=FitSpec("logit", "background fear people live with"),
    )
    fear_exponent: Number = param(
        1.0,
        "Shape of the response to fear: the hazard grows as (excess fear)^exponent. Above 1, "
        "bombardment alone moves people gradually while a ground assault moves nearly everyone.",
        unit="-",
        ge=0.2,
        le=10.0,
        source="ESTIMATE from the earlier totals-only fit to the 2019 OCHA series; held fixed in "
        "the current fit (with the front's threat in the expected danger the data no longer "
        "separate it from front_distance_km).",
        fit=FitSpec(
            "log",
            "convexity of the response to expected danger",
            start=6.9,
            held=6.963,
            held_why="convexity of the response to expected danger, from the earlier totals-only "
            "2019 fit (report of 2026-11-25); not separable from front_distance_km with the "
            "front in E",
        ),
        sensitivity=(3.5, 10.0),
    )
    fear_memory_days: Number = param(
        7.0,
        "e-folding time of remembered danger: fear(t) = max(danger(t), fear(t-1) * exp(-1/memory)). "
        "0 means no memory.",
        unit="days",
        ge=0.0,
        le=365.0,
        source="ESTIMATE (assumption of the model).",
    )
    travel_km_per_day: Number = param(
        60.0,
        "Road distance a household covers per day (most fled by car, truck or tractor on "
        "congested roads).",
        unit="km/day",
        ge=1.0,
        le=1000.0,
        source="ESTIMATE; Flee (Suleimenova et al. 2017) uses 200 km/day for vehicles, "
        "we assume congestion and checkpoints.",
    )
    destination_distance_km: Number = param(
        40.0,
        "Median over households of the e-folding road distance in the attractiveness of a "
        "destination (farther is less likely).",
        unit="km",
        ge=1.0,
        le=1000.0,
        source="Fitted to REACH ISMI's 2019 arrival shares and the OCHA series (idlibsim "
        "calibrate): short hops against the long way to the northern border areas.",
        fit=FitSpec(
            "log",
            "how far households flee: short hops vs the northern border areas (ISMI shares)",
            start=72.04,
            rank=4,
        ),
    )
    destination_distance_spread: Number = param(
        1.0,
        "Households differ in how far they are able or willing to go (vehicle, money, kin "
        "far away): each household's distance scale is destination_distance_km * exp(spread * z), "
        "z standard normal (log-normal across households, in 5 quantile classes). 0: all alike.",
        unit="-",
        ge=0.0,
        le=5.0,
        source="ESTIMATE (not fitted by default).",
        fit=FitSpec("log", "spread of households' reach"),
    )
    reach_danger_exponent: Number = param(
        0.0,
        "How far a move goes depends on the danger at the place left: a household's distance "
        "scale (destination_distance_km, spread) is multiplied by max(E_i, fear_tolerance)^b, E_i "
        "the danger expected where it leaves from (1 under a ground assault, the front at the door "
        "or a capture). b = 0: the same reach whatever the danger; b > 0: households fleeing the "
        "front or heavy bombardment go the long way, those leaving occasional strikes go to the "
        "nearest quiet place, and those moving on from an overflow site (for shelter, not from "
        "danger) to the nearest place with room.",
        unit="-",
        ge=0.0,
        le=10.0,
        source="Fitted to REACH ISMI's 2019 arrival shares by sub-district (idlibsim calibrate): "
        "in May, from the front, 71 % went to Dana; in June and July, with strikes spread over "
        "Idleb, Dana had a quarter and the nearer Maaret Tamsrin, Salqin and Darkush much of the rest.",
        fit=FitSpec(
            "log",
            "how far a move goes by the danger left behind: the long way to the border camps from "
            "the front (May), nearer quiet places from scattered strikes (ISMI June-July)",
            start=2.39,
            rank=7,
        ),
    )
    safety_weight: Number = param(
        2.0,
        "Exponent a on (1 - E_j) in the attractiveness of destination j, E_j the danger "
        "expected there (remembered danger and the front's anticipated threat): places under "
        "fire or in the path of the advance are avoided.",
        unit="-",
        ge=0.0,
        le=50.0,
        source="ESTIMATE; held fixed in the 2019 fit (front-line places are not among REACH "
        "ISMI's main destinations).",
        fit=FitSpec(
            "log",
            "avoiding places under fire or in the path",
            start=8.0,
            held=8.0,
            held_why="ESTIMATE: a place under heavy bombardment (expected danger 0.5) is 0.5^8 = "
            "1/256 as attractive as a quiet one; ISMI never lists front-line sub-districts among "
            "the main destinations (Flee's fixed conflict weight, 0.32, is far milder)",
        ),
        sensitivity=(4.0, 16.0),
    )
    border_pull_km: Number = param(
        25.0,
        "e-folding distance to the Turkish border in the pull of the border areas (places by "
        "the border were rarely bombed and have the camps, the aid hubs and kin): the straight-line "
        "km of the locations file's border_km column, else the road km to the nearest crossing.",
        unit="km",
        ge=1.0,
        le=1000.0,
        source="Fitted to REACH ISMI's 2019 arrival shares by sub-district (idlibsim calibrate).",
        fit=FitSpec(
            "log",
            "pull of the border areas (aid hubs, kin; km to the border line): northern Aleppo's "
            "share, the western Harim border areas (ISMI)",
            start=112.6,
            rank=5,
        ),
    )
    crowding_floor: Share = param(
        0.05,
        "Shelter a full place still offers, as a share of its host and camp places: the pull "
        "of a place is S = max(free places, crowding_floor * places); people still go to full "
        "places and settle in informal sites.",
        unit="0-1",
        source="ESTIMATE.",
    )
    camp_weight: Number = param(
        1.0,
        "Pull of camps (after Flee's camp_weight): a destination's shelter (free places, "
        "floored) plus (camp_weight - 1) * its formal camp places, full or not (full camp areas "
        "kept receiving people, who settled beside them). 1: camps draw as much as host "
        "communities with the same room; 0: camp places draw nothing.",
        unit="-",
        ge=0.0,
        le=100.0,
        source="Fitted to REACH ISMI's 2019 arrival shares (idlibsim calibrate); Flee's default "
        "camp_weight is 1 (early Flee versions used 2).",
        fit=FitSpec(
            "log",
            "pull of camps by their size, full or not (aid, registration, services; Flee's camp "
            "weight): Dana's share (ISMI)",
            start=7.958,
            rank=6,
        ),
    )
    host_capacity_share: Number = param(
        0.15,
        "Displaced people a community can host in homes, rented rooms and unfinished buildings, "
        "as a share of its residents.",
        unit="-",
        ge=0.0,
        le=5.0,
        source="ESTIMATE; REACH May 2018: IDPs were already on average 36% of the population of "
        "assessed communities.",
        fit=FitSpec("log", "room in host communities"),
        sensitivity=(0.075, 0.30),
    )
    host_preference: Share = param(
        0.65,
        "Share of displaced households that look for a place in a host community (relatives, "
        "renting, unfinished buildings) and take a camp place only if none is free; the others "
        "go to camps, or to informal sites when the camps are full.",
        unit="0-1",
        source="OCHA Humanitarian Update Syrian Arab Republic, Issue 04 (25 July 2019): 'roughly "
        "two-thirds of people displaced are staying outside camps'",
        fit=FitSpec("logit", "share of households seeking host places"),
    )
    return_rate: Share = param(
        0.01,
        "Daily probability that a displaced household sets off home when home is quiet (no "
        "danger expected there) and not captured: p = return_rate * (1 - E_home / "
        "return_fear_threshold), 0 when the expected danger E_home reaches the threshold.",
        unit="1/day",
        source="ESTIMATE; REACH/CCCM ISMI reported a few thousand spontaneous returns a month in mid-2019.",
    )
    return_fear_threshold: Share = param(
        0.25,
        "Expected danger at home (remembered danger and the front's threat) at which "
        "returns stop; below it they grow linearly to return_rate in a quiet home.",
        unit="0-1",
        source="ESTIMATE: a quarter of the danger of a ground assault (strikes now and then "
        "nearby); REACH ISMI recorded returns during the 2019 fighting (e.g. 2,730 to Maarrat "
        "al-Nu'man in June 2019, a town under repeated strikes), so homes need not be quiet.",
    )
    return_min_days: Whole = param(
        14,
        "Days a household stays displaced before it considers going back.",
        unit="days",
        ge=0,
        le=3650,
        source="ESTIMATE.",
    )
    front_line_penalty_km: Number = param(
        1000.0,
        "Extra route length charged for passing through a government-held place: such routes "
        "are used only when no other exists (an encircled pocket).",
        unit="km",
        ge=0.0,
        le=100000.0,
        source="Modelling choice.",
    )
    front_distance_km: Number = param(
        15.0,
        "e-folding road distance of the front's threat: A = exp(-max(0, d - T v) / L), d the "
        "road km to the nearest ground assault or recent capture, v its speed of approach, T = "
        "front_lookahead_days. The threat raises the expected danger E = 1 - (1 - fear)(1 - A), "
        "which drives flight, the choice of destination and returns. 0 turns the front off.",
        unit="km",
        ge=0.0,
        le=500.0,
        source="Fitted to the 2019 OCHA series and REACH ISMI shares (idlibsim calibrate).",
        fit=FitSpec(
            "log",
            "how far ahead of the front people leave, and avoid going: the August advance",
            start=1.599,
            rank=3,
        ),
    )
    front_lookahead_days: Number = param(
        7.0,
        "How far ahead households project the front: its speed of approach is measured over "
        "the last T days and a place counts as being as close to the front as it will be in T days.",
        unit="days",
        ge=0.0,
        le=60.0,
        source="ESTIMATE: people in Maarrat al-Nu'man and Saraqib left days before the front "
        "arrived (OCHA flash updates, August 2019 and December 2019).",
        sensitivity=(3.0, 14.0),
    )
    front_max_speed_km_per_day: Number = param(
        2.0,
        "Fastest approach of the front households project: the measured speed v is capped "
        "here, so that a new assault far from the old front (the nearest front place jumping) "
        "is not read as an advance.",
        unit="km/day",
        ge=0.0,
        le=100.0,
        source="ESTIMATE: the 2019 ground advances covered about 1 km a day (al-Habit, 11 "
        "August, to Khan Shaykhun, 20-21 August 2019: about 10 km; Wikipedia 'Northwestern Syria "
        "offensive (April-August 2019)').",
    )
    front_capture_days: Whole = param(
        14,
        "Days a change of control keeps a place on the front (a recent capture is where the "
        "next assault starts from).",
        unit="days",
        ge=0,
        le=365,
        source="ESTIMATE.",
    )
    bombardment_rate: Number = param(
        0.02,
        "Daily hazard of flight per unit of sustained bombardment B (added to the response "
        "to expected danger; see flee_rate).",
        unit="1/day",
        ge=0.0,
        le=5.0,
        source="Fitted to the 2019 OCHA series (idlibsim calibrate): the summer of 2019 "
        "displaced people steadily with little ground advance.",
        fit=FitSpec(
            "log",
            "steady flight under sustained air strikes: the growth of the summer without advances",
            start=0.001893,
            rank=2,
        ),
    )
    bombardment_memory_days: Number = param(
        14.0,
        "e-folding time T of sustained bombardment B(t) = B(t-1) e^(-1/T) + (1 - e^(-1/T)) "
        "I_b(t), I_b the day's bombardment intensity at the place: weeks of strikes, not one.",
        unit="days",
        ge=0.0,
        le=365.0,
        source="ESTIMATE.",
    )
    onward_days: Whole = param(
        30,
        "Days after its last flight during which a household in an informal site may move "
        "on (onward_rate); after that it has settled in an informal settlement.",
        unit="days",
        ge=0,
        le=3650,
        source="ESTIMATE: reception centres were transit places for days to weeks (OCHA sitreps "
        "2019); informal settlements beside the camps lasted for years (CCCM ISIMM).",
    )
    onward_rate: Share = param(
        0.03,
        "Daily probability that a household in an informal site (a reception centre, an "
        "overflow site, a full place) moves on to a place with room: host communities or camps "
        "elsewhere, chosen like a destination.",
        unit="1/day",
        source="ESTIMATE: 'over the following weeks', a mean stay of about a month; OCHA sitreps "
        "2019: the share of the newly displaced in camps and reception centres fell from 54% in "
        "early May to about a third by July as people moved on.",
        fit=FitSpec("logit", "moving on from informal sites"),
        sensitivity=(0.01, 0.1),
    )

    def replace(self, **changes: float) -> Behaviour:
        """A copy with some parameters changed (calibration, sensitivity)."""
        unknown = set(changes) - set(type(self).model_fields)
        if unknown:
            raise KeyError(f"unknown behaviour parameters: {sorted(unknown)}")
        return self.model_copy(update=changes)

    def as_dict(self) -> dict[str, float]:
        return self.model_dump()


class ParameterFileField(Table):
    parameters: FilePath = param(
        "",
        "TOML file of fitted behaviour parameters (written by `idlibsim calibrate`). Values in "
        "this [behaviour] table override it; fields in neither take the defaults below.",
    )


class BehaviourSection(Behaviour, ParameterFileField):
    """Parameters of the households' rules (see docs/model.md)."""

    def behaviour(self) -> Behaviour:
        """The parameters alone (without the file they came from)."""
        return Behaviour.model_construct(**{k: getattr(self, k) for k in Behaviour.model_fields})


class NeedsSection(Table):
    """Minimum standards that turn displaced people into needs (`needs.csv`); every figure
    cited, every one overridable."""

    covered_space_m2_per_person: Number = param(
        3.5,
        "Covered living space to provide for each displaced person without shelter "
        "(in informal sites or on the move; camp residents and hosted people are counted as "
        "sheltered).",
        unit="m2/person",
        ge=0.0,
        le=100.0,
        source="Sphere Handbook 2018, Shelter and settlement standard 3 (Living space), key "
        "indicator: minimum 3.5 m2 of living space per person, excluding cooking, bathing and "
        "sanitation space.",
    )
    water_litres_per_person_day: Number = param(
        15.0,
        "Water for drinking and domestic hygiene, for every displaced person.",
        unit="litres/person/day",
        ge=0.0,
        le=1000.0,
        source="Sphere Handbook 2018, WASH Water supply standard 2.1 (Access and water "
        "quantity), key indicator: minimum 15 litres per person per day.",
    )
    people_per_latrine: Number = param(
        20.0,
        "People sharing one communal toilet, for displaced people in camps and informal "
        "sites (hosted people use their hosts' toilets); latrines are rounded up per place.",
        unit="people/latrine",
        ge=1.0,
        le=1000.0,
        source="Sphere Handbook 2018, WASH Excreta management standard 3.2 and Appendix 4 "
        "(minimum numbers of toilets): 1 shared toilet per 20 people.",
    )
    kcal_per_person_day: Number = param(
        2100.0,
        "Food energy for every displaced person.",
        unit="kcal/person/day",
        ge=0.0,
        le=10000.0,
        source="Sphere Handbook 2018, Food security and nutrition, Appendix 6 (Nutritional "
        "requirements): 2,100 kcal per person per day.",
    )
    nfi_kits_per_household: Number = param(
        1.0,
        "Non-food-item kits (bedding, mats, kitchen set, jerrycans, hygiene items) per "
        "displaced household in camps, informal sites or on the move; households = people / "
        "`population.household_size`.",
        unit="kits/household",
        ge=0.0,
        le=10.0,
        source="ESTIMATE: planning assumption of one standard household kit per displaced "
        "household, following Sphere Handbook 2018 Shelter and settlement standard 4 (Household "
        "items); the kit's content is the cluster's, not modelled.",
    )
    winterisation_kits_per_household: Number = param(
        1.0,
        "Winterisation kits (extra blankets, heating fuel or stove, winter clothes) per "
        "displaced household in camps, informal sites or on the move, during the winter months.",
        unit="kits/household",
        ge=0.0,
        le=10.0,
        source="ESTIMATE: planning assumption of one kit per displaced household, following "
        "Sphere Handbook 2018 Shelter and settlement standard 4 (thermal comfort).",
    )
    winter_start_month: Whole = param(
        11,
        "First month (1-12) in which winterisation kits are needed.",
        unit="month",
        ge=1,
        le=12,
        source="ESTIMATE: north-west Syria winter response plans run about November to March.",
    )
    winter_end_month: Whole = param(
        3,
        "Last month (1-12, inclusive) in which winterisation kits are needed; may be "
        "before `winter_start_month` (the winter spans the new year).",
        unit="month",
        ge=1,
        le=12,
        source="ESTIMATE: as `winter_start_month`.",
    )


class Crossing(Table):
    """Border policy at the start for a place of kind `crossing`; crossings not listed are
    closed."""

    open: Flag = param(False, "Whether civilians may cross into Turkey at the start.")
    daily_capacity: Whole = param(
        0, "People who may cross per day when open.", unit="people/day", ge=0, le=1_000_000
    )


# --------------------------------------------------------------------------------------
# Events: a union discriminated by `kind`
# --------------------------------------------------------------------------------------

_END_DOC = "Last day (inclusive); empty means the scenario end."


class EventFields(Table):
    """Fields common to all kinds."""

    kind: Annotated[str, Kind("choice")] = param(doc="What happens (see the kinds below).")
    source: Text = param(doc="Public source of the event, or 'what-if: ...' for a hypothesis.")
    note: Text = param("", "Free text.")
    enabled: Flag = param(
        True, "Set to false in a scenario that extends another to drop the event."
    )
    _id: str = PrivateAttr("")

    @property
    def id(self) -> str:
        """The event's name in the file ([events.ID])."""
        return self._id

    def named(self, eid: str, **changes: Any) -> Any:
        """A copy named ``eid`` (with ``changes``, unchecked: the loader's resolved values)."""
        ev = self.model_copy(update=changes)
        ev._id = eid
        return ev


class Bombardment(EventFields):
    """Airstrikes and shelling on places from `start` to `end` at an intensity."""

    kind: Literal["bombardment"]
    locations: SomeNames = param(doc="Places bombarded.")
    start: Day = param(doc="First day.")
    end: Day | None = param(None, _END_DOC)
    intensity: Share | None = param(
        None, "Empty means [conflict] bombardment_intensity.", unit="0-1"
    )


class GroundAssault(EventFields):
    """Fighting on the ground in and around places."""

    kind: Literal["ground_assault"]
    locations: SomeNames = param(doc="Places assaulted.")
    start: Day = param(doc="First day.")
    end: Day | None = param(None, _END_DOC)
    intensity: Share | None = param(None, "Empty means [conflict] assault_intensity.", unit="0-1")


class Capture(EventFields):
    """Change of control on `date`. A place captured by the government empties: everyone there
    leaves that day, and nobody returns while it is held."""

    kind: Literal["capture"]
    locations: SomeNames = param(doc="Places captured.")
    date: Day = param(doc="Day of the capture.")
    by: choice("government", "opposition") = param("government", "New controller.")

    @property
    def start(self) -> dt.date:
        return self.date


class Ceasefire(EventFields):
    """All intensities at the given places (all places if none) are multiplied by `factor`."""

    kind: Literal["ceasefire"]
    locations: Names = param((), "Places covered; empty means everywhere.")
    start: Day = param(doc="First day.")
    end: Day | None = param(None, _END_DOC)
    factor: Share | None = param(None, "Empty means [conflict] ceasefire_factor.", unit="0-1")


class Border(EventFields):
    """A border crossing opens or closes for civilians from `start` to `end`."""

    kind: Literal["border"]
    crossing: PlaceName = param(doc="A place of kind 'crossing'.")
    start: Day = param(doc="First day.")
    end: Day | None = param(None, _END_DOC)
    open: Flag = param(doc="Open (true) or closed (false) for civilians.")
    daily_capacity: Whole = param(
        0, "People who may cross per day.", unit="people/day", ge=0, le=1_000_000
    )


class CampCapacity(EventFields):
    """The formal camp capacity of places changes from `date` on (new camps, closures)."""

    kind: Literal["camp_capacity"]
    locations: SomeNames = param(doc="Places whose camps change.")
    date: Day = param(doc="Day the new capacity applies.")
    capacity: Whole = param(doc="Formal camp places.", unit="people", ge=0, le=10_000_000)

    @property
    def start(self) -> dt.date:
        return self.date


class RouteClosure(EventFields):
    """A road link is impassable from `start` to `end`."""

    kind: Literal["route_closure"]
    between: Pair = param(doc='The two places the road joins, e.g. ["Hish", "Maarrat al-Nu\'man"].')
    start: Day = param(doc="First day.")
    end: Day | None = param(None, _END_DOC)


EVENT_TYPES: tuple[type[EventFields], ...] = (
    Bombardment,
    GroundAssault,
    Capture,
    Ceasefire,
    Border,
    CampCapacity,
    RouteClosure,
)
#: kind -> its model, in the order of the reference
EVENT_KINDS: dict[str, type[EventFields]] = {
    t.model_fields["kind"].annotation.__args__[0]: t for t in EVENT_TYPES
}
Event = Annotated[
    Bombardment | GroundAssault | Capture | Ceasefire | Border | CampCapacity | RouteClosure,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------------------


def _section(model: type[Table]) -> Any:
    return Field(default_factory=model, description=model.__doc__)


class ScenarioFile(Table):
    """A whole scenario file (after ``extends`` is merged). Loaded and checked against the
    world by :func:`sim.scenario.loading.load_scenario`, it is also the resolved scenario that
    manifests record (every default filled in)."""

    scenario: ScenarioSection = Field(description=ScenarioSection.__doc__)
    population: PopulationSection = _section(PopulationSection)
    geography: GeographySection = _section(GeographySection)
    conflict: ConflictSection = _section(ConflictSection)
    behaviour: BehaviourSection = _section(BehaviourSection)
    needs: NeedsSection = _section(NeedsSection)
    crossings: dict[str, Crossing] = Field(default_factory=dict)
    events: dict[str, Event] = Field(default_factory=dict)

    def resolved(self) -> dict[str, Any]:
        """Plain data for manifests and ``validate --show`` (``enabled`` is implied)."""
        return self.model_dump(
            mode="json", exclude={"events": {"__all__": {"enabled"}}}, round_trip=True
        )


#: name -> model of each section table ([scenario], [population] ...)
SECTIONS: dict[str, type[Table]] = {
    name: f.annotation
    for name, f in ScenarioFile.model_fields.items()
    if isinstance(f.annotation, type) and issubclass(f.annotation, Table)
}
TOP_LEVEL_KEYS = ("extends", *ScenarioFile.model_fields)
#: (section, key) of every field that is a file path, relative to the file that names it
PATH_FIELDS = tuple(
    (name, key)
    for name, model in SECTIONS.items()
    for key, f in model.model_fields.items()
    if kind_of(f).name == "path"
)


# --------------------------------------------------------------------------------------
# Derived lists
# --------------------------------------------------------------------------------------


def behaviour_fields() -> dict[str, FieldInfo]:
    return dict(Behaviour.model_fields)


def fits() -> dict[str, FitSpec]:
    """Behaviour parameter -> how the calibration treats it (fittable parameters only)."""
    return {
        name: FitSpec(**extra_of(f)["fit"])
        for name, f in Behaviour.model_fields.items()
        if "fit" in extra_of(f)
    }


def sensitivity_ranges() -> dict[str, tuple[float, float]]:
    """Unfitted behaviour parameters the sensitivity analysis varies: name -> (low, high)."""
    return {
        name: tuple(extra_of(f)["sensitivity"])
        for name, f in Behaviour.model_fields.items()
        if "sensitivity" in extra_of(f)
    }
