# SPDX-License-Identifier: BSD-3-Clause
"""nanoBragg's own example command lines (bl831/nanoBragg at 455534a: README.md, the example block at the
top of nanoBragg.c, example.com) and small stand-ins for the files they read.

The README makes its inputs with other programs (getcif.com, refmac5, phenix.fmodel, mtz_to_P1hkl.com and
UBtoA.awk's RANDOM orientation). Here A.mat, auto.mat and bigcell.mat are written in UBtoA.awk's format
for the README's cells and wavelengths, with a fixed orientation instead of a random one, and P1.hkl holds
every reflection of the cell to the resolution the detector reaches, with seeded random amplitudes."""
import math

import numpy as np

#: README "run the simulation of a 10x10x10 unit cell crystal" (also cuda/test/test_release.sh)
README_10_CELLS = "-hkl P1.hkl -matrix A.mat -lambda 6.2 -N 10"
#: README "Now lets do something more realistic"
README_WATER = "-hkl P1.hkl -matrix A.mat -lambda 6.2 -N 10 -fluence 2e22 -water 4"
#: README "SAXS simulations: and now, make the diffraction image" (and again after adding F000)
README_SAXS = ("-mat bigcell.mat -hkl P1.hkl -lambda 1 -dispersion 0 -distance 1000 -detsize 100 -pixel 0.1 "
               "-hdiv 0 -vdiv 0 -fluence 1e32 -N 1")
#: the example block at the top of nanoBragg.c
SOURCE_AUTO = "-mat auto.mat -hkl P1.hkl -distance 2500"
SOURCE_MAT = ("-mat A.mat -hkl P1.hkl -lambda 1 -dispersion 0.1 -dispstep 3 -distance 100  -detsize 100 -pixel 0.1 "
              "-hdiv 0.28 -hdivstep 0.02 -vdiv 0.28 -vdivstep 0.02 -fluence 1e24 -N 0 -water 0")
SOURCE_CELL = ("-cell 74 74 36 90 90 90 -misset 10 20 30 -hkl P1.hkl -lambda 1 -dispersion 0.1 -dispstep 3 "
               "-distance 100  -detsize 100 -pixel 0.1 -hdiv 0.28 -hdivstep 0.02 -vdiv 0.28 -vdivstep 0.02 "
               "-fluence 1e24 -N 0 -water 0")
#: example.com (its command is ./fastBragg, an older name; the flags are nanoBragg's)
EXAMPLE_COM = ("-cell 250 250 250 90 90 90 -misset 10 20 30 -hkl P1.hkl -lambda 1 -distance 1000 -detsize 100 "
               "-fluence 1e32 -N 1")

#: name -> (command line, {file: (cell, wavelength) for a matrix | (cell, d_min, F000 or None) for P1.hkl})
LYSO_HEX = (281.0, 281.0, 165.2, 90.0, 90.0, 120.0)  # README: UBtoA CELL 281 281 165.2 90 90 120, WAVE 6.2
BIGCELL = (250.0, 250.0, 250.0, 90.0, 90.0, 90.0)  # README SAXS: CELL 250 250 250 90 90 90, WAVE 1
SOURCE_CELL_74 = (74.0, 74.0, 36.0, 90.0, 90.0, 90.0)
EXAMPLES = {
    "readme_10_cells": (README_10_CELLS, {"A.mat": (LYSO_HEX, 6.2), "P1.hkl": (LYSO_HEX, 9.5, None)}),
    "readme_water": (README_WATER, {"A.mat": (LYSO_HEX, 6.2), "P1.hkl": (LYSO_HEX, 9.5, None)}),
    # phenix.fmodel high_resolution=10
    "readme_saxs": (README_SAXS, {"bigcell.mat": (BIGCELL, 1.0), "P1.hkl": (BIGCELL, 10.0, None)}),
    "readme_saxs_f000": (README_SAXS, {"bigcell.mat": (BIGCELL, 1.0), "P1.hkl": (BIGCELL, 10.0, 520.0)}),
    "source_auto_mat": (SOURCE_AUTO, {"auto.mat": (SOURCE_CELL_74, 1.0), "P1.hkl": (SOURCE_CELL_74, 10.0, None)}),
    "source_mat": (SOURCE_MAT, {"A.mat": (SOURCE_CELL_74, 1.0), "P1.hkl": (SOURCE_CELL_74, 3.0, None)}),
    "source_cell_misset": (SOURCE_CELL, {"P1.hkl": (SOURCE_CELL_74, 3.0, None)}),
    "example_com": (EXAMPLE_COM, {"P1.hkl": (BIGCELL, 10.0, 520.0)}),
}

