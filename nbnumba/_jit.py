# SPDX-License-Identifier: BSD-3-Clause
"""One source of JIT options for every compiled function (cache switch, fastmath), and where the
compiled code is cached.

Cache location (first that applies): ``$NBNUMBA_CACHE_DIR``; ``$NUMBA_CACHE_DIR/nbnumba``;
``$XDG_CACHE_HOME/nbnumba`` or ``~/.cache/nbnumba``; if that is not writable, a per-user folder in
the temporary directory. Inside it every build of the sources has its own folder
``<version>-<key>``, where the key hashes the package version and the text of every module that
holds compiled functions (``SOURCE_MODULES``). Numba itself only notices edits to the file that
defines a function, not to the functions it calls (a kernel calling an edited ``physics.py`` would
load stale machine code); keying on all of them means an upgrade or an edit anywhere in the
compiled sources starts a fresh cache instead. ``NBNUMBA_NO_CACHE=1`` turns caching off."""
import contextlib
import hashlib
import os
import sys
import tempfile
import types

import numpy as np
from numba.core import config

from nbnumba._version import __version__

#: on-disk compilation cache; off with NBNUMBA_NO_CACHE=1
CACHE = os.environ.get("NBNUMBA_NO_CACHE", "0") in ("", "0")
#: fastmath would reorder the C program's arithmetic; parity needs it off.
FASTMATH = False

#: IEEE division as in C: x/0 gives inf or NaN instead of raising ZeroDivisionError (numba's default
#: "python" error model), e.g. for a sensor so thick that its capture fraction under/overflows.
ERROR_MODEL = "numpy"

JIT_OPTIONS = dict(cache=CACHE, fastmath=FASTMATH, nogil=True, error_model=ERROR_MODEL)
#: the CUDA kernels' options (``kernels/cuda.py``); the @njit functions they call keep JIT_OPTIONS
CUDA_JIT_OPTIONS = dict(cache=CACHE, fastmath=FASTMATH)

#: LLVM's SLP vectoriser for the kernels (numba's default is off, after miscompilations it saw in
#: 2023, numba PR #8852). It packs the kernel's three side-by-side Miller-index chains into vector
#: instructions (about 25% faster) without reordering arithmetic; the reference suite checks the
#: images. NBNUMBA_SLP_VECTORIZE=0 compiles without it (and caches apart).
SLP_VECTORIZE = os.environ.get("NBNUMBA_SLP_VECTORIZE", "1") not in ("", "0")



@contextlib.contextmanager
def llvm_options(options):
    """LLVM command-line ``options`` (e.g. ``("--force-vector-width=16",)``) set while the block runs, then
    their defaults again (``--name=0``: every option used here is a number whose default is 0). LLVM reads
    them while numba compiles: around a kernel's first call they apply to that kernel's code (a cached kernel
    keeps it). Process-wide, so the block should compile nothing else.

    A forced vector width makes LLVM print a "remark: ... loop not vectorized" line for every loop of the
    compiled code it does not vectorise, to the process's standard error (file descriptor 2, which numba
    offers no handler for): while the block runs that descriptor goes to a temporary file, and every other
    line is written back to ``sys.stderr`` afterwards. The block gets a list, to which the remark lines are
    added when it ends."""
    remarks = []
    if not options:
        yield remarks
        return
    import llvmlite.binding as llvm  # noqa: PLC0415 -- only where a kernel needs an option

    sys.stderr.flush()
    saved = os.dup(2)
    captured = tempfile.TemporaryFile()
    os.dup2(captured.fileno(), 2)
    try:
        for option in options:
            llvm.set_option("nbnumba", option)
        yield remarks
    finally:
        for option in options:
            llvm.set_option("nbnumba", option.split("=")[0] + "=0")
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        captured.seek(0)
        lines = captured.read().decode(errors="replace").splitlines(keepends=True)
        captured.close()
        remarks.extend(line for line in lines if line.startswith(_LLVM_REMARK))
        kept = "".join(line for line in lines if not line.startswith(_LLVM_REMARK))
        if kept:
            sys.stderr.write(kept)
            sys.stderr.flush()


#: how LLVM's diagnostic handler starts a remark line
_LLVM_REMARK = "remark: "


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
#: modules (relative to the package) whose compiled functions call each other; all of them key the cache
SOURCE_MODULES = ("_version.py", "_jit.py", "rng.py", "outputs/noise.py", "outputs/statistics.py",
                  "kernels/physics.py", "kernels/precision.py", "kernels/pixel.py", "kernels/specialise.py",
                  "kernels/cpu.py", "kernels/cuda.py", "kernels/types.py")
#: folders of the modules above: numba functions defined there are cached with ``SOURCE_KEY``
_SOURCE_DIRS = frozenset(os.path.dirname(os.path.join(_PACKAGE_DIR, name))
                         for name in SOURCE_MODULES)


def _source_key():
    digest = hashlib.sha256(__version__.encode())
    digest.update(b"slp=%d" % SLP_VECTORIZE)
    for name in SOURCE_MODULES:
        digest.update(name.encode())
        with open(os.path.join(_PACKAGE_DIR, name), "rb") as f:
            digest.update(f.read())
    return __version__, digest.hexdigest()[:16]


def _writable(path):
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


def cache_dir():
    """The folder this build of nbnumba caches its compiled code in (see the module docstring)."""
    version, key = SOURCE_KEY
    build = "%s-%s" % (version, key)
    if os.environ.get("NBNUMBA_CACHE_DIR"):
        return os.path.join(os.environ["NBNUMBA_CACHE_DIR"], build)
    if os.environ.get("NUMBA_CACHE_DIR"):
        root = os.path.join(os.environ["NUMBA_CACHE_DIR"], "nbnumba")
    else:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                            "nbnumba")
    path = os.path.join(root, build)
    if _writable(path):
        return path
    return os.path.join(tempfile.gettempdir(), "nbnumba-cache-%d" % os.getuid(), build)


