"""idlibsim: agent-based simulation of civilian displacement in north-west Syria.

Public API (mirrors the command line)::

    import sim
    scenario = sim.load_scenario("scenarios/idlib_2019.toml")
    result = sim.simulate(scenario, seed=1, population_scale=0.1)   # tables, nothing written
    result = sim.run(scenario, seed=1)                               # writes results/...
    run = sim.load_results("results/idlib_2019/<run-id>")           # manifest + DataFrames

The names are imported on first use (PEP 562), so that ``import sim.cli`` (the
``idlibsim`` command) starts without importing NumPy, pandas and Mesa first: a Ctrl-C
during those imports is then handled by the command line (quiet exit 130).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "DisplacementModel": ("model", "DisplacementModel"),
    "InputError": ("errors", "InputError"),
    "RunResult": ("runner", "RunResult"),
    "Scenario": ("scenario.loading", "Scenario"),
    "load_results": ("folders", "read_run"),
    "load_scenario": ("scenario.loading", "load_scenario"),
    "run": ("runner", "run"),
    "simulate": ("runner", "simulate"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
