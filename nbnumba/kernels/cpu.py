# SPDX-License-Identifier: BSD-3-Clause
"""CPU kernel: the pixel function (``kernels.pixel``) over a block of detector pixels (row-major),
parallel over groups of four consecutive pixels (the C program's OpenMP loop is parallel over rows); a
still's four pixels go side by side through ``make_pixel_group_function``, other pixels one by one.
``make_cpu_kernel(flags)`` specialises it at compile time, and compiles only the pixel functions its flags
use: a still's kernel (``KernelFlags.few_samples``) the four-pixel function and the one-sample-at-a-time
pixel function (for the pixels that are not four side by side), any other kernel the pixel function that
takes eight samples side by side (one of these costs about ten seconds of compilation, twenty with single
precision's sample stream).
Threads share nothing but the read-only inputs: each pixel writes its own entries (no shared
counter or maximum); the rows' solid-angle sums are added serially after the parallel loop."""
import time
from functools import lru_cache

import numba
import numpy as np
from numba import njit, prange

from nbnumba._jit import JIT_OPTIONS, llvm_options
from nbnumba.kernels.physics import LANES
from nbnumba.kernels.pixel import (
    PIXEL_LANES,
    cpu_kernel_streams,
    make_pixel_function,
    make_pixel_group_function,
    pixel_groups_apply,
    pixel_task,
    sample_stream_llvm_options,
    sample_stream_work,
)
from nbnumba.kernels.specialise import specialise
from nbnumba.kernels.types import KernelFlags

_PIXEL = None  # bound by make_cpu_kernel (kernels.specialise)
_PIXELS = None  # bound by make_cpu_kernel: four pixels side by side (kernels.pixel.make_pixel_group_function)
#: every kernel this process has made: {KernelFlags: dispatcher} (the warm worker, ``nbnumba.cli.server``,
#: loads the ones its jobs used)
MADE = {}

#: a cautious rate of the kernel per thread, samples (sub-pixel x sensor layer x source x mosaic domain x
#: phi step) per second: reports/cpu_benchmark.md measures 4.5e7-9e7 on one thread (hosts, kernels), but a sample
#: of a heavily oversampled pixel (few sources, domains and phi steps) costs a few times more, as does
#: a loaded machine. Sizes the first block of pixels of a pass and the time estimates of the up-front
#: work limits (``nbnumba.setup.prepare``)
SAMPLES_PER_SECOND = 1e7
#: target seconds of one kernel call (Python handles Ctrl-C between calls); later blocks are sized
#: from the time the earlier ones took (``render.serial_order.PixelBlocks``)
BLOCK_SECONDS = 0.2
#: most pixels per call (the call's per-pixel solid-angle buffer: 8 bytes a pixel)
MAX_BLOCK_PIXELS = 1 << 20


