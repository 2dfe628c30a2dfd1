"""Reproduce a run from its manifest: ``idlibsim rerun RUN_DIR``.

A run's ``manifest.json`` holds the resolved scenario (every field, every default, every
behaviour parameter), the seed, the population scale and the SHA-256 of every input and
output file. :func:`rerun`

1. reads the manifest and checks that the data files it names (locations, routes,
   observed figures) still have the recorded contents: if one changed, the numbers
   cannot be expected to match, and it says which file and how to get the old one back;
2. rebuilds the scenario from the manifest alone (the scenario TOML may have been edited
   or deleted since: it is not read) and checks that it resolves to exactly the recorded
   scenario;
3. runs it with the recorded seed and population scale, writes the tables, and compares
   their SHA-256 with the recorded ones, file by file, naming the first differing row.

Exit status of the command: 0 when every table is byte-identical, 1 when not, 2 when the
folder is not a run or its inputs changed.
"""

from __future__ import annotations

import difflib
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from .config import Scenario, load_scenario, sha256_file
from .errors import InputError, Problem
from .results import PROJECT_ROOT, file_sha256, versions, write_csv, write_json

#: Tables compared byte for byte (plots are not: their bytes depend on matplotlib).
COMPARED = ("daily.csv", "locations.csv", "routes.csv", "summary.json")
#: Keys of the resolved scenario that are file paths (stored relative to the project).
PATH_KEYS = (
    ("scenario", "observed"),
    ("geography", "locations"),
    ("geography", "routes"),
    ("geography", "camp_table"),
    ("conflict", "bombardment_table"),
    ("behaviour", "parameters"),
)


@dataclass
class RerunReport:
    """Outcome of :func:`rerun`."""

    run_dir: Path
    identical: bool
    files: dict[str, str]  # file -> "identical" | "differs" | "missing in the original"
    first_difference: dict[str, str] = field(default_factory=dict)
    version_changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    out_dir: Path | None = None


def _not_a_run(run_dir: Path, why: str) -> InputError:
    return InputError(
        [
            Problem(
                run_dir,
                "",
                f"is not a run folder: {why}",
                "give a folder written by `idlibsim run`",
            )
        ]
    )


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The manifest of a run folder, or a clear :class:`InputError`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise _not_a_run(run_dir, "no such folder")
    path = run_dir / "manifest.json"
    if not path.exists():
        raise _not_a_run(run_dir, "it has no manifest.json")
    try:
        man = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            [Problem(path, "", f"is not valid JSON ({exc})", "the manifest was damaged")]
        ) from None
    need = ("scenario", "seed", "population_scale", "outputs_sha256", "inputs_sha256")
    missing = [k for k in need if k not in (man if isinstance(man, dict) else {})]
    if missing:
        raise InputError(
            [
                Problem(
                    path,
                    ", ".join(missing),
                    "missing from the manifest",
                    "only complete run manifests (from `idlibsim run`) can be rerun",
                )
            ]
        )
    if man.get("kind") == "ensemble":
        raise _not_a_run(run_dir, "it is an ensemble; rerun it with `idlibsim ensemble`")
    return man


def _abs(p: str) -> str:
    if not p:
        return p
    q = Path(p)
    return str(q if q.is_absolute() else (PROJECT_ROOT / q))


def check_inputs(man: dict[str, Any], manifest_path: Path) -> None:
    """Refuse when a data file the run read has changed or disappeared since."""
    problems = []
    for name, digest in man["inputs_sha256"].items():
        if name.endswith(".toml"):
            continue  # the scenario itself is rebuilt from the manifest
        path = Path(_abs(name))
        if not path.exists():
            problems.append(
                Problem(
                    manifest_path,
                    f"inputs_sha256.{name}",
                    f"the run read {name}, which no longer exists",
                    "restore it (e.g. `git checkout <commit> -- " + name + "`)",
                )
            )
        elif sha256_file(path) != digest:
            problems.append(
                Problem(
                    manifest_path,
                    f"inputs_sha256.{name}",
                    f"{name} has changed since the run (SHA-256 {digest[:12]}... recorded)",
                    "check out the version the run used (the manifest records the hash), "
                    "e.g. `git log -- " + name + "`",
                )
            )
    if problems:
        raise InputError(problems)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"non-finite number {v} in a manifest")
        return repr(v)
    if isinstance(v, str):
        try:
            return date.fromisoformat(v).isoformat() if len(v) == 10 else json.dumps(v)
        except ValueError:
            return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_table(name: str, table: dict[str, Any], lines: list[str]) -> None:
    lines.append(f"[{name}]")
    subtables = []
    for k, v in table.items():
        if v is None:
            continue  # None means "the default", which is what an absent key gives
        if isinstance(v, dict):
            subtables.append((k, v))
        else:
            lines.append(f"{json.dumps(k, ensure_ascii=False)} = {_toml_value(v)}")
    lines.append("")
    for k, v in subtables:
        _toml_table(f"{name}.{json.dumps(k, ensure_ascii=False)}", v, lines)


