"""Who may flee, drawn ahead in a forked helper (issue 16), changes nothing and leaks nothing.

* a run with the helper gives the same tables as one without, and the helper was used;
* the helper draws, day by day, what the model would draw itself;
* an error in the helper is raised in the model's process, with the helper's traceback;
* an error (or Ctrl-C) in the model's process ends and reaps the helper;
* a process running other threads does not fork, and gets the same numbers.

Each case runs in a fresh interpreter: a process that forks must run a single thread, and
earlier tests of the suite leave threads behind (Dask's IO loop), so in this process the
model would rightly refuse to fork and the tests would prove nothing. No timing is
asserted: the tests wait for processes, never for a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300  # seconds: only reached when something hangs

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (Linux, macOS)")

#: Run before each case: the 2019 scenario, a record of the helpers started (with their
#: pids, which close() forgets), and the checks the cases share.
PRELUDE = """
import json, os, threading
import numpy as np
from sim.model.model import DisplacementModel
from sim.model.movement import Movement
from sim.scenario.loading import load_scenario

scenario = load_scenario("scenarios/idlib_2019.toml")
helpers = []
_original_draw_ahead = Movement.draw_ahead

def _record(self, days, conditions):
    helper = _original_draw_ahead(self, days, conditions)
    if helper is not None:
        helpers.append((helper, helper._pid))
    return helper

Movement.draw_ahead = _record

def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False

def tables(model):
    return [model.daily().to_csv(index=False), model.locations().to_csv(index=False),
            model.route_flows().to_csv(index=False)]

def model(seed):
    return DisplacementModel(scenario, seed=seed, population_scale=0.05)
"""


def run_case(body: str) -> dict:
    """Run PRELUDE + ``body`` (which sets ``result``) in a fresh interpreter; its result."""
    code = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(result))\n"
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_drawing_ahead_gives_the_same_run():
    got = run_case("""
        ahead = model(3).run(draw_ahead=True)
        started = len(helpers)
        plain = model(3).run(draw_ahead=False)
        result = {
            "helpers": started, "after": len(helpers), "gone": gone(helpers[0][1]),
            "same": tables(ahead) == tables(plain), "fled": ahead.counted["new_displacements"],
        }
    """)
    assert got["helpers"] == 1, "the run did not start a helper"
    assert got["after"] == 1, "draw_ahead=False started one"
    assert got["gone"], "the helper was not reaped"
    assert got["same"]
    assert got["fled"] > 1000  # person-rows: people did flee


def test_the_helper_draws_what_the_model_would():
    got = run_case("""
        ahead, mine = model(1), model(1)
        days = range(0, 40)
        differ = []
        with ahead.movement.draw_ahead(days, ahead.conditions) as helper:
            for day in days:
                mine.conditions.update(day)
                rows = helper.take(day)
                want = mine.movement.candidates_at_home(day, mine.conditions)
                if rows.dtype != np.int64 or not np.array_equal(rows, want):
                    differ.append(day)
            past = helper.take(40)
        result = {"differ": differ, "past": past is None, "closed": helper.take(3) is None}
    """)
    assert got["differ"] == []
    assert got["past"] and got["closed"]


def test_a_day_out_of_order_is_drawn_by_the_model():
    got = run_case("""
        m = model(1)
        with m.movement.draw_ahead(range(5, 10), m.conditions) as helper:
            result = [helper.take(6) is None, helper.take(5) is not None, helper.take(5) is None]
    """)
    assert got == [True, True, True]


def test_an_error_in_the_helper_is_raised_by_the_run():
    got = run_case("""
        parent = os.getpid()
        _original = Movement.candidates_at_home

        def fails_on_day_7(self, day, cond):
            if day == 7 and os.getpid() != parent:
                raise ValueError("a broken draw on day 7")
            return _original(self, day, cond)

        Movement.candidates_at_home = fails_on_day_7
        m = model(2)
        try:
            m.run(draw_ahead=True)
            result = {"raised": None}
        except RuntimeError as exc:
            result = {"raised": str(exc), "day": m.day, "gone": gone(helpers[0][1])}
    """)
    assert got["raised"] is not None, "the run did not fail"
    assert "helper process" in got["raised"]
    assert "a broken draw on day 7" in got["raised"]
    assert got["day"] == 7  # days 0-6 ran on the helper's draws
    assert got["gone"]


def test_an_error_in_the_run_ends_the_helper():
    got = run_case("""
        _step = DisplacementModel.step

        def interrupted_on_day_4(self):
            if self.day == 4:
                raise KeyboardInterrupt  # as Ctrl-C would
            _step(self)

        DisplacementModel.step = interrupted_on_day_4
        m = model(2)
        try:
            m.run(draw_ahead=True)
            result = {"raised": False}
        except KeyboardInterrupt:
            result = {"raised": True, "helpers": len(helpers), "gone": gone(helpers[0][1]),
                      "detached": m.movement.lookahead is None}
    """)
    assert got == {"raised": True, "helpers": 1, "gone": True, "detached": True}


def test_a_process_with_other_threads_does_not_fork():
    got = run_case("""
        release = threading.Event()
        other = threading.Thread(target=release.wait)
        other.start()
        try:
            threaded = model(4).run(draw_ahead=True)
        finally:
            release.set()
            other.join()
        plain = model(4).run(draw_ahead=False)
        result = {"helpers": len(helpers), "same": tables(threaded) == tables(plain)}
    """)
    assert got == {"helpers": 0, "same": True}
