# SPDX-License-Identifier: BSD-3-Clause
"""C's serial order, reproduced by a parallel renderer: the one owner of the passes.

nanoBragg.c renders its pixels in one loop, row-major (OpenMP splits the rows, but the effects below
are those of its single-threaded build, which the reference images come from). Two things in that
loop depend on which pixels came before, and a renderer that runs every pixel at once must reproduce
them after the fact:

1. **The phi=0 carryover (c-parity only, C-PARITY-001).** C rotates the crystal for phi step 0 only
   when phi != 0; otherwise the orientation of the previous evaluation carries over. For every pixel
   but one that is the previous pixel's last phi step (``cells_carry``); for the image's *first* phi
   loop it is the unrotated cell (``cells_first``). The first loop belongs to the first rendered pixel
   (row-major, inside the ROI and the mask), unless that pixel evaluated no phi step at all (every
   source beyond -dmin): then it belongs to the first pixel that did, which the first pass cannot know.
   So: pass 1 renders every pixel with ``first_eval_pixel`` = the first rendered pixel and records,
   per pixel, whether any phi loop ran; if the first rendered pixel ran none, the first pixel that did
   is rendered again (a one-pixel pass) with ``first_eval_pixel`` = that pixel.

2. **The run-wide interpolation switch-off.** With tricubic interpolation, C's first sample whose
   Miller index is too close to the table's edge prints a warning and turns interpolation off for the
   rest of the run: for later samples of that pixel and for every later pixel. Pass 1 interpolates
   everywhere and records, per pixel, the index of its first failing sample (``interp_event``); the
   first pixel in row-major order with a failure is the cut. Pass 2 re-renders from the cut on, with
   interpolation on for the cut pixel's first ``interp_cut_eval`` evaluations and off afterwards and
   for every later pixel. Pass 1 renders its blocks of pixels in row-major order and stops after the
   first block with a failure: the cut is there, every later pixel is pass 2's, and the carryover's first
   evaluating pixel is at or before the cut (the failing sample was evaluated; should that pixel's
   re-render take its failure back, pass 1 carries on). A run whose interpolation fails early (C's
   default for N <= 2 with an HKL table that ends near the reflections the image reaches) costs one
   interpolated block of pixels more than a run without interpolation, not an interpolated image more.

``PassArgs`` carries this pass control (ROI, start pixel, first evaluated pixel, interpolation cut)
to the kernels, apart from the physics scalars (``ScalarArgs``). ``kernels.pixel.pixel_task`` is the
one function that turns a pass and a pixel index into the pixel function's arguments, on every
kernel and for the serial trace (``nbnumba.render.plan.trace_pixel``). ``render_passes`` returns
which ``PassArgs`` each pixel was last rendered with, so the trace re-evaluates a pixel as the image
saw it. Neither pass changes a pixel that C would not have computed differently: the image does not
depend on the number of threads, the blocks of pixels or the device."""
from __future__ import annotations

import time

import numpy as np

from nbnumba._jit import kernel_compilation
from nbnumba.kernels.types import PassArgs

#: at most this many progress callbacks per image
MAX_BLOCKS = 32
#: an index beyond every pixel: no interpolation cut
NO_PIXEL = np.iinfo(np.int64).max


def first_pass(roi) -> PassArgs:
    """Pass control of the first pass: every pixel of the ROI (xmin, xmax, ymin, ymax), no cut."""
    xmin, xmax, ymin, ymax = roi
    return PassArgs(roi_xmin=xmin, roi_xmax=xmax, roi_ymin=ymin, roi_ymax=ymax, start_pixel=0, first_eval_pixel=-1,
                    interp_cut_pixel=NO_PIXEL, interp_cut_eval=0)


