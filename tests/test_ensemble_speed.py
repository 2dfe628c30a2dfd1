"""A worker keeps the scenarios it loaded only while their files are unchanged (issue 16)."""

from __future__ import annotations

import shutil
from pathlib import Path

from sim.analysis import ensemble

ROOT = Path(__file__).resolve().parent.parent


def test_a_scenario_is_loaded_again_when_any_file_it_read_changes(tmp_path):
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    toml = tmp_path / "scenarios" / "idlib_2019.toml"
    path = str(toml)
    first = ensemble._load_unchanged(path)
    assert ensemble._load_unchanged(path) is first  # same files: the same scenario

    toml.write_text(toml.read_text().replace('label = "2019', 'label = "changed 2019', 1))
    second = ensemble._load_unchanged(path)
    assert second is not first and second.label.startswith("changed 2019")

    params = next(p for p in second.files if p.name.endswith("_fit.toml"))
    params.write_text(params.read_text() + "\n# an edit\n")  # same values, other contents
    assert ensemble._load_unchanged(path) is not second


def test_a_world_is_shared_only_while_its_files_are_unchanged(tmp_path):
    import numpy as np
    import pytest

    from sim.model import geography

    data = ROOT / "scenarios" / "data"
    locations, routes = tmp_path / "locations.csv", tmp_path / "routes.csv"
    shutil.copy(data / "locations.csv", locations)
    shutil.copy(data / "routes.csv", routes)
    first = geography.load(locations, routes)
    assert geography.load(locations, routes) is first
    with pytest.raises(ValueError):  # shared: read-only
        first.lat[0] = 0.0
    assert np.array_equal(first.road_distance_km(), first._make_road_distance_km())
    routes.write_text(routes.read_text() + "\n")  # other contents, same roads
    second = geography.load(locations, routes)
    assert second is not first and second.names == first.names
