"""Command line: ``idlibsim <command>`` (or ``python -m sim <command>``).

Parses arguments, calls the API, prints. Any problem with the user's input is printed as
a clear message (file, field, fix) with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from .errors import InputError, OutputError, UsageError

EXIT_NOT_REPRODUCED = 1  # `rerun`: the numbers differ
EXIT_INPUT = 2  # bad scenario, data file or option: nothing was written
EXIT_INVARIANT = 3  # the model broke one of its invariants (a bug: please report it)
EXIT_INTERNAL = 70  # any other unexpected error (a bug)
EXIT_INTERRUPTED = 130
DEBUG_ENV = "IDLIBSIM_DEBUG"  # set to 1 to see the Python traceback of an unexpected error


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: handled like Ctrl-C (temporary files removed), exit 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupt(signum: int, frame) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt (or :class:`Terminated`), so
    every temporary file the program created is removed and the exit is quiet.

    Called first thing in :func:`main` and in ``python -m sim`` before any import, so an
    interruption during the start-up imports is quiet too. Only from the main thread.
    """
    try:
        signal.signal(signal.SIGINT, _raise_interrupt)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, _raise_interrupt)
    except ValueError:  # not the main thread (e.g. called from a notebook's worker thread)
        pass


def _scale(text: str) -> float:
    from sim.model.model import population_weight

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

    e = sub.add_parser(
        "ensemble", help="run replicates of one or more scenarios (bands, comparison)"
    )
    e.add_argument("scenario", type=Path, nargs="+", help="scenario TOML file(s)")
    e.add_argument(
        "--replicates", type=_positive_int, default=20, help="replicates per scenario (default 20)"
    )
    e.add_argument(
        "--seed",
        type=_seed,
        default=1,
        help="base seed; replicate seeds are spawned from it (default 1)",
    )
    e.add_argument("--population-scale", type=_scale, default=0.1, metavar="F", help="default 0.1")
    e.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="local worker processes (Dask LocalCluster when > 1)",
    )
    e.add_argument(
        "--scheduler", metavar="ADDRESS", help="existing Dask scheduler, e.g. tcp://host:8786"
    )
    e.add_argument("--out", type=Path, help="ensemble folder (default results/<ensemble-id>)")
    e.add_argument(
        "--uncertainty",
        choices=("seed", "parameters", "all"),
        default="all",
        help="what the replicates vary: seed (seed noise only), parameters (also the behaviour "
        "parameters, drawn from the posterior) or all (also the population total and "
        "sub-district shares; default)",
    )
    e.add_argument(
        "--posterior",
        type=Path,
        metavar="FILE",
        help="posterior draws to use (default: <parameter file>.posterior.csv beside the "
        "scenario's parameter file)",
    )
    e.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="hold a behaviour parameter (at VALUE, or the scenario's value) or 'population' "
        "instead of drawing it; repeatable",
    )
    e.add_argument("--quiet", action="store_true")

    c = sub.add_parser("compare", help="overlay scenarios' curves with bands and their differences")
    c.add_argument("runs", type=Path, nargs="+", help="run or ensemble folders")
    c.add_argument(
        "--metric",
        default="displacements_cumulative",
        help="a daily.csv column (default displacements_cumulative)",
    )
    c.add_argument(
        "--observed", action="store_true", help="show the observed UN/OCHA points of the period"
    )
    c.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="PNG file to write (the numbers go beside it as .csv)",
    )

    k = sub.add_parser("calibrate", help="fit the behaviour parameters to the observed series")
    k.add_argument("scenario", type=Path)
    k.add_argument("--population-scale", type=_scale, default=0.1, metavar="F", help="default 0.1")
    k.add_argument(
        "--seeds",
        type=_positive_int,
        default=3,
        help="common-random-number seeds averaged per evaluation",
    )
    k.add_argument(
        "--out",
        type=Path,
        help="folder for the fitted parameters and the report (default "
        "results/calibration_trials/<scenario>[-quick]); the shipped files are not touched",
    )
    k.add_argument(
        "--update-shipped",
        action="store_true",
        help="replace the scenario's [behaviour] parameters file (used by every scenario) and "
        "the committed report results/calibration/<scenario>; not with --quick",
    )
    k.add_argument(
        "--force", action="store_true", help="replace an --out folder of an earlier calibration"
    )
    k.add_argument(
        "--quick",
        action="store_true",
        help="a short fit for testing (fewer iterations); never replaces the shipped parameters",
    )
    k.add_argument(
        "--max-evaluations",
        type=_positive_int,
        default=None,
        help="most objective evaluations of the search (default 400; 40 with --quick)",
    )
    k.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="run each evaluation's seeds on a Dask LocalCluster of this many workers",
    )
    k.add_argument(
        "--scheduler", metavar="ADDRESS", help="existing Dask scheduler, e.g. tcp://host:8786"
    )

    po = sub.add_parser(
        "posterior",
        help="weighted posterior draws of the fitted parameters (GP emulator, 2019 targets)",
    )
    po.add_argument("scenario", type=Path)
    po.add_argument(
        "--population-scale", type=_scale, default=0.05, metavar="F", help="default 0.05"
    )
    po.add_argument("--waves", type=_positive_int, default=4, help="waves of runs (default 4)")
    po.add_argument(
        "--first-wave", type=_positive_int, default=150, help="runs in the first wave (default 150)"
    )
    po.add_argument(
        "--wave-size", type=_positive_int, default=100, help="runs in each later wave (default 100)"
    )
    po.add_argument(
        "--predictive",
        type=int,
        default=40,
        metavar="N",
        help="posterior predictive runs of 2019 and of the winter 2019-20 (default 40; 0: none)",
    )
    po.add_argument(
        "--out",
        type=Path,
        help="folder for the checkpoints, draws and report (default results/posterior/<scenario>); "
        "rerunning resumes from the finished waves",
    )
    po.add_argument(
        "--update-shipped",
        action="store_true",
        help="write the draws beside the scenario's parameter file (used by ensembles) and the "
        "report to results/calibration/<scenario>_posterior",
    )
    po.add_argument("--workers", type=_positive_int, default=1, help="Dask LocalCluster workers")
    po.add_argument(
        "--scheduler", metavar="ADDRESS", help="existing Dask scheduler, e.g. tcp://host:8786"
    )
    po.add_argument("--quiet", action="store_true")

    se = sub.add_parser(
        "sensitivity",
        help="global sensitivity (Morris, SALib) of the headline outputs to every estimated "
        "behaviour parameter",
    )
    se.add_argument("scenario", type=Path)
    se.add_argument(
        "--trajectories", type=_positive_int, default=10, help="Morris trajectories (default 10)"
    )
    se.add_argument(
        "--population-scale", type=_scale, default=0.05, metavar="F", help="default 0.05"
    )
    se.add_argument("--seed", type=_seed, default=1, help="seed of the design and of the runs")
    se.add_argument("--workers", type=_positive_int, default=1, help="Dask LocalCluster workers")
    se.add_argument(
        "--scheduler", metavar="ADDRESS", help="existing Dask scheduler, e.g. tcp://host:8786"
    )
    se.add_argument(
        "--out", type=Path, help="folder for the results (default results/sensitivity/<scenario>)"
    )
    se.add_argument("--quiet", action="store_true")

    sc = sub.add_parser("score", help="compare a run with the observed figures of its period")
    sc.add_argument("run", type=Path, help="run folder")
    sc.add_argument("--observed", type=Path, help="observed CSV (default: the scenario's)")

    rr = sub.add_parser(
        "rerun", help="rerun a results folder from its manifest and check the numbers are identical"
    )
    rr.add_argument("run", type=Path, help="run folder")
    rr.add_argument(
        "--out", type=Path, help="where to write the rerun (default: a temporary folder)"
    )
    d = sub.add_parser(
        "dashboard",
        help='open the planners\' dashboard in a browser (needs: pip install -e ".[dashboard]")',
    )
    d.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    d.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0: any free port)")
    d.add_argument(
        "--scenarios",
        type=Path,
        help="folder of scenario files; edited scenarios are saved there (default scenarios/)",
    )
    d.add_argument(
        "--results",
        type=Path,
        help="results folder root (default results/); ensembles are found there",
    )
    d.add_argument("--no-open", action="store_true", help="do not open a browser window")
    return p


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError("a port is between 0 and 65535")
    return v


