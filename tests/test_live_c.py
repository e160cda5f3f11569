# SPDX-License-Identifier: BSD-3-Clause
"""Flag combinations beyond the stored suite, diffed live against a nanoBragg binary named by NB_C_BIN
(single-threaded, as the stored references). Skipped when NB_C_BIN is not set."""
import os
import subprocess

import numpy as np
import pytest
from reference import relative_max_difference, stage_inputs, without_device_line

C_BIN = os.environ.get("NB_C_BIN")
pytestmark = pytest.mark.skipif(not C_BIN, reason="NB_C_BIN (a nanoBragg.c binary) not set")

SMALL = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 64 -pixel 1.6"
TRICLINIC = "-cell 70 80 90 75 85 95 -default_F 100 -N 5 -lambda 1.0 -distance 100 -detpixels 64 -pixel 0.8"
COMBOS = {
    "xds_curved": SMALL + " -xds -curved_det",
    "xds_twotheta_rotz": SMALL + " -xds -twotheta 10 -detector_rotz 5",
    "denzo_twotheta": SMALL + " -denzo -twotheta 10",
    "adxv_roty": SMALL + " -adxv -detector_roty 5 -Xbeam 40 -Ybeam 50",
    "dials_beam": SMALL + " -dials -Xbeam 30 -Ybeam 40 -close_distance 90",
    "custom_beam_pivot": SMALL + " -odet_vector 1 0 0 -fdet_vector 0 0 1 -sdet_vector 0 -1 0 -twotheta 8 -pivot beam",
    # (axis before angle: C would also read the angle from the axis flag, see docs/usage.md)
    "custom_twotheta_axis": SMALL + " -twotheta_axis 0 0 1 -twotheta 6",
    "mosaic_osc_carry": TRICLINIC + " -mosaic 1 -mosaic_domains 3 -osc 1 -phisteps 2 -phi 0",
    "dmin_osc_carry": TRICLINIC + " -dmin 4 -osc 2 -phisteps 3",
    "phi_cross_dmin_carry": TRICLINIC + " -phi -0.5 -osc 1 -phisteps 2 -dmin 4 -roi 3 60 0 63",
    "round_mosaic_misset": TRICLINIC + " -round_xtal -mosaic 0.5 -mosaic_domains 4 -misset 10 20 30 -fudge 1.5",
    "tophat_matrix": "-mat tet.mat -hkl tet.hkl -lambda 1.0 -N 6 -distance 250 -detpixels 64 -pixel 1.0 -tophat_spots",
    "gauss_matrix_osc": "-mat tet.mat -hkl tet.hkl -lambda 1.0 -N 6 -distance 250 -detpixels 64 -pixel 1.0 -gauss_xtal -osc 0.5",
    "sources_polar": SMALL + " -sourcefile sources.txt -polar 0.5 -oversample 2 -oversample_polar",
    "water_thick_os": SMALL + " -water 50 -oversample 2 -detector_thick 200 -detector_abs 300 -oversample_thick",
    "omega_point_pixel": SMALL + " -oversample 3 -oversample_omega -point_pixel",
    "energy_xtalsize_hkl": "-hkl cubic.hkl -cell 100 100 100 90 90 90 -energy 2000 -xtalsize 0.0006 -distance 100 -detpixels 64 -pixel 1.6",
    "interp_forced_roi": "-hkl cubic.hkl -cell 100 100 100 90 90 90 -N 2 -lambda 6.2 -distance 100 -detpixels 64 -pixel 1.6 -roi 5 50 10 60",
    # the run-wide switch-off of interpolation happens part-way through a pixel's samples here
    "interp_fallback_mid_pixel": "-hkl five_col_clean.hkl -cell 100 100 100 90 90 90 -N 2 -lambda 6.2 -distance 100 -detpixels 64 -pixel 1.6 -oversample 3 -mosaic 2 -mosaic_domains 3 -roi 20 60 25 60",
    "mask_roi": "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -pixel 0.8 -mask mask128.img -roi 10 100 5 90",
    "img_header_override": "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -img header128.img -Xbeam 30",
    "misset_random_seeded": TRICLINIC + " -misset_seed 3 -misset random",
    "divergence_dispersion_square": SMALL + " -hdivrange 1 -hdivstep 0.3 -vdivrange 0.5 -vdivsteps 2 -dispersion 1 -dispsteps 2 -square_div",
    "flux_clip_samplesize": SMALL + " -flux 1e12 -exposure 2 -beamsize 0.03 -samplesize 0.0008 -N 2",
}
CARRYOVER = {"mosaic_osc_carry", "dmin_osc_carry", "phi_cross_dmin_carry", "gauss_matrix_osc"}


def run_both(argv, workdir, extra=()):
    """Run argv through the C binary and nbnumba in two sub-folders; returns their float images."""
    from nbnumba.cli.main import main_argv
    argv = argv + ["-nonoise", "-nopgm", "-floatfile", "f.bin", "-intfile", "i.img"]
    cdir, ndir = workdir / "c", workdir / "nb"
    run_c(argv, cdir)
    old = os.getcwd()
    os.chdir(ndir)
    try:
        assert main_argv(argv + list(extra)) == 0
    finally:
        os.chdir(old)
    assert (ndir / "i.img").read_bytes()[:512] == (cdir / "i.img").read_bytes()[:512]
    return np.fromfile(ndir / "f.bin", np.float32), np.fromfile(cdir / "f.bin", np.float32)


def run_c(argv, workdir):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([C_BIN] + argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:]


