# SPDX-License-Identifier: BSD-3-Clause
"""The CUDA kernel against the CPU kernel on tiny detectors, one configuration per compile-time flag
(crystal shapes, interpolation and its run-wide switch-off, the c-parity phi carryover and its
re-render, the three oversample switches, curved detector, point pixel) plus ROI, mask, sources,
background and progress blocks: max |GPU - CPU| <= 1e-9 of the maximum, same solid-angle sum.

Runs where numba-cuda can run kernels: on a GPU, or in CI under its simulator
(``NUMBA_ENABLE_CUDASIM=1``, started by ``tests/test_cuda_simulator.py``). ``tests/conftest.py``
leaves this folder out of a plain run on a machine with neither."""
import dataclasses

import numpy as np
import pytest
from reference import INPUTS

from nbnumba import params_from_argv
from nbnumba.cli.main import main_argv
from nbnumba.kernels import physics
from nbnumba.render import plan as render_plan
from nbnumba.setup import prepare

TOLERANCE = 1e-9
# 8x8 pixels of 12.8 mm: the reference suite's 128x128 detectors seen at 16x coarser pixels
BASE = "-cell 100 100 100 90 90 90 -N 5 -lambda 6.2 -distance 100 -detpixels 8 -pixel 12.8 -nonoise -nopgm"
F100 = BASE + " -default_F 100"

CONFIGS = {
    "square_mosaic_phi": F100 + " -mosaic 1 -mosaic_domains 3 -phi 10 -osc 2 -phisteps 2 -misset 10 20 30",
    "square_unequal_N": F100 + " -Na 3 -Nb 4 -Nc 6 -misset 5 5 5",
    "round": F100 + " -round_xtal -misset 10 0 0",
    "gauss": F100 + " -gauss_xtal -misset 0 10 0",
    "tophat": F100 + " -tophat_spots -fudge 2 -misset 0 0 10",
    "interpolate_cut": BASE + " -hkl %s -interpolate -pixel 16" % (INPUTS / "five_col_clean.hkl"),
    "carryover": F100 + " -phi 0 -osc 1 -phisteps 3 -mosaic 0.5 -mosaic_domains 2 --phi-carryover-mode c-parity",
    "carryover_dmin_rerender": " ".join((BASE, "-hkl %s" % (INPUTS / "cubic.hkl"), "-phi 0 -osc 1 -phisteps 2",
                                         "-dmin 30 -roi 0 7 0 7 --phi-carryover-mode c-parity")),
    "oversample_thick": F100 + " -detector_thick 200 -detector_abs 300 -detector_thicksteps 3 -oversample_thick",
    "oversample_polar_omega": F100 + " -oversample 2 -oversample_polar -oversample_omega -polar 0.5",
    "curved": F100 + " -curved_det -twotheta 10",
    "point_pixel": F100 + " -point_pixel -detector_rotx 5",
    "sources_water_roi": F100 + " -hdivrange 1 -hdivsteps 2 -dispersion 5 -dispsteps 2 -water 50 -roi 1 6 2 7",
}


def _setup(argv):
    params, _ = params_from_argv(argv.split())
    return prepare(params)


def _compare(setup, progress=None):
    plan = render_plan.make_plan(setup)
    gpu = render_plan.render(plan, "cuda", progress)
    cpu = render_plan.render(plan, "cpu", progress)
    assert cpu.floatimage.max() > 0
    assert np.abs(gpu.floatimage.astype(np.float64) - cpu.floatimage).max() <= TOLERANCE * cpu.floatimage.max()
    assert gpu.omega_sum == pytest.approx(cpu.omega_sum, rel=1e-12)
    assert gpu.passes == cpu.passes
    return cpu.passes


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_cuda_kernel_matches_cpu_kernel(name):
    setup = _setup(CONFIGS[name])
    scalars = _compare(setup)
    flags = render_plan.kernel_flags(setup)
    # each configuration reaches what it is named for
    if name == "interpolate_cut":
        assert flags.interpolate and len(scalars) == 2  # the run-wide switch-off pass ran
    if name == "carryover_dmin_rerender":
        assert flags.phi_carryover and scalars[0][1].first_eval_pixel > 0  # the first pixel was re-rendered
    if name == "round":
        assert flags.shape == physics.ROUND


