"""Outputs are trustworthy: atomic run folders, --force, --check, rerun from a manifest."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from sim.cli import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_INVARIANT, main
from sim.model import DisplacementModel, InvariantError
from sim.movement import Movement
from sim.reproduce import rerun, scenario_toml
from sim.scenario.loading import load_scenario

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


class _InATerminal:
    """A command whose stderr is a pseudo-terminal, as when a user runs it: its progress bar
    shows, and everything it writes there is collected (``text``) as it comes."""

    def __init__(self, argv: list[str], **popen):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # rows, cols
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=slave, **popen)
        os.close(slave)
        self._master, self._chunks = master, []
        self._changed = threading.Condition()
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 4096)
            except OSError:  # EIO: every writer closed the terminal
                data = b""
            with self._changed:
                self._chunks.append(data)
                self._changed.notify_all()
            if not data:
                return

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def wait_for(self, seen, timeout: float) -> bool:
        """Wait until ``seen(text)`` holds (True) or the output ends or time runs out (False)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: seen(self.text) or (self._chunks and not self._chunks[-1]), timeout
            ) and seen(self.text)

    def finish(self, timeout: float) -> str:
        """Wait for the process to end; return everything it wrote to the terminal."""
        try:
            self.proc.wait(timeout)
        finally:
            self.close()
        return self.text

    def close(self) -> None:
        """Kill the process if it still runs (a failed test leaves nothing behind)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._pump.join(60)
        if self._master >= 0:
            os.close(self._master)
            self._master = -1


def _days_done(text: str) -> int:
    """Days simulated so far, from the progress bar (e.g. 'idlib_2019:  2%| | 5/245 [...')."""
    done = re.findall(r"(\d+)/\d+ \[", text)
    return int(done[-1]) if done else 0


def test_a_killed_run_leaves_no_folder_that_looks_finished(tmp_path):
    """SIGINT (Ctrl-C) and SIGKILL a real full-population `idlibsim run` in mid-run.

    The signal is sent once the progress bar shows a simulated day (imports done, 4 million
    people built, the simulation under way), however long that takes on a busy machine;
    the rest of a full-population run takes many times longer than sending a signal."""
    runs = {}
    for sig in (signal.SIGINT, signal.SIGKILL):  # both at once: building 4 million people is slow
        out = tmp_path / f"run_{sig.name}"
        runs[sig] = out, _InATerminal(
            [sys.executable, "-m", "sim", "run", str(REPO / "scenarios" / "idlib_2019.toml"),
             "--out", str(out), "--no-plots"],
            cwd=REPO, stdout=subprocess.DEVNULL, env={**os.environ, "IDLIBSIM_CHECK": "0"},
            preexec_fn=_default_sigint,
        )  # fmt: skip
    try:
        for sig, (out, run) in runs.items():
            _interrupt_and_check(tmp_path, out, run, sig)
    finally:
        for _, run in runs.values():
            run.close()


def _interrupt_and_check(tmp_path: Path, out: Path, run: _InATerminal, sig: int) -> None:
    """Signal ``run`` once it has simulated a day; check what it leaves behind."""
    started = run.wait_for(lambda text: _days_done(text) >= 1, timeout=900)
    if started:
        run.proc.send_signal(sig)
    err = run.finish(timeout=300)
    assert started, f"the run never showed a simulated day (exit {run.proc.returncode}):\n{err}"
    assert "Traceback" not in err
    if sig == signal.SIGINT:
        assert run.proc.returncode == EXIT_INTERRUPTED, err
        assert "no results folder" in err
    else:
        assert run.proc.returncode == -signal.SIGKILL
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