@pytest.mark.parametrize("name", sorted(COMBOS))
def test_live_against_c(name, tmp_path, capsys):
    for d in (tmp_path / "c", tmp_path / "nb"):
        d.mkdir()
        stage_inputs(d)
    extra = ["--phi-carryover-mode", "c-parity"] if name in CARRYOVER else []
    ours, ref = run_both(COMBOS[name].split(), tmp_path, extra)
    capsys.readouterr()
    assert relative_max_difference(ours, ref) <= 1e-6


def test_live_img_header_of_a_nanobragg_image(tmp_path, capsys):
    """-img on an image nanoBragg wrote: CLOSE_DISTANCE, XDS_ORGX and OSC_RANGE=0 in the header."""
    import gzip

    from reference import ROOT
    image = gzip.open(ROOT / "cases" / "geo_rotations" / "int.img.gz").read()
    for d in (tmp_path / "c", tmp_path / "nb"):
        d.mkdir()
        (d / "rot.img").write_bytes(image)
    argv = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -img rot.img".split()
    ours, ref = run_both(argv, tmp_path)
    capsys.readouterr()
    assert relative_max_difference(ours, ref) <= 1e-6


def run_both_printing(argv, cdir, ndir, capsys):
    """Run argv through the C binary (in ``cdir``) and nbnumba (in ``ndir``), each in a folder of the
    suite's inputs; returns (C's stdout, nbnumba's stdout)."""
    from nbnumba.cli.main import main_argv
    for d in (cdir, ndir):
        d.mkdir()
        stage_inputs(d)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([C_BIN] + argv, cwd=cdir, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0
    capsys.readouterr()
    old = os.getcwd()
    os.chdir(ndir)
    try:
        assert main_argv(argv) == 0
    finally:
        os.chdir(old)
    ours = without_device_line(capsys.readouterr().out.splitlines(keepends=True))
    return done.stdout, "".join(ours)


NOISE_COMBOS = {
    # a negative ADC offset: empty pixels wrap around as C's (unsigned short) cast does
    "noise_negative_adc": SMALL + " -seed 7 -adc -100",
    # -seed -5 is stored as +5: ran1 does not reseed, it continues the shuffle table the mosaic domains used
    "noise_continues_shared_table": SMALL + " -seed -5 -mosaic 1 -mosaic_domains 3",
    "noise_seed_zero_overloads": SMALL + " -seed 0 -fluence 1e31",
    # above 1e6 photons: the Gaussian branch and its spare deviate
    "noise_roi_gaussian": SMALL + " -seed 3 -roi 10 40 5 50 -fluence 1e34",
    "noise_pgm_defaults": SMALL + " -seed 11 -oversample 2 -pgmscale 0.5",
}


@pytest.mark.parametrize("name", sorted(NOISE_COMBOS))
def test_live_noise_and_pgm_against_c(name, tmp_path, capsys):
    """Noise image, PGM and the printed photon total identical to C's for the same -seed."""
    argv = NOISE_COMBOS[name].split() + ["-floatfile", "f.bin", "-intfile", "i.img", "-noisefile", "n.img",
                                          "-pgmfile", "p.pgm"]
    cdir, ndir = tmp_path / "c", tmp_path / "nb"
    c_stdout, out = run_both_printing(argv, cdir, ndir, capsys)
    for name_ in ("n.img", "p.pgm", "i.img"):
        assert (ndir / name_).read_bytes() == (cdir / name_).read_bytes(), name_
    total = [line for line in c_stdout.splitlines() if "photons on noise image" in line]
    assert total and total[0] in out.splitlines()


STDOUT_COMBOS = {
    "printout_every_pixel": TRICLINIC + " -printout -detpixels 6 -pixel 5",
    "printout_pixel_mosaic_phi": TRICLINIC + " -printout_pixel 3 2 -detpixels 6 -pixel 5 -mosaic 1 -mosaic_domains 3 "
                                            "-phi 10 -osc 2 -phisteps 2",
    "printout_curved_roi": TRICLINIC + " -curved_det -printout -detpixels 6 -pixel 5 -roi 1 3 2 4",
    # the interpolation warning comes before the block of a pixel rendered after the switch-off
    "printout_after_interpolation_warning": "-hkl five_col_clean.hkl -cell 100 100 100 90 90 90 -N 2 -lambda 6.2 "
                                            "-distance 100 -pixel 5 -detpixels 8 -oversample 2 -polar 0.3 "
                                            "-oversample_polar -printout_pixel 5 4",
}


def _c_lines(text):
    """C's stdout as nbnumba prints it: no "N% done" lines, and the interpolation warning (which C ends
    without a newline) on a line of its own."""
    lines = []
    for line in text.splitlines():
        if line.endswith("% done") and line.split("%")[0].isdigit():
            continue
        head = "WARNING: further warnings will not be printed! "
        if line.startswith(head) and line != head:
            lines += [head] + ([line[len(head):]] if not line[len(head):].endswith("% done") else [])
            continue
        lines.append(line)
    return lines


@pytest.mark.parametrize("name", sorted(STDOUT_COMBOS))
def test_live_stdout_against_c(name, tmp_path, capsys):
    """Everything printed, -printout blocks included, line for line as C prints it."""
    argv = STDOUT_COMBOS[name].split() + ["-nonoise", "-nopgm", "-floatfile", "f.bin", "-intfile", "i.img"]
    c_stdout, out = run_both_printing(argv, tmp_path / "c", tmp_path / "nb", capsys)
    assert out.splitlines() == _c_lines(c_stdout)
