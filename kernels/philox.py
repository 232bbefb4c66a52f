"""Philox4x32-10 counter-based random numbers: the NumPy twin of ``kernels/cuda/philox.cu``.

Philox (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC 2011; the generator of cuRAND's Philox and of JAX) is a keyed bijection of a 128-bit
counter. Ten rounds of

    (hi0, lo0) = M0 x0,  (hi1, lo1) = M1 x2          (32 x 32 -> 64-bit products)
    x = (hi1 ^ x1 ^ k0,  lo1,  hi0 ^ x3 ^ k1,  lo0)

with M = (0xD2511F53, 0xCD9E8D57) and the key bumped by the Weyl increments
(0x9E3779B9, 0xBB67AE85) between rounds turn a counter and a key into four random
32-bit words. It matches Random123's known-answer vectors (tests/test_philox.py).

Why counter-based: the generator has no sequential state, only (seed, offset). Block b
of the stream is a pure function of (seed, b), so every GPU thread computes its own
block with no state to load, advance or write back; and the whole state of a run's
random stream is two integers, trivially saved in a checkpoint and restored exactly.

Stream layout (the CUDA kernels produce the same bits):

* key = (seed & 0xffffffff, seed >> 32) for a 64-bit seed;
* block b has counter (b & 0xffffffff, b >> 32, 0, 0), with b = offset + j (mod 2^64),
  where offset counts the blocks consumed by earlier draws and j indexes the blocks of
  this draw;
* float32 values take 24 bits per word, four per block: out[4j + k] = (w_k >> 8) 2^-24;
* float64 values take 53 bits per word pair, two per block:
  out[2j + k] = (((w_2k << 32) | w_2k+1) >> 11) 2^-53;
* a draw of n values consumes ``blocks_for(n, dtype)`` = ceil(n / 4) (float32) or
  ceil(n / 2) (float64) blocks; values past n in the last block are discarded.

So consecutive draws that advance offset by the blocks each consumed never reuse a
block, and a draw that fills whole blocks equals the matching slice of one larger draw.
"""

from __future__ import annotations

import numpy

# Round multipliers and Weyl key increments of Philox4x32 (Random123 philox.h).
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
ROUNDS = 10

# The literals of kernels/cuda/philox.cu, rounded to the target dtype the same way.
_TWO_POW_M24 = 5.9604644775390625e-08
_TWO_POW_M53 = 1.1102230246251565e-16
_TWO_PI = 6.283185307179586

_MASK32 = numpy.uint64(0xFFFFFFFF)
_SHIFT32 = numpy.uint64(32)
_VALUES_PER_BLOCK = {numpy.dtype(numpy.float32): 4, numpy.dtype(numpy.float64): 2}


def philox4x32(counter, key, rounds: int = ROUNDS) -> numpy.ndarray:
    """Philox4x32-``rounds`` of each counter: uint32 (..., 4), key uint32 (..., 2) -> uint32 (..., 4).

    Words are held in uint64 so that the 32 x 32 -> 64-bit products are exact; the key
    broadcasts against the counters' leading dimensions.
    """
    counter = _as_words(counter, 4, "counter")
    key = _as_words(key, 2, "key")
    x0, x1, x2, x3 = (counter[..., i] for i in range(4))
    k0, k1 = key[..., 0], key[..., 1]
    m0, m1 = numpy.uint64(PHILOX_M0), numpy.uint64(PHILOX_M1)
    for round_index in range(rounds):
        if round_index > 0:
            k0 = (k0 + numpy.uint64(PHILOX_W0)) & _MASK32
            k1 = (k1 + numpy.uint64(PHILOX_W1)) & _MASK32
        product0 = m0 * x0
        product1 = m1 * x2
        x0, x1, x2, x3 = (
            (product1 >> _SHIFT32) ^ x1 ^ k0,
            product1 & _MASK32,
            (product0 >> _SHIFT32) ^ x3 ^ k1,
            product0 & _MASK32,
        )
    return numpy.stack(numpy.broadcast_arrays(x0, x1, x2, x3), axis=-1).astype(numpy.uint32)


def _as_words(words, width: int, name: str) -> numpy.ndarray:
    """``words`` as a uint64 array of 32-bit values whose last axis has ``width`` entries."""
    array = numpy.asarray(words)
    if array.dtype.kind not in "ui":
        raise TypeError(f"philox4x32: {name} must hold integers, got dtype {array.dtype}")
    if array.ndim == 0 or array.shape[-1] != width:
        raise ValueError(f"philox4x32: {name} must have shape (..., {width}), got {array.shape}")
    if array.size and (array.min() < 0 or array.max() > 0xFFFFFFFF):
        raise ValueError(f"philox4x32: {name} words must lie in [0, 2^32), got {array.min()}..{array.max()}")
    return array.astype(numpy.uint64)


