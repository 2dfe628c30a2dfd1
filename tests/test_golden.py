"""Golden values: a change of numbers is a decision, never an accident (Starsim's baselines).

Pinned in ``tests/golden/``: values of the counter-based uniforms and set-up generators,
the SHA-256 of the tables of a tiny committed run, and the calibration targets with the
weight of each in the objective. If one of these tests fails, either the change was an
accident (fix the code) or it is intended: then regenerate with
``python tests/regenerate_golden.py`` and say why in the commit message.
"""

from __future__ import annotations

import json

import golden_values as gv
import numpy as np
import pytest

from sim.model import rng

DECISION = (
    "\n\n{what} changed. If this is an accident, fix the code. If it is intended, it is a "
    "decision: recorded runs and the calibrated parameters were made with the old numbers. "
    "Regenerate the golden values with `" + gv.REGENERATE + "` and say why in the commit "
    "message (see docs/testing.md)."
)


def _golden(name: str):
    path = gv.GOLDEN / name
    assert path.exists(), f"{path} is missing" + DECISION.format(what=name)
    return json.loads(path.read_text())


def test_counter_based_uniforms_are_pinned():
    want = _golden("uniforms.json")
    got = json.loads(json.dumps(gv.uniform_values()))
    for w, g in zip(want["uniforms"], got["uniforms"], strict=True):
        assert g == w, f"uniforms of stream {w['stream']!r}" + DECISION.format(
            what="random numbers"
        )
    assert got["generators"] == want["generators"], DECISION.format(what="set-up random draws")
    assert got["replicate_seeds"] == want["replicate_seeds"], DECISION.format(
        what="replicate seeds"
    )


def test_tiny_run_tables_are_pinned():
    want = _golden("tiny_run.json")
    got = json.loads(json.dumps(gv.tiny_run_values()))
    assert got["headline"] == want["headline"], DECISION.format(
        what="the headline numbers of the tiny run"
    )
    assert got["sha256"] == want["sha256"], DECISION.format(what="the tables of the tiny run")


def test_calibration_targets_and_weights_are_pinned():
    want = _golden("calibration_targets.json")
    got = json.loads(json.dumps(gv.calibration_values()))
    assert got["sigmas"] == want["sigmas"], DECISION.format(what="calibration error scales")
    assert got["targets"] == want["targets"], DECISION.format(
        what="calibration targets or their weights"
    )
    assert got["fit_parameters"] == want["fit_parameters"], DECISION.format(
        what="fitted parameters"
    )
    assert got["base_seed"] == want["base_seed"], DECISION.format(what="calibration seeds")


# --------------------------------------------------------------------------------------
# The uniforms' formula and their independence of array order
# --------------------------------------------------------------------------------------
MASK = (1 << 64) - 1


def _splitmix64(key: int, i: int) -> float:
    """SplitMix64's output function on ``key + i * golden_gamma``, in Python integers."""
    z = (key + i * 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return (z >> 11) / 2.0**53


@pytest.mark.parametrize("seed,stream,day,ids", gv.UNIFORM_CASES)
def test_uniforms_follow_their_documented_formula(seed, stream, day, ids):
    import zlib

    seq = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(stream.encode()), day))
    key = int(seq.generate_state(1, dtype=np.uint64)[0])
    got = rng.uniforms(seed, stream, day, np.array(ids))
    assert got.tolist() == [_splitmix64(key, i) for i in ids]
    assert ((got >= 0) & (got < 1)).all()
    e = rng.exponentials(seed, stream, day, np.array(ids))
    assert e.tolist() == (-np.log1p(-got)).tolist()


def test_uniforms_do_not_depend_on_the_order_or_the_company_of_the_ids():
    gen = np.random.default_rng(3)
    ids = gen.choice(10**7, size=500, replace=False)
    base = rng.uniforms(11, "flee", 4, ids)
    perm = gen.permutation(len(ids))
    assert np.array_equal(rng.uniforms(11, "flee", 4, ids[perm]), base[perm])
    sub = perm[:37]
    assert np.array_equal(rng.uniforms(11, "flee", 4, ids[sub]), base[sub])
    one = rng.uniforms(11, "flee", 4, ids[5:6])
    assert one[0] == base[5]
    # any dtype of ids, same numbers
    assert np.array_equal(rng.uniforms(11, "flee", 4, ids.astype(np.int32)), base)


def test_streams_days_and_seeds_give_different_uniforms():
    ids = np.arange(2000)
    a = rng.uniforms(1, "flee", 3, ids)
    for other in (
        rng.uniforms(1, "destination", 3, ids),
        rng.uniforms(1, "flee", 4, ids),
        rng.uniforms(2, "flee", 3, ids),
    ):
        assert not np.any(a == other)
        assert abs(np.corrcoef(a, other)[0, 1]) < 0.1
    assert abs(a.mean() - 0.5) < 0.03 and len(np.unique(a)) == len(a)
    with pytest.raises(ValueError, match="unknown random stream"):
        rng.uniforms(1, "fle", 3, ids)
    with pytest.raises(ValueError, match="unknown random stream"):
        rng.generator(1, "fle")


def test_replicate_seeds_keep_the_first_ones():
    assert rng.replicate_seeds(5, 3) == rng.replicate_seeds(5, 6)[:3]
    assert all(0 <= s < 2**63 for s in rng.replicate_seeds(5, 6))
