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


@functools.lru_cache(maxsize=1024)
def _day_key(seed: int, stream: str, day: int) -> np.uint64:
    """The key of a stream's day (a SeedSequence: 30 us, so remembered; several draws a day)."""
    seq = np.random.SeedSequence(entropy=int(seed), spawn_key=(_key(stream), int(day)))
    return np.uint64(seq.generate_state(1, dtype=np.uint64)[0])


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
    for shift, mult in ((_S30, _M1), (_S27, _M2)):
        np.right_shift(z, shift, out=t)
        z ^= t
        z *= mult
    np.right_shift(z, _S31, out=t)
    z ^= t
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
        for shift, mult in ((_S30, _M1), (_S27, _M2)):
            np.right_shift(zz, shift, out=tt)
            zz ^= tt
            zz *= mult
        if factor is None and before_last is not None:
            k = np.flatnonzero(zz < before_last)
            if len(k):
                y = zz[k]
                k = k[(y ^ (y >> _S31)) < threshold]
            if len(k):
                hits.append(k + a)
            continue
        np.right_shift(zz, _S31, out=tt)
        zz ^= tt
        if factor is None:
            k = np.flatnonzero(zz < threshold)
        else:
            zz >>= _S11  # m, exact as a float64
            lim = limit_of[:m]
            np.multiply(factor[a : a + m], scaled, out=lim)
            k = np.flatnonzero(zz < lim)
        if len(k):
            hits.append(k + a)
    if not hits:
        return np.empty(0, np.intp)
    return hits[0] if len(hits) == 1 else np.concatenate(hits)


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
