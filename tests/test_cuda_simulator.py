# SPDX-License-Identifier: BSD-3-Clause
"""The CUDA kernel's tests (``tests/cuda``) under numba-cuda's simulator, in a subprocess: the
simulator replaces the GPU for the whole process that imports numba-cuda with
``NUMBA_ENABLE_CUDASIM=1``, so it cannot share this one (which may have a real GPU)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.slow
def test_cuda_kernel_tests_pass_under_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TESTS / "cuda")],
                          cwd=TESTS, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]
