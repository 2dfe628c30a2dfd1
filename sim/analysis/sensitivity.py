"""`idlibsim sensitivity`: global sensitivity (Morris elementary effects, SALib) of the
outputs planners read to every behaviour parameter that is an estimate.

Parameters: every ``[behaviour]`` field whose source is an estimate or a fit (not the
modelling choices, e.g. ``front_line_penalty_km``), each varied over :func:`ranges`: the
ranges the calibration report's one-at-a-time analysis used where it set one, else the
scenario's value divided and multiplied by 2 (log-uniform; probabilities stay inside
(0, 1)), inside the parameter's valid range. Whole-number parameters are rounded.

Outputs (at the end of the scenario unless said): people displaced (at least once),
movements, the peak of people in camps and informal sites, and the share of the displaced
staying in the border areas (camp clusters, crossings, the sub-districts that hold the camp
clusters, and the Turkish-controlled northern Aleppo districts) at the end.

Method: Morris (Campolongo et al. 2007's mu*, SALib) on ``trajectories`` trajectories of
k + 1 runs each (k parameters), 4 levels, every run with the same seed (common random
numbers: a parameter that changes nothing has elementary effects of exactly 0, not seed
noise). mu* is reported in the output's units and relative to the output at the
scenario's values; sigma measures interaction and non-linearity. Runs go through Dask
(``--workers``). Morris ranks parameters for a fraction of the cost of Sobol indices
(k + 1 runs per trajectory instead of N (k + 2)); it does not split variance.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.outputs.results import PROJECT_ROOT, display_path, versions

from ..scenario.loading import Scenario, load_scenario

__all__ = ["OUTPUTS", "ranges", "parameter_class", "run_sensitivity", "cli_sensitivity"]

OUTPUTS = {
    "people_displaced": "people displaced at least once (end of period)",
    "movements": "movements (a person displaced twice counts twice; end of period)",
    "peak_in_camps_and_sites": "peak of people in camps and informal sites",
    "share_in_border_areas": "share of the displaced staying in the border areas at the end",
}
#: Ranges set by the calibration report's one-at-a-time analysis (sim/calibration_report.py).
KNOWN_RANGES = {
    "fear_distance_km": (5.0, 20.0),
    "fear_exponent": (3.5, 10.0),
    "safety_weight": (4.0, 16.0),
    "front_lookahead_days": (3.0, 14.0),
    "onward_rate": (0.01, 0.1),
}
TRAJECTORIES = 10
LEVELS = 4
SCALE = 0.05
SEED = 1


def parameter_class(name: str, source: str) -> str:
    """``fitted`` (``idlibsim calibrate`` fits it: :data:`sim.analysis.calibration.FIT_PARAMETERS`),
    ``sourced`` (a public source sets it), ``estimate`` (no source: an assumption, also a
    field whose source text says "fitted" although the calibration no longer fits it) or
    ``choice`` (a modelling choice, not varied)."""
    from sim.analysis.calibration import FIT_PARAMETERS

    s = source.lower()
    if "modelling choice" in s:
        return "choice"
    if name in {p.name for p in FIT_PARAMETERS}:
        return "fitted"
    if s.startswith("estimate") or "fitted" in s or "calibrat" in s:
        return "estimate"
    return "sourced"


def ranges(scenario: Scenario) -> pd.DataFrame:
    """Each varied parameter: low, high, whether log-uniform, its class and unit."""
    from .fields import behaviour_params

    beh = scenario.behaviour.as_dict()
    rows = []
    for f in behaviour_params().values():
        cls = parameter_class(f.name, f.source)
        v = float(beh[f.name])
        if cls == "choice" or v == 0:
            continue
        if f.sensitivity is not None:
            lo, hi = f.sensitivity
        elif f.name in KNOWN_RANGES:
            lo, hi = KNOWN_RANGES[f.name]
        elif f.kind == "prob":
            lo, hi = v / 2, min(2 * v, (1 + v) / 2)
        else:
            lo, hi = v / 2, v * 2
        vlo, vhi = f.bounds()
        lo, hi = max(lo, vlo), min(hi, vhi)
        rows.append(
            {
                "parameter": f.name,
                "value": v,
                "low": lo,
                "high": hi,
                "log": lo > 0,
                "integer": f.kind == "int",
                "class": cls,
                "unit": f.unit,
                "source": f.source,
            }
        )
    return pd.DataFrame(rows)


def border_places(locations_file: Path) -> set[str]:
    """Camp clusters, crossings, sub-districts holding a camp cluster, northern Aleppo."""
    df = pd.read_csv(locations_file, dtype=str, keep_default_na=False)
    pcode = df["pcode"] if "pcode" in df else pd.Series("", index=df.index)
    camp_pcodes = set(pcode[df["kind"] == "camp_cluster"]) - {""}
    mask = (
        df["kind"].isin(["camp_cluster", "crossing"])
        | (df["control"] == "turkish_backed")
        | (pcode.isin(camp_pcodes) & (pcode != ""))
    )
    return set(df.loc[mask, "name"])


def outputs_of(daily: pd.DataFrame, locations: pd.DataFrame, border: set[str]) -> np.ndarray:
    """The four outputs of one run (:data:`OUTPUTS` order)."""
    last = daily.iloc[-1]
    sites = (daily["in_camps"] + daily["in_informal_sites"]).max()
    end = locations[locations["date"] == locations["date"].max()]
    staying = end["in_host_community"] + end["in_camp"] + end["in_informal_site"]
    total = float(staying.sum())
    share = float(staying[end["location"].isin(border)].sum()) / total if total > 0 else 0.0
    return np.array(
        [last["displaced_people_cumulative"], last["displacements_cumulative"], sites, share],
        dtype=float,
    )


def _run(args: tuple) -> np.ndarray:
    """One Morris run (a Dask task): the outputs of the task's scenario."""
    from sim.outputs.runner import simulate

    task, border = args
    res = simulate(task.load(), seed=task.seed, population_scale=task.population_scale)
    return outputs_of(res.daily, res.locations, border)


