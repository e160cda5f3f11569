# SPDX-License-Identifier: BSD-3-Clause
"""End-to-end behaviour of the command line and the Python API beyond the reference images."""
import os

import numpy as np
import pytest
from reference import INPUTS

import nbnumba
from nbnumba.cli.main import main_argv

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


def test_the_command_loads_cached_code_without_numbas_refresh(tmp_path):
    """The command's process (``prepare_command_process``) loads its cached kernels without numba's
    target refresh, which imports numba's implementations of Python and NumPy (``numba.np.linalg`` among
    them, 0.2 s), and renders the same image as a process that loads them numba's way (which runs first,
    so that the cache is warm). Fresh interpreters."""
    import subprocess
    import sys
    code = ("import sys; from nbnumba.cli.main import main_argv, prepare_command_process\n"
            "if sys.argv[1] == 'quick':\n    prepare_command_process()\n"
            "status = main_argv(sys.argv[2:])\n"
            "print('STATUS', status, 'numba.np.linalg' in sys.modules)")
    argv = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "6.2",
            "-distance", "100", "-detpixels", "32", "-pixel", "0.4", "-mosaic", "0.3", "-mosaic_domains", "3",
            "-nonoise", "-nopgm"]
    lines = {}
    for way in ("numba", "quick"):
        out = subprocess.run([sys.executable, "-c", code, way] + argv + ["-floatfile", way + ".bin"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
        lines[way] = [line for line in out.stdout.splitlines() if line.startswith("STATUS")]
    assert lines == {"numba": ["STATUS 0 True"], "quick": ["STATUS 0 False"]}
    assert (tmp_path / "quick.bin").read_bytes() == (tmp_path / "numba.bin").read_bytes()


def test_help_and_version_of_the_command_import_no_numba():
    """The command's process set-up leaves numba alone until the pipeline is needed: -h and --version
    run without it (a fresh interpreter)."""
    import subprocess
    import sys
    code = ("import sys; from nbnumba.cli.main import main_argv, prepare_command_process\n"
            "prepare_command_process()\n"
            "assert main_argv(['--version']) == 0 and main_argv(['-h']) == 0\n"
            "print('STATUS', 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert [line for line in out.stdout.splitlines() if line.startswith("STATUS")] == ["STATUS False"], out.stderr


def test_the_command_collects_no_garbage_while_it_imports_the_pipeline(tmp_path):
    """The direct command turns the cyclic garbage collector off while numpy, numba and the pipeline are
    imported (``cli.main._pause_collector``) and back on once they are, with the imported objects frozen
    (out of the collector's sight): far fewer collections than a process that collects throughout, and
    the same image. Fresh interpreters, prepared as the command prepares its process."""
    import subprocess
    import sys
    code = ("import gc, sys; from nbnumba.cli import main as m\n"
            "collections = []\n"
            "gc.callbacks.append(lambda phase, info: collections.append(phase) if phase == 'start' else None)\n"
            "m.prepare_command_process()\n"
            "if sys.argv[1] == 'paused':\n    m._pause_collector()\n"
            "status = m.main_argv(sys.argv[2:])\n"
            "print('STATUS', status, gc.isenabled(), gc.get_freeze_count() > 0, len(collections))")
    argv = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "6.2",
            "-distance", "100", "-detpixels", "32", "-pixel", "0.4", "-nonoise", "-nopgm"]
    got = {}
    for way in ("collecting", "paused"):
        out = subprocess.run([sys.executable, "-c", code, way] + argv + ["-floatfile", way + ".bin"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
        status = [line.split()[1:] for line in out.stdout.splitlines() if line.startswith("STATUS")]
        assert len(status) == 1, out.stderr
        got[way] = status[0]
    assert got["collecting"][:3] == ["0", "True", "False"]
    assert got["paused"][:3] == ["0", "True", "True"]
    assert int(got["paused"][3]) * 3 < int(got["collecting"][3]), got
    assert (tmp_path / "paused.bin").read_bytes() == (tmp_path / "collecting.bin").read_bytes()


class _Terminal:
    """A stand-in stderr that says it is a terminal."""

    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal_and_not_with_noprogress_or_printout(monkeypatch):
    from nbnumba.cli.main import _ProgressBar, progress_meter
    params, _ = nbnumba.params_from_argv(SMALL + ["-default_F", "10"])
    assert progress_meter(params) is None  # pytest's stderr is not a terminal
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert isinstance(progress_meter(params), _ProgressBar)
    for flags in (["-noprogress"], ["-printout"], ["-printout_pixel", "1", "2"]):
        params, _ = nbnumba.params_from_argv(SMALL + ["-default_F", "10"] + flags)
        assert progress_meter(params) is None, flags


def test_progress_bar_shows_rows_and_leaves_the_image_alone(tmp_path, monkeypatch, capsys):
    from nbnumba.cli.main import _ProgressBar
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_ProgressBar, "DELAY", 0.0)
    argv = SMALL + ["-default_F", "10", "-nonoise", "-nopgm"]
    assert main_argv(argv + ["-floatfile", "quiet.bin"]) == 0
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main_argv(argv + ["-floatfile", "bar.bin"]) == 0
    assert "rendering" in terminal.text and "100%" in terminal.text
    out = capsys.readouterr().out
    assert "% done" not in out and "100%" not in out  # the bar is on stderr only
    assert np.array_equal(np.fromfile("quiet.bin", np.float32), np.fromfile("bar.bin", np.float32))


def _count_kernel_calls(monkeypatch, interrupt_at=None):
    """Record the CPU kernel's calls (first and end pixel); raise KeyboardInterrupt at call ``interrupt_at``."""
    from nbnumba.kernels import cpu
    calls = []
    real_run = cpu.CpuRenderer.run

    def run(self, passes, sc, pixel_start, pixel_end, keep_omega=True):
        calls.append((pixel_start, pixel_end))
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt  # as Python raises SIGINT's, between two compiled calls
        return real_run(self, passes, sc, pixel_start, pixel_end, keep_omega)

    monkeypatch.setattr(cpu.CpuRenderer, "run", run)
    return calls


def test_small_image_without_a_progress_bar_is_one_kernel_call(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = _count_kernel_calls(monkeypatch)
    assert main_argv(SMALL + ["-default_F", "10", "-detpixels", "64", "-noprogress", "-nonoise", "-nopgm"]) == 0
    assert calls == [(0, 64 * 64)]


def test_command_renders_in_blocks_so_ctrl_c_is_seen_during_the_render(tmp_path, monkeypatch, capsys):
    """Python sees SIGINT only between compiled calls: a render longer than ``cpu.BLOCK_SECONDS`` runs in
    blocks of pixels (here at most 256 a call), and an interrupt between two blocks leaves no file."""
    from nbnumba.kernels import cpu
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cpu, "MAX_BLOCK_PIXELS", 256)
    calls = _count_kernel_calls(monkeypatch, interrupt_at=3)
    assert main_argv(SMALL + ["-default_F", "10", "-detpixels", "64", "-noprogress"]) == 130
    assert calls == [(0, 256), (256, 512), (512, 768)]
    assert os.listdir(tmp_path) == []
    assert "interrupted" in capsys.readouterr().err