def _version() -> str:
    from . import __version__

    return __version__


#: Commands that run the model (the allocator is tuned for them, :mod:`sim.memory`).
MODEL_COMMANDS = ("run", "ensemble", "calibrate", "rerun", "dashboard")


#: pydantic looks for plugins in every installed package's metadata before it checks the
#: first value (30 ms of a 0.3 s `validate`); idlibsim uses none. A value set by the user wins.
_PYDANTIC_PLUGINS_ENV = "PYDANTIC_DISABLE_PLUGINS"


def main(argv: list[str] | None = None) -> int:
    install_signal_handlers()
    os.environ.setdefault(_PYDANTIC_PLUGINS_ENV, "__all__")
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command in MODEL_COMMANDS:
            from .memory import tune_allocator

            tune_allocator()  # fewer page faults while the model runs (sim.memory)
        return COMMANDS[args.command](args, argv)
    except InputError as exc:
        print(f"idlibsim: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (UsageError, OutputError, FileExistsError) as exc:
        print(f"idlibsim: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt as exc:
        try:
            print("idlibsim: interrupted; no results folder was completed", file=sys.stderr)
        except Exception:  # noqa: BLE001 - stderr closed: still exit quietly
            pass
        if isinstance(exc, Terminated):
            return 128 + exc.signum
        return EXIT_INTERRUPTED
    except MemoryError:
        print(
            "idlibsim: error: out of memory; use --population-scale 0.1 (one simulated person "
            "per 10 people) or a machine with more memory (a full run needs about 1 GB)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    except Exception as exc:  # noqa: BLE001 - a bug: say so plainly, no traceback by default
        from sim.analysis.ensemble import ClusterError, DistributedUnavailableError
        from sim.model.model import InvariantError

        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        if isinstance(exc, (ClusterError, DistributedUnavailableError)):
            print(f"idlibsim: error: {exc}", file=sys.stderr)
            return EXIT_INPUT
        if isinstance(exc, InvariantError):
            print(
                f"idlibsim: error: a model invariant failed: {exc}\n"
                "  This is a bug in idlibsim, not in your scenario: no results folder was "
                "written. Please report it with the scenario file, seed and population scale.",
                file=sys.stderr,
            )
            return EXIT_INVARIANT
        print(
            f"idlibsim: internal error: {type(exc).__name__}: {exc}\n"
            f"  This is a bug in idlibsim; no results folder was completed. "
            f"Run again with {DEBUG_ENV}=1 for the details and please report it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from .scenario.loading import load_scenario

    scenario = load_scenario(args.scenario)
    if args.days is not None:
        try:
            scenario = scenario.truncated(args.days)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    workers = None
    if not args.no_plots:
        from sim.outputs import figure_workers

        if figure_workers.available():
            # forked before the model's imports (Mesa, pandas: about a second), so that
            # Matplotlib and the empty figures load meanwhile on the other core, which is
            # then free for the model's own helper (sim.model.lookahead) while it runs
            workers = figure_workers.FigureWorkers(None, scenario)
    try:
        from sim.outputs.report import format_summary
        from sim.outputs.runner import run
    except BaseException:
        if workers is not None:
            workers.close()
        raise
    res = run(
        scenario,
        seed=args.seed,
        population_scale=args.population_scale,
        out=args.out,
        force=args.force,
        plots=not args.no_plots,
        check=True if args.check else None,
        progress=not args.quiet and sys.stderr.isatty(),
        command=["idlibsim", *argv],
        workers=workers,  # closed by run() whatever happens
    )
    if not args.quiet:
        print(format_summary(res.summary))
        print(f"  results: {res.run_dir}  ({res.wall_seconds:.1f} s)")
    return 0


def cmd_validate(args: argparse.Namespace, argv: list[str]) -> int:
    from .scenario.loading import load_scenario

    problems: list[InputError] = []
    for path in args.scenario:
        try:
            sc = load_scenario(path)
        except InputError as exc:
            problems.append(exc)
            continue
        if args.show:
            from sim.outputs.results import portable  # pandas: only to show the resolved scenario

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
        from .safety import check_replaceable_file, starts_with

        first = text.splitlines()[0].encode()
        check_replaceable_file(args.out, lambda p: starts_with(p, first), "scenario reference")
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


def cmd_ensemble(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.analysis.ensemble import cli_ensemble

    return cli_ensemble(args, argv)


def cmd_compare(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.analysis.compare import cli_compare

    return cli_compare(args, argv)


def cmd_posterior(args: argparse.Namespace, argv: list[str]) -> int:
    from .analysis.posterior_fit import cli_posterior

    return cli_posterior(args, argv)


def cmd_sensitivity(args: argparse.Namespace, argv: list[str]) -> int:
    from .analysis.sensitivity import cli_sensitivity

    return cli_sensitivity(args, argv)


def cmd_calibrate(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.analysis.calibration_report import cli_calibrate

    return cli_calibrate(args, argv)


def cmd_score(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.analysis.calibration import cli_score

    return cli_score(args, argv)


def cmd_rerun(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.analysis.reproduce import cli_rerun

    return cli_rerun(args, argv)


def cmd_dashboard(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.dashboard.server import cli_dashboard

    return cli_dashboard(args)


COMMANDS = {
    "run": cmd_run,
    "validate": cmd_validate,
    "schema": cmd_schema,
    "ensemble": cmd_ensemble,
    "compare": cmd_compare,
    "calibrate": cmd_calibrate,
    "posterior": cmd_posterior,
    "sensitivity": cmd_sensitivity,
    "score": cmd_score,
    "rerun": cmd_rerun,
    "dashboard": cmd_dashboard,
}


def console() -> int:
    """The ``idlibsim`` command (and ``python -m sim``): :func:`main`, then leave the
    process's objects to the operating system.

    Once a command has returned, every file it wrote is closed and its results folder is in
    place. Python's own clean-up would still walk the hundreds of thousands of objects a
    run leaves (the model, the imported libraries) to free them one by one: 0.2-0.3 s at
    the end of a full run, in which nothing is written. Frozen (:func:`gc.freeze`), they
    are skipped by the collector at exit; ``atexit`` handlers still run, and standard output
    and error are still flushed. Only for the command: a program calling :func:`main` keeps
    its collector as it was.
    """
    code = main()
    import gc

    gc.freeze()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