def blocks_for(n: int, dtype) -> int:
    """Philox blocks a draw of n values consumes: ceil(n / 4) for float32, ceil(n / 2) for float64."""
    per_block = _values_per_block(dtype, "blocks_for")
    return -(-int(n) // per_block)


def stream_words(seed: int, offset: int, blocks: int) -> numpy.ndarray:
    """The words of blocks offset .. offset + blocks - 1 (mod 2^64) of stream ``seed``: uint32 (blocks, 4)."""
    seed = _check_uint64(seed, "seed", "stream_words")
    offset = _check_uint64(offset, "offset", "stream_words")
    block = numpy.arange(blocks, dtype=numpy.uint64) + numpy.uint64(offset)  # wraps mod 2^64
    counter = numpy.zeros((blocks, 4), dtype=numpy.uint64)
    counter[:, 0] = block & _MASK32
    counter[:, 1] = block >> _SHIFT32
    key = numpy.array([seed & 0xFFFFFFFF, seed >> 32], dtype=numpy.uint64)
    return philox4x32(counter, key)


def uniform(seed: int, offset: int, n: int, dtype=numpy.float32) -> tuple[numpy.ndarray, int]:
    """n uniforms in [0, 1) from blocks offset, offset + 1, ...: (values (n,) dtype, blocks consumed).

    float32: (w >> 8) 2^-24, one per word; float64: (((w_2k << 32) | w_2k+1) >> 11) 2^-53, one per
    word pair. Both conversions are exact, so the GPU kernel philox_uniform gives the same bits.
    """
    dtype = numpy.dtype(dtype)
    blocks = blocks_for(_check_count(n, "uniform"), dtype)
    words = stream_words(seed, offset, blocks)  # (blocks, 4)
    if dtype == numpy.float32:
        values = _u24(words)  # (blocks, 4)
    else:
        values = _u53(words[:, 0::2], words[:, 1::2])  # (blocks, 2)
    return values.reshape(-1)[:n], blocks


def normal(seed: int, offset: int, n: int, dtype=numpy.float32) -> tuple[numpy.ndarray, int]:
    """n standard normals by Box-Muller from blocks offset, ...: (values (n,) dtype, blocks consumed).

    u1 = (m + 1) 2^-p in (0, 1] (so log u1 is finite), u2 = m' 2^-p, r = sqrt(-2 log u1),
    (z_first, z_second) = (r cos(2 pi u2), r sin(2 pi u2)), computed in ``dtype`` as the GPU
    kernel philox_normal does. float32 (p = 24): pairs (w0, w1) -> out[4j], out[4j+1] and
    (w2, w3) -> out[4j+2], out[4j+3]. float64 (p = 53): u1 from (w0, w1), u2 from (w2, w3)
    -> out[2j], out[2j+1]. Equal to the GPU's values up to the last bits of log, cos, sin.
    """
    dtype = numpy.dtype(dtype)
    blocks = blocks_for(_check_count(n, "normal"), dtype)
    words = stream_words(seed, offset, blocks)  # (blocks, 4)
    if dtype == numpy.float32:
        u1 = ((words[:, 0::2] >> numpy.uint32(8)) + numpy.uint32(1)).astype(numpy.float32)
        u1 = u1 * numpy.float32(_TWO_POW_M24)  # (blocks, 2): from w0 and w2
        u2 = _u24(words[:, 1::2])  # (blocks, 2): from w1 and w3
    else:
        bits = (words[:, 0].astype(numpy.uint64) << _SHIFT32) | words[:, 1]
        u1 = ((bits >> numpy.uint64(11)) + numpy.uint64(1)).astype(numpy.float64) * _TWO_POW_M53
        u2 = _u53(words[:, 2], words[:, 3])
    radius = numpy.sqrt(dtype.type(-2) * numpy.log(u1))
    angle = dtype.type(_TWO_PI) * u2
    pairs = numpy.stack([radius * numpy.cos(angle), radius * numpy.sin(angle)], axis=-1)
    return pairs.reshape(-1)[:n], blocks


def _u24(words: numpy.ndarray) -> numpy.ndarray:
    """(w >> 8) 2^-24 as float32: exact, in [0, 1)."""
    return (words >> numpy.uint32(8)).astype(numpy.float32) * numpy.float32(_TWO_POW_M24)


def _u53(high: numpy.ndarray, low: numpy.ndarray) -> numpy.ndarray:
    """(((high << 32) | low) >> 11) 2^-53 as float64: exact, in [0, 1)."""
    bits = (high.astype(numpy.uint64) << _SHIFT32) | low.astype(numpy.uint64)
    return (bits >> numpy.uint64(11)).astype(numpy.float64) * _TWO_POW_M53


def _values_per_block(dtype, op: str) -> int:
    try:
        return _VALUES_PER_BLOCK[numpy.dtype(dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"{op}: dtype must be float32 or float64, got {dtype!r}") from None


def _check_count(n, op: str) -> int:
    if not isinstance(n, (int, numpy.integer)) or n < 0:
        raise ValueError(f"{op}: n must be a non-negative integer, got {n!r}")
    return int(n)


def _check_uint64(value, name: str, op: str) -> int:
    if not isinstance(value, (int, numpy.integer)) or not 0 <= int(value) < 2**64:
        raise ValueError(f"{op}: {name} must be an integer in [0, 2^64), got {value!r}")
    return int(value)
