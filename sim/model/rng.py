"""Random numbers: the only module that makes them.

Design (after Starsim's common random numbers):

* one integer ``seed`` per run; every random number is derived from it, never from
  global state;
* decisions use named streams (``"flee"``, ``"destination"`` ...). The uniform a
  household gets for a decision on a day is a fixed function of (seed, stream, day,
  household id): a counter-based generator (the SplitMix64 output function applied to
  ``key(seed, stream, day) + id * golden_gamma``). So every household has its uniform for
  every decision every day *whether or not it is used*: two scenarios with the same seed
  face the same dice (their difference is the scenario, not noise); the results do not
  depend on how the population arrays are ordered; and drawing for a subset costs only
  that subset;
* set-up draws (household sizes, propensities) use ordinary ``numpy.random.Generator``
  streams seeded by ``SeedSequence(seed, spawn_key=(stream,))``;
* replicate seeds for ensembles come from ``SeedSequence(base).spawn(n)``.
"""

from __future__ import annotations

import functools
import math
import zlib

import numpy as np

#: Streams used by the model. Keys are hashed (CRC-32), so adding a stream never
#: shifts the numbers of the existing ones.
STREAMS = (
    "population",
    "propensity",
    "reach",
    "flee",
    "destination",
    "settle",
    "return",
    "border",
    "host_preference",
    "onward",
    "move_on_again",
)


def _key(stream: str) -> int:
    return zlib.crc32(stream.encode("utf-8"))


def generator(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """A generator for ``stream`` (and optional integer keys such as the day)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known: {STREAMS}")
    seq = np.random.SeedSequence(entropy=int(seed), spawn_key=(_key(stream), *map(int, keys)))
    return np.random.Generator(np.random.PCG64(seq))


_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(k) for k in (30, 27, 31, 11))


def _rounds(z: np.ndarray, t: np.ndarray) -> None:
    """SplitMix64's two multiply rounds on the counters ``z``, in place (``t``: scratch of
    the same shape): ``z ^= z >> 30; z *= M1; z ^= z >> 27; z *= M2``."""
    for shift, mult in ((_S30, _M1), (_S27, _M2)):
        np.right_shift(z, shift, out=t)
        z ^= t
        z *= mult


def _last_round(z: np.ndarray, t: np.ndarray) -> None:
    """SplitMix64's last step, ``z ^= z >> 31``, in place: ``z`` is then the hash."""
    np.right_shift(z, _S31, out=t)
    z ^= t


@functools.lru_cache(maxsize=1024)
def _seed_sequence_key(seed: int, stream: str, day: int) -> np.uint64:
    """The key of a stream's day: the first 64-bit word of a SeedSequence (30 us)."""
    seq = np.random.SeedSequence(entropy=int(seed), spawn_key=(_key(stream), int(day)))
    return np.uint64(seq.generate_state(1, dtype=np.uint64)[0])


#: (seed, stream) -> the keys of days 0, 1, ... (made together: :func:`_day_keys`)
_DAY_KEYS: dict[tuple[int, str], np.ndarray] = {}


def _day_key(seed: int, stream: str, day: int) -> np.uint64:
    """The key of a stream's day: :func:`_seed_sequence_key`, made for a block of days at
    once (~0.1 ms for 256 days instead of 30 us a day: ~5 % of a replicate at scale 0.1)."""
    seed, day = int(seed), int(day)
    if seed < 0 or not 0 <= day < 1 << 30:  # (SeedSequence's own checks and messages)
        return _seed_sequence_key(seed, stream, day)
    keys = _DAY_KEYS.get((seed, stream))
    if keys is None or day >= len(keys):
        keys = _day_keys(seed, _key(stream), max(256, 2 * (day + 1)))
        if len(_DAY_KEYS) >= 1024:  # a few replicates' streams; never grow without bound
            _DAY_KEYS.clear()
        _DAY_KEYS[(seed, stream)] = keys
    return keys[day]


# numpy.random.SeedSequence's hash (numpy/random/bit_generator.pyx, O'Neill's seed_seq),
# all arithmetic modulo 2**32; its output is part of NumPy's reproducibility promise.
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _MASK32 = 0xCA01F9DD, 0x4973F715, 0xFFFFFFFF


