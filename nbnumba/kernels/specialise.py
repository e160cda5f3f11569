# SPDX-License-Identifier: BSD-3-Clause
"""The one helper that specialises a kernel template on its compile-time ``KernelFlags``.

A template is a plain function defined inside a ``make_*(flags)`` factory, so that every flag it
reads is a closure constant (numba folds it and prunes the dead branches; its cache keys a closure on
the pickled cell contents, so each flag set caches apart). ``specialise`` then

- binds the compiled functions the template calls as *globals* (``bindings``), not closure variables:
  numba keys a closure on its pickled cells and a dispatcher pickles differently in every process,
  so a dispatcher in the closure would recompile every run;
- names the function ``<prefix>_<flags>``: cached code keeps its symbol names, and two
  specialisations compiled in different processes under one name would collide when a third process
  loads both."""
import types


def flags_tag(flags) -> str:
    """The flag values as a name suffix, e.g. ``0_0_1_0_0_0_0_0_0``."""
    return "_".join(str(int(v)) for v in flags)


def specialise(template, flags, prefix: str, **bindings):
    """A copy of ``template`` named ``prefix_<flags>`` whose globals also hold ``bindings``; wrap it
    with ``njit``/``cuda.jit``."""
    namespace = dict(template.__globals__, **bindings)
    function = types.FunctionType(template.__code__, namespace, template.__name__, template.__defaults__,
                                  template.__closure__)
    function.__name__ = function.__qualname__ = "%s_%s" % (prefix, flags_tag(flags))
    return function
