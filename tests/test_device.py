# SPDX-License-Identifier: BSD-3-Clause
"""``--device``: choosing where the kernel runs, and the errors when the GPU cannot be used. (The
CUDA kernel itself: ``tests/cuda/`` under the simulator or on a GPU, ``test_cuda_ptx.py``.)"""
import os
import subprocess
import sys

import pytest

from nbnumba.cli.main import main_argv
from nbnumba.errors import InputError
from nbnumba.render import device

SMALL = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 16 -nonoise -nopgm".split()


@pytest.fixture
def no_driver(monkeypatch, tmp_path):
    """A machine without the NVIDIA driver, whatever this one has."""
    monkeypatch.setattr(device, "_DRIVER_FILE", str(tmp_path / "no-driver"))
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)


def test_cpu_and_auto_without_a_gpu(no_driver):
    assert device.resolve_device("cpu") == "cpu"
    assert device.resolve_device("auto") == "cpu"


def test_unknown_device_is_an_input_error():
    with pytest.raises(InputError, match="--device: expected one of auto, cpu, cuda, got 'gpu'"):
        device.resolve_device("gpu")


def test_cuda_without_a_gpu_is_a_one_line_error_and_writes_nothing(no_driver, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    os.mkdir("out")
    assert main_argv(SMALL + ["--device", "cuda", "-floatfile", "out/f.bin"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nbnumba: error: --device cuda: no NVIDIA driver")
    assert os.listdir("out") == []


def test_cuda_without_numba_cuda_says_how_to_install_it(monkeypatch):
    real_find_spec = device.importlib.util.find_spec
    monkeypatch.setattr(device.importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba_cuda" else real_find_spec(name, *a))
    assert device.cuda_unavailable_reason() == "numba-cuda is not installed (pip install 'nbnumba[cuda]')"
    with pytest.raises(InputError, match=r"--device cuda: numba-cuda is not installed"):
        device.resolve_device("cuda")
    assert device.resolve_device("auto") == "cpu"


def test_auto_on_a_machine_without_a_gpu_never_imports_cuda(tmp_path):
    """The default device costs a CPU-only run nothing: numba-cuda is not imported."""
    code = ("import sys, nbnumba, nbnumba.render.device as d; d._DRIVER_FILE = %r\n"
            "p, _ = nbnumba.params_from_argv(%r)\n"
            "r = nbnumba.simulate(p)\n"
            "print(r.device, 'numba_cuda' in sys.modules, 'numba.cuda' in sys.modules)"
            % (str(tmp_path / "no-driver"), SMALL))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cpu", "False", "False"]


def test_simulator_is_used_only_when_asked_for_by_name(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    assert device.resolve_device("auto") == "cpu"


def test_a_cuda_failure_during_the_run_is_one_line_without_traceback(tmp_path, monkeypatch, capsys):
    """A driver or launch error (numba-cuda's exception classes) is reported in one line, exit 1; other
    exceptions are not swallowed."""
    import nbnumba.run
    CudaAPIError = type("CudaAPIError", (Exception,), {"__module__": "numba.cuda.cudadrv.driver"})
    assert device.is_cuda_error(CudaAPIError()) and not device.is_cuda_error(ValueError())

    def failing_run(params, **_):
        raise CudaAPIError("[700] Call to cuCtxSynchronize results in CUDA_ERROR_ILLEGAL_ADDRESS\nmore")

    monkeypatch.setattr(nbnumba.run, "run", failing_run)
    monkeypatch.chdir(tmp_path)
    assert main_argv(SMALL) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nbnumba: error: CUDA: CudaAPIError: [700] Call to cuCtxSynchronize results in "
                   "CUDA_ERROR_ILLEGAL_ADDRESS"]

    def broken_run(params, **_):
        raise ValueError("a bug")

    monkeypatch.setattr(nbnumba.run, "run", broken_run)
    with pytest.raises(ValueError):
        main_argv(SMALL)
