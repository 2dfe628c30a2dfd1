"""idlibsim: agent-based simulation of civilian displacement in north-west Syria.

Public API (mirrors the command line)::

    import sim
    scenario = sim.load_scenario("scenarios/idlib_2019.toml")
    result = sim.simulate(scenario, seed=1, population_scale=0.1)   # tables, nothing written
    result = sim.run(scenario, seed=1)                               # writes results/...
    run = sim.load_results("results/idlib_2019/<run-id>")           # manifest + DataFrames
"""

from .config import Scenario, load_scenario
from .errors import InputError
from .model import DisplacementModel
from .results import read_run as load_results
from .runner import RunResult, run, simulate

__version__ = "0.1.0"

__all__ = [
    "DisplacementModel",
    "InputError",
    "RunResult",
    "Scenario",
    "__version__",
    "load_results",
    "load_scenario",
    "run",
    "simulate",
]
