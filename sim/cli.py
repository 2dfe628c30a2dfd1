"""Command line: ``idlibsim <command>`` (or ``python -m sim <command>``).

Parses arguments, calls the API, prints. Any problem with the user's input is printed as
a clear message (file, field, fix) with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import InputError

EXIT_INPUT = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad command-line option (printed, exit 2)."""


def _scale(text: str) -> float:
    from .model import population_weight

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number (e.g. 1, 0.1)") from None
    try:
        population_weight(v)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError("the seed must be between 0 and 2**63 - 1")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="idlibsim",
        description="Agent-based simulation of civilian displacement in north-west Syria.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run a scenario and write its results folder")
    r.add_argument("scenario", type=Path, help="scenario TOML file")
    r.add_argument("--seed", type=_seed, default=1, help="random seed (default 1)")
    r.add_argument(
        "--population-scale",
        type=_scale,
        default=1.0,
        metavar="F",
        help="simulated persons per person: 1 (default) or 1/k, e.g. 0.1",
    )
    r.add_argument("--out", type=Path, help="results folder (default results/<scenario>/<run-id>)")
    r.add_argument("--days", type=_positive_int, help="simulate only the first N days")
    r.add_argument("--force", action="store_true", help="replace an existing results folder")
    r.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    r.add_argument(
        "--check", action="store_true", help="assert the model's invariants every day (slower)"
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    v = sub.add_parser("validate", help="check a scenario file without running it")
    v.add_argument("scenario", type=Path, nargs="+")
    v.add_argument(
        "--show", action="store_true", help="print the resolved scenario with every default (JSON)"
    )

    s = sub.add_parser("schema", help="print the scenario file reference (Markdown)")
    s.add_argument("--out", type=Path, help="write to this file instead of stdout")
    return p


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args, argv)
    except InputError as exc:
        print(f"idlibsim: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (UsageError, FileExistsError) as exc:
        print(f"idlibsim: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("idlibsim: interrupted; no results folder was completed", file=sys.stderr)
        return EXIT_INTERRUPTED


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from .config import load_scenario
    from .runner import format_summary, run

    scenario = load_scenario(args.scenario)
    if args.days is not None:
        try:
            scenario = scenario.truncated(args.days)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    res = run(
        scenario,
        seed=args.seed,
        population_scale=args.population_scale,
        out=args.out,
        force=args.force,
        plots=not args.no_plots,
        check=args.check,
        progress=not args.quiet and sys.stderr.isatty(),
        command=["idlibsim", *argv],
    )
    if not args.quiet:
        print(format_summary(res.summary))
        print(f"  results: {res.run_dir}  ({res.wall_seconds:.1f} s)")
    return 0


def cmd_validate(args: argparse.Namespace, argv: list[str]) -> int:
    from .config import load_scenario
    from .results import portable

    problems: list[InputError] = []
    for path in args.scenario:
        try:
            sc = load_scenario(path)
        except InputError as exc:
            problems.append(exc)
            continue
        if args.show:
            print(json.dumps(portable(sc.resolved), indent=2, ensure_ascii=False))
        else:
            print(
                f"ok: {path}: '{sc.title}', {sc.start} to {sc.end} ({sc.n_days} days), {len(sc.events)} events, {sc.population_total:,} people"
            )
    if problems:
        raise InputError([p for e in problems for p in e.problems])
    return 0


def cmd_schema(args: argparse.Namespace, argv: list[str]) -> int:
    from .schema_doc import scenario_reference

    text = scenario_reference()
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "schema": cmd_schema}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
