# SPDX-License-Identifier: BSD-3-Clause
"""One run: Params -> Setup -> RenderPlan -> Result -> output files.

``simulate(params)`` renders the float image (the Python API); ``run(params)`` is the command's job:
render, print what nanoBragg.c prints, write the files it writes (``nbnumba.outputs.registry``)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nbnumba.outputs.printout import render_messages
from nbnumba.outputs.registry import check_outputs, write_outputs
from nbnumba.outputs.statistics import image_statistics
from nbnumba.params import Params
from nbnumba.render import plan as render_plan
from nbnumba.render.device import describe, resolve_device
from nbnumba.setup import Setup, prepare


def _quiet(_line):
    pass


@dataclass
class Result:
    """The float image (photons/pixel, float32, shape (spixels, fpixels)), its set-up and its render."""
    floatimage: np.ndarray
    setup: Setup
    #: C's ``omega_sum`` (the printed solid angle times the number of steps)
    omega_sum: float
    #: seconds from the start of the render to the image in host memory
    seconds: float = 0.0
    #: C's printed statistics: max_I, max_I_x, max_I_y, mean, rms, rmsd
    stats: dict = field(default_factory=dict)
    #: the kernels' arguments (``nbnumba.render.plan.RenderPlan``)
    plan: render_plan.RenderPlan = None
    #: how the image was rendered (passes, device, kernel time)
    rendering: render_plan.Rendering = None

    @property
    def device(self):
        """Where the kernel ran: "cpu" or "cuda"."""
        return self.rendering.device

    @property
    def kernel_seconds(self):
        """Time in the pixel kernel (``seconds`` adds set-up of the buffers and copies)."""
        return self.rendering.kernel_seconds


def simulate(params: Params, log=None, write_dump=False, progress=None, device=None) -> Result:
    """Render the float image of one nanoBragg run.

    Parameters
    ----------
    params : Params
        The run, e.g. from ``nbnumba.params_from_argv([...])``.
    log : callable, optional
        Receives each line the C program would print (default: silent).
    write_dump : bool
        Write the ``Fdump.bin`` cache after reading ``-hkl`` (the command line does).
    progress : callable, optional
        ``progress(done_rows, total_rows)``, called as rows finish (at most 32 times).
    device : str, optional
        "cpu" or "cuda" (default: ``params.device``, resolved by ``nbnumba.render.device.resolve_device``:
        "auto" is the GPU when numba-cuda finds one, else the CPU).

    Returns
    -------
    Result
        ``floatimage`` (float32, (spixels, fpixels), photons per pixel) and the derived set-up.
    """
    log = log or _quiet
    device = resolve_device(device or params.device)
    setup = prepare(params, log, write_dump)
    log(describe(device))
    start = time.perf_counter()
    plan = render_plan.make_plan(setup)
    rendering = render_plan.render(plan, device, progress)
    seconds = time.perf_counter() - start
    return Result(floatimage=rendering.floatimage, setup=setup, omega_sum=rendering.omega_sum, seconds=seconds,
                  stats=image_statistics(rendering.floatimage, setup), plan=plan, rendering=rendering)


def run(params: Params, log=_quiet, progress=None) -> Result:
    """Render ``params`` and write its files (``-floatfile``, ``-intfile``, the PGM, the noise image,
    ``Fdump.bin``, then the ``--hdf5``/``--hdf5-noise`` NXmx files and the ``--trace-pixel`` JSON), printing
    C's lines through ``log``. Outputs that could not be written are refused before rendering. ``progress`` as for
    ``simulate``."""
    params.validate()  # before any path is looked at (a NUL byte in a file name)
    check_outputs(params)
    # the render runs in blocks of pixels of about 0.2 s (render.serial_order.PixelBlocks): Ctrl-C
    # (handled between compiled calls) stops it within a block; without a progress bar a small image is
    # one kernel call; the image does not depend on the blocks
    result = simulate(params, log=log, write_dump=True, progress=progress)
    render_messages(result.plan, result.rendering, log)
    write_outputs(result.setup, result.floatimage, result.stats, result.omega_sum, log, result.plan,
                  result.rendering)
    return result