#: --precision single: the same float32 variant on both kernels (on a GPU the device compiler contracts
#: float32 multiply-adds too: the accuracy bound of tests/test_precision.py against C, 1e-5 of the maximum)
SINGLE_TOLERANCE = 1e-5


@pytest.mark.parametrize("name", ["square_mosaic_phi", "interpolate_cut", "carryover", "sources_water_roi"])
def test_single_precision_cuda_kernel_matches_cpu_kernel(name):
    setup = _setup(CONFIGS[name] + " --precision single")
    plan = render_plan.make_plan(setup)
    assert plan.flags.precision == 1 and plan.fhkl.dtype == np.float32
    gpu = render_plan.render(plan, "cuda")
    cpu = render_plan.render(plan, "cpu")
    assert cpu.floatimage.max() > 0
    assert np.abs(gpu.floatimage.astype(np.float64) - cpu.floatimage).max() <= SINGLE_TOLERANCE * cpu.floatimage.max()
    assert gpu.passes == cpu.passes
    # and the float32 variant is the double image to the same bound
    double = render_plan.render(render_plan.make_plan(_setup(CONFIGS[name])), "cpu")
    difference = np.abs(double.floatimage.astype(np.float64) - cpu.floatimage).max()
    assert difference <= SINGLE_TOLERANCE * double.floatimage.max()


def test_cuda_kernel_with_mask_and_progress_blocks():
    setup = _setup(F100 + " -misset 10 20 30")
    mask = np.ones(setup.detector.shape, np.uint16)
    mask[2, 3] = mask[5, :] = 0
    setup = dataclasses.replace(setup, mask=mask)
    calls = []
    _compare(setup, lambda done, total: calls.append((done, total)))
    assert calls == [(row, 8) for row in range(1, 9)] * 2  # one block per row, on the GPU then the CPU


def test_command_line_on_cuda_writes_the_cpu_files(tmp_path, monkeypatch):
    """The whole command with --device cuda: the same float, SMV and noise files as on the CPU."""
    monkeypatch.chdir(tmp_path)
    argv = F100.replace("-nonoise -nopgm", "-seed 5").split() + ["-misset", "10", "20", "30"]
    for device in ("cpu", "cuda"):
        assert main_argv(argv + ["--device", device, "-floatfile", device + ".bin", "-intfile", device + ".img",
                                 "-noisefile", device + "_noise.img", "-pgmfile", device + ".pgm"]) == 0
    cpu = np.fromfile("cpu.bin", np.float32)
    assert np.abs(np.fromfile("cuda.bin", np.float32).astype(np.float64) - cpu).max() <= TOLERANCE * cpu.max()
    for suffix in (".img", "_noise.img", ".pgm"):
        assert (tmp_path / ("cuda" + suffix)).read_bytes() == (tmp_path / ("cpu" + suffix)).read_bytes()


def test_a_detector_too_large_for_the_gpu_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    """Checked before any device allocation: 2 MB free cannot hold a 1024x1024 image with its solid-angle
    buffer (1048576 pixels x (4 + 8) bytes = 12.6 MB, plus tables of a few kB)."""
    from numba import cuda

    class SmallCard:
        def get_memory_info(self):
            return 2e6, 8e9

    monkeypatch.setattr(cuda, "current_context", lambda: SmallCard())
    monkeypatch.chdir(tmp_path)
    argv = F100.split() + ["-detpixels", "1024", "--device", "cuda", "-floatfile", "f.bin"]
    assert main_argv(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nbnumba: error: --device cuda: the run needs about 13 MB")
    assert "only 2 MB of 8000 MB are free" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []
