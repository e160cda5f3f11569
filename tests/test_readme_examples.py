# SPDX-License-Identifier: BSD-3-Clause
"""nanoBragg's own command lines (its README, the examples at the top of nanoBragg.c, example.com) run
unchanged: full size, the flags as written, the default output files. Their input files are stand-ins
(``nanobragg_readme``). Each is compared with the C program's outputs: the float image within 1e-6 of C's
maximum (as the other live tests), the SMV header byte for byte, and everything printed but the lines that
depend on the clock (the time-based noise seed and the photon count of the noise image made with it), C's
progress lines and nbnumba's device line. Without a C program the comparison is with the stored C outputs
of ``c_reference/readme_examples/`` (``make_readme_references.py``: the float image at some 11,000 pixels,
the brightest among them, and C's maximum); with NB_C_BIN set, also with a live C run, whole images."""
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from nanobragg_readme import EXAMPLES, write_inputs
from reference import relative_max_difference, without_device_line

from nbnumba.argv.flags import BY_NAME, G_DOC_IGNORED
from nbnumba.cli.main import main_argv

C_BIN = os.environ.get("NB_C_BIN")
STORED = Path(__file__).resolve().parent.parent / "c_reference" / "readme_examples"
DEFAULT_OUTPUTS = ("floatimage.bin", "intimage.img", "noiseimage.img", "image.pgm", "Fdump.bin")
CLOCK_LINES = re.compile(r"^\s*seed: -?\d+$|^\d+ photons on noise image \(\d+ overloads\)$|^\d+% done$")


def run_nbnumba(argv, folder, capsys):
    capsys.readouterr()
    old = os.getcwd()
    os.chdir(folder)
    try:
        status = main_argv(argv)
    finally:
        os.chdir(old)
    out = capsys.readouterr()
    assert status == 0, out.err
    return out


def printed(lines):
    return [line for line in without_device_line(lines) if not CLOCK_LINES.match(line)]


def c_printed(stdout):
    """What is compared of the C program's printed text (live, or stored by ``make_readme_references.py``):
    its lines less those of the clock, and less its progress (``N% done``, also within a line)."""
    return printed([re.sub(r"\d+% done", "", line) for line in stdout.splitlines() if not CLOCK_LINES.match(line)])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_unchanged(name, tmp_path, capsys):
    argv = write_inputs(name, tmp_path)
    out = run_nbnumba(argv, tmp_path, capsys)
    expected_warnings = [f"WARNING: {token}: {BY_NAME[token].note}" for token in dict.fromkeys(argv)
                         if token in BY_NAME and BY_NAME[token].group == G_DOC_IGNORED]
    assert out.err.splitlines() == expected_warnings
    assert all((tmp_path / output).is_file() for output in DEFAULT_OUTPUTS)
    image = np.fromfile(tmp_path / "floatimage.bin", np.float32)
    assert image.size == 1024 * 1024 or image.size == 1000 * 1000
    assert np.isfinite(image).all() and image.max() > 0
    assert "max_I = " in out.out
    # nanoBragg.c's outputs of the same command line and inputs, stored
    with np.load(STORED / (name + ".npz")) as ref:
        assert list(ref["argv"]) == argv and int(ref["size"]) == image.size
        scale = float(ref["maximum"])
        assert abs(float(np.abs(image).max()) - scale) <= 1e-6 * scale
        values = image[ref["indices"]].astype(np.float64)
        assert np.abs(values - ref["values"].astype(np.float64)).max() <= 1e-6 * scale
        assert (tmp_path / "intimage.img").read_bytes()[:512] == ref["header"].tobytes()
        assert printed(out.out.splitlines()) == list(ref["printed_lines"])


@pytest.mark.skipif(not C_BIN, reason="NB_C_BIN (a nanoBragg.c binary) not set")
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_live_example_matches_c(name, tmp_path, capsys):
    cdir, ndir = tmp_path / "c", tmp_path / "nb"
    cdir.mkdir()
    ndir.mkdir()
    argv = write_inputs(name, cdir)
    assert write_inputs(name, ndir) == argv
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([C_BIN] + argv, cwd=cdir, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:]
    out = run_nbnumba(argv, ndir, capsys)
    ours = np.fromfile(ndir / "floatimage.bin", np.float32)
    ref = np.fromfile(cdir / "floatimage.bin", np.float32)
    assert relative_max_difference(ours, ref) <= 1e-6
    assert (ndir / "intimage.img").read_bytes()[:512] == (cdir / "intimage.img").read_bytes()[:512]
    assert printed(out.out.splitlines()) == c_printed(done.stdout)
