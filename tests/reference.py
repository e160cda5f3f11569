# SPDX-License-Identifier: BSD-3-Clause
"""The stored nanoBragg.c reference suite (../c_reference) and how to run a case through nbnumba."""
import gzip
import json
import os
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent / "c_reference"
INPUTS = ROOT / "inputs"


@lru_cache(maxsize=None)
def manifest():
    with open(ROOT / "manifest.json") as f:
        return json.load(f)


@lru_cache(maxsize=64)
def reference_bytes(case, key):
    """Uncompressed bytes of output ``key`` (float, int, fdump, ...) of ``case``."""
    entry = manifest()[case]["outputs"][key]
    with gzip.open(ROOT / "cases" / case / entry["file"]) as f:
        return f.read()


def reference_float(case, key="float"):
    m = manifest()[case]
    return np.frombuffer(reference_bytes(case, key), np.float32).reshape(m["spixels"], m["fpixels"])


def stage_inputs(workdir):
    """Put the suite's input files into ``workdir`` (copies: tests must not write through links)."""
    for name in os.listdir(INPUTS):
        shutil.copy(INPUTS / name, Path(workdir) / name)


def run_case(case, workdir, extra=(), after_prepare=None):
    """Run a case's argv (after its prepare_argv, if any, and then ``after_prepare()``) through the
    nbnumba command line in ``workdir``; returns the exit status of the main run."""
    from nbnumba.cli.main import main_argv
    entry = manifest()[case]
    stage_inputs(workdir)
    old = os.getcwd()
    os.chdir(workdir)
    try:
        if "prepare_argv" in entry:
            assert main_argv(list(entry["prepare_argv"])) == 0
            if after_prepare is not None:
                after_prepare()
        return main_argv(list(entry["argv"]) + list(extra))
    finally:
        os.chdir(old)


def relative_max_difference(ours, ref):
    assert ours.shape == ref.shape
    scale = float(np.abs(ref.astype(np.float64)).max())
    diff = float(np.abs(ours.astype(np.float64) - ref.astype(np.float64)).max())
    return diff / scale if scale > 0 else diff


def assert_smv_matches(ours, ref, off_by_one_fraction):
    """Two SMV files (bytes): the same 512-byte header, and pixels equal but for at most
    ``off_by_one_fraction`` of them differing by one ADU."""
    assert ours[:512] == ref[:512], "SMV headers differ"
    a = np.frombuffer(ours[512:], np.uint16).astype(np.int64)
    b = np.frombuffer(ref[512:], np.uint16).astype(np.int64)
    assert a.shape == b.shape
    off = np.abs(a - b)
    assert off.max() <= 1, "SMV pixels differ by up to %d ADU" % off.max()
    assert np.count_nonzero(off) <= off_by_one_fraction * off.size, "%d SMV pixels differ" % np.count_nonzero(off)


def without_device_line(lines):
    """Printed lines less nbnumba's "nbnumba: rendering on ..." line (where the kernel runs), which the
    C program does not print."""
    return [line for line in lines if not line.startswith(DEVICE_LINE)]


DEVICE_LINE = "nbnumba: rendering on "