@dataclass
class SensitivityResult:
    table: pd.DataFrame  # parameter, output, mu, mu_star, sigma, mu_star_conf, relative
    ranges: pd.DataFrame
    base: np.ndarray
    runs: int
    wall_seconds: float
    trajectories: int
    scale: float


def run_sensitivity(
    scenario: Scenario,
    trajectories: int = TRAJECTORIES,
    scale: float = SCALE,
    seed: int = SEED,
    client: Any = None,
    names: Sequence[str] | None = None,
    log=print,
) -> SensitivityResult:
    """Morris analysis of :data:`OUTPUTS` over :func:`ranges` (``names``: a subset)."""
    try:
        from SALib.analyze import morris as morris_analyze
        from SALib.sample import morris as morris_sample
    except ImportError:  # pragma: no cover - depends on the environment
        from ..errors import UsageError

        raise UsageError(
            'idlibsim sensitivity needs SALib: pip install "idlibsim[sensitivity]"'
        ) from None

    from sim.analysis.ensemble import RunTask, check_workers
    from sim.model.rng import replicate_seeds

    t0 = time.perf_counter()
    rg = ranges(scenario)
    if names is not None:
        rg = rg[rg["parameter"].isin(list(names))].reset_index(drop=True)
    k = len(rg)
    problem = {"num_vars": k, "names": list(rg["parameter"]), "bounds": [[0.0, 1.0]] * k}
    unit = morris_sample.sample(problem, trajectories, num_levels=LEVELS, seed=int(seed))
    lo, hi = rg["low"].to_numpy(float), rg["high"].to_numpy(float)
    logs = rg["log"].to_numpy(bool)
    vals = np.where(
        logs,
        np.exp(np.log(np.where(logs, lo, 1)) + unit * np.log(np.where(logs, hi / lo, 1))),
        lo + unit * (hi - lo),
    )
    run_seed = replicate_seeds(seed, 1)[0]
    border = border_places(scenario.locations_file)
    tasks = []
    for row in vals:
        p = {
            n: (int(round(v)) if integer else float(v))
            for n, v, integer in zip(rg["parameter"], row, rg["integer"], strict=True)
        }
        tasks.append((RunTask.from_scenario(scenario.with_behaviour(**p), run_seed, scale), border))
    base_task = (RunTask.from_scenario(scenario, run_seed, scale), border)
    log(f"  {len(tasks)} runs ({trajectories} trajectories x {k + 1}) + 1 at the scenario's values")
    if client is None:
        out = [_run(t) for t in [base_task, *tasks]]
    else:
        check_workers(client)
        out = client.gather(client.map(_run, [base_task, *tasks], pure=False))
    base, y = out[0], np.array(out[1:])
    rows = []
    for j, name in enumerate(OUTPUTS):
        res = morris_analyze.analyze(
            problem, unit, y[:, j], num_levels=LEVELS, seed=int(seed), print_to_console=False
        )
        for i, pname in enumerate(problem["names"]):
            rows.append(
                {
                    "parameter": pname,
                    "output": name,
                    "mu": float(res["mu"][i]),
                    "mu_star": float(res["mu_star"][i]),
                    "sigma": float(res["sigma"][i]),
                    "mu_star_conf": float(res["mu_star_conf"][i]),
                    "relative_mu_star": float(res["mu_star"][i]) / abs(base[j])
                    if base[j]
                    else float("nan"),
                    "class": rg.loc[i, "class"],
                }
            )
    table = pd.DataFrame(rows)
    return SensitivityResult(
        table, rg, base, len(tasks) + 1, time.perf_counter() - t0, trajectories, scale
    )


