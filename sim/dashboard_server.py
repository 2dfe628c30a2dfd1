"""``idlibsim dashboard``: start the Solara server of :mod:`sim.dashboard` on this machine.

Kept apart from the page so that the base install (without the ``dashboard`` extra) can
say how to install it instead of failing on an import.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from .errors import InputError, Problem

INSTALL_HINT = (
    "the dashboard needs the optional 'dashboard' extra (Solara, Mesa's visualisation): "
    'pip install -e ".[dashboard]" (or pip install "idlibsim[dashboard]")'
)
SCENARIOS_ENV = "IDLIBSIM_DASHBOARD_SCENARIOS"  # folder of scenario files (saved what-ifs go there)
RESULTS_ENV = "IDLIBSIM_DASHBOARD_RESULTS"  # results root (saved runs; ensembles are found there)
#: Solara asks the network for nothing it does not need.
QUIET_ENV = {"SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "SOLARA_TELEMETRY_SENTRY_ENABLE": "False"}


def scenarios_dir() -> Path:
    """The folder of scenario files the dashboard lists (``$IDLIBSIM_DASHBOARD_SCENARIOS``)."""
    from .results import PROJECT_ROOT  # lazy: NumPy and pandas, not needed to start the server

    return Path(os.environ.get(SCENARIOS_ENV) or PROJECT_ROOT / "scenarios")


def results_dir() -> Path:
    """The results root where the dashboard finds ensembles (``$IDLIBSIM_DASHBOARD_RESULTS``)."""
    from .results import PROJECT_ROOT  # lazy: NumPy and pandas, not needed to start the server

    return Path(os.environ.get(RESULTS_ENV) or PROJECT_ROOT / "results")


class DashboardUnavailableError(ImportError):
    """The ``dashboard`` extra is not installed."""


def available() -> bool:
    return importlib.util.find_spec("solara") is not None


def server_command(host: str, port: int, open_browser: bool = False) -> list[str]:
    """The command that serves the page (Solara's own ``solara run``)."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "sim.dashboard",
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-check-version",
        "--open" if open_browser else "--no-open",
        "--log-level",
        "warning",
    ]


def server_env(scenarios: Path | None, results: Path | None) -> dict[str, str]:
    """Environment for the server: the folders, checked, as absolute paths."""
    env = {**os.environ, **QUIET_ENV}
    problems = []
    if scenarios is not None:
        if not scenarios.is_dir():
            problems.append(
                Problem(scenarios, "--scenarios", "is not a folder", "give the folder of *.toml")
            )
        elif not any(scenarios.glob("*.toml")):
            problems.append(
                Problem(
                    scenarios, "--scenarios", "holds no scenario file (*.toml)", "e.g. scenarios/"
                )
            )
        env[SCENARIOS_ENV] = str(scenarios.resolve())
    if results is not None:
        if results.exists() and not results.is_dir():
            problems.append(
                Problem(results, "--results", "exists and is not a folder", "give a folder")
            )
        env[RESULTS_ENV] = str(results.resolve())
    if problems:
        raise InputError(problems)
    return env


def cli_dashboard(args) -> int:
    if not available():
        print(f"idlibsim: error: {INSTALL_HINT}", file=sys.stderr)
        return 2
    env = server_env(args.scenarios, args.results)
    cmd = server_command(args.host, args.port, open_browser=not args.no_open)
    shown = "any free port" if args.port == 0 else f"http://{args.host}:{args.port}"
    print(
        f"idlibsim dashboard on {shown} (Ctrl-C to stop). Population scale 0.1 is proposed "
        "for interactive use; runs go in the background.",
        flush=True,
    )
    sys.stdout.flush()
    if os.name == "posix":  # become the server: signals (Ctrl-C, kill) reach it directly
        os.execve(cmd[0], cmd, env)
    proc = subprocess.Popen(cmd, env=env)  # pragma: no cover - Windows
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        return 0
