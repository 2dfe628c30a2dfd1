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

The manifest is untrusted input (a folder may come from anyone): every field is checked
(:func:`validate_manifest`: types, ranges, names, paths, hashes) before anything is read
or written, and the rerun writes only inside a private temporary folder
(``tempfile.mkdtemp``) under fixed names, never under a name taken from the manifest.
The comparison is with the files *present in the run folder* (a table edited after the
run is reported, exit 1), and each must also match the hash its manifest recorded.

Exit status of the command: 0 when every table is byte-identical, 1 when not, 2 when the
folder is not a run or its inputs changed.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sim.errors import InputError, Problem, not_a_regular_file, read_limited
from sim.model.model import population_weight
from sim.outputs.folders import RunFolder
from sim.outputs.results import PROJECT_ROOT, portable, versions, write_csv, write_json
from sim.outputs.runner import check_population_scale, simulate
from sim.safety import FolderWriter, sha256_limited, signals_held
from sim.scenario.loading import Scenario, scenario_from_dict
from sim.scenario.schema import PATH_FIELDS

#: Tables compared byte for byte (plots are not: their bytes depend on matplotlib).
COMPARED = ("daily.csv", "locations.csv", "routes.csv", "summary.json")
#: Keys of the resolved scenario that are file paths (stored relative to the project).
PATH_KEYS = PATH_FIELDS


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
    """The manifest of a run folder, checked field by field, or a clear :class:`InputError`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise _not_a_run(run_dir, "no such folder")
    folder = RunFolder(run_dir)
    path = folder.manifest_path
    if not os.path.lexists(path):
        raise _not_a_run(run_dir, "it has no manifest.json")
    man = folder.read_manifest()
    if isinstance(man, dict) and man.get("kind") == "ensemble":
        raise _not_a_run(run_dir, "it is an ensemble; rerun it with `idlibsim ensemble`")
    validate_manifest(man, path)
    return man


_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_OUTPUT = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,99}")
MAX_DEPTH = 6  # scenario.events.<name>.<key>[list]: 4 levels are used


def _depth(v: Any, d: int = 0) -> int:
    if d > MAX_DEPTH:
        return d
    if isinstance(v, dict):
        return max([_depth(x, d + 1) for x in v.values()], default=d + 1)
    if isinstance(v, list):
        return max([_depth(x, d + 1) for x in v], default=d + 1)
    return d


def safe_relative(name: str) -> bool:
    """A relative path of plain names (no '..', no absolute path, no odd characters)."""
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        return False
    parts = name.split("/")
    return all(_OUTPUT.fullmatch(p) and p not in (".", "..") for p in parts) and len(parts) <= 3


def safe_input_path(name: str) -> bool:
    """An input path as manifests record it: absolute, or relative to the project without '..'."""
    if not isinstance(name, str) or not name or "\0" in name or len(name) > 4096:
        return False
    if any(ord(c) < 32 for c in name):
        return False
    p = Path(name)
    return p.is_absolute() or ".." not in p.parts


def validate_manifest(man: Any, path: Path) -> None:
    """Check every field of a run manifest that rerun uses; all problems at once."""
    problems: list[Problem] = []

    def bad(field: str, msg: str) -> None:
        problems.append(
            Problem(path, field, msg, "only manifests written by `idlibsim run` can be rerun")
        )

    if not isinstance(man, dict):
        raise InputError([Problem(path, "", "is not a JSON object", "the manifest is damaged")])
    need = ("scenario", "seed", "population_scale", "outputs_sha256", "inputs_sha256")
    missing = [k for k in need if k not in man]
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
    if man.get("tool") not in (None, "idlibsim"):
        bad("tool", f"is {str(man.get('tool'))[:40]!r}, not 'idlibsim'")
    seed = man["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        bad("seed", f"must be a whole number between 0 and 2**63 - 1, got {str(seed)[:40]!r}")
    scale = man["population_scale"]
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale):
        bad("population_scale", f"must be a number, got {str(scale)[:40]!r}")
    else:
        try:
            population_weight(float(scale))
        except ValueError as exc:
            bad("population_scale", str(exc))
    sc = man["scenario"]
    if not isinstance(sc, dict) or not isinstance(sc.get("scenario"), dict):
        bad("scenario", "must be the resolved scenario (a table with a [scenario] table)")
    else:
        if _depth(sc) > MAX_DEPTH:
            bad("scenario", "is nested too deeply to be a scenario")
        head = sc["scenario"]
        name = head.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            bad("scenario.scenario.name", f"{str(name)[:60]!r} is not a scenario name")
        for k in ("start", "end"):
            try:
                date.fromisoformat(head.get(k))
            except (TypeError, ValueError):
                bad(f"scenario.scenario.{k}", f"{str(head.get(k))[:40]!r} is not a date")
        for section, key in PATH_KEYS:
            v = sc.get(section, {}).get(key) if isinstance(sc.get(section), dict) else None
            if v not in (None, "") and not safe_input_path(v):
                bad(f"scenario.{section}.{key}", f"{str(v)[:80]!r} is not a safe file path")
    for field_name, is_key_ok in (
        ("outputs_sha256", safe_relative),
        ("inputs_sha256", safe_input_path),
    ):
        table = man[field_name]
        if not isinstance(table, dict) or len(table) > 10_000:
            bad(field_name, "must be a table of file names and SHA-256 hashes")
            continue
        for k, v in table.items():
            if not is_key_ok(k):
                bad(field_name, f"{str(k)[:80]!r} is not a safe file name")
            if not isinstance(v, str) or not _HEX64.fullmatch(v):
                bad(f"{field_name}.{str(k)[:80]}", "is not a SHA-256 hash (64 hex digits)")
    vers = man.get("versions", {})
    if not isinstance(vers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in vers.items()
    ):
        bad("versions", "must be a table of package names and versions")
    if problems:
        raise InputError(problems)


def _abs(p: str) -> str:
    if not p:
        return p
    q = Path(p)
    return str(q if q.is_absolute() else (PROJECT_ROOT / q))


def check_inputs(man: dict[str, Any], manifest_path: Path) -> None:
    """Refuse when a data file the run read has changed, disappeared or is not a file."""
    problems = []
    for name, digest in man["inputs_sha256"].items():
        if name.endswith(".toml") and not _is_parameter_file(man, name):
            continue  # the scenario itself is rebuilt from the manifest
        path = Path(_abs(name))
        why = not_a_regular_file(path)
        if why == "does not exist":
            problems.append(
                Problem(
                    manifest_path,
                    f"inputs_sha256.{name}",
                    f"the run read {name}, which no longer exists",
                    "restore it (e.g. `git checkout <commit> -- " + name + "`)",
                )
            )
        elif why:
            problems.append(
                Problem(
                    manifest_path,
                    f"inputs_sha256.{name}",
                    f"{name} {why}",
                    "restore the data file the run read",
                )
            )
        elif sha256_limited(path) != digest:
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


def _is_parameter_file(man: dict[str, Any], name: str) -> bool:
    beh = man["scenario"].get("behaviour")
    return isinstance(beh, dict) and beh.get("parameters") == name


def _rebuildable(resolved: dict[str, Any]) -> dict[str, Any]:
    """A manifest's resolved scenario with absolute paths and an end that covers its events.

    A run shortened with --days records the shortened end; events may reach beyond it.
    Load with an end that covers every event, then shorten again (see rerun())."""
    data = json.loads(json.dumps(resolved))  # deep copy
    for section, key in PATH_KEYS:
        if section in data and data[section].get(key):
            data[section][key] = _abs(data[section][key])
    end = data["scenario"]["end"]
    for ev in data.get("events", {}).values():
        for k in ("date", "start", "end"):
            if isinstance(ev.get(k), str) and ev[k] > end:
                end = ev[k]
    data["scenario"]["end"] = end
    return data


def scenario_toml(resolved: dict[str, Any]) -> str:
    """A self-contained scenario TOML equivalent to a manifest's resolved scenario."""
    import tomli_w

    data = _rebuildable(resolved)
    for ev in data.get("events", {}).values():
        for k in ("date", "start", "end"):
            if isinstance(ev.get(k), str):
                ev[k] = date.fromisoformat(ev[k])
    head = data["scenario"]
    for k in ("start", "end", "report_from"):
        if isinstance(head.get(k), str):
            head[k] = date.fromisoformat(head[k])
    body = tomli_w.dumps(_without_none(data))
    return "# Rebuilt by `idlibsim rerun` from a run manifest.\n\n" + body


