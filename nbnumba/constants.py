# SPDX-License-Identifier: BSD-3-Clause
"""Constants of nanoBragg.c and the port's enumerations, in one place (a leaf: imports nothing of nbnumba).

The enumerations are ``str`` enums: a member equals its value (``PhiCarryover.C_PARITY == "c-parity"``),
so Params built from Python with plain strings compare and print as before."""
import enum
import math

#: Thomson cross section (m^2), nanoBragg.c L211
R_E_SQR = 7.94079248018965e-30
#: default fluence (photons/m^2): r_e_sqr * fluence == 1.0 exactly
DEFAULT_FLUENCE = 125932015286227086360700780544.0
#: Avogadro's number as nanoBragg.c writes it (L70)
AVOGADRO = 6.02214179e23
#: radians to degrees: C's ``RTD=180.0*M_1_PI`` (L349), the same double as 180*(1/pi)
RTD = 180.0 * (1.0 / math.pi)
#: C's DBL_MIN: the smallest normal double, nanoBragg.c's "effectively zero" in several tests
DBL_MIN = 2.2250738585072014e-308
#: water background (C L233-234, L2515): structure factor of water and its molecular weight (g/mol)
WATER_F = 2.57
WATER_MW = 18.0


class Choice(str, enum.Enum):
    """A flag value out of a fixed set; ``str(member)`` is its value."""

    def __str__(self):
        return self.value

    @classmethod
    def values(cls):
        return tuple(member.value for member in cls)


class Convention(Choice):
    """Beam-centre / detector conventions (-mosflm, -xds, ...; vectors set a custom one)."""
    MOSFLM = "mosflm"
    XDS = "xds"
    ADXV = "adxv"
    DENZO = "denzo"
    DIALS = "dials"
    CUSTOM = "custom"


class Pivot(Choice):
    """What stays fixed when the detector rotates: the direct-beam spot or the sample-closest point."""
    BEAM = "beam"
    SAMPLE = "sample"


class CrystalShape(Choice):
    """Crystal shape of the lattice transform (-square_xtal, -round_xtal, -gauss_xtal, -tophat_spots)."""
    SQUARE = "square"
    ROUND = "round"
    GAUSS = "gauss"
    TOPHAT = "tophat"


class PhiCarryover(Choice):
    """--phi-carryover-mode: ``spec`` rotates the crystal afresh each phi step; ``c-parity``
    reproduces nanoBragg.c's phi=0 carryover (C-PARITY-001)."""
    SPEC = "spec"
    C_PARITY = "c-parity"


class Device(Choice):
    """--device: where the pixel kernel runs."""
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Precision(Choice):
    """--precision: the real type of the pixel kernel's per-sample arithmetic (``nbnumba.kernels.precision``).
    ``double`` (default) reproduces nanoBragg.c; ``single`` computes the lattice factor, the structure
    factor and their product in float32 (geometry, Miller index and the pixel's sum stay float64)."""
    DOUBLE = "double"
    SINGLE = "single"


class Compression(Choice):
    """--hdf5-compression of the NXmx images."""
    GZIP = "gzip"
    BITSHUFFLE = "bitshuffle"
    NONE = "none"
