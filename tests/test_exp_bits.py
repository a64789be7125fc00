"""The bit casts that build 2^k inside the shifted exponentials (``_pow2_from_magic`` and its two
numba intrinsics) against their plain-numpy twins in tests/naive.py: exact, since each side does
integer arithmetic on exact bit patterns."""

import numba
import numpy as np
import pytest
from numba import njit

from particles.field import kernels
from tests import naive

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="intrinsics need the JIT")

#: (dtype, magic, exponent offset, mantissa bits, the k covered: every normal power of two)
CASES = [
    (np.float64, kernels._MAGIC, kernels._MAGIC_OFF, 52, range(-1022, 1024)),
    (np.float32, kernels._MAGIC32, kernels._MAGIC_OFF32, 23, range(-126, 128)),
]


@pytest.mark.parametrize("dt, magic, off, shift, ks", CASES)
def test__pow2_from_magic(dt, magic, off, shift, ks):
    """Compiled (inside a kernel) and as plain Python (NUMBA_DISABLE_JIT), for every normal 2^k."""

    @njit
    def compiled(t, off, shift):
        return kernels._pow2_from_magic(t, off, shift)

    for k in ks:
        t = dt(dt(k) + dt(magic))
        want = naive._pow2_from_magic(t, off, shift)
        assert want == dt(2.0) ** k
        got = compiled(t, off, shift)
        assert got == want, (k, got, want)
        got = kernels._pow2_from_magic(t, off, shift)
        assert got == want and type(got) is dt, (k, got, want)
    if (
        not numba.config.DISABLE_JIT
    ):  # compiled: a float of t's width (numba returns a Python float)
        assert str(compiled.nopython_signatures[-1].return_type) == np.dtype(dt).name


@needs_jit
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test__float_bits_and__bits_float(dt):
    @njit
    def bits(x):
        return kernels._float_bits(x)

    @njit
    def back(i, like):
        return kernels._bits_float(i, like)

    rng = np.random.default_rng(15)
    it = np.int32 if dt == np.float32 else np.int64
    xs = np.concatenate([rng.standard_normal(50) * 1e3, [0.0, -0.0, 1.0, np.inf]]).astype(dt)
    for x in xs:
        b = bits(x)
        assert b == naive._float_bits(x)
        y = back(b, x)
        assert np.asarray(y, dt).tobytes() == x.tobytes()
        assert np.asarray(y, dt).tobytes() == naive._bits_float(b, x).tobytes()
    assert str(bits.nopython_signatures[-1].return_type) == np.dtype(it).name
    assert str(back.nopython_signatures[-1].return_type) == np.dtype(dt).name
    # a wider integer is cut to the float's width (the kernel's int32 arithmetic widens to int64)
    wide = np.int64(naive._float_bits(dt(3.0))) + (np.int64(1) << 40 if dt == np.float32 else 0)
    assert back(wide, dt(0.0)) == naive._bits_float(wide, dt(0.0)) == dt(3.0)