SOURCE_KEY = _source_key()


def python_twins(module, names) -> types.SimpleNamespace:
    """Plain-Python twins of the compiled functions ``names`` of ``module``, for the set-up, which calls
    them a few times per image: loading one from numba's cache costs 3-5 ms of a run (numba links its
    machine code into the process), its Python source runs in about a microsecond.

    A twin is the function's own source, its calls to the other ``names`` going to their twins. It gives
    the compiled function's floats: both are IEEE double arithmetic and the C library's math functions
    (no fastmath: functions compiled with fastmath flags are refused). Where Python stops instead of
    giving inf or NaN (a float divided by zero, ``math.sin(inf)``, an overflowing ``math.exp``), and
    where the result holds a NaN (whose sign bit Python's and LLVM's negation may set differently), the
    twin returns the compiled function's result; numpy scalars give IEEE results, as compiled code does
    (numpy may warn)."""
    namespace = dict(vars(module))
    for name in names:
        compiled = getattr(module, name)
        if compiled.targetoptions.get("fastmath"):
            raise ValueError("%s.%s is compiled with fastmath: Python cannot reproduce it" % (module.__name__, name))
        function = compiled.py_func
        namespace[name] = types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__,
                                             function.__closure__)
    return types.SimpleNamespace(**{name: _twin(namespace[name], getattr(module, name)) for name in names})


def _twin(python, compiled):
    def twin(*args):
        try:
            result = python(*args)
        except (ArithmeticError, ValueError):  # x/0, math domain or range errors: C's inf or NaN
            return compiled(*args)
        return compiled(*args) if _holds_nan(result) else result

    twin.__name__ = twin.__qualname__ = python.__name__
    twin.__doc__ = python.__doc__
    twin.compiled = compiled
    return twin


def _holds_nan(value) -> bool:
    """Whether a float, numpy scalar or array, or a (nested) tuple of them holds a NaN."""
    if isinstance(value, tuple):
        return any(_holds_nan(item) for item in value)
    if isinstance(value, float):
        return value != value
    return bool(np.isnan(value).any())


@contextlib.contextmanager
def kernel_compilation():
    """Around calls that may compile a kernel: numba's SLP switch as ``SLP_VECTORIZE`` says, put back
    afterwards (numba reads it whenever it optimises a module)."""
    old = config.SLP_VECTORIZE
    config.SLP_VECTORIZE = int(SLP_VECTORIZE)
    try:
        yield
    finally:
        config.SLP_VECTORIZE = old


def install_locator(caching):
    """Make numba cache nbnumba's functions in ``cache_dir()`` with ``SOURCE_KEY`` as their source
    stamp (numba's own locators stamp each function with its own file only). ``caching`` is
    numba's caching module (``numba.core.caching``), or numba-cuda's for the CUDA kernels."""

    class SourceKeyedLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(cache_dir(), self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            return SOURCE_KEY

        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.dirname(os.path.abspath(py_file)) not in _SOURCE_DIRS:
                return None
            return super().from_function(py_func, py_file)

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in numba 0.61
    classes = impl._locator_classes
    if not any(c.__name__ == SourceKeyedLocator.__name__ for c in classes):
        classes.insert(0, SourceKeyedLocator)


def load_cached_code_quickly() -> bool:
    """For a process that runs only nbnumba (the ``nbnumba`` command, ``nbnumba-batch``, the warm
    worker): load compiled functions from the cache without first refreshing numba's CPU target.

    Numba's ``Cache.load_overload`` refreshes the whole target context before every load: the first
    refresh imports numba's implementations of Python and NumPy (``numba.np.linalg``, ``arraymath``,
    the typed containers, ...), 0.19-0.23 s of a direct BENCH-3 run here, none of which loaded machine
    code uses; running it needs numba's runtime (NRT), which is initialised here instead. A cache miss
    compiles as before (numba's compiler refreshes the context itself), and other targets (CUDA) keep
    numba's own load. Not for library users: it changes numba for the whole process. Returns False
    (and changes nothing) if numba's private API is not as expected."""
    try:
        from numba.core import caching  # noqa: PLC0415 -- numba's private API: guarded
        from numba.core.cpu import CPUContext  # noqa: PLC0415 -- numba's private API: guarded
        from numba.core.runtime import rtsys  # noqa: PLC0415 -- numba's private API: guarded
    except ImportError:
        return False
    original = caching.Cache.load_overload
    if getattr(original, "quick", False):
        return True
    if not (hasattr(caching.Cache, "_load_overload") and hasattr(caching.Cache, "_guard_against_spurious_io_errors")
            and hasattr(rtsys, "initialize")):
        return False

    def load_overload(self, sig, target_context):
        if not isinstance(target_context, CPUContext):
            return original(self, sig, target_context)
        rtsys.initialize(target_context)
        try:
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)
            return None  # an I/O error the guard swallowed: numba then compiles
        except Exception:  # noqa: BLE001 -- e.g. a symbol that only a refresh defines: numba's own load
            return original(self, sig, target_context)

    load_overload.quick = True
    caching.Cache.load_overload = load_overload
    return True


if CACHE:
    try:
        from numba.core import caching as _caching  # noqa: PLC0415 -- numba's private API: guarded
        install_locator(_caching)
    except (ImportError, AttributeError, TypeError):  # numba's private caching API changed:
        CACHE = False                                    # compile afresh rather than risk stale code
        JIT_OPTIONS["cache"] = False
        CUDA_JIT_OPTIONS["cache"] = False
