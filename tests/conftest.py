# SPDX-License-Identifier: BSD-3-Clause
"""``tests/cuda`` compares the CUDA kernel with the CPU kernel. It runs where numba-cuda can run
kernels: on a machine with an NVIDIA GPU, or under numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``).
Elsewhere (CI) a plain ``pytest`` leaves the folder out here, and ``test_cuda_simulator.py`` runs it
in a subprocess under the simulator instead."""
from nbnumba.device import cuda_unavailable_reason

collect_ignore = ["cuda"] if cuda_unavailable_reason() is not None else []
