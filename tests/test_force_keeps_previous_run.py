"""An interrupted ``--force`` run never destroys the previous complete run.

Results are written under a temporary name and renamed into place only when complete;
until then the previous folder stays as it was, byte for byte. Tested through the
public entry points (``idlibsim run`` in-process, and ``sim.runner.run``), breaking the
writing from outside: a plot that fails, a table whose writing is interrupted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import BOMB

from sim.cli import EXIT_INTERRUPTED, main
from sim.runner import run
from sim.scenario.loading import load_scenario


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _complete_run(world, out: Path) -> dict[str, str]:
    assert main(["run", str(world.scenario(BOMB)), "--out", str(out), "--quiet", "--no-plots"]) == 0
    before = _snapshot(out)
    man = json.loads((out / "manifest.json").read_text())
    for name, digest in man["outputs_sha256"].items():
        assert before[name] == digest
    return before


def _leftovers(parent: Path, out: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p != out and out.name in p.name)


def test_a_plot_failing_during_force_keeps_the_previous_run(world, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results" / "run"
    before = _complete_run(world, out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the figures are drawn

    monkeypatch.setattr("sim.plots.save_png", interrupted)  # writes every figure of a run
    monkeypatch.setattr("sim.plots.save_run_plots", interrupted)
    # wherever the runner takes it from
    monkeypatch.setattr("sim.runner.save_run_plots", interrupted, raising=False)
    code = main(["run", str(world.scenario(BOMB + "\n")), "--out", str(out), "--quiet", "--force"])
    assert code == EXIT_INTERRUPTED
    assert _snapshot(out) == before  # the previous run, untouched
    assert _leftovers(out.parent, out) == []  # and no half-written folder beside it
    assert "Traceback" not in capsys.readouterr().err


def test_a_table_interrupted_mid_write_during_force_keeps_the_previous_run(
    world, tmp_path, monkeypatch
):
    out = tmp_path / "results" / "run"
    before = _complete_run(world, out)
    real = pd.DataFrame.to_csv

    def half_written(self, path=None, *args, **kwargs):
        text = real(self, None, *args, **kwargs)
        Path(path).write_text(text[: len(text) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_written)
    sc = load_scenario(world.scenario(BOMB.replace("0.5", "0.6"), name="other.toml"))
    with pytest.raises(OSError, match="disk full"):
        run(sc, seed=3, out=out, force=True, plots=False, check=True)
    assert _snapshot(out) == before
    assert _leftovers(out.parent, out) == []
