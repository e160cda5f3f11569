# SPDX-License-Identifier: BSD-3-Clause
"""Where the pixel kernel runs: ``--device auto|cpu|cuda``.

- ``cpu``: the parallel CPU kernel (``nbnumba/kernels/cpu.py``).
- ``cuda``: the CUDA kernel (``nbnumba/kernels/cuda.py``) on an NVIDIA GPU through numba-cuda
  (``pip install 'nbnumba[cuda]'``); an error when numba-cuda is missing or finds no GPU. With
  ``NUMBA_ENABLE_CUDASIM=1`` numba-cuda's simulator stands in for the GPU (for tests; slow).
- ``auto`` (default): ``cuda`` when numba-cuda is installed and finds a GPU, else ``cpu``.

Nothing here imports CUDA unless a GPU may be there: on Linux without the NVIDIA driver
(``/proc/driver/nvidia``) ``auto`` is the CPU at once (importing numba-cuda costs about 0.2 s)."""
import importlib.util
import os
import sys

from nbnumba.constants import Device
from nbnumba.errors import InputError

_DRIVER_FILE = "/proc/driver/nvidia/version"


def _simulator():
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def cuda_unavailable_reason():
    """None when numba-cuda can run kernels here (a GPU, or its simulator when
    ``NUMBA_ENABLE_CUDASIM=1``), else a one-line reason."""
    if importlib.util.find_spec("numba_cuda") is None:
        return "numba-cuda is not installed (pip install 'nbnumba[cuda]')"
    if not _simulator() and sys.platform.startswith("linux") and not os.path.exists(_DRIVER_FILE):
        return "no NVIDIA driver on this machine (%s is missing)" % _DRIVER_FILE
    try:
        from numba import cuda  # noqa: PLC0415 -- numba-cuda: optional, and 0.2 s to import
        if cuda.is_available():
            return None
    except Exception as exc:  # noqa: BLE001 -- numba-cuda's driver errors vary; report the first line
        return "numba-cuda cannot use a GPU: %s" % (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return "numba-cuda finds no usable CUDA GPU"


def resolve_device(name):
    """"cpu" or "cuda" for the ``--device`` value ``name``; InputError for "cuda" where no GPU
    can be used, or for an unknown name."""
    if name not in Device.values():
        raise InputError("--device: expected one of %s, got %r" % (", ".join(Device.values()), name))
    if name == Device.CPU:
        return Device.CPU
    if name == Device.AUTO and _simulator():
        return Device.CPU  # the simulator stands in for a GPU only when asked for by name
    reason = cuda_unavailable_reason()
    if reason is None:
        return Device.CUDA
    if name == Device.CUDA:
        raise InputError("--device cuda: " + reason)
    return Device.CPU


def select_gpu(index):
    """Make GPU number ``index`` (modulo the GPUs present) the current one, e.g. an MPI rank's
    node-local rank modulo the GPUs on the node; returns the index used."""
    from numba import cuda  # noqa: PLC0415 -- numba-cuda: optional
    count = len(cuda.gpus)
    if count == 0:
        raise InputError("--device cuda: numba-cuda finds no usable CUDA GPU")
    index = index % count
    cuda.select_device(index)
    return index


def describe(device):
    """One line for stdout: where this run's kernel runs."""
    if device == Device.CUDA:
        from numba import cuda  # noqa: PLC0415 -- numba-cuda: optional, only for the GPU
        if _simulator():
            return "nbnumba: rendering on the CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
        gpu = cuda.get_current_device()
        name = gpu.name.decode() if isinstance(gpu.name, bytes) else str(gpu.name)
        return "nbnumba: rendering on GPU %d, %s (CUDA)" % (gpu.id, name)
    import numba  # noqa: PLC0415 -- start-up: resolving a device needs no numba
    return "nbnumba: rendering on the CPU, %d threads" % numba.get_num_threads()


def is_cuda_error(exc):
    """True for numba-cuda's and NVIDIA's driver errors (``CudaAPIError``, ``CudaSupportError``, ...),
    which the command reports in one line instead of a traceback."""
    return type(exc).__module__.startswith(("numba.cuda", "numba_cuda", "cuda."))