class PixelBlocks:
    """Blocks of row-major pixels for the kernel calls of one pass: Python sees Ctrl-C only between
    compiled calls, so a block is the longest stretch of the render that cannot be interrupted. The
    first block holds about ``renderer.block_samples`` samples (``pixel_samples`` per pixel); each
    later block is sized from the time the previous ones took to last about ``renderer.block_seconds``
    (machines differ, and so do the physics and the load). Every block has at least
    ``renderer.min_block_pixels`` pixels (every thread busy) and at most ``renderer.max_block_pixels``;
    ``min_blocks``: at least this many blocks (progress reports). The image does not depend on the
    blocks."""

    def __init__(self, renderer, pixel_samples, min_blocks=1):
        self.renderer = renderer
        self.pixel_samples = max(pixel_samples, 1)
        self.min_blocks = min_blocks
        self.seconds_per_pixel = None

    def size(self, remaining, count):
        r = self.renderer
        if self.seconds_per_pixel is None:
            size = r.block_samples // self.pixel_samples
        else:
            size = r.block_seconds / max(self.seconds_per_pixel, 1e-12)
        size = min(max(int(min(size, 2 ** 62)), r.min_block_pixels), r.max_block_pixels, -(-count // self.min_blocks))
        return max(1, min(size, remaining))

    def run(self, call, start, end, until=None):
        """``call(block_start, block_end)`` for consecutive blocks covering [start, end), or up to the end of
        the first block for which ``until(block_start, block_end)`` is true. Returns where the blocks ended."""
        position = start
        while position < end:
            block_start = position
            block_end = position + self.size(end - position, end - start)
            begin = time.perf_counter()
            call(block_start, block_end)
            self.seconds_per_pixel = (time.perf_counter() - begin) / (block_end - block_start)
            position = block_end
            if until is not None and until(block_start, block_end):
                break
        return position


def render_passes(renderer, flags, passes: PassArgs, scalars, rendered, progress=None, pixel_samples=1):
    """Drive ``renderer`` (``kernels.cpu.CpuRenderer`` or ``kernels.cuda.CudaRenderer``) through the
    passes above, each in blocks of pixels (``PixelBlocks``; ``pixel_samples``: the samples of one
    pixel). ``rendered``: the flat boolean array of pixels inside the ROI and the mask (not all
    False); ``progress(done_rows, total_rows)``, if given, is called as rows finish (of the first pass,
    then of the switch-off pass beyond where the first stopped; at most ``MAX_BLOCKS`` times, the last with
    ``done_rows == total_rows``). The image does not depend on the blocking.

    Returns ``[(first_pixel_index, PassArgs), ...]``: for a pixel, the last entry whose index is <=
    its own is the pass it was last rendered with (the one-pixel carryover pass replaces the first)."""
    rows, fpixels = renderer.shape
    pixels = rows * fpixels
    first_rendered = int(np.argmax(rendered))
    if flags.phi_carryover:
        passes = passes._replace(first_eval_pixel=first_rendered)

    blocks = PixelBlocks(renderer, pixel_samples)

    def run(pass_args, start, end, keep_omega=False, report=None, until=None):
        def call(block_start, block_end):
            with kernel_compilation():
                renderer.run(pass_args, scalars, block_start, block_end, keep_omega)
            if report is not None:
                report(block_end)
        blocks.min_blocks = min(rows, MAX_BLOCKS) if report is not None else 1
        return blocks.run(call, start, end, until)

    milestones = list(np.linspace(0, rows, min(rows, MAX_BLOCKS) + 1).round().astype(int)[1:])

    def report(pixel_end):
        done_rows = pixel_end // fpixels
        if milestones and done_rows >= milestones[0]:
            while milestones and done_rows >= milestones[0]:
                milestones.pop(0)
            progress(int(done_rows), rows)

    def failed_in(start, end):
        """Whether a pixel of [start, end) failed to interpolate: the first pass stops there."""
        return bool((renderer.interp_event(start, end) >= 0).any())

    rows_done = None if progress is None else report
    until = failed_in if flags.interpolate else None
    first_end = run(passes, 0, pixels, keep_omega=True, report=rows_done, until=until)
    history = [(0, passes)]
    if flags.phi_carryover:
        evaluated = renderer.evaluated().ravel()
        if not evaluated[first_rendered]:
            done = evaluated.astype(bool) & rendered
            if done.any():
                first = int(np.argmax(done))
                srow, fcol = divmod(first, fpixels)
                passes = passes._replace(first_eval_pixel=first)
                history = [(0, passes)]
                run(passes._replace(roi_xmin=fcol, roi_xmax=fcol, roi_ymin=srow, roi_ymax=srow), first, first + 1)
    if flags.interpolate:
        events = renderer.interp_event(0, first_end)
        while not (events >= 0).any() and first_end < pixels:
            # pass 1 stopped at a failure of the carryover's first pixel that its re-render above (the right
            # orientation for its first phi loop) took back: pass 1 carries on
            first_end = run(passes, first_end, pixels, keep_omega=True, report=rows_done, until=until)
            events = renderer.interp_event(0, first_end)
        failed = events >= 0
        if failed.any():
            cut = int(np.argmax(failed))
            cut_pass = passes._replace(start_pixel=cut, interp_cut_pixel=cut, interp_cut_eval=int(events[cut]))
            history.append((cut, cut_pass))
            run(cut_pass, cut, first_end)
            # the pixels pass 1 did not reach: their solid angles too, in pixel order after pass 1's
            run(cut_pass, first_end, pixels, keep_omega=True, report=rows_done)
    return history


def pass_of(history, imgidx) -> PassArgs:
    """The pass pixel ``imgidx`` (row-major) was last rendered with (see ``render_passes``)."""
    return [entry for start, entry in history if start <= imgidx][-1]


def interpolation_cut(history):
    """The pixel index where interpolation was switched off for the rest of the run, or None."""
    cuts = [start for start, entry in history if entry.interp_cut_pixel == start]
    return cuts[0] if cuts else None
