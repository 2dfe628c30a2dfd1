"""Run folders: written atomically, with a manifest that says exactly what produced them.

A run folder ``results/<scenario>/<run-id>/`` holds

``manifest.json``  scenario (resolved, every default), seed, population scale, versions,
                   input file hashes, command, wall time, and the hash of every output;
``daily.csv``      one row per day (:data:`sim.model.history.DAILY_COLUMNS`);
``locations.csv``  one row per day and place;
``routes.csv``     people on each road per day;
``summary.json``   the headline numbers (also printed);
``plots/``         PNG figures.

The folder is written under a temporary name in the same parent and renamed into place
only when complete, so an interrupted run never leaves a folder that looks finished
(:class:`sim.safety.FolderWriter`, which also refuses to replace what idlibsim did not write).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.provenance import PROJECT_ROOT
from sim.scenario.loading import Scenario

MANIFEST_VERSION = 1


def versions() -> dict[str, str]:
    """Python, platform and package versions, for manifests (a new dict each call)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    # read once per process: each lookup scans the installed packages' metadata (60 ms for
    # the seven, and an ensemble rewrites its manifest after every replicate)
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("idlibsim", "mesa", "numpy", "scipy", "pandas", "matplotlib", "networkx"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def display_path(p: Path | str) -> str:
    """Path relative to the project root when inside it (portable manifests)."""
    p = Path(p).resolve()
    try:
        return p.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(p)


def scenario_digest(scenario: Scenario) -> str:
    """Hash of the resolved scenario and the contents of every input file."""
    h = hashlib.sha256()
    h.update(json.dumps(portable(scenario.resolved), sort_keys=True).encode())
    for path, digest in sorted(scenario.input_hashes().items()):
        h.update(Path(path).name.encode() + digest.encode())
    return h.hexdigest()


def portable(resolved: dict[str, Any]) -> dict[str, Any]:
    """The resolved scenario with file paths relative to the project root."""

    def fix(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, str) and os.path.isabs(v) and os.path.exists(v):
            return display_path(v)
        return v

    return fix(resolved)


def scale_label(scale: float) -> str:
    return f"{scale:g}"


def run_id(scenario: Scenario, seed: int, scale: float) -> str:
    """Deterministic name: the same scenario, inputs, seed and scale give the same folder."""
    return f"seed{seed}_scale{scale_label(scale)}_{scenario_digest(scenario)[:8]}"


def default_run_dir(
    scenario: Scenario, seed: int, scale: float, results_root: Path | None = None
) -> Path:
    root = Path(results_root) if results_root else PROJECT_ROOT / "results"
    return root / scenario.name / run_id(scenario, seed, scale)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """CSV that opens in a spreadsheet and is byte-identical for identical data.

    Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return: a scenario label, say) are written with a
    leading apostrophe, which spreadsheets show as text (OWASP "CSV injection").
    """
    neutralise_formulas(df).to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with text cells that start like a formula prefixed by ``'`` (a copy if any)."""
    out = df
    for col in df.columns:
        series = df[col]
        if not (series.dtype == object or pd.api.types.is_string_dtype(series)):
            continue
        # each distinct value checked once (a column of place names or dates repeats a
        # few hundred values over thousands of rows)
        formulas = [
            v for v in pd.unique(series) if isinstance(v, str) and v.startswith(_FORMULA_STARTS)
        ]
        if formulas:
            mask = series.isin(formulas)
            if out is df:
                out = df.copy()
            out[col] = out[col].astype(object)
            out.loc[mask, col] = "'" + series[mask].astype(str)
    return out


def manifest(
    scenario: Scenario,
    seed: int,
    scale: float,
    wall_seconds: float,
    outputs: dict[str, str],
    command: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "tool": "idlibsim",
        "created_utc": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "command": command if command is not None else sys.argv,
        "scenario_file": display_path(scenario.path),
        "scenario_name": scenario.name,
        "scenario_title": scenario.title,
        "scenario_label": scenario.label,
        "seed": int(seed),
        "population_scale": float(scale),
        "people_per_simulated_person": int(round(1 / scale)),
        "period": {
            "start": scenario.start.isoformat(),
            "end": scenario.end.isoformat(),
            "report_from": scenario.report_from.isoformat(),
        },
        "scenario": portable(scenario.resolved),
        "inputs_sha256": {display_path(p): d for p, d in sorted(scenario.input_hashes().items())},
        "scenario_digest": scenario_digest(scenario),
        "versions": versions(),
        "wall_seconds": round(wall_seconds, 3),
        "outputs_sha256": outputs,
        **(extra or {}),
    }


def write_json(obj: Any, path: Path) -> None:
    path.write_text(
        json.dumps(obj, indent=2, default=_json_default, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))
