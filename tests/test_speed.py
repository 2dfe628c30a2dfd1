"""The fast paths of issue 16 give what the plain ones give (no timing is asserted here).

* figures drawn by the processes forked before the simulation (sim.figure_workers) are
  the bytes drawn in one process, and their errors reach the caller;
* the counter-based uniforms computed in place equal the textbook expression;
* a run that imports no Matplotlib when it draws nothing.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import BOMB

from sim import figure_workers, rng
from sim.cli import main
from sim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parent.parent

needs_fork = pytest.mark.skipif(
    not figure_workers.available(), reason="figure workers need fork and a single thread"
)


def test_uniforms_equal_the_textbook_expression():
    def textbook(seed, stream, day, ids):
        z = np.asarray(ids, dtype=np.uint64) * rng._GAMMA + rng._day_key(seed, stream, day)
        z ^= z >> np.uint64(30)
        z *= rng._M1
        z ^= z >> np.uint64(27)
        z *= rng._M2
        z ^= z >> np.uint64(31)
        return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)

    ids = np.r_[np.arange(1000), np.random.default_rng(4).integers(0, 2**31 - 1, 1000)]
    for day in (0, 7, 300):
        for ids_as in (ids.astype(np.int32), ids.astype(np.int64), list(ids[:10])):
            got = rng.uniforms(11, "flee", day, ids_as)
            assert np.array_equal(got, textbook(11, "flee", day, ids_as))
    assert rng.uniforms(1, "flee", 0, np.empty(0, np.int32)).shape == (0,)


@needs_fork
def test_figures_of_the_workers_are_those_drawn_in_one_process(world, tmp_path):
    from sim.report import FIGURES, render_plots

    path = world.scenario(BOMB)
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--seed", "2", "--quiet"]) == 0
    serial = tmp_path / "serial"
    (serial / "plots").mkdir(parents=True)
    for name in ("daily.csv", "locations.csv", "routes.csv"):
        (serial / name).write_bytes((out / name).read_bytes())
    summary = json.loads((out / "summary.json").read_text())
    render_plots(serial, load_scenario(path), summary, parallel=False)
    names = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert names == sorted(FIGURES)
    for name in names:
        assert (out / "plots" / name).read_bytes() == (serial / "plots" / name).read_bytes(), name
    assert mp.active_children() == []  # the workers are gone


@needs_fork
def test_an_error_while_drawing_reaches_the_caller_and_no_worker_is_left(
    world, tmp_path, monkeypatch
):
    from sim.runner import run

    def broken(fig, path):
        raise ValueError(f"cannot draw {Path(path).name}")

    monkeypatch.setattr("sim.plots.save_png", broken)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="cannot draw"):
        run(load_scenario(world.scenario(BOMB)), seed=1, out=out)
    assert not out.exists()
    assert mp.active_children() == []


@needs_fork
def test_workers_that_are_closed_before_drawing_end_quietly(world, tmp_path):
    sc = load_scenario(world.scenario(BOMB))
    with figure_workers.FigureWorkers(tmp_path, sc) as workers:
        pass
    assert workers._workers == []
    assert mp.active_children() == []
    assert not (tmp_path / "plots").exists()


def test_a_run_without_figures_imports_no_matplotlib(world, tmp_path):
    code = (
        "import sys; from sim.cli import main; "
        f"rc = main(['run', {str(world.scenario(BOMB))!r}, '--out', {str(tmp_path / 'r')!r}, "
        "'--no-plots', '--quiet']); "
        "assert rc == 0, rc; print('matplotlib' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_the_allocator_is_tuned_on_linux():
    from sim.memory import tune_allocator

    if sys.platform.startswith("linux") and Path("/lib/x86_64-linux-gnu/libc.so.6").exists():
        assert tune_allocator() is True
        assert tune_allocator() is True  # again: nothing more to do
    else:  # pragma: no cover - other platforms
        tune_allocator()


def test_local_dask_workers_start_with_the_allocator_settings():
    pytest.importorskip("distributed")
    import os

    from sim.ensemble import dask_client
    from sim.memory import MALLOC_ENV

    with dask_client(1) as client:
        got = client.run(lambda: {k: os.environ.get(k) for k in MALLOC_ENV})
    assert list(got.values()) == [MALLOC_ENV]


def test_ranking_for_places_equals_the_lexsort_it_replaces():
    from sim.behaviour import _rank

    gen = np.random.default_rng(3)
    for t in range(3000):
        n = int(gen.integers(0, 60))
        group = gen.integers(0, int(gen.choice([1, 3, 40, 70000])), n)
        if t % 3 == 0:  # many exact ties: the tiebreak decides
            key = gen.integers(0, 4, n).astype(float)
        elif t % 3 == 1:  # as in settle: day displaced + a uniform
            key = gen.integers(0, 60, n) + gen.random(n)
        else:
            key = gen.random(n)
            key[gen.random(n) < 0.2] = np.nan
        ids = gen.permutation(100_000)[:n]
        assert np.array_equal(_rank(group, key, ids), np.lexsort((ids, key, group)))