def _without_none(v: Any) -> Any:
    """None means "the default", which is what an absent key gives (TOML has no null)."""
    if isinstance(v, dict):
        return {k: _without_none(x) for k, x in v.items() if x is not None}
    return v


def scenario_from_manifest(
    man: dict[str, Any], manifest_path: Path = Path("manifest.json")
) -> Scenario:
    """Rebuild the run's scenario from its manifest, validated like a scenario file."""
    try:
        data = _rebuildable(man["scenario"])
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
        raise InputError(
            [
                Problem(
                    manifest_path,
                    "scenario",
                    f"cannot be rebuilt: {exc}",
                    "the manifest is damaged",
                )
            ]
        ) from None
    sc = scenario_from_dict(data, manifest_path)
    recorded_end = date.fromisoformat(man["scenario"]["scenario"]["end"])
    if sc.end != recorded_end:
        try:
            sc = sc.truncated((recorded_end - sc.start).days + 1)
        except ValueError as exc:
            raise InputError(
                [
                    Problem(
                        manifest_path, "scenario.scenario.end", str(exc), "the manifest is damaged"
                    )
                ]
            ) from None
    rebuilt = portable(sc.resolved)
    if rebuilt != man["scenario"]:
        a = json.dumps(man["scenario"], indent=1, sort_keys=True).splitlines()
        b = json.dumps(rebuilt, indent=1, sort_keys=True).splitlines()
        diff = "\n".join(list(difflib.unified_diff(a, b, "manifest", "rebuilt", lineterm=""))[:20])
        raise InputError(
            [
                Problem(
                    manifest_path,
                    "scenario",
                    f"does not rebuild to the same scenario (edited by hand, or written by "
                    f"another version of idlibsim):\n{diff}",
                    "check out the idlibsim version that the manifest's versions name",
                )
            ]
        )
    return sc


