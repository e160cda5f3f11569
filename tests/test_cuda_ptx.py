# SPDX-License-Identifier: BSD-3-Clause
"""The CUDA kernel compiles for a real GPU: numba-cuda translates the kernel and the shared ``@njit``
physics it calls to PTX for an H100/H200 (compute capability 9.0), with NVIDIA's NVVM from the
``cuda-toolkit`` wheels of the test extra, on a machine without a GPU. The simulator tests
(``tests/cuda``) run the kernel's logic, but as Python calling CPU code; this catches what only the
device compiler rejects, and checks the arithmetic it emits: IEEE double precision throughout,
rounded division and square root, no flush-to-zero (fastmath off), no single-precision maths."""
import re

import numba
import numpy as np
import pytest

from nbnumba import params_from_argv
from nbnumba.kernels import physics
from nbnumba.kernels.types import KernelFlags
from nbnumba.render.plan import make_plan
from nbnumba.setup import prepare

CC = (9, 0)
# every shape once, and every switch both off and on
FLAG_SETS = [KernelFlags(shape, *([switches] * 7)) for shape, switches in
             ((physics.SQUARE, False), (physics.ROUND, True), (physics.GAUSS, False), (physics.TOPHAT, True))]


class _Device:
    """What numba-cuda asks of the current GPU when it compiles a CPU ``@njit`` function called
    from a kernel (here there is none)."""
    compute_capability = CC
    id = 0


@pytest.fixture(scope="module")
def argument_types():
    params, _ = params_from_argv("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 8".split())
    s = prepare(params)
    plan = make_plan(s)
    shape = s.detector.shape
    args = (0, 8, np.zeros(shape, np.float32), np.zeros(shape), np.zeros(shape, np.int32), np.zeros(shape, np.uint8),
            plan.mask, plan.passes, plan.scalars, plan.vectors, plan.crystal, s.sources, s.cells_first,
            s.cells_carry, plan.fhkl)
    return tuple(numba.typeof(a) for a in args)


@pytest.mark.slow
@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: "_".join(str(int(v)) for v in f))
def test_cuda_kernel_compiles_to_double_precision_ptx(flags, argument_types, monkeypatch):
    import numba.cuda.dispatcher as cuda_dispatcher
    from numba import cuda

    from nbnumba.kernels.cuda import make_cuda_kernel
    monkeypatch.setattr(cuda_dispatcher, "get_current_device", lambda: _Device())
    kernel = make_cuda_kernel(flags)
    ptx, _ = cuda.compile_ptx(kernel.render.py_func, argument_types, cc=CC)
    assert ".entry" in ptx and "fma.rn.f64" in ptx
    assert re.search(r"\b(div|sqrt|rcp|rsqrt)\.approx", ptx) is None, "approximate division or square root"
    assert ".ftz" not in ptx, "flush-to-zero"
    # the only single-precision value is the stored pixel: one conversion, no float32 arithmetic
    assert re.search(r"\b(add|sub|mul|fma|div|sqrt)\.[a-z.]*f32", ptx) is None
    assert "cvt.rn.f32.f64" in ptx
    rows, _ = cuda.compile_ptx(kernel.omega_row_sums.py_func,
                               (argument_types[3], numba.int64, numba.int64, numba.float64[::1]), cc=CC)
    assert "add.rn.f64" in rows or "add.f64" in rows
