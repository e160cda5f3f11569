# SPDX-License-Identifier: BSD-3-Clause
"""CUDA kernel: the pixel function (``kernels.pixel``) with one GPU thread per detector pixel, the
twin of ``kernels.cpu``. The same ``pixel_task`` decides what a pixel does in a pass and the same
``make_pixel_function(flags)`` source renders it: numba-cuda compiles those ``@njit`` functions for
the device. ``make_cuda_kernel(flags)`` specialises the kernel at compile time (one per flag set);
``CudaRenderer`` holds one image's device buffers.

Imported only when a run asks for the GPU (``nbnumba.render.device``); importing it imports numba-cuda.

Differences from the CPU kernel, none of which changes what is computed:
- each thread writes its pixel's solid-angle sum to a per-pixel buffer; a second kernel sums each
  row in pixel order, as the CPU kernel's row loop does (C's ``omega_sum``, printed only);
- the device compiler (NVVM) contracts a*b+c into fused multiply-adds, as nvcc does for
  nanoBraggCUDA: pixels may differ from the CPU's in the last bits of double precision (tests
  compare to 1e-9 of the maximum; the image is stored as float32)."""
import math
import os
import weakref
from collections import namedtuple
from functools import lru_cache

import numpy as np
from numba import cuda
from numba.core import config

from nbnumba._jit import CUDA_JIT_OPTIONS, install_locator
from nbnumba.errors import InputError
from nbnumba.kernels.pixel import make_pixel_function, pixel_task
from nbnumba.kernels.specialise import specialise
from nbnumba.kernels.types import KernelFlags

#: threads per block of the pixel kernel (1D over the pixels of a block of rows);
#: $NBNUMBA_CUDA_THREADS_PER_BLOCK overrides it (a tuning knob: the image does not depend on it)
THREADS_PER_BLOCK = int(os.environ.get("NBNUMBA_CUDA_THREADS_PER_BLOCK") or 128)
#: register cap per thread for the pixel kernel (None: the compiler's choice, 144 on sm_90 with numba-cuda
#: 0.30); $NBNUMBA_CUDA_MAX_REGISTERS sets it (a tuning knob: more threads per SM, perhaps spills)
MAX_REGISTERS = int(os.environ.get("NBNUMBA_CUDA_MAX_REGISTERS") or 0) or None

#: samples per launch (one H200 renders 1e10-1e11 samples/s in double precision) and the fewest
#: pixels (threads) per launch; Python handles Ctrl-C between launches
BLOCK_SAMPLES = 2e10
BLOCK_SECONDS = 0.2
MIN_BLOCK_PIXELS = 1 << 17

CudaKernel = namedtuple("CudaKernel", ["render", "omega_row_sums"])

_PIXEL = None  # bound by make_cuda_kernel (kernels.specialise)
_TASK = None


def _host_arrays(function):
    """Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) kernels run as Python and pass their
    arrays as the simulator's wrappers, which compiled CPU functions cannot take: unwrap them.
    On a GPU the functions are compiled for the device and this is not used."""
    def call(*args):
        return function(*(getattr(a, "_ary", a) for a in args))
    return call


@lru_cache(maxsize=None)
def cuda_jit_options():
    """``CUDA_JIT_OPTIONS``, with numba-cuda's cache keyed as ``nbnumba._jit`` keys the CPU's (off
    if numba-cuda's private caching API differs from what we know)."""
    options = dict(CUDA_JIT_OPTIONS)
    if options["cache"] and not config.ENABLE_CUDASIM:
        try:
            from numba.cuda.core import caching  # noqa: PLC0415 -- numba-cuda's private API: guarded
            install_locator(caching)
        except (ImportError, AttributeError, TypeError):
            options["cache"] = False
    return options