def scenario_toml(resolved: dict[str, Any]) -> str:
    """A self-contained scenario TOML equivalent to a manifest's resolved scenario."""
    data = json.loads(json.dumps(resolved))  # deep copy
    for section, key in PATH_KEYS:
        if section in data and data[section].get(key):
            data[section][key] = _abs(data[section][key])
    # A run shortened with --days records the shortened end; events may reach beyond it.
    # Load with an end that covers every event, then shorten again (see rerun()).
    end = data["scenario"]["end"]
    for ev in data.get("events", {}).values():
        for k in ("date", "start", "end"):
            if isinstance(ev.get(k), str) and ev[k] > end:
                end = ev[k]
    data["scenario"]["end"] = end
    lines = ["# Rebuilt by `idlibsim rerun` from a run manifest.", ""]
    for section, table in data.items():
        _toml_table(section, table, lines)
    return "\n".join(lines) + "\n"


def scenario_from_manifest(man: dict[str, Any], workdir: Path) -> Scenario:
    """Rebuild the run's scenario from its manifest (written to ``workdir`` and loaded)."""
    from .results import portable

    path = workdir / f"{man['scenario'].get('scenario', {}).get('name', 'scenario')}.toml"
    path.write_text(scenario_toml(man["scenario"]), encoding="utf-8")
    sc = load_scenario(path)
    recorded_end = date.fromisoformat(man["scenario"]["scenario"]["end"])
    if sc.end != recorded_end:
        sc = sc.truncated((recorded_end - sc.start).days + 1)
    rebuilt = portable(sc.resolved)
    if rebuilt != man["scenario"]:
        a = json.dumps(man["scenario"], indent=1, sort_keys=True).splitlines()
        b = json.dumps(rebuilt, indent=1, sort_keys=True).splitlines()
        diff = "\n".join(list(difflib.unified_diff(a, b, "manifest", "rebuilt", lineterm=""))[:20])
        raise RuntimeError(f"the rebuilt scenario differs from the manifest's:\n{diff}")
    return sc


def _first_difference(a: Path, b: Path) -> str:
    la = a.read_text(encoding="utf-8").splitlines()
    lb = b.read_text(encoding="utf-8").splitlines()
    for i, (x, y) in enumerate(zip(la, lb, strict=False)):
        if x != y:
            return f"line {i + 1}: original {x[:120]!r}, rerun {y[:120]!r}"
    return f"{len(la)} lines in the original, {len(lb)} in the rerun"


def rerun(run_dir: Path | str, out: Path | str | None = None, check: bool = False) -> RerunReport:
    """Run again what produced ``run_dir`` and compare the tables byte for byte.

    ``out``: folder to keep the rerun's tables in (default: a temporary folder, removed).
    """
    from .runner import simulate

    run_dir = Path(run_dir)
    man = read_manifest(run_dir)
    check_inputs(man, run_dir / "manifest.json")
    now = versions()
    changes = {
        k: (str(v), str(now.get(k, "not installed")))
        for k, v in man.get("versions", {}).items()
        if k != "platform" and str(now.get(k)) != str(v)
    }
    tmp = Path(tempfile.mkdtemp(prefix="idlibsim-rerun-"))
    try:
        sc = scenario_from_manifest(man, tmp)
        res = simulate(sc, int(man["seed"]), float(man["population_scale"]), check=check)
        target = Path(out) if out else tmp / "run"
        if out and target.exists() and any(target.iterdir()):
            raise FileExistsError(f"{target} exists and is not empty; give a new --out folder")
        target.mkdir(parents=True, exist_ok=True)
        write_csv(res.daily, target / "daily.csv")
        write_csv(res.locations, target / "locations.csv")
        write_csv(res.routes, target / "routes.csv")
        write_json(res.summary, target / "summary.json")
        files, first = {}, {}
        for name in COMPARED:
            want = man["outputs_sha256"].get(name)
            if want is None:
                files[name] = "missing in the original"
            elif file_sha256(target / name) == want:
                files[name] = "identical"
            else:
                files[name] = "differs"
                if (run_dir / name).exists():
                    first[name] = _first_difference(run_dir / name, target / name)
        identical = all(v == "identical" for v in files.values())
        return RerunReport(run_dir, identical, files, first, changes, Path(out) if out else None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def format_report(rep: RerunReport) -> str:
    lines = [f"rerun of {rep.run_dir}:"]
    for name, state in rep.files.items():
        lines.append(f"  {name}: {state}")
        if name in rep.first_difference:
            lines.append(f"    first difference at {rep.first_difference[name]}")
    for k, (old, new) in rep.version_changes.items():
        lines.append(f"  note: {k} was {old}, is now {new}")
    lines.append(
        "  reproduced: every table is byte-identical"
        if rep.identical
        else "  NOT reproduced: the tables above differ"
    )
    if rep.out_dir:
        lines.append(f"  rerun tables in {rep.out_dir}")
    return "\n".join(lines)


def cli_rerun(args: Any, argv: list[str]) -> int:
    """``idlibsim rerun RUN_DIR [--out DIR]``: 0 if identical, 1 if not."""
    rep = rerun(args.run, args.out)
    print(format_report(rep))
    if not rep.identical:
        print("idlibsim: the rerun did not reproduce the run's numbers", file=sys.stderr)
    return 0 if rep.identical else 1
