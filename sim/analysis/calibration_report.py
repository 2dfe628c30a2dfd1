"""`idlibsim calibrate`: fit, write the parameter file, and write the calibration report.

The report folder (``--out``, by default ``results/calibration_trials/<scenario>[-quick]/``;
``results/calibration/<scenario>/`` and the scenario's parameter file are replaced only
with ``--update-shipped``, never by a ``--quick`` fit) holds

``report.md``          what was fitted and why, values with 95 % intervals, errors, checks;
``fit.png``            model (median and 5-95 % band over seeds) against the observed
                       figures, movements and people in separate panels;
``targets.csv``        every observed figure of the period beside the model's value;
``scale_check.csv``    the fitted model at the reduced and at the full population scale;
``sensitivity.png/.csv`` one-at-a-time sensitivity of the 2019 headline;
``checks.csv``         figures that were not fitted (other agencies' versions, shares of
                       people in sites, departures by sub-district, returns; the
                       returns of September-October 2019, after the 2019 scenario's end,
                       from the winter scenario's replay of the autumn run to 31 October);
``winter_prediction.png/.csv``  the December 2019 - March 2020 scenario run with the
                       fitted parameters, as it comes (nothing fitted to it).
"""

from __future__ import annotations

import math
import os
import shutil
import stat
import time
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from sim.analysis.calibration import (
    FIT_PARAMETERS,
    FIXED_IN_FIT,
    ISMI_MEASURES,
    STAYING,
    Fit,
    Target,
    figure_format,
    fit,
    fit_summary,
    load_targets,
    locations_with_governorate,
    model_values,
    select_places,
    write_parameters,
)
from sim.analysis.ensemble import dask_client
from sim.errors import (
    InputError,
    OutputError,
    Problem,
    UsageError,
    describe_mode,
    not_a_regular_file,
    read_limited,
)
from sim.model.rng import replicate_seeds
from sim.observed import MEASURES, ard
from sim.outputs import plots as P
from sim.outputs.folders import ResultsFolder
from sim.outputs.results import PROJECT_ROOT, display_path, write_csv, write_json
from sim.outputs.runner import check_population_scale, simulate
from sim.provenance import source_info
from sim.safety import (
    FolderWriter,
    folder_files,
    not_our_folder,
    output_files,
    read_json,
    staged,
)
from sim.scenario.loading import Scenario, load_parameters, load_scenario
from sim.scenario.schema import sensitivity_ranges

#: Issue 11's goal for the ARD of the REACH ISMI shares by sub-district.
ISMI_GOAL = 0.35

#: Fixed (not fitted) parameters varied in the sensitivity analysis: (low, high), declared
#: with each behaviour field (its ``sensitivity`` range).
SENSITIVITY_RANGES = sensitivity_ranges()
#: Seeds of the report's runs (the report runs in one process after the fit; kept small so a
#: whole calibration stays within about 20 minutes on a shared 2-core machine).
BAND_SEEDS, SCALE_SEEDS, FULL_SEEDS, SENSITIVITY_SEEDS, WINTER_SEEDS = 6, 6, 2, 1, 4
#: the autumn of 2019 checked against its returns (:func:`autumn_checks`)
AUTUMN = (date(2019, 9, 1), date(2019, 10, 31))
FLOWS_FILE = "flows_2019.csv"

#: What the report says for a parameter without an interval.
NO_INTERVAL = "none: the objective does not curve along it at the optimum (weakly identified)"

HEADLINE = ("movements by 31 Aug", "people by 31 Aug")


def _log(msg: str) -> None:
    print(msg, flush=True)


#: Default folder of calibrations that do not replace the shipped parameters.
TRIALS_DIR = PROJECT_ROOT / "results" / "calibration_trials"
#: The committed report folder (``results/calibration/<scenario>``).
SHIPPED_REPORTS = PROJECT_ROOT / "results" / "calibration"
PARAMETERS_NAME = "parameters.toml"
#: Kinds of file a calibration report written before report manifests may hold.
LEGACY_REPORT_SUFFIXES = (".csv", ".png", ".md", ".json", ".toml")
PARAMETER_HEADER = "# Behaviour parameters fitted by `idlibsim calibrate`"


def not_a_report_folder(folder: Path) -> str | None:
    """None if ``folder`` is a calibration report idlibsim wrote, else why not.

    A report has a ``manifest.json`` listing every file with its SHA-256 (as a run
    folder does); a report written before such manifests (the committed one) is
    recognised by its ``fit.json`` and by holding only report files, no sub-folders.
    """
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return "does not exist"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        return f"is {describe_mode(st.st_mode)}, not a calibration report folder"
    if os.path.lexists(ResultsFolder(folder).manifest_path):
        return not_our_folder(folder, "calibration")
    files, other = folder_files(folder)
    if other:
        return f"holds {other[0]!r}, which is not a file a calibration writes"
    extra = [f for f in files if "/" in f or not f.endswith(LEGACY_REPORT_SUFFIXES)]
    if extra:
        return f"holds {extra[0]!r}, which a calibration does not write"
    try:
        fit = read_json(folder / "fit.json", "calibration summary")
    except InputError:
        return "has no fit.json written by idlibsim calibrate"
    if not isinstance(fit, dict) or "parameters" not in fit:
        return "has no fit.json written by idlibsim calibrate"
    return None