def influence(table: pd.DataFrame) -> pd.Series:
    """A parameter's overall influence: its largest relative mu* over the outputs."""
    return table.groupby("parameter")["relative_mu_star"].max().sort_values(ascending=False)


def _figure(res: SensitivityResult, title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    colours = {"estimate": "#D55E00", "fitted": "#0072B2", "sourced": "#009E73"}
    order = list(influence(res.table).index)
    fig = Figure(figsize=(13, 0.28 * len(order) + 2.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(OUTPUTS), sharey=True)
    for ax, (out, text) in zip(axes, OUTPUTS.items(), strict=True):
        t = res.table[res.table["output"] == out].set_index("parameter").loc[order[::-1]]
        y = np.arange(len(t))
        ax.barh(
            y, t["relative_mu_star"], xerr=t["mu_star_conf"] / max(abs(res.base[list(OUTPUTS).index(out)]), 1e-12),
            color=[colours[c] for c in t["class"]], error_kw={"lw": 0.6, "ecolor": "0.4"},
        )  # fmt: skip
        ax.scatter(t["sigma"] / max(abs(res.base[list(OUTPUTS).index(out)]), 1e-12), y, marker="|", color="black", s=40, zorder=3)  # fmt: skip
        ax.set_yticks(y, t.index, fontsize=7.5)
        ax.set_title("\n".join(__import__("textwrap").wrap(text, 34)), fontsize=8.5)
        ax.set_xlabel("mu* / output at the scenario's values", fontsize=7.5)
        ax.grid(True, axis="x", alpha=0.3)
    from matplotlib.patches import Patch

    fig.legend(
        [Patch(color=c) for c in colours.values()],
        ["estimate, no source (data to look for)", "fitted to 2019", "set from a public source"],
        loc="outside lower center", ncols=3, fontsize=8, frameon=False,
    )  # fmt: skip
    fig.suptitle("\n".join(__import__("textwrap").wrap(title, 150)), fontsize=10, x=0.01, ha="left")
    return fig


def write_outputs(res: SensitivityResult, scenario: Scenario, folder: Path) -> None:
    """morris.csv, ranges.csv, sensitivity.png and report.md in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    res.table.to_csv(folder / "morris.csv", index=False, float_format="%.6g")
    res.ranges.drop(columns=["source"]).to_csv(folder / "ranges.csv", index=False)
    title = (
        f"Morris sensitivity (mu*, bars; sigma, ticks), {scenario.title}: {res.trajectories} "
        f"trajectories, {res.runs} runs at population scale {res.scale:g}, one seed (common "
        "random numbers)"
    )
    _figure(res, title).savefig(folder / "sensitivity.png", dpi=120, metadata={"Software": None})
    inf = influence(res.table)
    cls = res.ranges.set_index("parameter")["class"]
    src = res.ranges.set_index("parameter")["source"]
    L = [
        f"# Global sensitivity: {scenario.title}",
        "",
        f"Morris elementary effects (SALib), {res.trajectories} trajectories x "
        f"{len(res.ranges) + 1} runs = {res.runs} runs (with the scenario's own values) at "
        f"population scale {res.scale:g}, all with one seed; {res.wall_seconds / 60:.1f} min "
        "wall time. Method, ranges and outputs: `sim/analysis/sensitivity.py`; the numbers: "
        "`morris.csv`; the ranges: `ranges.csv`.",
        "",
        "Outputs at the scenario's values: "
        + "; ".join(
            f"{text}: {v:,.3f}" if v < 2 else f"{text}: {v:,.0f}"
            for text, v in zip(OUTPUTS.values(), res.base, strict=True)
        ),
        "",
        "![sensitivity](sensitivity.png)",
        "",
        "## The data to look for",
        "",
        "The most influential parameters that no public source sets (their largest mu* over "
        "the four outputs, relative to the output):",
        "",
        "| parameter | largest relative mu* | range varied | what the model assumes |",
        "|---|---|---|---|",
    ]
    rg = res.ranges.set_index("parameter")
    for p in [p for p in inf.index if cls[p] == "estimate"][:8]:
        L.append(
            f"| `{p}` | {inf[p]:.2f} | {rg.loc[p, 'low']:.4g} to {rg.loc[p, 'high']:.4g} "
            f"{rg.loc[p, 'unit']} | {src[p]} |"
        )
    L += ["", "## Every parameter", "", "| parameter | class | " + " | ".join(OUTPUTS) + " |"]
    L.append("|---|---|" + "---|" * len(OUTPUTS))
    for p in inf.index:
        t = res.table[res.table["parameter"] == p].set_index("output")
        L.append(
            f"| `{p}` | {cls[p]} | "
            + " | ".join(f"{t.loc[o, 'relative_mu_star']:.3f}" for o in OUTPUTS)
            + " |"
        )
    (folder / "report.md").write_text("\n".join(L) + "\n", encoding="utf-8")


def cli_sensitivity(args: Any, argv: list[str]) -> int:
    """``idlibsim sensitivity SCENARIO [--trajectories N] [--workers K] [--out DIR]``."""
    from sim.outputs.runner import check_population_scale

    scenario = load_scenario(args.scenario)
    check_population_scale(scenario, args.population_scale)
    out = Path(args.out) if args.out else PROJECT_ROOT / "results" / "sensitivity" / scenario.name
    ctx: Any = nullcontext(None)
    if args.workers > 1 or args.scheduler:
        from sim.analysis.ensemble import dask_client

        ctx = dask_client(args.workers, args.scheduler)
    log = (lambda m: None) if args.quiet else (lambda m: print(m, flush=True))
    log(f"sensitivity of {scenario.name} (Morris, {args.trajectories} trajectories)")
    with ctx as client:
        res = run_sensitivity(
            scenario, args.trajectories, args.population_scale, args.seed, client, log=log
        )
    write_outputs(res, scenario, out)
    import json

    (out / "run.json").write_text(
        json.dumps(
            {
                "scenario": display_path(scenario.path),
                "trajectories": res.trajectories,
                "runs": res.runs,
                "population_scale": res.scale,
                "seed": args.seed,
                "workers": args.workers,
                "wall_seconds": round(res.wall_seconds, 1),
                "versions": versions(),
            },
            indent=1,
        )
        + "\n"
    )
    log(
        f"wrote {display_path(out)}/report.md, morris.csv, sensitivity.png ({res.wall_seconds:.0f} s)"
    )
    inf = influence(res.table)
    cls = res.ranges.set_index("parameter")["class"]
    for p in inf.index[:8]:
        log(f"  {p} ({cls[p]}): largest relative mu* {inf[p]:.3f}")
    return 0