def _day_keys(seed: int, stream_key: int, n_days: int) -> np.ndarray:
    """``SeedSequence(seed, spawn_key=(stream_key, day)).generate_state(1, uint64)[0]`` for
    days 0 to ``n_days - 1`` (uint64), as NumPy computes it: the entropy is the seed's
    32-bit words (least significant first, padded to the pool of 4), the stream key, then
    the day; only the last word differs between days, so the mixing before it is done once.
    """
    words = []
    x = seed
    while x:
        words.append(x & _MASK32)
        x >>= 32
    words = (words or [0]) + [0] * (4 - len(words or [0]))  # padded (a spawn key follows)
    entropy = [*words, stream_key & _MASK32]
    const = _INIT_A

    def hashmix(value, const):
        value = (value ^ const) & _MASK32
        const = (const * _MULT_A) & _MASK32
        value = (value * const) & _MASK32
        return value ^ (value >> 16), const

    def mix(x, y):
        r = (_MIX_L * x - _MIX_R * y) & _MASK32
        return r ^ (r >> 16)

    pool = [0] * 4
    for i in range(4):
        pool[i], const = hashmix(entropy[i], const)
    for src in range(4):
        for dst in range(4):
            if src != dst:
                h, const = hashmix(pool[src], const)
                pool[dst] = mix(pool[dst], h)
    for src in range(4, len(entropy)):
        for dst in range(4):
            h, const = hashmix(entropy[src], const)
            pool[dst] = mix(pool[dst], h)
    # the last word, the day, for every day at once (uint32 arrays wrap modulo 2**32)
    day = np.arange(n_days, dtype=np.uint32)
    u32 = np.uint32
    state = [np.full(n_days, v, dtype=np.uint32) for v in pool]
    for dst in range(4):
        h = day ^ u32(const)
        const = (const * _MULT_A) & _MASK32
        h *= u32(const)
        h ^= h >> u32(16)
        r = state[dst] * u32(_MIX_L) - h * u32(_MIX_R)
        state[dst] = r ^ (r >> u32(16))
    out = np.empty((n_days, 2), dtype=np.uint32)  # generate_state: two 32-bit words
    const = _INIT_B
    for i in range(2):
        v = state[i] ^ u32(const)
        const = (const * _MULT_B) & _MASK32
        v *= u32(const)
        out[:, i] = v ^ (v >> u32(16))
    return out.view(np.uint64)[:, 0].copy()  # as SeedSequence: the words' uint64 view


def uniforms(seed: int, stream: str, day: int, ids: np.ndarray) -> np.ndarray:
    """Uniforms in [0, 1) for the households ``ids`` on ``day`` in ``stream``.

    Entry ``k`` depends only on (seed, stream, day, ids[k]): the same household gets the
    same number whatever else is drawn and wherever it sits in the arrays.
    """
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known: {STREAMS}")
    # In place, with one scratch array: the same numbers as the textbook expression
    # ``z ^= z >> 30`` ... with a third fewer passes over memory and no temporaries.
    z = np.array(ids, dtype=np.uint64)  # a copy, modified in place below
    z *= _GAMMA
    z += _day_key(seed, stream, day)
    t = np.empty_like(z)
    _rounds(z, t)
    _last_round(z, t)
    z >>= _S11
    out = z.view(np.int64).astype(np.float64)  # (< 2**53: exact either way, signed is faster)
    out *= 1.0 / 9007199254740992.0
    return out


#: Ids hashed per pass of :func:`below`: a few scratch arrays of this many 8-byte words
#: stay in the CPU cache.
_CHUNK = 1 << 15
#: ``arange(_CHUNK) * golden_gamma`` (mod 2**64): the counters of a run of consecutive ids
_STEPS = np.arange(_CHUNK, dtype=np.uint64) * _GAMMA
_TWO53 = 1 << 53


