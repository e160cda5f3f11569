# SPDX-License-Identifier: BSD-3-Clause
"""The CUDA kernel compiles for a real GPU: numba-cuda translates the kernel and the shared ``@njit``
physics it calls to PTX for an H100/H200 (compute capability 9.0), with NVIDIA's NVVM from the
``cuda-toolkit`` wheels of the test extra, on a machine without a GPU. The simulator tests
(``tests/cuda``) run the kernel's logic, but as Python calling CPU code; this catches what only the
device compiler rejects, and checks the arithmetic it emits: IEEE double precision throughout,
rounded division and square root, no flush-to-zero (fastmath off), no single-precision maths; and for
``--precision single`` (``kernels.precision``) float32 arithmetic in the per-sample physics, with float64
only where that design keeps it."""
import re

import numba
import numpy as np
import pytest

from nbnumba import params_from_argv
from nbnumba.kernels import physics, precision
from nbnumba.kernels.types import KernelFlags
from nbnumba.render.plan import make_plan
from nbnumba.setup import prepare

CC = (9, 0)
# every shape once, and every switch both off and on
FLAG_SETS = [KernelFlags(shape, *([switches] * 7)) for shape, switches in
             ((physics.SQUARE, False), (physics.ROUND, True), (physics.GAUSS, False), (physics.TOPHAT, True))]
SINGLE_FLAG_SETS = [flags._replace(precision=precision.SINGLE) for flags in FLAG_SETS]


class _Device:
    """What numba-cuda asks of the current GPU when it compiles a CPU ``@njit`` function called
    from a kernel (here there is none)."""
    compute_capability = CC
    id = 0


@pytest.fixture(scope="module")
def argument_types():
    return kernel_argument_types()


def kernel_argument_types(extra=()):
    params, _ = params_from_argv("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 8".split() + list(extra))
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


#: a float arithmetic instruction of PTX and its type
FLOAT_OP = re.compile(r"^\s*(?:@%p\d+\s+)?(add|sub|mul|fma|div|sqrt|rcp|rsqrt|neg|abs|min|max|ex2|lg2|sin|cos)"
                      r"(?:\.[a-z]+)*\.(f32|f64)\b")


def float_ops(lines, kind):
    return sum(1 for line in lines if (m := FLOAT_OP.match(line)) and m.group(2) == kind)


def ptx_loops(ptx):
    """The loops of a PTX function as (first line, last line) ranges: a label and a branch back to it."""
    lines = ptx.splitlines()
    labels = {}
    for index, line in enumerate(lines):
        m = re.match(r"^(\$L__BB\d+_\d+):", line.strip())
        if m:
            labels[m.group(1)] = index
    loops = []
    for index, line in enumerate(lines):
        m = re.search(r"\bbra(?:\.uni)?\s+(\$L__BB\d+_\d+);", line)
        if m and labels.get(m.group(1), index) < index:
            loops.append((labels[m.group(1)], index))
    return lines, loops


def double_uses(lines, register):
    """``(opcode, line)`` of every instruction that reads the f64 ``register``, following ``mov.f64`` copies."""
    uses, todo, seen = [], [register], set()
    while todo:
        reg = todo.pop()
        if reg in seen:
            continue
        seen.add(reg)
        pattern = re.compile(r"%s\b" % re.escape(reg))
        for line in lines:
            parts = line.split(None, 2)
            if len(parts) < 3 or not pattern.search(parts[2]):
                continue  # no operands, or reg only as the destination
            op = parts[0]
            if op.startswith("mov."):
                todo.append(parts[1].rstrip(","))
            elif not op.startswith("cvt.f64.f32"):
                uses.append((op, line))
    assert uses, "widened value %s unused" % register
    return uses


@pytest.mark.slow
@pytest.mark.parametrize("flags", SINGLE_FLAG_SETS, ids=lambda f: "_".join(str(int(v)) for v in f))
def test_single_precision_kernel_computes_each_sample_in_f32(flags, monkeypatch):
    """The design of ``kernels.precision``: the lattice factor's recurrences (the innermost loops, where the
    time goes) are float32 only; the per-sample loop's float32 product F^2 F_latt^2 goes back to double only
    into the pixel's sum (no float32 result feeds double arithmetic anywhere else); double -> float32
    conversions are the fractional Miller indices. Rounding stays IEEE (no approximate division or square
    root, no flush-to-zero)."""
    import numba.cuda.dispatcher as cuda_dispatcher
    from numba import cuda

    from nbnumba.kernels.cuda import make_cuda_kernel
    monkeypatch.setattr(cuda_dispatcher, "get_current_device", lambda: _Device())
    kernel = make_cuda_kernel(flags)
    ptx, _ = cuda.compile_ptx(kernel.render.py_func, kernel_argument_types(["--precision", "single"]), cc=CC)
    assert re.search(r"\b(div|sqrt|rcp|rsqrt)\.approx", ptx) is None, "approximate division or square root"
    # flush-to-zero only inside libdevice's expf (the Gaussian shape; within 2 ulp, CUDA's documented bound)
    assert ".ftz" not in ptx.replace("ex2.approx.ftz.f32", ""), "flush-to-zero"
    lines, loops = ptx_loops(ptx)
    # the per-sample loop: the innermost loop that rounds the three Miller indices (ceil: cvt.rpi, in double)
    sample_loops = [(a, b) for a, b in loops if sum("cvt.rpi.f64.f64" in line for line in lines[a:b + 1]) >= 3]
    sample = min(sample_loops, key=lambda loop: loop[1] - loop[0])
    # loops inside it: the Chebyshev recurrences of square crystals (where the time goes) and, if the compiler
    # keeps them as loops, the tricubic interpolation's: float32 only
    inner = [(a, b) for a, b in loops if sample[0] < a and b < sample[1]]
    for a, b in inner:
        body = lines[a:b + 1]
        assert float_ops(body, "f64") == 0, "double arithmetic in an inner loop:\n" + "\n".join(body)
    if flags.shape == physics.SQUARE:
        recurrences = [(a, b) for a, b in inner if float_ops(lines[a:b + 1], "f32") >= 3]
        assert len(recurrences) >= 2, "expected the lockstep and the single-axis recurrence loops"
    # the one float32 -> float64 conversion: the sample's F^2 F_latt^2 into the pixel's double sum (Gaussian
    # shape: F_cell^2 times its double F_latt^2, kernels.precision.make_physics). The compiler may copy it into
    # both branches of the structure factor lookup (a value from the table or -default_F, whose square it may
    # compute once per pixel): every widened value goes, through copies, into that sum or product only
    widened = [index for index, line in enumerate(lines) if "cvt.f64.f32" in line]
    assert 1 <= len(widened) <= 2, "\n".join(lines[i] for i in widened)
    expected = ("mul.f64", "mul.rn.f64") if flags.shape == physics.GAUSS else ("add.f64", "add.rn.f64")
    for index in widened:
        for op, line in double_uses(lines, lines[index].split()[1].rstrip(",")):
            assert op in expected, line
    # float32 arithmetic is there, and (but for the Gaussian shape's double lattice factor) at least the three
    # fractional indices are rounded to it
    assert float_ops(lines, "f32") >= (1 if flags.shape == physics.GAUSS else 20)
    if flags.shape != physics.GAUSS:
        assert ptx.count("cvt.rn.f32.f64") >= 3
