# SPDX-License-Identifier: BSD-3-Clause
"""End-to-end behaviour of the command line and the Python API beyond the reference images."""
import os

import numpy as np
import pytest

import nbnumba
from nbnumba.cli.main import main_argv
from reference import INPUTS

SMALL = "-cell 100 100 100 90 90 90 -N 5 -lambda 6.2 -distance 100 -detpixels 32 -pixel 3.2".split()


def test_missing_output_folder_fails_before_rendering(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main_argv(SMALL + ["-default_F", "10", "-intfile", "nodir/int.img"]) == 2
    err = capsys.readouterr().err
    assert "nodir/int.img" in err and "does not exist" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_no_structure_factors_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main_argv(SMALL) == 2
    assert "-default_F" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_stale_fdump_is_reread_like_c(tmp_path, monkeypatch, capsys):
    """Without -hkl, the Fdump.bin left by an earlier run supplies the structure factors."""
    monkeypatch.chdir(tmp_path)
    hkl = str(INPUTS / "cubic.hkl")
    assert main_argv(SMALL + ["-hkl", hkl, "-floatfile", "a.bin", "-intfile", "a.img"]) == 0
    assert (tmp_path / "Fdump.bin").exists()
    assert main_argv(SMALL + ["-floatfile", "b.bin", "-intfile", "b.img"]) == 0
    assert "reading Fs from Fdump.bin" in capsys.readouterr().out
    a = np.fromfile(tmp_path / "a.bin", np.float32)
    assert a.max() > 0 and np.array_equal(a, np.fromfile(tmp_path / "b.bin", np.float32))


def test_python_api_renders_without_writing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params, warnings = nbnumba.params_from_argv(SMALL + ["-hkl", str(INPUTS / "cubic.hkl")])
    result = nbnumba.simulate(params)
    assert warnings == [] and os.listdir(tmp_path) == []
    assert result.floatimage.shape == (32, 32) and result.floatimage.dtype == np.float32
    assert result.floatimage.max() == pytest.approx(result.stats["max_I"])
    assert result.setup.detector.pix0 is not None


def test_c_parity_mode_changes_only_carryover_runs(tmp_path, monkeypatch):
    """A still (one phi step) renders the same in both modes; a 2-step rotation from phi=0 does not."""
    monkeypatch.chdir(tmp_path)
    still, _ = nbnumba.params_from_argv(SMALL + ["-default_F", "10", "-phi", "3"])
    osc, _ = nbnumba.params_from_argv(SMALL + ["-default_F", "10", "-osc", "3"])
    for params, same in ((still, True), (osc, False)):
        spec = nbnumba.simulate(params).floatimage
        parity = nbnumba.simulate(params.copy(phi_carryover_mode="c-parity")).floatimage
        assert np.array_equal(spec, parity) == same


def test_import_is_light():
    """import nbnumba loads neither numba nor CUDA (checked in a fresh interpreter)."""
    import subprocess
    import sys
    code = "import sys, nbnumba; print('numba' in sys.modules, 'numba.cuda' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