def below(
    seed: int,
    stream: str,
    day: int,
    bound: float,
    ids: np.ndarray | None = None,
    start: int = 0,
    stop: int = 0,
    factor: np.ndarray | None = None,
) -> np.ndarray:
    """Positions ``k`` where ``uniforms(seed, stream, day, ids)[k] < bound``, ascending.

    The same numbers as :func:`uniforms` (entry for entry), compared in cache-sized chunks
    without making the uniforms: ``u = m / 2**53`` with ``m`` the top 53 bits of the hash,
    so ``u < bound`` exactly when ``m < ceil(bound * 2**53)``. The ids are ``ids``, or when
    ``ids`` is None the consecutive ids ``start, ..., stop - 1`` (then no id array is read
    at all). With ``factor`` (one per id, 0 <= factor, ``bound * factor`` not subnormal) the
    test is ``u < factor[k] * bound`` as float64 computes it (``m < factor[k] * (bound *
    2**53)``: scaling by a power of two is exact). For a rule that needs only the few
    households whose uniform is small (flight), this is the whole cost of the draw.
    """
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known: {STREAMS}")
    n = (stop - start) if ids is None else len(ids)
    if n <= 0 or not bound > 0:  # also NaN: u < NaN is never true
        return np.empty(0, np.intp)
    if factor is not None:
        scaled = np.float64(bound) * np.float64(_TWO53)
        limit_of = np.empty(min(n, _CHUNK), np.float64)
    else:
        if bound >= 1.0:  # every uniform is below 1 <= bound (also inf)
            return np.arange(n, dtype=np.intp)
        limit = math.ceil(bound * _TWO53)
        threshold = np.uint64(limit << 11)  # m < limit  <=>  hash < limit * 2**11
        # The last step, hash = y ^ (y >> 31), keeps the top 31 bits of y: a hash below the
        # threshold needs y below the next multiple of 2**33 above them; only those few
        # take the last step (when that bound is below 2**64).
        top = (((limit << 11) - 1) >> 33) + 1
        before_last = np.uint64(top << 33) if top < (1 << 31) else None
    key = int(_day_key(seed, stream, day))
    gamma = int(_GAMMA)
    z = np.empty(min(n, _CHUNK), np.uint64)
    t = np.empty_like(z)
    hits = []
    for a in range(0, n, _CHUNK):
        m = min(_CHUNK, n - a)
        zz, tt = z[:m], t[:m]
        if ids is None:  # counters of consecutive ids: steps from the first one's
            first = np.uint64(((start + a) * gamma + key) & 0xFFFFFFFFFFFFFFFF)
            np.add(_STEPS[:m], first, out=zz)
        else:
            zz[:] = ids[a : a + m]
            zz *= _GAMMA
            zz += np.uint64(key)
        _rounds(zz, tt)
        if factor is None and before_last is not None:
            k = (zz < before_last).nonzero()[0]
            if len(k):
                y = zz[k]
                k = k[(y ^ (y >> _S31)) < threshold]
            if len(k):
                hits.append(k + a)
            continue
        _last_round(zz, tt)
        if factor is None:
            k = (zz < threshold).nonzero()[0]
        else:
            zz >>= _S11  # m, exact as a float64
            lim = limit_of[:m]
            np.multiply(factor[a : a + m], scaled, out=lim)
            k = (zz.view(np.int64) < lim).nonzero()[0]  # (int64 converts faster than uint64)
        if len(k):
            hits.append(k + a)
    if not hits:
        return np.empty(0, np.intp)
    return hits[0] if len(hits) == 1 else np.concatenate(hits)


#: Runs of more ids than this are tested on their own by :func:`below` (its per-call cost is
#: then small beside the hashing, which is cheaper there: no id arrays, no limit per id).
_SMALL_RUN = 4096