@lru_cache(maxsize=None)
def make_cpu_kernel(flags: KernelFlags):
    """Compile (once per flag set) the pixel-block kernel.

    ``render(pixel_start, pixel_end, floatimage, omega_rows, interp_event, evaluated, mask, passes, sc,
    vectors, xtal, sources, cells_first, cells_carry, fhkl, threads)`` renders every pixel with row-major index in
    [pixel_start, pixel_end) that is inside the ROI/mask with index ``>= passes.start_pixel``, and writes
    ``floatimage``, adds the pixels' solid-angle sums to their rows' ``omega_rows`` entries in pixel
    order (a row may span several calls: the sum is C's whatever the blocks), when interpolating
    records the first interpolation failure of each pixel, and with the phi carryover whether a
    pixel evaluated any phi step (see ``nbnumba.render.serial_order``). Parallel over groups of
    ``PIXEL_LANES`` pixels of the block (with single precision's sample stream, over ``threads`` runs of
    consecutive groups); a block has at least that many pixels per thread (``CpuRenderer.min_block_pixels``),
    so that a block of a few expensive pixels still uses every thread.

    A kernel with the sample stream must be compiled inside ``_jit.llvm_options(sample_stream_llvm_options(
    flags))`` (``CpuRenderer.run`` does)."""
    INTERPOLATE = flags.interpolate
    CARRYOVER = flags.phi_carryover
    # pixels with fewer (phi step, mosaic domain) samples than the pixel function takes side by side (a
    # still: one) go four side by side instead, where all four are rendered
    GROUPED = flags.few_samples and pixel_groups_apply(flags)
    # single precision's sample stream (kernels.pixel.sample_stream; the eight-lane pixel function's)
    STREAM = cpu_kernel_streams(flags)
    # every flag is in render's closure, so numba's cache keys the kernel on all of them (the pixel
    # function it calls is chosen by all of them)
    FLAGS = tuple(int(v) for v in flags)

    def render(pixel_start, pixel_end, floatimage, omega_rows, interp_event, evaluated, mask, passes, sc, vectors,
               xtal, sources, cells_first, cells_carry, fhkl, threads):
        _ = FLAGS  # keeps FLAGS in the closure (the cache key)
        fpixels = floatimage.shape[1]
        count = pixel_end - pixel_start
        omega_pixels = np.zeros(count)
        n_groups = (count + PIXEL_LANES - 1) // PIXEL_LANES
        # with the sample stream (single precision), one run of consecutive groups per thread, which builds the
        # stream's tables and work arrays once: the pixel function takes them, and an array the threads share
        # costs an atomic reference count update per call (single-precision kernel, 2 threads, BENCH-1's shape
        # at 512² and BENCH-2's at 1024²: one run per thread 0.108 s and 0.290 s, the arrays made per group of
        # four pixels 0.126 s and 0.346 s; an earlier form with rows of arrays the threads shared took 0.19 s on
        # BENCH-1's). Without it, one run per group: the groups as before
        runs = min(threads, n_groups) if STREAM else n_groups
        for run in prange(runs):
            if STREAM:
                stream = sample_stream_work(cells_carry, sources.shape[0], fhkl)
                run_first = run * n_groups // runs
                run_last = (run + 1) * n_groups // runs
            else:
                run_first = run
                run_last = run + 1
            for group in range(run_first, run_last):
                first = group * PIXEL_LANES
                last = min(first + PIXEL_LANES, count)
                if GROUPED and last - first == PIXEL_LANES:  # (a constant first: numba drops the branch if False)
                    i0 = pixel_start + first
                    sp = (i0 // fpixels, (i0 + 1) // fpixels, (i0 + 2) // fpixels, (i0 + 3) // fpixels)
                    fp = (i0 - sp[0] * fpixels, i0 + 1 - sp[1] * fpixels, i0 + 2 - sp[2] * fpixels,
                          i0 + 3 - sp[3] * fpixels)
                    if (pixel_task(sp[0], fp[0], fpixels, passes, mask, False, False)[0]
                            and pixel_task(sp[1], fp[1], fpixels, passes, mask, False, False)[0]
                            and pixel_task(sp[2], fp[2], fpixels, passes, mask, False, False)[0]
                            and pixel_task(sp[3], fp[3], fpixels, passes, mask, False, False)[0]):
                        values, omega_sums = _PIXELS(sp, fp, sc, vectors, xtal, sources, cells_carry, fhkl)
                        for lane in range(PIXEL_LANES):
                            omega_pixels[first + lane] = omega_sums[lane]
                            floatimage[sp[lane], fp[lane]] = np.float32(values[lane])
                        continue
                for j in range(first, last):
                    imgidx = pixel_start + j
                    spixel = imgidx // fpixels
                    fpixel = imgidx - spixel * fpixels
                    go, interpolating, first_loop = pixel_task(spixel, fpixel, fpixels, passes, mask, INTERPOLATE,
                                                               CARRYOVER)
                    if not go:
                        continue
                    if STREAM:
                        value, omega_sum, first_event, any_loop = _PIXEL(
                            spixel, fpixel, first_loop, interpolating, passes.interp_cut_eval, sc, vectors, xtal,
                            sources, cells_first, cells_carry, fhkl, None, None, stream)
                    else:
                        value, omega_sum, first_event, any_loop = _PIXEL(
                            spixel, fpixel, first_loop, interpolating, passes.interp_cut_eval, sc, vectors, xtal,
                            sources, cells_first, cells_carry, fhkl)
                    omega_pixels[j] = omega_sum
                    floatimage[spixel, fpixel] = np.float32(value)
                    if INTERPOLATE:
                        interp_event[spixel, fpixel] = first_event
                    if CARRYOVER:
                        evaluated[spixel, fpixel] = any_loop
        # C's omega_sum order: each row's pixels in order, serially (a skipped pixel adds an exact 0.0)
        j = 0
        spixel = pixel_start // fpixels
        first = pixel_start - spixel * fpixels
        while j < count:
            n = min(fpixels - first, count - j)
            total = omega_rows[spixel]
            for t in range(j, j + n):
                total += omega_pixels[t]
            omega_rows[spixel] = total
            j += n
            spixel += 1
            first = 0

    # with few samples, the one-sample pixel function: the eight-lane one takes a source's few samples one at
    # a time as well, and streams several sources' side by side only for flags where the pixels go four side
    # by side (it would render just the few that do not); the values are the same (physics.sample_group_8)
    bindings = {"_PIXEL": make_pixel_function(flags, 1 if flags.few_samples else LANES)}
    if GROUPED:
        bindings["_PIXELS"] = make_pixel_group_function(flags)
    render = specialise(render, flags, "render", **bindings)
    MADE[flags] = kernel = njit(parallel=True, **JIT_OPTIONS)(render)
    return kernel


class CpuRenderer:
    """One image's buffers in host memory and the CPU kernel over them; the interface
    ``nbnumba.render.serial_order`` drives (``kernels.cuda.CudaRenderer`` is its GPU twin)."""

    def __init__(self, flags, shape, mask, vectors, xtal, sources, cells_first, cells_carry, fhkl):
        self.shape = shape
        self._render = make_cpu_kernel(flags)
        #: the LLVM options the kernel is compiled with (on its first call, unless numba's cache has it)
        self._llvm_options = sample_stream_llvm_options(flags)
        threads = numba.get_num_threads()
        #: how ``serial_order`` sizes the blocks of pixels of one call
        self.block_samples = BLOCK_SECONDS * SAMPLES_PER_SECOND * threads
        self.block_seconds = BLOCK_SECONDS
        self.min_block_pixels = threads * PIXEL_LANES
        self.max_block_pixels = MAX_BLOCK_PIXELS
        self._inputs = (mask, vectors, xtal, sources, cells_first, cells_carry, fhkl)
        self.floatimage = np.zeros(shape, np.float32)
        self.omega_rows = np.zeros(shape[0])
        self._interp_event = np.full(shape if flags.interpolate else (0, 0), -1, np.int32)
        self._evaluated = np.zeros(shape if flags.phi_carryover else (0, 0), np.uint8)
        #: seconds spent in the kernel so far (compilation on first use included)
        self.kernel_seconds = 0.0

    def run(self, passes, sc, pixel_start, pixel_end, keep_omega=True):
        """Render the pixels with row-major index in [pixel_start, pixel_end) of the pass ``passes``
        with physics scalars ``sc``; the solid-angle sums are kept only with ``keep_omega`` (the first
        pass)."""
        mask, vectors, xtal, sources, cells_first, cells_carry, fhkl = self._inputs
        omega = self.omega_rows if keep_omega else np.zeros(self.floatimage.shape[0])
        start = time.perf_counter()
        with llvm_options(self._llvm_options if not self._render.signatures else ()):
            self._render(pixel_start, pixel_end, self.floatimage, omega, self._interp_event, self._evaluated, mask,
                         passes, sc, vectors, xtal, sources, cells_first, cells_carry, fhkl, numba.get_num_threads())
        self.kernel_seconds += time.perf_counter() - start

    def evaluated(self):
        return self._evaluated

    def interp_event(self, pixel_start, pixel_end):
        """Each pixel's first evaluation whose interpolation failed (-1: none) of the row-major pixels
        [pixel_start, pixel_end)."""
        return self._interp_event.reshape(-1)[pixel_start:pixel_end]

    def result(self):
        """``(floatimage, omega_rows)`` in host memory."""
        return self.floatimage, self.omega_rows


__all__ = ["CpuRenderer", "SAMPLES_PER_SECOND", "make_cpu_kernel"]
