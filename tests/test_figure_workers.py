"""The figure worker and the helper it forks (sim.outputs.figure_workers): errors of either reach
the caller, and ending the worker ends its helper (no timing is asserted here)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import select
import signal
import sys
from pathlib import Path

import pytest
from conftest import BOMB

from sim.cli import main
from sim.outputs import figure_workers
from sim.scenario.loading import load_scenario

needs_fork = pytest.mark.skipif(
    not figure_workers.available(), reason="figure workers need fork and a single thread"
)


@pytest.fixture
def a_run(world, tmp_path):
    path = world.scenario(BOMB)
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--seed", "2", "--quiet", "--no-plots"]) == 0
    (out / "plots").mkdir()
    return load_scenario(path), out, json.loads((out / "summary.json").read_text())


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@needs_fork
def test_every_figure_is_drawn_once_by_the_worker_or_its_helper(a_run, monkeypatch):
    scenario, out, summary = a_run
    from sim.outputs import plots

    save = plots.save_png
    read, write = os.pipe()

    def recording(fig, path):  # each drawing process tells which figure it drew
        os.write(write, f"{os.getpid()} {Path(path).name}\n".encode())
        return save(fig, path)

    monkeypatch.setattr("sim.outputs.plots.save_png", recording)
    with figure_workers.FigureWorkers(out, scenario) as workers:
        workers.draw(summary)
        workers.wait()
    os.close(write)
    with os.fdopen(read) as f:
        drawn = [line.split() for line in f]
    # each figure drawn once, by the worker or its helper (which draws how many is up to
    # the scheduler), none by this process; both are gone
    assert sorted(name for _, name in drawn) == sorted(figure_workers.FIGURE_ORDER)
    pids = {int(pid) for pid, _ in drawn}
    assert len(pids) <= 2 and os.getpid() not in pids
    assert sorted(p.name for p in (out / "plots").iterdir()) == sorted(figure_workers.FIGURE_ORDER)
    assert mp.active_children() == [] and all(_gone(pid) for pid in pids)


@needs_fork
def test_an_error_of_the_helper_reaches_the_caller(a_run, monkeypatch):
    scenario, out, summary = a_run
    from sim.outputs import plots

    me, save = os.getpid(), plots.save_png
    failed_r, failed_w = os.pipe()
    waited = []

    def broken_in_the_helper(fig, path):  # the worker is our child, its helper is not
        if os.getppid() != me:
            os.write(failed_w, b"x")
            raise ValueError(f"the helper cannot draw {Path(path).name}")
        if not waited:  # the worker's first figure waits for the helper's failure
            os.read(failed_r, 1)
            waited.append(True)
        return save(fig, path)

    monkeypatch.setattr("sim.outputs.plots.save_png", broken_in_the_helper)
    try:
        with figure_workers.FigureWorkers(out, scenario) as workers:
            workers.draw(summary)
            with pytest.raises(ValueError, match="the helper cannot draw"):
                workers.wait()
    finally:
        os.close(failed_r)
        os.close(failed_w)
    assert mp.active_children() == []


@needs_fork
def test_closing_the_workers_while_they_draw_ends_the_helper_too(a_run, monkeypatch):
    scenario, out, summary = a_run
    started_r, started_w = os.pipe()
    never_r, never_w = os.pipe()  # nobody writes: a drawing process blocks on it

    def stuck(fig, path):
        os.write(started_w, f"{os.getpid()}\n".encode())
        os.read(never_r, 1)

    monkeypatch.setattr("sim.outputs.plots.save_png", stuck)
    workers = figure_workers.FigureWorkers(out, scenario)
    try:
        workers.draw(summary)
        with os.fdopen(started_r) as started:  # both processes are drawing
            pids = {int(started.readline()), int(started.readline())}
        worker = workers._workers[0][0].pid
        assert worker in pids and len(pids) == 2
    finally:
        workers.close()
        for fd in (started_w, never_r, never_w):
            os.close(fd)
    assert all(_gone(pid) for pid in pids)


@needs_fork
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_a_killed_worker_takes_its_helper_with_it(a_run, monkeypatch):
    scenario, out, summary = a_run
    started_r, started_w = os.pipe()
    never_r, never_w = os.pipe()
    alive_r, alive_w = os.pipe()  # both drawing processes inherit the write end

    def stuck(fig, path):
        os.write(started_w, f"{os.getpid()}\n".encode())
        os.read(never_r, 1)

    monkeypatch.setattr("sim.outputs.plots.save_png", stuck)
    workers = figure_workers.FigureWorkers(out, scenario)
    os.close(alive_w)
    try:
        workers.draw(summary)
        with os.fdopen(started_r) as started:  # both processes are drawing
            pids = {int(started.readline()), int(started.readline())}
        worker = workers._workers[0][0].pid
        os.kill(worker, signal.SIGKILL)  # no handler runs: the kernel ends the helper
        # end of file: no process holds the pipe open, the helper has exited (its
        # parent gone, it is reaped by whoever adopted it, not by us)
        ready, _, _ = select.select([alive_r], [], [], 120)
        assert ready and os.read(alive_r, 1) == b""
    finally:
        workers.close()
        for fd in (started_w, never_r, never_w, alive_r):
            os.close(fd)
    assert worker in pids and len(pids) == 2


@needs_fork
def test_workers_forked_before_the_folder_is_known_draw_into_the_folder_given_later(
    a_run, tmp_path
):
    """`idlibsim run` forks the workers before it imports the model (and before its folder
    exists): the folder comes with the summary, and the figures are the same bytes."""
    scenario, out, summary = a_run
    with figure_workers.FigureWorkers(out, scenario) as workers:
        workers.draw(summary)
        workers.wait()
    later = tmp_path / "later"
    later.mkdir()
    for name in ("daily.csv", "locations.csv", "routes.csv", "summary.json"):
        (later / name).write_bytes((out / name).read_bytes())
    (later / "plots").mkdir()
    with figure_workers.FigureWorkers(None, scenario) as workers:
        with pytest.raises(ValueError, match="without a folder"):
            workers.draw(summary)
        workers.draw(summary, later)
        workers.wait()
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == sorted(figure_workers.FIGURE_ORDER)
    assert sorted(p.name for p in (later / "plots").iterdir()) == names
    for name in names:
        assert (later / "plots" / name).read_bytes() == (out / "plots" / name).read_bytes(), name
    assert mp.active_children() == []
