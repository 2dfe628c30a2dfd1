"""Outputs are trustworthy: atomic run folders, --force, --check, rerun from a manifest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.cli import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_INVARIANT, main
from sim.config import load_scenario
from sim.model import DisplacementModel, InvariantError
from sim.movement import Movement
from sim.reproduce import rerun, scenario_toml

REPO = Path(__file__).resolve().parent.parent

EVENTS = """
[events.shelling]
kind = "bombardment"
locations = ["Bombed Town"]
start = 2019-05-03
intensity = 0.8
source = "test"
"""


def _run(world, out: Path, *extra: str) -> int:
    return main(["run", str(world.scenario(EVENTS)), "--out", str(out), "--quiet", *extra])


def test_the_suite_checks_invariants_every_day(world):
    assert os.environ.get("IDLIBSIM_CHECK") == "1"
    model = DisplacementModel(load_scenario(world.scenario(EVENTS)), seed=1)
    assert model.check


def test_a_run_writes_a_complete_folder_with_hashes_of_its_outputs(world, tmp_path):
    out = tmp_path / "run"
    assert _run(world, out, "--no-plots") == 0
    man = json.loads((out / "manifest.json").read_text())
    for name in ("daily.csv", "locations.csv", "routes.csv", "summary.json"):
        assert (out / name).exists()
        assert name in man["outputs_sha256"]
    assert man["seed"] == 1 and man["population_scale"] == 1.0
    assert man["scenario"]["events"]["shelling"]["intensity"] == 0.8
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".incomplete")]


def test_an_existing_folder_is_not_overwritten_without_force(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(world, out, "--no-plots") == 0
    first = (out / "manifest.json").read_text()
    assert _run(world, out, "--no-plots") == EXIT_INPUT
    assert "--force" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == first
    assert _run(world, out, "--no-plots", "--force") == 0  # an unchanged run of ours
    assert (out / "daily.csv").read_text().startswith("date,day,")
    # a table edited by hand is the user's work now: even --force leaves it alone
    (out / "daily.csv").write_text("my own notes\n")
    assert _run(world, out, "--no-plots", "--force") == EXIT_INPUT
    assert "daily.csv was changed after the run" in capsys.readouterr().err
    assert (out / "daily.csv").read_text() == "my own notes\n"


def test_an_interrupted_write_leaves_no_folder(world, tmp_path, monkeypatch, capsys):
    """Ctrl-C while the files are written: neither the folder nor a temporary one remains."""
    import sim.runner

    real = sim.runner.write_csv
    calls = []

    def write_then_interrupt(df, path):
        real(df, path)
        calls.append(path)
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.runner, "write_csv", write_then_interrupt)
    out = tmp_path / "run"
    assert _run(world, out, "--no-plots") == EXIT_INTERRUPTED
    assert calls, "the interruption was not reached"
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "data" and p.suffix != ".toml"] == []
    assert "no results folder" in capsys.readouterr().err


def _default_sigint() -> None:
    # A shell without job control starts background jobs with SIGINT ignored; a user's
    # Ctrl-C is not ignored, so restore the default before starting `idlibsim`.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_killed_run_leaves_no_folder_that_looks_finished(tmp_path):
    """SIGINT (Ctrl-C) and SIGKILL a real full-population `idlibsim run` in mid-run."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        out = tmp_path / f"run_{sig.name}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim", "run", str(REPO / "scenarios" / "idlib_2019.toml"),
             "--out", str(out), "--quiet", "--no-plots"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "IDLIBSIM_CHECK": "0"}, preexec_fn=_default_sigint,
        )  # fmt: skip
        time.sleep(2.0)  # imports, building 4 million people, part of the simulation
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert "Traceback" not in err
        if sig == signal.SIGINT:
            assert proc.returncode == EXIT_INTERRUPTED, err
            assert "no results folder" in err
        else:
            assert proc.returncode == -signal.SIGKILL
        assert not out.exists()
        left = [p for p in tmp_path.iterdir() if p.name.startswith(f".incomplete-{out.name}")]
        for p in left:  # only a kill can leave a temporary folder, never under the real name
            assert sig == signal.SIGKILL and not (p / "manifest.json").exists()


def test_check_mode_stops_a_broken_model_with_a_clear_message(world, tmp_path, monkeypatch, capsys):
    real = Movement.settle

    def lose_someone(self, day, cond):
        real(self, day, cond)
        if day == 5:
            self.counts[0, 0] -= 1  # a civilian vanishes from the tallies

    monkeypatch.setattr(Movement, "settle", lose_someone)
    with pytest.raises(InvariantError, match="day 5"):
        DisplacementModel(load_scenario(world.scenario(EVENTS)), seed=1, check=True).run()
    out = tmp_path / "run"
    assert _run(world, out, "--no-plots", "--check") == EXIT_INVARIANT
    err = capsys.readouterr().err
    assert "invariant" in err and "Traceback" not in err
    assert not out.exists()


def test_rerun_reproduces_a_run_byte_for_byte(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(world, out, "--seed", "7", "--no-plots", "--days", "20") == 0
    # The scenario file may change or vanish after the run: the manifest is enough.
    Path(json.loads((out / "manifest.json").read_text())["scenario_file"]).unlink()
    rep = rerun(out)
    assert rep.identical, rep.files
    assert main(["rerun", str(out)]) == 0
    assert "byte-identical" in capsys.readouterr().out


def test_rerun_names_the_table_that_differs(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(world, out, "--no-plots") == 0
    daily = out / "daily.csv"
    lines = daily.read_text().splitlines()
    lines[3] = lines[3].replace(",", ";", 1)
    daily.write_text("\n".join(lines) + "\n")
    man = json.loads((out / "manifest.json").read_text())
    man["outputs_sha256"]["daily.csv"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(man))
    assert main(["rerun", str(out)]) == 1
    text = capsys.readouterr().out
    assert "daily.csv: differs" in text and "line 4" in text


def test_rerun_refuses_when_a_data_file_changed(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(world, out, "--no-plots") == 0
    routes = world.folder / "data" / "routes.csv"
    routes.write_text(routes.read_text().replace("70", "75"))
    assert main(["rerun", str(out)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "routes.csv" in err and "changed" in err and "Traceback" not in err


def test_rerun_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["rerun", str(tmp_path)]) == EXIT_INPUT
    assert "manifest.json" in capsys.readouterr().err


def test_scenario_rebuilt_from_a_manifest_resolves_to_the_same_scenario(tmp_path):
    from sim.results import portable

    for name in ("idlib_2019.toml", "whatif_2019_border_open.toml"):
        sc = load_scenario(REPO / "scenarios" / name)
        folder = tmp_path / name
        folder.mkdir()
        (folder / "s.toml").write_text(scenario_toml(portable(sc.resolved)))
        again = load_scenario(folder / "s.toml")
        assert portable(again.resolved) == portable(sc.resolved)


def test_same_seed_gives_byte_identical_daily_csv(world, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(world, a, "--no-plots", "--seed", "3") == 0
    assert _run(world, b, "--no-plots", "--seed", "3") == 0
    for name in ("daily.csv", "locations.csv", "routes.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    shutil.rmtree(b)