@lru_cache(maxsize=None)
def make_cuda_kernel(flags: KernelFlags) -> CudaKernel:
    """Compile (once per flag set) the pixel kernel and the row-sum kernel.

    ``render[blocks, THREADS_PER_BLOCK](pixel_start, pixel_end, floatimage, omega_pixels,
    interp_event, evaluated, mask, passes, sc, vectors, xtal, sources, cells_first, cells_carry,
    fhkl)`` renders the pixels with row-major index in [pixel_start, pixel_end) with one thread per
    pixel: what ``kernels.cpu``'s ``render`` does, with each pixel's solid-angle sum in
    ``omega_pixels`` (skipped when it has no rows). ``omega_row_sums[blocks, threads](omega_pixels,
    row_start, row_end, omega_rows)`` then sums rows in pixel order (a row that a later block
    finishes is summed again then: its pixels not yet rendered are still 0.0, an exact no-op)."""
    if flags.trace:
        raise ValueError("the CUDA kernel never traces (-printout is traced on the CPU)")
    INTERPOLATE = flags.interpolate
    CARRYOVER = flags.phi_carryover
    FLAGS = tuple(int(v) for v in flags)

    def render(pixel_start, pixel_end, floatimage, omega_pixels, interp_event, evaluated, mask, passes, sc,
               vectors, xtal, sources, cells_first, cells_carry, fhkl):
        _ = FLAGS  # keeps FLAGS in the closure (the cache key)
        fpixels = floatimage.shape[1]
        index = cuda.grid(1)
        if index >= pixel_end - pixel_start:
            return
        imgidx = pixel_start + index
        spixel = imgidx // fpixels
        fpixel = imgidx - spixel * fpixels
        go, interpolating, first_loop = _TASK(spixel, fpixel, fpixels, passes, mask, INTERPOLATE, CARRYOVER)
        if not go:
            return
        value, omega_sum, first_event, any_loop = _PIXEL(
            spixel, fpixel, first_loop, interpolating, passes.interp_cut_eval, sc, vectors, xtal, sources,
            cells_first, cells_carry, fhkl)
        floatimage[spixel, fpixel] = np.float32(value)
        if omega_pixels.shape[0] > 0:
            omega_pixels[spixel, fpixel] = omega_sum
        if INTERPOLATE:
            interp_event[spixel, fpixel] = first_event
        if CARRYOVER:
            evaluated[spixel, fpixel] = any_loop

    pixel = make_pixel_function(flags, gpu=True)
    task = pixel_task
    if config.ENABLE_CUDASIM:
        pixel, task = _host_arrays(pixel), _host_arrays(pixel_task)
    render = specialise(render, flags, "cuda_render", _PIXEL=pixel, _TASK=task)
    options = dict(cuda_jit_options())
    if MAX_REGISTERS and not config.ENABLE_CUDASIM:
        # a tuning run: not cached (numba-cuda's cache index does not key on the register cap)
        options.update(max_registers=MAX_REGISTERS, cache=False)
    return CudaKernel(render=cuda.jit(**options)(render), omega_row_sums=_omega_row_sums())


@lru_cache(maxsize=None)
def _omega_row_sums():
    def omega_row_sums(omega_pixels, row_start, row_end, omega_rows):
        spixel = row_start + cuda.grid(1)
        if spixel < row_end:
            total = 0.0
            for fpixel in range(omega_pixels.shape[1]):
                total += omega_pixels[spixel, fpixel]
            omega_rows[spixel] = total
    return cuda.jit(**cuda_jit_options())(omega_row_sums)


def _blocks(threads):
    return max(1, math.ceil(threads / THREADS_PER_BLOCK))


def check_gpu_memory(needed_bytes):
    """InputError unless the current GPU has ``needed_bytes`` free (checked before allocating, so
    a detector too large for the card is a one-line error, not a CUDA out-of-memory traceback)."""
    try:
        free, total = cuda.current_context().get_memory_info()
    except NotImplementedError:  # e.g. an external memory pool: let the allocation decide
        return
    if needed_bytes > free:
        raise InputError("--device cuda: the run needs about %.0f MB of GPU memory, but only %.0f MB of %.0f MB "
                         "are free (use --device cpu, or a smaller -detpixels/-roi)"
                         % (needed_bytes / 1e6, free / 1e6, total / 1e6))


class _DeviceInputs:
    """Device copies of read-only host arrays, reused while the host array lives: a batch of runs
    sharing an HKL table (or rotation tables) copies it to the GPU once."""

    def __init__(self):
        self._copies = {}

    def get(self, host):
        key = id(host)
        entry = self._copies.get(key)
        if entry is not None and entry[0]() is host:
            return entry[1]
        device = cuda.to_device(np.ascontiguousarray(host))
        try:
            ref = weakref.ref(host, lambda _ref, key=key: self._copies.pop(key, None))
        except TypeError:  # not weak-referenceable: copy every time
            return device
        self._copies[key] = (ref, device)
        return device