#: a fixed orientation in place of UBtoA.awk's RANDOM (degrees about x, y, z, applied as UBtoA's MISSET)
ORIENTATION_DEG = (23.0, -41.0, 67.0)


def reciprocal_b(cell):
    """UBtoA.awk's B matrix (rows x, y, z; columns a*, b*, c*) for a cell (Angstrom, degrees)."""
    a, b, c = cell[:3]
    alpha, beta, gamma = (math.radians(x) for x in cell[3:])
    s = (alpha + beta + gamma) / 2
    skew = abs(math.sin(s) * math.sin(s - alpha) * math.sin(s - beta) * math.sin(s - gamma)) or 1e-30
    volume = 2 * a * b * c * math.sqrt(skew)
    a_star, b_star, c_star = (b * c * math.sin(alpha) / volume, c * a * math.sin(beta) / volume,
                              a * b * math.sin(gamma) / volume)
    cos_as = (math.cos(beta) * math.cos(gamma) - math.cos(alpha)) / (math.sin(beta) * math.sin(gamma))
    cos_bs = (math.cos(gamma) * math.cos(alpha) - math.cos(beta)) / (math.sin(gamma) * math.sin(alpha))
    cos_gs = (math.cos(alpha) * math.cos(beta) - math.cos(gamma)) / (math.sin(alpha) * math.sin(beta))
    sin_gs = math.sqrt(1 - cos_gs ** 2)
    return np.array([
        [a_star, b_star * cos_gs, c_star * cos_bs],
        [0.0, b_star * sin_gs, c_star * (cos_as - cos_bs * cos_gs) / sin_gs],
        [0.0, 0.0, c_star * volume / (a * b * c * sin_gs)],
    ])


def rotation(degrees):
    """U = Rz Ry Rx (x first) for rotations in degrees about x, y, z."""
    rx, ry, rz = (math.radians(x) for x in degrees)
    x = np.array([[1, 0, 0], [0, math.cos(rx), -math.sin(rx)], [0, math.sin(rx), math.cos(rx)]])
    y = np.array([[math.cos(ry), 0, math.sin(ry)], [0, 1, 0], [-math.sin(ry), 0, math.cos(ry)]])
    z = np.array([[math.cos(rz), -math.sin(rz), 0], [math.sin(rz), math.cos(rz), 0], [0, 0, 1]])
    return z @ y @ x


def matrix_text(cell, wavelength, orientation=ORIENTATION_DEG):
    """A MOSFLM matrix file as UBtoA.awk prints it: wavelength-scaled A = U B, then U and the cell."""
    u = rotation(orientation)
    a = u @ reciprocal_b(cell) * wavelength + 1e-9
    lines = ["".join(f"{v:12.8f}" for v in row) for row in a]
    lines.append("".join(f"{0:12.3f}" for _ in range(3)))
    lines += ["".join(f"{v:12.7f}" for v in row) for row in u]
    lines.append("".join(f"{v:12.4f}" for v in cell))
    lines.append("".join(f"{0:12.3f}" for _ in range(3)))
    return "\n".join(lines) + "\n"


def hkl_text(cell, d_min, f000=None, seed=5):
    """Every h k l of the cell with d >= d_min, except 0 0 0, with F drawn from a seeded exponential
    distribution (as mtz_to_P1hkl.com writes them: h k l F); `f000` appended as the README does."""
    b = reciprocal_b(cell)
    limit = [int(math.ceil(edge / d_min)) for edge in cell[:3]]  # |h| = |s . a| <= |a| / d_min
    h, k, l = np.meshgrid(*(np.arange(-n, n + 1) for n in limit), indexing="ij")
    hkl = np.stack([h.ravel(), k.ravel(), l.ravel()], axis=1)
    s = np.linalg.norm(hkl @ b.T, axis=1)
    keep = (s <= 1.0 / d_min) & (s > 0)
    hkl = hkl[keep]
    f = np.random.default_rng(seed).exponential(100.0, len(hkl))
    lines = [f"{a} {b_} {c} {v:.2f}" for (a, b_, c), v in zip(hkl.tolist(), f.tolist())]
    if f000 is not None:
        lines.append(f"0 0 0 {f000:g}")
    return "\n".join(lines) + "\n"


def write_inputs(name, folder):
    """Write the files example `name` reads into `folder`; returns its argv."""
    text, files = EXAMPLES[name]
    for file_name, spec in files.items():
        if file_name.endswith(".mat"):
            content = matrix_text(*spec)
        else:
            content = hkl_text(*spec)
        (folder / file_name).write_text(content)
    return text.split()