def _check_parameter_file(path: Path) -> None:
    """The shipped parameter file may be replaced only if it is one calibrate wrote."""
    if not os.path.lexists(path):
        return
    why = "is a symbolic link" if os.path.islink(path) else not_a_regular_file(path)
    if why is None:
        head = read_limited(path, 1_000_000, "parameter").decode("utf-8", "replace")
        if not head.startswith(PARAMETER_HEADER):
            why = "was not written by idlibsim calibrate"
    if why:
        raise OutputError(f"{path} {why}; idlibsim will not replace it")


def output_plan(scenario: Scenario, args: Any) -> tuple[Path, Path | None, bool]:
    """(report folder, shipped parameter file to replace or None, replace the folder?).

    A calibration writes its report and ``parameters.toml`` into ``--out`` (default
    ``results/calibration_trials/<scenario>[-quick]``). Only ``--update-shipped`` (never
    with ``--quick``) replaces the scenario's parameter file and the committed report.
    """
    quick = bool(getattr(args, "quick", False))
    shipped = bool(getattr(args, "update_shipped", False))
    out = getattr(args, "out", None)
    if shipped and quick:
        raise UsageError(
            "--quick is a short test fit: it never replaces the shipped parameters; drop "
            "--update-shipped (the fit goes to results/calibration_trials/) or --quick"
        )
    if shipped and out is not None:
        raise UsageError("--update-shipped writes to the shipped places; do not give --out too")
    if shipped:
        if scenario.parameters_file is None:
            raise InputError(
                [
                    Problem(
                        scenario.path,
                        "behaviour.parameters",
                        "the scenario names no parameter file to replace",
                        "set [behaviour] parameters, or calibrate without --update-shipped",
                    )
                ]
            )
        return SHIPPED_REPORTS / scenario.name, Path(scenario.parameters_file), True
    folder = Path(out) if out else TRIALS_DIR / (scenario.name + ("-quick" if quick else ""))
    folder = Path(os.path.abspath(folder))
    for protected in (SHIPPED_REPORTS, PROJECT_ROOT / "scenarios"):
        if folder == protected or protected in folder.parents:
            raise UsageError(
                f"{folder} is inside {display_path(protected)}, where the shipped calibration "
                "lives; give another --out, or --update-shipped to replace the shipped files"
            )
    return folder, None, bool(getattr(args, "force", False)) or out is None


def calibrate_and_report(scenario: Scenario, args: Any) -> int:
    t0 = time.perf_counter()
    report, shipped_params, replace = output_plan(scenario, args)
    quick = bool(args.quick)
    scale = args.population_scale
    check_population_scale(scenario, scale)
    if shipped_params is not None:
        _check_parameter_file(shipped_params)
    # The report folder is checked, locked and created before the long fit.
    writer = FolderWriter(report, force=replace, recognise=not_a_report_folder)
    try:
        tmp = writer.open()
        _log(
            f"calibrating {scenario.name} at population scale {scale} with {args.seeds} seeds "
            "(common random numbers)"
        )
        workers = int(getattr(args, "workers", 1) or 1)
        scheduler = getattr(args, "scheduler", None)
        if workers > 1 or scheduler:
            ctx = dask_client(workers, scheduler)
            _log(f"  on Dask: {scheduler or f'a local cluster of {workers} workers'}")
        else:
            ctx = nullcontext(None)
        with ctx as client:
            result = fit(
                scenario,
                seeds=args.seeds,
                scale=scale,
                max_evaluations=getattr(args, "max_evaluations", None) or (40 if quick else 400),
                log=_log,
                client=client,
                fixed={k: v for k, (v, _) in FIXED_IN_FIT.items()},
            )
        params = tmp / PARAMETERS_NAME
        write_parameters(result, params, writer.target, quick=quick)
        fitted = scenario.with_behaviour(**load_parameters(params))  # the values as written
        write_json(fit_summary(result), tmp / "fit.json")
        write_report(fitted, result, tmp, quick=quick)
        ResultsFolder(tmp).write_manifest(
            {
                "tool": "idlibsim",
                "kind": "calibration",
                "scenario_name": scenario.name,
                "quick": quick,
                "source": source_info(),
                "outputs_sha256": output_files(tmp),
            }
        )
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    _log(f"report and fitted parameters: {writer.target}")
    if shipped_params is not None:
        _check_parameter_file(shipped_params)
        with staged(shipped_params) as tmp:
            shutil.copyfile(writer.target / PARAMETERS_NAME, tmp)
        _log(f"replaced the shipped parameters {display_path(shipped_params)}")
    else:
        _log(
            "the shipped parameters were not changed; to use this fit, give "
            f'[behaviour] parameters = "{writer.target / PARAMETERS_NAME}" in a scenario'
        )
    _log(f"({time.perf_counter() - t0:.0f} s)")
    return 0


# --------------------------------------------------------------------------------------