def below_ranges(
    seed: int,
    stream: str,
    day: int,
    starts: np.ndarray,
    stops: np.ndarray,
    bounds: np.ndarray,
    factors: list[np.ndarray | None] | None = None,
) -> np.ndarray:
    """:func:`below` for several runs of consecutive ids at once; returns the ids found.

    Run ``r`` holds the ids ``starts[r], ..., stops[r] - 1``; its test is
    ``below(seed, stream, day, bounds[r], start=starts[r], stop=stops[r],
    factor=factors[r])``. The result is the ids those calls find (``positions +
    starts[r]``), run after run: the same ids, but small runs share the passes of
    cache-sized chunks (a day's flight asks about 30 places: one pass instead of 30 calls,
    which at a tenth of the population cost more than the hashing). Runs of more than
    :data:`_SMALL_RUN` ids are handed to :func:`below`.
    """
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known: {STREAMS}")
    starts = np.asarray(starts, dtype=np.int64)
    stops = np.asarray(stops, dtype=np.int64)
    bounds = np.asarray(bounds, dtype=np.float64)
    factors = [None] * len(starts) if factors is None else list(factors)
    scalar = np.array([f is None for f in factors], dtype=bool)
    lens = stops - starts
    live = (lens > 0) & (bounds > 0)  # (not NaN: u < NaN is never true)
    alone = live & ((lens > _SMALL_RUN) | (scalar & (bounds >= 1.0)))
    found: list[tuple[np.ndarray, np.ndarray]] = []  # (ids, their runs)
    for r in alone.nonzero()[0].tolist():
        s, e = int(starts[r]), int(stops[r])
        ids = below(seed, stream, day, float(bounds[r]), start=s, stop=e, factor=factors[r])
        found.append((ids + s, np.full(len(ids), r)))
    together = (live & ~alone).nonzero()[0]
    if len(together):
        found.append(_below_batch(seed, stream, day, starts, lens, bounds, factors, together))
    if not found:
        return np.empty(0, np.int64)
    if len(found) == 1:
        return found[0][0].astype(np.int64, copy=False)  # (runs in order already)
    ids = np.concatenate([f[0] for f in found]).astype(np.int64, copy=False)
    runs = np.concatenate([f[1] for f in found])
    return ids[np.argsort(runs, kind="stable")]  # run after run, ascending within each


def _below_batch(
    seed, stream, day, starts, lens, bounds, factors, runs
) -> tuple[np.ndarray, np.ndarray]:
    """The ids of ``runs`` (bounds in (0, 1), or factors) found by :func:`below`, and the
    run of each, run after run: one limit per id, ``m < factor * bound * 2**53`` as float64
    (``m < 2**53`` exact; with no factor, ``m < bound * 2**53`` is below's ``m <
    ceil(bound * 2**53)`` for a whole ``m``), hashed in cache-sized chunks."""
    lens = lens[runs]
    total = int(lens.sum())
    offsets = np.cumsum(lens) - lens
    ids = np.repeat(starts[runs] - offsets, lens)
    ids += np.arange(total, dtype=np.int64)
    scaled = bounds[runs] * np.float64(_TWO53)  # (a power of two: exact)
    lim = np.repeat(scaled, lens)
    for r, a, n, b in zip(runs.tolist(), offsets.tolist(), lens.tolist(), scaled, strict=True):
        if factors[r] is not None:
            np.multiply(factors[r], b, out=lim[a : a + n])
    key = np.uint64(int(_day_key(seed, stream, day)))
    z = np.empty(min(total, _CHUNK), np.uint64)
    t = np.empty_like(z)
    hits = []
    for a in range(0, total, _CHUNK):
        m = min(_CHUNK, total - a)
        zz, tt = z[:m], t[:m]
        zz[:] = ids[a : a + m]
        zz *= _GAMMA
        zz += key
        _rounds(zz, tt)
        _last_round(zz, tt)
        zz >>= _S11  # m, exact as a float64 (compared as int64: converts faster than uint64)
        hits.append((zz.view(np.int64) < lim[a : a + m]).nonzero()[0] + a)
    k = hits[0] if len(hits) == 1 else np.concatenate(hits)
    return ids[k], np.repeat(runs, lens)[k]


def exponentials(seed: int, stream: str, day: int, ids: np.ndarray) -> np.ndarray:
    """Exponential(1) variates from the same uniforms: ``-log(1 - u)``.

    ``u < 1 - exp(-h)`` is the same event as ``E < h``, so a rule with a hazard ``h`` can
    compare ``E`` with it directly.
    """
    return -np.log1p(-uniforms(seed, stream, day, ids))


def replicate_seeds(base: int, n: int) -> list[int]:
    """Seeds of ``n`` replicates spawned from one base seed (63-bit integers).

    The i-th seed depends only on ``base`` and ``i``: asking for more replicates later
    keeps the first ones.
    """
    children = np.random.SeedSequence(int(base)).spawn(int(n))
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]