DEVICE_INPUTS = _DeviceInputs()


class CudaRenderer:
    """One image's device buffers and the CUDA kernel over them; the interface
    ``nbnumba.render.serial_order`` drives, as ``kernels.cpu.CpuRenderer``. Inputs go to the GPU once (the
    HKL table and rotation tables once per batch while the host arrays live), results come back
    once in ``result()``; the buffers are freed with the renderer."""

    def __init__(self, flags, shape, mask, vectors, xtal, sources, cells_first, cells_carry, fhkl):
        pixels = shape[0] * shape[1]
        check_gpu_memory(pixels * (4 + 8 + 4 * flags.interpolate + flags.phi_carryover) + mask.nbytes
                         + cells_first.nbytes + cells_carry.nbytes + fhkl.nbytes + sources.nbytes)
        self._kernel = make_cuda_kernel(flags._replace(few_samples=False))  # one kernel: every pixel alike
        self.shape = shape
        #: how ``serial_order`` sizes the blocks of pixels of one launch: enough threads to fill the GPU
        self.block_samples = BLOCK_SAMPLES
        self.block_seconds = BLOCK_SECONDS
        self.min_block_pixels = MIN_BLOCK_PIXELS
        self.max_block_pixels = pixels
        self._inputs = (DEVICE_INPUTS.get(mask), cuda.to_device(vectors), xtal, cuda.to_device(sources),
                        DEVICE_INPUTS.get(cells_first), DEVICE_INPUTS.get(cells_carry), DEVICE_INPUTS.get(fhkl))
        self._floatimage = cuda.to_device(np.zeros(shape, np.float32))
        self._omega_pixels = cuda.to_device(np.zeros(shape))
        self._omega_rows = cuda.to_device(np.zeros(shape[0]))
        self._no_omega = cuda.to_device(np.zeros((0, 0)))
        self._interp_event = cuda.to_device(np.full(shape if flags.interpolate else (0, 0), -1, np.int32))
        self._evaluated = cuda.to_device(np.zeros(shape if flags.phi_carryover else (0, 0), np.uint8))
        self._kernel_ms = 0.0

    @property
    def kernel_seconds(self):
        """GPU time of the kernels so far (CUDA events around the launches; no transfers)."""
        return self._kernel_ms / 1000.0

    def run(self, passes, sc, pixel_start, pixel_end, keep_omega=True):
        """Render the pixels with row-major index in [pixel_start, pixel_end) and wait for the GPU
        (the caller reports progress between calls)."""
        mask, vectors, xtal, sources, cells_first, cells_carry, fhkl = self._inputs
        omega = self._omega_pixels if keep_omega else self._no_omega
        pixels = pixel_end - pixel_start
        row_start = pixel_start // self.shape[1]
        row_end = (pixel_end - 1) // self.shape[1] + 1
        start, stop = cuda.event(), cuda.event()
        start.record()
        self._kernel.render[_blocks(pixels), THREADS_PER_BLOCK](
            pixel_start, pixel_end, self._floatimage, omega, self._interp_event, self._evaluated, mask, passes, sc,
            vectors, xtal, sources, cells_first, cells_carry, fhkl)
        if keep_omega:
            rows = row_end - row_start
            self._kernel.omega_row_sums[_blocks(rows), THREADS_PER_BLOCK](
                self._omega_pixels, row_start, row_end, self._omega_rows)
        stop.record()
        stop.synchronize()
        self._kernel_ms += start.elapsed_time(stop)

    def evaluated(self):
        return self._evaluated.copy_to_host()

    def interp_event(self, pixel_start, pixel_end):
        """``CpuRenderer.interp_event``: only those pixels are copied to the host."""
        return self._interp_event.reshape(self._interp_event.size)[pixel_start:pixel_end].copy_to_host()

    def result(self):
        """``(floatimage, omega_rows)`` copied to host memory."""
        return self._floatimage.copy_to_host(), self._omega_rows.copy_to_host()


__all__ = ["CudaKernel", "CudaRenderer", "make_cuda_kernel", "THREADS_PER_BLOCK"]