def _runs(
    scenario: Scenario, seeds: list[int], scale: float, **overrides: float
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    sc = scenario.with_behaviour(**overrides) if overrides else scenario
    out = []
    for s in seeds:
        res = simulate(sc, seed=s, population_scale=scale)
        out.append((res.daily, locations_with_governorate(res)))
    return out


def _target_table(targets: list[Target], runs) -> pd.DataFrame:
    vals = np.array([model_values(d, loc, targets) for d, loc in runs])
    rows = []
    for i, t in enumerate(targets):
        v = vals[:, i]
        rows.append(
            {
                "measure": t.kind,
                "places": f"{t.places} of {t.whole}" if t.whole else t.places,
                "period_start": t.period_start.isoformat(),
                "as_of": t.as_of.isoformat(),
                "use": t.use,
                "observed": t.value,
                "model_mean": float(np.mean(v)),
                "model_p05": float(np.quantile(v, 0.05)),
                "model_p95": float(np.quantile(v, 0.95)),
                "relative_error": float(np.mean(v) / t.value - 1),
                "source": t.source,
            }
        )
    return pd.DataFrame(rows)


def write_report(scenario: Scenario, result: Fit, folder: Path, quick: bool = False) -> None:
    n_band = 4 if quick else BAND_SEEDS
    band_seeds = replicate_seeds(7, n_band)
    runs = _runs(scenario, band_seeds, result.scale)
    targets = load_targets(scenario, uses=("fit", "check"))
    table = _target_table(targets, runs)
    write_csv(table, folder / "targets.csv")
    fit_rows = table[table["use"] == "fit"].rename(
        columns={"observed": "value", "model_mean": "model"}
    )
    counts = fit_rows[fit_rows["measure"].isin(list(MEASURES))]
    ismi = fit_rows[fit_rows["measure"].isin(list(ISMI_MEASURES))]
    metrics = {
        "ARD, fitted counts (OCHA totals)": ard(counts),
        "ARD, fitted movements": ard(counts[counts["measure"] == "movements"]),
        "ARD, fitted people": ard(counts[counts["measure"] == "people"]),
        "ARD, REACH ISMI shares by sub-district (all fitted)": ard(ismi),
        "ARD, REACH ISMI arrival shares": ard(ismi[ismi["measure"] == "arrival_share"]),
        "ARD, REACH ISMI departure shares": ard(ismi[ismi["measure"] == "departure_share"]),
    }
    fig = plot_fit(runs, targets, scenario)
    # each drawn once (savefig draws a constrained layout twice); the bytes savefig wrote
    P.save_png(fig, folder / "fit.png", compress_level=None)

    scale_rows = None if quick else scale_check(scenario, result)
    if scale_rows is not None:
        write_csv(scale_rows, folder / "scale_check.csv")
    sens = None if quick else sensitivity(scenario, result)
    if sens is not None:
        write_csv(sens, folder / "sensitivity.csv")
        P.save_png(plot_sensitivity(sens), folder / "sensitivity.png", compress_level=None)
    checks = unfitted_checks(scenario, runs)
    if not quick:
        flows = scenario.observed.parent / FLOWS_FILE if scenario.observed else None
        autumn = pd.DataFrame(autumn_checks(result, flows), columns=checks.columns)
        checks = pd.concat([checks, autumn], ignore_index=True) if len(autumn) else checks
    write_csv(checks, folder / "checks.csv")
    ranks = ismi_ranks(targets, runs, sub_district_names(scenario))
    write_csv(ranks, folder / "ismi_ranks.csv")
    stay = where_they_stay(runs)
    for label, t in stay.items():
        write_csv(t, folder / f"where_displaced_stay_{label}.csv")
    winter = None if quick else winter_prediction(result)
    if winter is not None:
        write_csv(winter[0], folder / "winter_prediction.csv")
        P.save_png(winter[1], folder / "winter_prediction.png", compress_level=None)
    (folder / "report.md").write_text(
        report_text(
            scenario, result, table, metrics, scale_rows, sens, checks, winter, quick, stay, ranks
        ),
        encoding="utf-8",
    )


def where_they_stay(runs, top: int = 8) -> dict[str, pd.DataFrame]:
    """Where the displaced stay, by sub-district (pcode), at the peak and at the end.

    People in host communities, camps and informal sites at a place, less those there on the
    first reported day (so the camps' earlier residents do not count): the net number of
    newly displaced people staying in each sub-district, mean over the runs. The peak is the
    day with most people displaced (``displaced_now``) in the first run.
    """
    daily0 = runs[0][0]
    peak = str(daily0.loc[daily0["displaced_now"].idxmax(), "date"])
    end = str(daily0["date"].iloc[-1])
    out = {}
    for label, day in (("peak", peak), ("end", end)):
        tables = []
        for _, loc in runs:
            if not set(STAYING) <= set(loc.columns):
                return {}
            first = loc[loc["date"] == loc["date"].min()]
            now = loc[loc["date"] == day]
            staying = now.set_index("location")[list(STAYING)].sum(axis=1) - first.set_index(
                "location"
            )[list(STAYING)].sum(axis=1)
            names = now.set_index("location")
            df = pd.DataFrame({"net": staying, "pcode": names["pcode"], "region": names["region"]})
            df["pcode"] = df["pcode"].where(df["pcode"] != "", df.index.to_series())
            tables.append(df.groupby("pcode")["net"].sum())
        net = pd.concat(tables, axis=1).mean(axis=1)
        first_loc = runs[0][1]
        places = (
            first_loc[first_loc["date"] == day]
            .assign(p=lambda d: d["pcode"].where(d["pcode"] != "", d["location"]))
            .groupby("p")["location"]
            .apply(lambda x: " + ".join(sorted(x)))
        )
        total = float(net[net > 0].sum())
        t = (
            pd.DataFrame({"places": places.reindex(net.index), "people": net})
            .sort_values("people", ascending=False)
            .head(top)
        )
        t["share"] = t["people"] / total if total > 0 else np.nan
        t.attrs["date"] = day
        out[label] = t.reset_index(names="pcode")
    return out


def headline(daily: pd.DataFrame) -> tuple[float, float]:
    last = daily.iloc[-1]
    return float(last["displacements_cumulative"]), float(last["displaced_people_cumulative"])


def scale_check(scenario: Scenario, result: Fit) -> pd.DataFrame:
    """The fitted model at the calibration scale and at full population (a few seeds each)."""
    targets = [t for t in load_targets(scenario) if t.kind in MEASURES]
    rows = []
    for scale, n in ((result.scale, SCALE_SEEDS), (1.0, FULL_SEEDS)):
        vals = np.array(
            [
                model_values(d, loc, targets)
                for d, loc in _runs(scenario, replicate_seeds(11, n), scale)
            ]
        )
        for i, t in enumerate(targets):
            rows.append(
                {
                    "population_scale": scale,
                    "seeds": n,
                    "target": t.label,
                    "mean": float(vals[:, i].mean()),
                    "sd": float(vals[:, i].std(ddof=1)),
                }
            )
    df = pd.DataFrame(rows)
    wide = df.pivot(index="target", columns="population_scale", values=["mean", "sd"])
    full, red = wide[("mean", 1.0)], wide[("mean", result.scale)]
    se = np.sqrt(
        wide[("sd", 1.0)] ** 2 / FULL_SEEDS + wide[("sd", result.scale)] ** 2 / SCALE_SEEDS
    )
    df["difference_full_vs_reduced_pct"] = df["target"].map(100 * (red / full - 1))
    df["difference_in_standard_errors"] = df["target"].map((red - full) / se.replace(0, np.nan))
    return df


def sensitivity(scenario: Scenario, result: Fit, seeds: int = SENSITIVITY_SEEDS) -> pd.DataFrame:
    """One at a time: fitted parameters at their 95 % bounds, fixed ones over a plausible range."""
    seed_list = replicate_seeds(13, seeds)
    base = np.mean([headline(d) for d, _ in _runs(scenario, seed_list, result.scale)], axis=0)
    rows = []
    ranges = {}
    for name in result.names:
        lo, hi = result.ci95[name]
        v = result.values[name]
        if not result.estimated(name):
            lo, hi = v * 0.7, v * 1.3
        ranges[name] = (lo, hi, "fitted: 95% interval")
    for name, (lo, hi) in SENSITIVITY_RANGES.items():
        ranges[name] = (lo, hi, "fixed: plausible range")
    for name, (lo, hi, kind) in ranges.items():
        for side, v in (("low", lo), ("high", hi)):
            if (
                name == "fear_tolerance"
                or name == "crowding_floor"
                or name == "return_rate"
                or name == "return_fear_threshold"
                or name == "onward_rate"
            ):
                v = min(max(v, 1e-4), 0.99)
            h = np.mean(
                [headline(d) for d, _ in _runs(scenario, seed_list, result.scale, **{name: v})],
                axis=0,
            )
            for k, label in enumerate(HEADLINE):
                rows.append(
                    {
                        "parameter": name,
                        "kind": kind,
                        "side": side,
                        "value": v,
                        "output": label,
                        "base": base[k],
                        "result": h[k],
                        "change_pct": 100 * (h[k] / base[k] - 1),
                    }
                )
    return pd.DataFrame(rows)


def unfitted_checks(scenario: Scenario, runs) -> pd.DataFrame:
    """Figures not used in the fit: shares in sites, departures by sub-district, returns."""
    rows = []
    shares = [t for t in load_targets(scenario, uses=("check",)) if t.kind == "share_in_sites"]
    if shares:
        vals = np.array([model_values(d, loc, shares) for d, loc in runs])
        for i, t in enumerate(shares):
            rows.append(
                {
                    "check": f"share of the newly displaced in camps or informal sites, {t.period_start} to {t.as_of}",
                    "observed": t.value,
                    "model": float(vals[:, i].mean()),
                    "source": t.source,
                }
            )
    flows = scenario.observed.parent / FLOWS_FILE if scenario.observed else None
    rows += flow_checks(flows, scenario.report_from, scenario.end, runs)
    return pd.DataFrame(rows, columns=["check", "observed", "model", "source"])


def flow_checks(flows: Path | None, first, last, runs) -> list[dict[str, Any]]:
    """Rows of ``flows_2019.csv`` inside ``first`` to ``last`` (dates) against the runs.

    ``runs``: ``(daily, locations)`` tables of runs reporting that period. Departures from
    or returns to one place are compared with that place's own column of the place-day
    table; returns to ``all`` with the returns that set off; a place the model lacks is not
    compared.
    """
    rows: list[dict[str, Any]] = []
    if flows is not None and flows.exists():
        f = pd.read_csv(flows, dtype=str, keep_default_na=False)
        places = set(runs[0][1]["location"])
        for r in f.itertuples():
            a, b = pd.Timestamp(r.period_start).date(), pd.Timestamp(r.period_end).date()
            if a < first or b > last:
                continue
            # a place's own column in the place-day table, summed over the period
            column = {"from": "departures", "return": "returns_home"}.get(r.direction)
            if column and r.place in places:
                what = (
                    f"departures from {r.place}"
                    if r.direction == "from"
                    else f"spontaneous returns to {r.place} (arrived home)"
                )
                vals = [
                    loc.loc[
                        _between(loc["date"], a, b) & (loc["location"] == r.place), column
                    ].sum()
                    for _, loc in runs
                ]
            elif r.direction == "return" and r.place == "all":
                what = "spontaneous returns (all; set off home)"
                vals = [d.loc[_between(d["date"], a, b), "returns_started"].sum() for d, _ in runs]
            else:
                continue
            rows.append(
                {
                    "check": f"{what}, {a} to {b}",
                    "observed": float(r.value),
                    "model": float(np.mean(vals)),
                    "source": r.source,
                }
            )
    return rows


def _winter_scenario(result: Fit) -> Scenario | None:
    """The winter 2019-20 scenario beside the fitted one, with the fitted parameters (it
    replays 2019 and the autumn before December), or None if there is none."""
    path = result.scenario.path.parent / "idlib_2019_2020_winter.toml"
    if not path.exists():
        return None
    return load_scenario(path).with_behaviour(**result.fixed, **result.values)


def autumn_checks(
    result: Fit, flows: Path | None, seeds: int = WINTER_SEEDS
) -> list[dict[str, Any]]:
    """The autumn of 2019 (1 September - 31 October) against its figures (returns), not fitted.

    The 2019 scenario ends on 31 August; the autumn's lull and its strikes are coded in the
    winter scenario (``idlib_2019_2020_winter.toml``, which replays 2019 and then the
    autumn). It is run with the fitted parameters to 31 October, reporting from
    1 September, so OCHA's returns of September and October 2019 (after the ceasefire of
    31 August) are compared with the model's. Nothing of December 2019 - March 2020 is run.
    """
    sc = _winter_scenario(result)
    if flows is None or not flows.exists() or sc is None:
        return []
    first, last = AUTUMN
    if not sc.start < first <= last <= sc.end:
        return []
    sc = sc.reporting_from(first).truncated((last - sc.start).days + 1)
    runs = []
    for s in replicate_seeds(19, seeds):
        r = simulate(sc, seed=s, population_scale=result.scale, summary=False)
        runs.append((r.daily, r.locations))
    return flow_checks(flows, first, last, runs)


def sub_district_names(scenario: Scenario) -> dict[str, str]:
    """Name of each sub-district by pcode (the locations file's ``sub_district`` rows)."""
    df = pd.read_csv(scenario.locations_file, dtype=str, keep_default_na=False)
    if "pcode" not in df:
        return {}
    sub = df[(df["kind"] == "sub_district") & (df["pcode"] != "")]
    return dict(zip(sub["pcode"], sub["name"], strict=True))


def ismi_ranks(
    targets: list[Target], runs, names: dict[str, str] | None = None, top: int = 5
) -> pd.DataFrame:
    """REACH ISMI's named sub-districts against the model's largest, month by month.

    For each month and measure of the fitted ISMI shares (arrivals or departures, over the
    region ``whole``): ISMI's named sub-districts with their shares, and the model's ``top``
    sub-districts (pcode) by share of the same region and period (mean over the runs).
    ISMI names only the largest ones, so a sub-district it does not name had a smaller share
    than the smallest one it names: the column ``largest_unnamed`` is the model's largest
    share among the sub-districts ISMI did not name, to compare with ``smallest_named``.
    ``names``: sub-district name by pcode, for the table. Not fitted.
    """
    names = names or {}

    def label(pcode: str) -> str:
        return f"{names[pcode]} ({pcode})" if pcode in names else pcode

    groups: dict[tuple, list[Target]] = {}
    for t in targets:
        if t.kind in ISMI_MEASURES and t.places.startswith("pcode="):
            groups.setdefault((t.period_start, t.as_of, t.kind, t.whole), []).append(t)
    rows = []
    for (a, b, kind, whole), named in groups.items():
        col = "arrivals" if kind == "arrival_share" else "departures"
        shares = []
        for _, loc in runs:
            sub = loc[_between(loc["date"], a, b)]
            sub = sub[select_places(sub, whole) & (sub["pcode"] != "")]
            by = sub.groupby("pcode")[col].sum()
            total = float(sub[col].sum())
            shares.append(by / total if total > 0 else by * np.nan)
        mean = pd.concat(shares, axis=1).fillna(0.0).mean(axis=1).sort_values(ascending=False)
        ismi = {t.places.split("=", 1)[1]: t.value for t in named}
        unnamed = mean.drop(labels=[p for p in ismi if p in mean.index])
        rows.append(
            {
                "month": a.strftime("%Y-%m"),
                "measure": kind,
                "ismi_named": "; ".join(f"{label(p)} {v:.3f}" for p, v in ismi.items()),
                "model_top": "; ".join(f"{label(p)} {v:.3f}" for p, v in mean.head(top).items()),
                "smallest_named": min(ismi.values()),
                "largest_unnamed": float(unnamed.iloc[0]) if len(unnamed) else float("nan"),
                "largest_unnamed_pcode": label(str(unnamed.index[0])) if len(unnamed) else "",
            }
        )
    return pd.DataFrame(rows)


def _between(dates: pd.Series, a, b) -> pd.Series:
    d = pd.to_datetime(dates).dt.date
    return (d >= a) & (d <= b)


def winter_prediction(result: Fit, seeds: int = WINTER_SEEDS):
    """The winter 2019-20 scenario with the fitted parameters (nothing fitted to it)."""
    sc = _winter_scenario(result)
    if sc is None:
        return None
    runs = [
        simulate(sc, seed=s, population_scale=result.scale).daily
        for s in replicate_seeds(17, seeds)
    ]
    cols = [
        "displacements_cumulative",
        "displaced_people_cumulative",
        "displaced_now",
        "in_camps",
        "in_informal_sites",
        "abroad",
    ]
    stack = np.stack([r[cols].to_numpy(dtype=float) for r in runs])
    med, lo, hi = (
        np.median(stack, axis=0),
        np.quantile(stack, 0.05, axis=0),
        np.quantile(stack, 0.95, axis=0),
    )
    df = pd.DataFrame({"date": runs[0]["date"]})
    for i, c in enumerate(cols):
        df[f"{c}_median"] = np.rint(med[:, i]).astype(np.int64)
        df[f"{c}_p05"] = np.rint(lo[:, i]).astype(np.int64)
        df[f"{c}_p95"] = np.rint(hi[:, i]).astype(np.int64)
    fig = _band_figure(
        df,
        [
            ("displacements_cumulative", "movements (a person displaced twice counts twice)", "-"),
            ("displaced_people_cumulative", "people displaced at least once", "--"),
        ],
        f"Prediction, not fitted: {sc.title}\n(2019 parameters; median and 5-95 % band over {seeds} seeds at population scale {result.scale})",
    )
    return df, fig


# --------------------------------------------------------------------------------------
# Figures


def _axes_dates(ax) -> None:
    """The project's date axis (:func:`sim.outputs.plots.format_date_axis`) over the plotted days,
    people on the other axis (:func:`sim.outputs.plots.format_people`)."""
    lo, hi = ax.dataLim.intervalx
    first, last = (pd.Timestamp(mdates.num2date(x).date()) for x in (lo, hi))
    P.format_date_axis(ax, first, last, label=False)
    ax.yaxis.set_major_formatter(FuncFormatter(P.format_people))
    ax.grid(True, alpha=0.3)


@P.styled
def _band_figure(df: pd.DataFrame, series, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.subplots()
    x = pd.to_datetime(df["date"])
    for col, label, style in series:
        ax.fill_between(
            x,
            df[f"{col}_p05"],
            df[f"{col}_p95"],
            alpha=0.25,
            color="0.4" if style == "-" else "0.7",
            linewidth=0,
        )
        ax.plot(x, df[f"{col}_median"], style, color="black", label=label)
    ax.set_ylabel("movements or people (see legend), cumulative since 1 December 2019")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left")
    _axes_dates(ax)
    return fig


@P.styled
def plot_fit(runs, targets: list[Target], scenario: Scenario):
    """Model curves (median, 5-95 % band over seeds) and observed figures, one panel per measure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    first = pd.Timestamp(runs[0][0]["date"].iloc[0]).date()
    for ax, measure, col, title in (
        (
            axes[0],
            "movements",
            "new_displacements",
            "Movements (a person displaced twice counts twice)",
        ),
        (axes[1], "people", "new_people_displaced", "People displaced at least once"),
    ):
        # cumulative from 1 May (OCHA/CCCM's start) for movements, 29 April for people
        start = pd.Timestamp("2019-05-01" if measure == "movements" else "2019-04-29").date()
        curves = []
        for d, _ in runs:
            dd = d.assign(date=pd.to_datetime(d["date"]).dt.date)
            v = np.where(dd["date"] >= start, dd[col], 0).cumsum()
            curves.append(v)
        c = np.array(curves, dtype=float)
        x = pd.to_datetime(runs[0][0]["date"])
        ax.fill_between(
            x,
            np.quantile(c, 0.05, axis=0),
            np.quantile(c, 0.95, axis=0),
            color="0.75",
            linewidth=0,
            label="model 5-95 % (seeds)",
        )
        ax.plot(x, np.median(c, axis=0), color="black", label="model median")
        for use, marker, face, lab in (
            ("fit", "o", "black", "UN/OCHA figure (fitted)"),
            ("check", "s", "white", "other report (not fitted)"),
        ):
            pts = [t for t in targets if t.kind == measure and t.use == use]
            if pts:
                ax.scatter(
                    [pd.Timestamp(t.as_of) for t in pts],
                    [t.value for t in pts],
                    marker=marker,
                    facecolors=face,
                    edgecolors="black",
                    zorder=3,
                    s=40,
                    label=lab,
                )
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(f"{measure}, cumulative since {start:%d %B %Y}")
        _axes_dates(ax)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(
        f"Calibration: {scenario.title}\n(model run from {first:%d %B %Y}; {len(runs)} seeds)",
        fontsize=10,
    )
    return fig


@P.styled
def plot_sensitivity(sens: pd.DataFrame):
    """Tornado chart: change of each headline output at the low and high value of each parameter."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    order = (
        sens[sens["output"] == HEADLINE[1]]
        .assign(
            span=lambda d: d.groupby("parameter")["change_pct"].transform(lambda s: s.abs().max())
        )
        .sort_values("span")["parameter"]
        .drop_duplicates()
        .tolist()
    )
    y = np.arange(len(order))
    for ax, out in zip(axes, HEADLINE, strict=True):
        sub = sens[sens["output"] == out].set_index(["parameter", "side"])["change_pct"]
        lo = [sub.get((p, "low"), 0) for p in order]
        hi = [sub.get((p, "high"), 0) for p in order]
        ax.barh(
            y - 0.2, lo, height=0.4, color="white", edgecolor="black", hatch="//", label="low value"
        )
        ax.barh(y + 0.2, hi, height=0.4, color="0.3", edgecolor="black", label="high value")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"{out} (change from the fitted run)", fontsize=10)
        ax.set_xlabel("change, %")
        ax.grid(True, axis="x", alpha=0.3)
    labels = []
    for p in order:
        k = sens[sens["parameter"] == p]["kind"].iloc[0]
        lo_v = sens[(sens["parameter"] == p) & (sens["side"] == "low")]["value"].iloc[0]
        hi_v = sens[(sens["parameter"] == p) & (sens["side"] == "high")]["value"].iloc[0]
        labels.append(f"{p}\n{lo_v:.3g} to {hi_v:.3g} ({k.split(':')[0]})")
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle("Sensitivity of the 2019 headline, one parameter at a time", fontsize=11)
    return fig


