"""The one reader and writer of results folders (sim.folders), on hand-made folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sim.errors import InputError
from sim.folders import (
    ENSEMBLE_KIND,
    EnsembleFolder,
    ResultsFolder,
    RunFolder,
    read_run,
    validate_ensemble_manifest,
)
from sim.safety import STAGED_PREFIX, staged

ENSEMBLE = {
    "tool": "idlibsim",
    "kind": ENSEMBLE_KIND,
    "replicate_seeds": [11, 12],
    "scenarios": [{"name": "idlib_2019", "label": "2019", "reported_days": 3}],
}


def test_a_manifest_written_is_read_back_and_replaced_whole(tmp_path: Path):
    folder = ResultsFolder(tmp_path)
    assert folder.kind() is None and not folder.has_manifest()
    folder.write_manifest({"tool": "idlibsim", "seed": 3})
    assert folder.read_manifest() == {"tool": "idlibsim", "seed": 3}
    assert folder.kind() == "run"  # a manifest without a kind is a run's
    folder.write_manifest({"tool": "idlibsim", "kind": "calibration"})
    assert folder.kind() == "calibration"
    assert sorted(os.listdir(tmp_path)) == ["manifest.json"]  # no temporary file left


def test_a_run_folder_gives_its_tables_scenario_and_title(tmp_path: Path):
    observed = tmp_path / "observed.csv"
    observed.write_text("as_of,value\n")
    man = {
        "scenario_title": "Idlib 2019",
        "scenario": {"scenario": {"observed": str(observed), "name": "idlib_2019"}},
    }
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    (tmp_path / "summary.json").write_text('{"displacements": 5}')
    (tmp_path / "daily.csv").write_text("date,day\n2019-05-01,0\n")
    os.mkfifo(tmp_path / "routes.csv")  # never read: it would block
    run = RunFolder(tmp_path)
    assert run.scenario_head(run.read_manifest())["name"] == "idlib_2019"
    assert run.title_and_observed() == ("Idlib 2019", observed)
    got = read_run(tmp_path)
    assert set(got) == {"dir", "manifest", "summary", "daily"}
    assert got["summary"] == {"displacements": 5} and len(got["daily"]) == 1
    assert run.table("locations") is None and run.table("routes") is None


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", '{"scenario": "flat"}', '{"scenario": {"scenario": 5}}', "NaN"],
)
def test_a_run_folder_with_a_damaged_manifest_has_no_title(tmp_path: Path, text: str):
    (tmp_path / "manifest.json").write_text(text)
    assert RunFolder(tmp_path).title_and_observed() == ("", None)


def test_an_ensemble_folder_is_recognised_and_its_manifest_checked(tmp_path: Path):
    ens = EnsembleFolder(tmp_path)
    assert not ens.is_ensemble()
    ens.write_manifest(ENSEMBLE)
    assert ens.is_ensemble() and ens.manifest() == ENSEMBLE
    assert ens.replicate_path("idlib_2019", 7) == tmp_path / "idlib_2019/replicates/rep-0007.csv"
    bad = {**ENSEMBLE, "scenarios": [{"name": "../../etc", "label": 1}]}
    ens.write_manifest(bad)
    with pytest.raises(InputError) as info:
        ens.manifest()  # names become paths: refused before anything uses them
    text = str(info.value)
    assert "is not a scenario name" in text and "label must be text" in text


@pytest.mark.parametrize(
    "man, says",
    [
        ({**ENSEMBLE, "replicate_seeds": []}, "non-empty list of seeds"),
        ({**ENSEMBLE, "replicate_seeds": [1, -2]}, "whole numbers >= 0"),
        ({**ENSEMBLE, "replicate_seeds": [True]}, "whole numbers >= 0"),
        ({**ENSEMBLE, "scenarios": "x"}, "non-empty list"),
        ({**ENSEMBLE, "scenarios": [{"name": "a", "label": "a", "reported_days": 0}]}, "days"),
        ("not a table", "non-empty list of seeds"),
    ],
)
def test_ensemble_manifest_fields_are_checked(tmp_path: Path, man, says):
    with pytest.raises(InputError, match=says):
        validate_ensemble_manifest(man, tmp_path / "manifest.json")


def test_staged_replaces_a_file_whole_or_not_at_all(tmp_path: Path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), staged(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(STAGED_PREFIX)]
    with staged(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(STAGED_PREFIX + "table.csv.")
        tmp.write_text("new\n")
    assert target.read_text() == "new\n"
    assert sorted(os.listdir(tmp_path)) == ["table.csv"]
