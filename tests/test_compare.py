"""Scenario comparison: curves with bands, paired differences, observed points, files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import BASE_SCENARIO, BOMB, BOMB_AGAIN

from sim.cli import main
from sim.compare import (
    CURVE_COLUMNS,
    TABLE_COLUMNS,
    comparison_table,
    load_curves,
    observed_for,
    plot_comparison,
    save_comparison,
)
from sim.ensemble import run_ensemble
from sim.errors import InputError
from sim.rng import replicate_seeds
from sim.runner import run
from sim.scenario.loading import load_scenario

OBSERVED = """\
as_of,period_start,value,measure,use,source
2019-05-10,2019-05-01,9000,movements,fit,OCHA test figure
2019-05-20,2019-05-01,20000,movements,check,another agency
2019-05-25,2019-01-01,90000,movements,context,counted since January
2019-05-25,2019-05-01,15000,people,fit,people figure
"""

LABELS = ("Bombardment only (test)", "Bombardment and a second wave (test)")


def scenarios(world):
    (world.folder / "data" / "observed.csv").write_text(OBSERVED)
    head = BASE_SCENARIO.replace(
        'name = "tiny"',
        f'name = "tiny"\nlabel = "{LABELS[0]}"\nobserved = "data/observed.csv"',
    )
    a = world.scenario(BOMB, name="a.toml", base=head)
    b = world.scenario(
        BOMB + BOMB_AGAIN,
        name="b.toml",
        base=head.replace('name = "tiny"', 'name = "tiny_again"').replace(LABELS[0], LABELS[1]),
    )
    return a, b


@pytest.fixture
def ensemble(world, tmp_path):
    a, b = scenarios(world)
    return run_ensemble([a, b], replicates=4, out=tmp_path / "ens")


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_load_curves_from_an_ensemble(ensemble):
    c = load_curves([ensemble.folder], "displaced_now")
    assert list(c.columns) == list(CURVE_COLUMNS)
    assert list(dict.fromkeys(c["scenario"])) == ["tiny", "tiny_again"]
    assert set(c["label"]) == set(LABELS)
    assert len(c) == 2 * 4 * 30
    assert sorted(set(c["seed"])) == sorted(replicate_seeds(1, 4))
    one = ensemble.replicates["tiny"]
    got = c[c["scenario"] == "tiny"]["value"].to_numpy()
    assert (got == one["displaced_now"].to_numpy()).all()
    # One scenario's sub-folder of the ensemble works too.
    sub = load_curves([ensemble.folder / "tiny_again"], "displaced_now")
    assert set(sub["scenario"]) == {"tiny_again"}


def test_differences_are_paired_by_seed(ensemble):
    c = load_curves([ensemble.folder], "displacements_cumulative")
    t = comparison_table(c, "displacements_cumulative")
    assert list(t.columns) == list(TABLE_COLUMNS)
    dif = t[t["panel"] == "difference"]
    assert set(dif["scenario"]) == {"tiny_again"} and set(dif["reference"]) == {"tiny"}
    assert dif["paired"].all() and (dif["n"] == 4).all()
    a = ensemble.replicates["tiny"].groupby("replicate")["displacements_cumulative"].last()
    b = ensemble.replicates["tiny_again"].groupby("replicate")["displacements_cumulative"].last()
    last = dif.iloc[-1]
    assert last["median"] == np.median(b.to_numpy() - a.to_numpy())
    assert last["p05"] == pytest.approx(np.quantile(b.to_numpy() - a.to_numpy(), 0.05))
    # Identical until the second wave: the paired difference is exactly zero there.
    early = dif[dif["date"] < "2019-05-24"]
    assert (early[["p05", "median", "p95"]].to_numpy() == 0).all()
    lev = t[(t["panel"] == "scenario") & (t["scenario"] == "tiny")]
    assert lev["median"].iloc[-1] == np.median(a.to_numpy())


def test_compare_writes_png_and_csv_with_labels_from_the_scenarios(ensemble, tmp_path):
    out = tmp_path / "fig" / "cmp.png"
    png, csv, table = save_comparison([ensemble.folder], out, "displacements_cumulative")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert csv == out.with_suffix(".csv")
    back = pd.read_csv(csv)
    assert list(back.columns) == list(TABLE_COLUMNS)
    assert set(back["panel"]) == {"scenario", "difference"}  # no observed unless asked
    first = png.read_bytes()
    save_comparison([ensemble.folder], out, "displacements_cumulative")
    assert png.read_bytes() == first  # deterministic bytes

    curves = load_curves([ensemble.folder], "displacements_cumulative")
    fig = plot_comparison(curves, "displacements_cumulative")
    top, bottom = fig.axes
    texts = legend_texts(top)
    assert any(t.startswith(LABELS[0]) for t in texts)
    assert any(t.startswith(LABELS[1]) for t in texts)
    assert any(LABELS[1] in t and LABELS[0] in t for t in legend_texts(bottom))
    assert "People" in top.get_ylabel() and "Date (2019)" == bottom.get_xlabel()
    assert fig.get_suptitle()
    ticks = [t.get_text() for t in bottom.get_xticklabels()]
    fig.canvas.draw()
    ticks = [t.get_text() for t in bottom.get_xticklabels()]
    assert any("May" in t for t in ticks)
    # Different line styles and markers per scenario (readable in grey-scale).
    lines = [ln for ln in top.get_lines() if ln.get_linewidth() >= 2]
    assert len({ln.get_linestyle() for ln in lines}) == 2
    assert len({ln.get_marker() for ln in lines}) == 2


def test_observed_points_appear_when_asked(ensemble, tmp_path):
    curves = load_curves([ensemble.folder], "displacements_cumulative")
    obs = observed_for(curves)
    assert obs is not None and len(obs) == 4
    table = comparison_table(curves, "displacements_cumulative", obs)
    pts = table[table["panel"] == "observed"]
    # fit and check movements figures, not the context one nor the people figure
    assert sorted(pts["value"]) == [9000, 20000]
    assert set(pts["use"]) == {"fit", "check"}
    assert (pts["plotted_value"] == pts["value"]).all()
    fig = plot_comparison(curves, "displacements_cumulative", observed=obs)
    gids = {c.get_gid() for c in fig.axes[0].collections}
    assert {"observed-fit", "observed-check"} <= gids
    people = comparison_table(
        load_curves([ensemble.folder], "displaced_people_cumulative"),
        "displaced_people_cumulative",
        obs,
    )
    assert list(people.loc[people["panel"] == "observed", "value"]) == [15000]
    none = comparison_table(load_curves([ensemble.folder], "displaced_now"), None, obs)
    assert "observed" not in set(none["panel"])
    # from the command line
    out = tmp_path / "obs.png"
    assert main(["compare", str(ensemble.folder), "--observed", "-o", str(out)]) == 0
    assert (pd.read_csv(out.with_suffix(".csv"))["panel"] == "observed").sum() == 2


def test_a_late_starting_observed_figure_is_lifted_onto_the_reference_curve(ensemble):
    curves = load_curves([ensemble.folder], "displacements_cumulative")
    obs = pd.DataFrame(
        {
            "as_of": ["2019-05-25"],
            "period_start": ["2019-05-15"],
            "value": [1000.0],
            "measure": ["movements"],
            "use": ["fit"],
            "source": ["late"],
        }
    )
    t = comparison_table(curves, "displacements_cumulative", obs)
    p = t[t["panel"] == "observed"].iloc[0]
    ref = t[(t["panel"] == "scenario") & (t["scenario"] == "tiny") & (t["date"] == "2019-05-14")]
    assert p["plotted_value"] == 1000.0 + ref["median"].iloc[0]


def test_a_run_folder_and_an_ensemble_compare_and_pair_on_the_seed(world, ensemble, tmp_path):
    a, _ = scenarios(world)
    seed = replicate_seeds(1, 4)[2]
    r = run(load_scenario(a), seed=seed, population_scale=0.1, out=tmp_path / "run", plots=False)
    man = json.loads((r.run_dir / "manifest.json").read_text())
    assert man["scenario_label"] == LABELS[0]
    curves = load_curves([r.run_dir, ensemble.folder / "tiny_again"], "displacements_cumulative")
    t = comparison_table(curves)
    dif = t[t["panel"] == "difference"]
    assert dif["paired"].all() and (dif["n"] == 1).all()
    run_vals = r.daily["displacements_cumulative"].to_numpy()
    other = ensemble.replicates["tiny_again"]
    pair = other[other["seed"] == seed]["displacements_cumulative"].to_numpy()
    assert (dif["median"].to_numpy() == pair - run_vals).all()
    lev = t[(t["panel"] == "scenario") & (t["scenario"] == "tiny")]
    assert (lev["median"].to_numpy() == run_vals).all() and (lev["n"] == 1).all()
    # The same scenario from two places is told apart; a single scenario has one panel.
    twice = load_curves([r.run_dir, ensemble.folder / "tiny"], "displaced_now")
    assert twice["scenario"].nunique() == 2 and twice["label"].nunique() == 2
    assert len(plot_comparison(load_curves([r.run_dir], "displaced_now")).axes) == 1


def test_runs_that_share_no_seed_are_compared_by_their_medians(world, tmp_path):
    a, b = scenarios(world)
    ra = run(load_scenario(a), seed=1, population_scale=0.1, out=tmp_path / "a", plots=False)
    rb = run(load_scenario(b), seed=2, population_scale=0.1, out=tmp_path / "b", plots=False)
    t = comparison_table(load_curves([ra.run_dir, rb.run_dir], "displaced_now"))
    dif = t[t["panel"] == "difference"]
    assert not dif["paired"].any() and dif["p05"].isna().all()
    expected = rb.daily["displaced_now"].to_numpy() - ra.daily["displaced_now"].to_numpy()
    assert (dif["median"].to_numpy() == expected).all()


def test_load_curves_rejects_folders_that_are_not_results(tmp_path, ensemble):
    with pytest.raises(InputError, match="folder not found"):
        load_curves([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither a run folder"):
        load_curves([tmp_path / "empty"])
    with pytest.raises(InputError, match="e.g."):  # a parent of result folders: suggests one
        load_curves([tmp_path])
    with pytest.raises(ValueError, match="did you mean"):
        load_curves([ensemble.folder], "displaced")


def test_cli_compare(ensemble, tmp_path, capsys):
    out = tmp_path / "c" / "x.png"
    code = main(["compare", str(ensemble.folder), "--metric", "displaced_now", "-o", str(out)])
    assert code == 0
    assert out.exists() and out.with_suffix(".csv").exists()
    text = capsys.readouterr().out
    assert "wrote" in text and LABELS[1] in text and "minus" in text


def test_cli_compare_bad_input_is_a_message(tmp_path, ensemble, capsys):
    assert main(["compare", str(tmp_path / "nope"), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "not found" in err and "Traceback" not in err
    assert (
        main(
            [
                "compare",
                str(ensemble.folder),
                "--metric",
                "displaced",
                "-o",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    assert "did you mean 'displaced_now'" in capsys.readouterr().err
    assert main(["compare", str(ensemble.folder), "-o", str(tmp_path / "x.pdf")]) == 2
    assert ".png" in capsys.readouterr().err