# --------------------------------------------------------------------------------------


def _pct(v: float) -> str:
    return f"{100 * v:+.1f}%"


def ismi_goal_lines(metrics: dict[str, float]) -> list[str]:
    """The report's lines on issue 11's goal for REACH ISMI, from the ARD ``metrics``.

    The goal is on the monthly **destination** (arrival) shares by sub-district, ARD <=
    ``ISMI_GOAL``; the departure shares, fitted too, are printed beside it, outside the goal.
    """
    ismi_ard = metrics.get("ARD, REACH ISMI shares by sub-district (all fitted)", float("nan"))
    arrivals_ard = metrics.get("ARD, REACH ISMI arrival shares", float("nan"))
    departures_ard = metrics.get("ARD, REACH ISMI departure shares", float("nan"))
    if not math.isfinite(arrivals_ard):
        return []
    met = "met" if arrivals_ard <= ISMI_GOAL else "NOT met"
    return [
        "",
        f"Goal (issue 11): REACH ISMI's monthly destination shares by sub-district, ARD <= {ISMI_GOAL}: "
        f"{met} ({arrivals_ard:.3f}). The departure shares are fitted too but are not in the goal: "
        f"ARD {departures_ard:.3f} (all ISMI shares together: {ismi_ard:.3f}).",
        "Why the July departures from Kafr Nabl and Jisr al-Shughur (and the Salqin and Darkush",
        "arrivals they feed) stay far below ISMI's, with the numbers, and what was tried:",
        "`docs/model.md`, section 4 (*Checked again*); what ISMI counts and what it does not",
        "publish: `scenarios/data/observed/README_idp_movements.md`.",
    ]


