"""Results folders: the one place that knows how a run's or an ensemble's folder is laid
out and how its ``manifest.json`` is read and written.

``RunFolder`` (``idlibsim run``)::

    manifest.json   what was run (resolved scenario, seed, scale, versions, file hashes)
    summary.json    headline numbers
    daily.csv, locations.csv, routes.csv, ... plots/

``EnsembleFolder`` (``idlibsim ensemble``)::

    manifest.json                        scenarios, replicate seeds, status, file hashes
    bands.csv                            quantile bands of every daily metric
    <scenario>/replicates/rep-0000.csv   one daily table per replicate

Every manifest is untrusted input when read back (a folder may have been edited or come
from someone else): it is read size-limited, as JSON with finite numbers only
(:func:`sim.safety.read_json`), and an ensemble's fields that become paths are checked
(:func:`validate_ensemble_manifest`) before anything uses them. Writers give the manifest
as a dict; an ensemble's manifest is replaced atomically (it is rewritten while the
ensemble runs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError, Problem, not_a_regular_file
from .results import PROJECT_ROOT, write_json
from .safety import read_json, staged

MANIFEST_NAME = "manifest.json"
ENSEMBLE_KIND = "ensemble"
REPLICATES_DIR = "replicates"
RUN_TABLES = ("daily", "locations", "routes")


@dataclass(frozen=True)
class ResultsFolder:
    """A folder idlibsim writes, with a ``manifest.json`` saying what is in it."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_NAME

    def has_manifest(self) -> bool:
        return self.manifest_path.is_file()

    def read_manifest(self) -> Any:
        """The manifest as read (any JSON value): a regular file, size-limited, finite
        numbers only; :class:`InputError` if it cannot be read."""
        return read_json(self.manifest_path)

    def kind(self) -> str | None:
        """``"run"``, ``"ensemble"``, ``"calibration"``, or None without a readable manifest."""
        if not self.has_manifest():
            return None
        try:
            man = self.read_manifest()
        except InputError:
            return None
        return str(man.get("kind", "run")) if isinstance(man, dict) else None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write ``manifest.json`` (replacing it atomically)."""
        with staged(self.manifest_path) as tmp:
            write_json(manifest, tmp)


@dataclass(frozen=True)
class RunFolder(ResultsFolder):
    """The results folder of one run (``idlibsim run``)."""

    def table(self, name: str) -> pd.DataFrame | None:
        """``<name>.csv`` as a DataFrame, or None if it is missing or not a regular file."""
        p = self.path / f"{name}.csv"
        if p.exists() and not not_a_regular_file(p):
            return pd.read_csv(p)
        return None

    def read(self) -> dict[str, Any]:
        """Manifest, summary and tables: ``{"dir", "manifest", "summary", "daily", ...}``
        (the summary and tables only when present)."""
        out: dict[str, Any] = {"dir": self.path, "manifest": self.read_manifest()}
        if (self.path / "summary.json").exists():
            out["summary"] = read_json(self.path / "summary.json", "summary")
        for name in RUN_TABLES:
            df = self.table(name)
            if df is not None:
                out[name] = df
        return out

    def scenario_head(self, manifest: Any) -> dict[str, Any] | None:
        """The ``[scenario]`` table of the resolved scenario a manifest records, or None."""
        scenario = manifest.get("scenario") if isinstance(manifest, dict) else None
        head = scenario.get("scenario") if isinstance(scenario, dict) else None
        return head if isinstance(head, dict) else None

    def title_and_observed(self) -> tuple[str, Path | None]:
        """The scenario title and its observed-figures file (an existing one, or None) as
        the manifest records them; ("", None) when there is no readable manifest."""
        try:
            man = self.read_manifest() if self.has_manifest() else None
        except InputError:
            man = None
        if not isinstance(man, dict):
            return "", None
        head = self.scenario_head(man) or {}
        observed = head.get("observed")
        obs_path = None
        if isinstance(observed, str) and observed:
            p = Path(observed)
            p = p if p.is_absolute() else PROJECT_ROOT / p
            obs_path = p if p.exists() else None
        return str(man.get("scenario_title", "") or ""), obs_path


def read_run(run_dir: Path | str) -> dict[str, Any]:
    """Load a run folder: manifest, summary and tables (pandas DataFrames)."""
    return RunFolder(Path(run_dir)).read()


@dataclass(frozen=True)
class EnsembleFolder(ResultsFolder):
    """The results folder of an ensemble (``idlibsim ensemble``)."""

    def is_ensemble(self) -> bool:
        return self.kind() == ENSEMBLE_KIND

    def manifest(self) -> dict[str, Any]:
        """The manifest, its fields that become paths checked
        (:func:`validate_ensemble_manifest`); :class:`InputError` otherwise."""
        man = self.read_manifest()
        validate_ensemble_manifest(man, self.manifest_path)
        return man

    def replicate_path(self, scenario: str, i: int) -> Path:
        """The daily table of replicate ``i`` of ``scenario``."""
        return self.path / scenario / REPLICATES_DIR / f"rep-{i:04d}.csv"


def validate_ensemble_manifest(man: Any, path: Path) -> None:
    """Check the fields of an ensemble manifest that are read (untrusted input).

    Scenario names become paths (``<name>/replicates/``), so they must be plain names;
    seeds and day counts must be whole numbers; labels text.
    """
    bad: list[str] = []
    seeds = man.get("replicate_seeds") if isinstance(man, dict) else None
    if not isinstance(seeds, list) or not seeds or len(seeds) > 100_000:
        bad.append("replicate_seeds must be a non-empty list of seeds")
    elif not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds):
        bad.append("replicate_seeds must be whole numbers >= 0")
    scs = man.get("scenarios") if isinstance(man, dict) else None
    if not isinstance(scs, list) or not scs:
        bad.append("scenarios must be a non-empty list")
    else:
        for k, sc in enumerate(scs):
            if not isinstance(sc, dict):
                bad.append(f"scenarios[{k}] must be a table")
                continue
            name = sc.get("name")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", name):
                bad.append(f"scenarios[{k}].name {str(name)[:40]!r} is not a scenario name")
            if not isinstance(sc.get("label"), str):
                bad.append(f"scenarios[{k}].label must be text")
            nd = sc.get("reported_days")
            if nd is not None and (not isinstance(nd, int) or isinstance(nd, bool) or nd < 1):
                bad.append(f"scenarios[{k}].reported_days must be a whole number of days")
    if bad:
        raise InputError(
            [
                Problem(path, "", b, "give a folder written by `idlibsim ensemble`, unedited")
                for b in bad
            ]
        )
