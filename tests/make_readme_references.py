# SPDX-License-Identifier: BSD-3-Clause
"""Store nanoBragg.c's outputs for nanoBragg's own example command lines (``nanobragg_readme.EXAMPLES``), so that
``tests/test_readme_examples.py`` compares every example with the C program without one:

    NB_C_BIN=/path/to/nanoBragg python tests/make_readme_references.py [name ...]

Each example runs once, full size, as written, in a fresh folder with its stand-in inputs, on one thread (as
``c_reference/``'s cases). ``c_reference/readme_examples/<name>.npz`` then holds what the test compares: the
float image at every ``STRIDE``-th pixel in row-major order and at its ``TOP`` brightest pixels (indices and
float32 values), its maximum and pixel count, the 512-byte SMV header of ``intimage.img``, and the printed
lines (``printed_lines``: ``test_readme_examples.c_printed``, less those that depend on the clock and C's
progress lines). A full image is 4 MB; these are about 50 kB."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from nanobragg_readme import EXAMPLES, write_inputs  # noqa: E402 -- after the path above
from test_readme_examples import c_printed  # noqa: E402 -- the test's own comparison

FOLDER = TESTS.parent / "c_reference" / "readme_examples"
#: every STRIDE-th pixel (prime: no alignment with rows) and the TOP brightest
STRIDE = 97
TOP = 256


def sampled(image):
    """The pixel indices the reference keeps (row-major): every STRIDE-th and the TOP brightest, sorted."""
    flat = image.ravel()
    brightest = np.argsort(flat, kind="stable")[-TOP:]
    return np.unique(np.concatenate([np.arange(0, flat.size, STRIDE), brightest]))


def make(name, c_bin):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        argv = write_inputs(name, folder)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        done = subprocess.run([c_bin] + argv, cwd=folder, env=env, capture_output=True, text=True, timeout=7200)
        if done.returncode != 0:
            raise SystemExit("%s: exit %d\n%s" % (name, done.returncode, done.stdout[-2000:]))
        image = np.fromfile(folder / "floatimage.bin", np.float32)
        indices = sampled(image)
        FOLDER.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(FOLDER / (name + ".npz"), argv=np.array(argv), indices=indices, values=image[indices],
                            maximum=np.float32(np.abs(image).max()), size=image.size,
                            header=np.frombuffer((folder / "intimage.img").read_bytes()[:512], np.uint8),
                            printed_lines=np.array(c_printed(done.stdout)))


def main():
    c_bin = os.environ.get("NB_C_BIN")
    if not c_bin:
        raise SystemExit("set NB_C_BIN to a nanoBragg.c binary")
    for name in sys.argv[1:] or sorted(EXAMPLES):
        make(name, c_bin)
        print(name, file=sys.stderr)


if __name__ == "__main__":
    main()
