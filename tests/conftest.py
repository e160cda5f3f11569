# SPDX-License-Identifier: BSD-3-Clause
"""``tests/cuda`` compares the CUDA kernel with the CPU kernel. It runs where numba-cuda can run
kernels: on a machine with an NVIDIA GPU, or under numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``).
Elsewhere (CI) a plain ``pytest`` leaves the folder out here, and ``test_cuda_simulator.py`` runs it
in a subprocess under the simulator instead."""
import sys

import pytest

from nbnumba import limits
from nbnumba.render.device import cuda_unavailable_reason

collect_ignore = ["cuda"] if cuda_unavailable_reason() is not None else []


@pytest.fixture(autouse=True)
def _command_process_setup_undone():
    """The ``nbnumba`` command prepares its own process (``cli.main.prepare_command_process``): it marks
    SciPy absent and changes how numba loads cached code. A test that runs the command in this process
    must not leave either to later tests (the ``nxmx`` reader needs SciPy)."""
    from numba.core import caching

    from nbnumba.cli import main

    had_scipy = "scipy" in sys.modules
    load_overload = caching.Cache.load_overload
    yield
    if not had_scipy and "scipy" in sys.modules and sys.modules["scipy"] is None:
        del sys.modules["scipy"]
    caching.Cache.load_overload = load_overload
    main._command_process = False


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A private current folder for a test that runs the command in this process, with no memory limit
    set from outside (``NBNUMBA_MEMORY_LIMIT``)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(limits.LIMIT_ENV, raising=False)
    return tmp_path