def report_text(
    scenario,
    result: Fit,
    table,
    metrics,
    scale_rows,
    sens,
    checks,
    winter,
    quick,
    stay=None,
    ranks=None,
) -> str:
    L = [
        f"# Calibration report: {scenario.name}",
        "",
        f"Written by `idlibsim calibrate {display_path(scenario.path)}` ({'QUICK mode: a short test fit, not the committed calibration' if quick else 'full calibration'}).",
        f"Population scale {result.scale}, {len(result.seeds)} common-random-number seeds {result.seeds}, "
        f"{result.evaluations} objective evaluations, {result.wall_seconds:.0f} s.",
        "",
        "## What was fitted, and why",
        "",
        "| parameter | fitted | 95 % interval | why it is fitted |",
        "|---|---|---|---|",
    ]
    for p in FIT_PARAMETERS:
        if p.name in result.values:
            interval = result.interval_text(p.name, lambda v: f"{v:.3g}", NO_INTERVAL)
            L.append(f"| `{p.name}` | {result.values[p.name]:.4g} | {interval} | {p.why} |")
    for name, value in result.fixed.items():
        why = FIXED_IN_FIT[name][1] if name in FIXED_IN_FIT else "held fixed in the fit"
        L.append(f"| `{name}` | {value:.4g} (fixed) | not fitted | {why} |")
    L += [
        "",
        "All other behaviour parameters keep their documented defaults (see `docs/scenario-reference.md`):",
        "the 2019 figures say little about them; the sensitivity analysis below shows how much they matter.",
        "Intervals: Laplace approximation (inverse Hessian of the objective), assuming reported counts are",
        f"accurate to about 10 %, REACH ISMI sub-district shares to about 25 % and other shares to 3 points{'' if result.hessian_ok else ' (WARNING: the Hessian was not positive definite, so these are conditional intervals, each parameter varied alone with the others at their fitted values: too narrow where parameters trade off)'}.",
        "The posterior of these parameters (weighted draws that ensembles use, with its posterior predictive",
        "band against the 2019 figures and the winter 2019-20 prediction band) is `idlibsim posterior`'s report:",
        f"`results/calibration/{scenario.name}_posterior/report.md` (rerun it after this calibration).",
        "",
        "## Fit",
        "",
        "![fit](fit.png)",
        "",
        "| measure | places | period | use | observed | model (mean over seeds) | 5-95 % | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        fmt = figure_format(r.measure not in MEASURES)
        L.append(
            f"| {r.measure} | {r.places} | {r.period_start} to {r.as_of} | {r.use} | {fmt(r.observed)} | {fmt(r.model_mean)} | {fmt(r.model_p05)} to {fmt(r.model_p95)} | {_pct(r.relative_error)} |"
        )
    L += ["", "Averaged relative difference (Flee's ARD, mean |model - observed| / observed):", ""]
    for k, v in metrics.items():
        L.append(f"- {k}: {v:.3f}")
    L += ismi_goal_lines(metrics)
    if ranks is not None and len(ranks):
        L += [
            "",
            "### REACH ISMI's named sub-districts against the model's largest",
            "",
            "ISMI's monthly summaries name only the largest sub-districts of arrival or departure, so",
            "every sub-district they do not name had a smaller share than the smallest named one.",
            "Model shares are of the same region and month (mean over the seeds above). Not fitted.",
            "",
            "| month | measure | ISMI named (share) | model's largest (share) | model's largest not named by ISMI | ISMI's smallest named |",
            "|---|---|---|---|---|---|",
        ]
        for r in ranks.itertuples():
            L.append(
                f"| {r.month} | {r.measure} | {r.ismi_named} | {r.model_top} | "
                f"{r.largest_unnamed_pcode} {r.largest_unnamed:.3f} | {r.smallest_named:.3f} |"
            )
    if stay:
        L += [
            "",
            "## Where the displaced stay",
            "",
            "Newly displaced people staying in each sub-district (host communities, camps and informal",
            "sites, less those there on the first reported day; mean over the seeds above), at the peak",
            "of displacement and at the end. Not fitted: the fit uses arrivals by month.",
        ]
        for label, t in stay.items():
            L += [
                "",
                f"At the {label} ({t.attrs.get('date', '')}):",
                "",
                "| sub-district (pcode) | places | people | share |",
                "|---|---|---|---|",
            ]
            for r in t.itertuples():
                L.append(f"| {r.pcode} | {r.places} | {r.people:,.0f} | {100 * r.share:.1f}% |")
    if scale_rows is not None:
        L += [
            "",
            "## Reduced population scale",
            "",
            f"The fit runs at population scale {result.scale}. The same parameters at full population:",
            "",
            "| target | mean at scale "
            + f"{result.scale} ({SCALE_SEEDS} seeds) | mean at full population ({FULL_SEEDS} seeds) | difference | in standard errors |",
            "|---|---|---|---|---|",
        ]
        for tgt, g in scale_rows.groupby("target", sort=False):
            red = g[g["population_scale"] == result.scale]["mean"].iloc[0]
            full = g[g["population_scale"] == 1.0]["mean"].iloc[0]
            L.append(
                f"| {tgt} | {red:,.0f} | {full:,.0f} | {g['difference_full_vs_reduced_pct'].iloc[0]:+.2f}% | {g['difference_in_standard_errors'].iloc[0]:+.2f} |"
            )
    if sens is not None:
        L += [
            "",
            "## Sensitivity",
            "",
            "![sensitivity](sensitivity.png)",
            "",
            "Largest effects on people displaced by 31 August:",
            "",
        ]
        s = (
            sens[sens["output"] == HEADLINE[1]]
            .assign(a=lambda d: d["change_pct"].abs())
            .sort_values("a", ascending=False)
        )
        for r in s.drop_duplicates("parameter").head(6).itertuples():
            L.append(f"- `{r.parameter}` ({r.kind}): up to {r.change_pct:+.1f}% at {r.value:.3g}")
    if len(checks):
        L += [
            "",
            "## Checks that were not fitted",
            "",
            "| check | observed | model | source |",
            "|---|---|---|---|",
        ]
        for r in checks.itertuples():
            f = figure_format(r.observed < 2, 2)
            L.append(f"| {r.check} | {f(r.observed)} | {f(r.model)} | {r.source} |")
    if winter is not None:
        df = winter[0]
        last = df.iloc[-1]
        L += [
            "",
            "## Winter 2019-20: a prediction, not a fit",
            "",
            "`scenarios/idlib_2019_2020_winter.toml` is built from the public timeline of that offensive only and",
            "run with the parameters above. Nothing was fitted to its outcomes; its curve is reported as it comes.",
            "",
            "![winter](winter_prediction.png)",
            "",
            f"By {last['date']}: {last['displacements_cumulative_median']:,} movements (5-95 %: {last['displacements_cumulative_p05']:,} to "
            f"{last['displacements_cumulative_p95']:,}) and {last['displaced_people_cumulative_median']:,} people displaced since 1 December 2019.",
        ]
    L.append("")
    return "\n".join(L)


def cli_calibrate(args: Any, argv: list[str]) -> int:
    """``idlibsim calibrate SCENARIO.toml [--quick] [--update-shipped] ...``."""
    return calibrate_and_report(load_scenario(args.scenario), args)
