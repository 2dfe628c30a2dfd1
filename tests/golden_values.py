"""The values pinned in ``tests/golden/*.json``, computed from the current code.

``tests/test_golden.py`` compares these with the committed files;
``tests/regenerate_golden.py`` rewrites the files from them. Changing a golden file is
a decision (every recorded run and the calibrated parameters were made with the old
numbers), never a side effect: see docs/testing.md.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
TINY = HERE / "scenarios" / "tiny" / "tiny.toml"
TINY_SEED = 7
REGENERATE = "python tests/regenerate_golden.py"

#: (seed, stream, day, household ids) of the pinned uniforms: several streams, days and
#: seeds, ids 0 and large, unsorted.
UNIFORM_CASES = (
    (0, "flee", 0, [0, 1, 2, 3]),
    (1, "flee", 5, [7, 3, 1_000_000, 0]),
    (2019, "destination", 41, [12, 5, 99_999]),
    (123456789, "return", 365, [0, 2**31 - 1]),
    (7, "settle", 3, [4, 4, 8]),
    (7, "border", 10, [1]),
    (7, "host_preference", 0, [0, 1, 2]),
)
#: (seed, stream, keys) of the pinned set-up generators (first draws of ``random()``).
GENERATOR_CASES = (
    (0, "population", ()),
    (7, "propensity", ()),
    (2019, "reach", ()),
    (7, "flee", (3,)),
    (7, "flee", (3, 1)),
)


def uniform_values() -> dict[str, Any]:
    from sim import rng

    cases = []
    for seed, stream, day, ids in UNIFORM_CASES:
        u = rng.uniforms(seed, stream, day, np.array(ids))
        cases.append(
            {"seed": seed, "stream": stream, "day": day, "ids": ids, "uniforms": u.tolist()}
        )
    gens = []
    for seed, stream, keys in GENERATOR_CASES:
        g = rng.generator(seed, stream, *keys)
        gens.append(
            {"seed": seed, "stream": stream, "keys": list(keys), "random": g.random(3).tolist()}
        )
    return {
        "uniforms": cases,
        "generators": gens,
        "replicate_seeds": {"base": 2019, "seeds": rng.replicate_seeds(2019, 4)},
    }


def tiny_run_values() -> dict[str, Any]:
    """SHA-256 of the tables of the committed tiny run, and a few headline numbers."""
    from sim.results import write_csv
    from sim.runner import simulate
    from sim.scenario.loading import load_scenario

    res = simulate(load_scenario(TINY), seed=TINY_SEED, population_scale=1.0, check=True)
    import tempfile

    hashes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, df in (
            ("daily", res.daily),
            ("locations", res.locations),
            ("routes", res.routes),
        ):
            path = Path(tmp) / f"{name}.csv"
            write_csv(df, path)
            hashes[f"{name}.csv"] = hashlib.sha256(path.read_bytes()).hexdigest()
    s = res.summary
    return {
        "scenario": TINY.relative_to(HERE.parent).as_posix(),
        "seed": TINY_SEED,
        "population_scale": 1.0,
        "sha256": hashes,
        "headline": {
            k: s[k]
            for k in (
                "displacements",
                "people_displaced",
                "displaced_at_end",
                "returned_at_end",
                "abroad_at_end",
                "in_informal_sites_at_end",
            )
        },
    }


def calibration_values() -> dict[str, Any]:
    """What the calibration fits to and how much each target weighs in its objective."""
    from sim import calibration as cal
    from sim.scenario.loading import load_scenario

    sc = load_scenario(HERE.parent / "scenarios" / "idlib_2019.toml")
    targets = cal.load_targets(sc)
    return {
        "sigmas": {
            "COUNT_SIGMA": cal.COUNT_SIGMA,
            "SHARE_SIGMA": cal.SHARE_SIGMA,
            "SITES_SIGMA": cal.SITES_SIGMA,
        },
        "base_seed": cal.CALIBRATION_BASE_SEED,
        "targets": [
            {
                "label": t.label,
                "kind": t.kind,
                "places": t.places,
                "value": t.value,
                "sigma": t.sigma,
                "weight": 1.0 / t.sigma**2,
            }
            for t in targets
        ],
        "fit_parameters": [
            {"name": p.name, "space": p.space, "start": p.start} for p in cal.FIT_PARAMETERS
        ],
    }


#: golden file name -> function computing its contents
FILES = {
    "uniforms.json": uniform_values,
    "tiny_run.json": tiny_run_values,
    "calibration_targets.json": calibration_values,
}