def _lines(path: Path) -> list[str]:
    try:
        return read_limited(path, 2_000_000_000, "table").decode("utf-8", "replace").splitlines()
    except InputError:
        return []


def _first_difference(a: Path, b: Path) -> str:
    la, lb = _lines(a), _lines(b)
    for i, (x, y) in enumerate(zip(la, lb, strict=False)):
        if x != y:
            return f"line {i + 1}: in the folder {x[:120]!r}, rerun {y[:120]!r}"
    return f"{len(la)} lines in the folder, {len(lb)} in the rerun"


def _present_sha256(path: Path) -> str | None:
    """SHA-256 of a table in the run folder, None if absent or not a regular file."""
    if os.path.islink(path) or not_a_regular_file(path):
        return None
    try:
        return sha256_limited(path)
    except (InputError, OSError):
        return None


def rerun(run_dir: Path | str, out: Path | str | None = None, check: bool = False) -> RerunReport:
    """Run again what produced ``run_dir`` and compare the tables byte for byte.

    Each table of :data:`COMPARED` is reproduced when the file present in ``run_dir``,
    the rerun's file and the manifest's recorded SHA-256 all agree. ``out``: a new folder
    to keep the rerun's tables in (default: none; everything is written in a private
    temporary folder, removed at the end).
    """
    run_dir = Path(run_dir)
    man_path = run_dir / "manifest.json"
    man = read_manifest(run_dir)  # every field checked before anything else is done
    check_inputs(man, man_path)
    now = versions()
    changes = {
        k: (str(v), str(now.get(k, "not installed")))
        for k, v in man.get("versions", {}).items()
        if k != "platform" and str(now.get(k)) != str(v)
    }
    writer = FolderWriter(out, kind="rerun") if out else None
    tmp: Path | None = None
    try:
        with signals_held():  # the folder is recorded (for the clean-up) as it is made
            tmp = Path(tempfile.mkdtemp(prefix="idlibsim-rerun-"))
        if writer is not None:
            writer.open()  # refuses an existing --out before the run
        sc = scenario_from_manifest(man, man_path)
        check_population_scale(sc, float(man["population_scale"]))
        res = simulate(sc, int(man["seed"]), float(man["population_scale"]), check=check)
        target = tmp / "run"
        target.mkdir()
        write_csv(res.daily, target / "daily.csv")
        write_csv(res.locations, target / "locations.csv")
        write_csv(res.routes, target / "routes.csv")
        write_json(res.summary, target / "summary.json")
        files, first = {}, {}
        for name in COMPARED:
            want = man["outputs_sha256"].get(name)
            got = sha256_limited(target / name)
            present = _present_sha256(run_dir / name)
            if want is None:
                files[name] = "missing from the manifest"
            elif present is None:
                files[name] = "missing from the run folder (or not a regular file)"
            elif present != got:
                files[name] = "differs" + (
                    " (and the file was edited after the run: its SHA-256 is not the manifest's)"
                    if present != want
                    else ""
                )
                first[name] = _first_difference(run_dir / name, target / name)
            elif want != got:
                files[name] = (
                    "identical to the rerun, but the manifest records another SHA-256 "
                    "(the manifest was edited)"
                )
            else:
                files[name] = "identical"
        identical = all(v == "identical" for v in files.values())
        if writer is not None:
            for name in COMPARED:
                shutil.copyfile(target / name, writer.tmp / name)
            writer.commit()
        return RerunReport(
            run_dir, identical, files, first, changes, writer.target if writer else None
        )
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if tmp is not None:
            with signals_held():
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
