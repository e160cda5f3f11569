# SPDX-License-Identifier: BSD-3-Clause
"""NeXus NXmx (HDF5) output that DIALS imports (``dials.import file.h5``, dxtbx ``FormatNXmx``).

Frame conversion
----------------
nanoBragg.c computes everything from vectors in one right-handed lab frame whose axes depend on the
convention: MOSFLM and DENZO put the beam along +x and the spindle along +z; XDS, ADXV and DIALS put
the beam along +z; ``-beam_vector`` and friends (CUSTOM) put it anywhere. NeXus uses the McStas
frame: z along the beam, y up, x horizontal (to the left looking downstream), right-handed.

The conversion is the rotation ``R`` whose rows are the McStas axes written in nanoBragg's frame,
``v_mcstas = R @ v_nanobragg``:

    z = b                                   the unit beam direction (sample towards detector)
    x = -(e - (e.b) b) / |e - (e.b) b|      e = the unit E-vector (``polar_vector``), taken to be
                                            horizontal as at a synchrotron
    y = z cross x                           so R is a proper rotation (det R = +1)

The beam therefore lands exactly on McStas +z, and handedness is kept. The sign of x makes the
MOSFLM convention (b = +x, e = +z) give

    R = [[0, 0, -1], [0, 1, 0], [1, 0, 0]] = diag(-1, 1, -1) @ [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]

where the right factor is the MOSFLM-to-imgCIF mapping nanoBragg.c itself uses for its
``dials origin`` (C L1764-1770: x_imgCIF = z, y_imgCIF = y, z_imgCIF = -x) and diag(-1, 1, -1) is
dxtbx's imgCIF-to-McStas conversion. So for MOSFLM the spindle (+z) becomes McStas -x, which dxtbx
reads as the imgCIF rotation axis (1, 0, 0). Were the E-vector along the beam, the spindle axis
(then any axis) takes its place.

Detector
--------
nanoBragg's pixel (f, s) has its centre at ``pix0 + (f + 1/2) p fdet + (s + 1/2) p sdet``: ``pix0``
is the outer corner of the first pixel, which is what dxtbx takes as a panel's origin (the
translation of the module's ``depends_on`` chain). The chain written is

    fast_pixel_direction, slow_pixel_direction   p (mm) along R fdet, R sdet; depend on module_offset
    module_offset                                0 mm, offset = R pix0 - d n (mm); depends on det_z
    transformations/det_z                        d (mm) along n; depends_on "."

with n = R odet oriented away from the sample and d = |pix0 . odet| (the close distance), so det_z
is the sample-to-detector distance along the normal and the chain's translation is R pix0.

The module needs no Numba: it imports h5py (and hdf5plugin for bitshuffle) only when a writer is made.
"""
from __future__ import annotations

import datetime
import math
import os

import numpy as np

from nbnumba._version import __version__
from nbnumba.constants import Compression
from nbnumba.errors import InputError
from nbnumba.io import atomic

#: the ``compression`` choices: gzip, bitshuffle, none
COMPRESSIONS = Compression.values()
#: the ``dtype`` choices: the noiseless float image, the noise image (photon counts + ADC offset)
DTYPES = ("float32", "int32")
INT32_MAX = 2**31 - 1
#: written as sensor_thickness when the run has none (-detector_thick 0, nanoBragg's default: an infinitely
#: thin sensor, no parallax). 1 um keeps DIALS's parallax correction below a hundredth of a 0.1 mm pixel.
THIN_SENSOR_M = 1.0e-6
GZIP_LEVEL = 4

DETECTOR = "/entry/instrument/detector"
DET_Z = DETECTOR + "/transformations/det_z"
MODULE = DETECTOR + "/module"
OMEGA = "/entry/sample/transformations/omega"


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    norm = math.sqrt(float(v @ v))
    return v / norm if norm > 0 and math.isfinite(norm) else None


def to_mcstas_matrix(beam, polar, spindle=None) -> np.ndarray:
    """The rotation taking nanoBragg lab-frame vectors to McStas (see the module docstring)."""
    z = _unit(beam)
    if z is None:
        raise ValueError("beam direction must be a non-zero finite vector")
    x = None
    for candidate in (polar, spindle, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)):
        if candidate is None:
            continue
        c = np.asarray(candidate, dtype=np.float64)
        perp = c - float(c @ z) * z
        if math.sqrt(float(perp @ perp)) > 1e-9 * max(1.0, math.sqrt(float(c @ c))):
            x = -_unit(perp)
            break
    y = np.cross(z, x)
    return np.array([x, y, z])


def nxmx_geometry(setup) -> dict:
    """The run's detector, beam and spindle in the NeXus McStas frame, as written to the file.

    Parameters
    ----------
    setup : nbnumba.simulation.Setup

    Returns
    -------
    dict
        ``to_mcstas`` (3x3, nanoBragg lab frame -> McStas), ``beam`` (unit, = +z), ``fast``, ``slow``,
        ``normal`` (unit vectors; normal points away from the sample), ``origin_mm`` (corner of the
        first pixel, = nanoBragg pix0), ``det_z_mm`` (distance along ``normal``), ``module_offset_mm``
        (origin_mm - det_z_mm * normal), ``pixel_size_mm``, ``data_size`` ((slow, fast) pixels),
        ``wavelength_A``, ``rotation_axis`` (unit spindle), ``sensor_thickness_m`` (the run's
        -detector_thick, or ``THIN_SENSOR_M`` when that is 0), ``exposure_s``, ``phi_start_deg`` and
        ``osc_deg`` (this image's rotation start and width).
    """
    d = setup.detector
    p = setup.params
    R = to_mcstas_matrix(d.beam, d.polar, d.spindle)
    fast = R @ np.asarray(d.fdet, dtype=np.float64)
    slow = R @ np.asarray(d.sdet, dtype=np.float64)
    origin = R @ np.asarray(d.pix0, dtype=np.float64) * 1000.0
    normal = R @ np.asarray(d.odet, dtype=np.float64)
    close = float(origin @ normal)
    if close < 0:
        normal, close = -normal, -close
    thick = setup.steps.detector_thick
    return dict(
        to_mcstas=R, beam=R @ np.asarray(d.beam, dtype=np.float64), fast=fast, slow=slow, normal=normal,
        origin_mm=origin, det_z_mm=close, module_offset_mm=origin - close * normal,
        pixel_size_mm=d.pixel_size * 1000.0, data_size=(d.spixels, d.fpixels),
        wavelength_A=p.lambda0 * 1e10, rotation_axis=R @ np.asarray(d.spindle, dtype=np.float64),
        sensor_thickness_m=thick if thick > 0 else THIN_SENSOR_M, exposure_s=p.exposure,
        phi_start_deg=math.degrees(setup.steps.phi0), osc_deg=math.degrees(setup.steps.osc))


#: the keys of nxmx_geometry that every image of one file must share
_SHARED = ("to_mcstas", "fast", "slow", "normal", "origin_mm", "pixel_size_mm", "data_size", "wavelength_A",
           "rotation_axis", "sensor_thickness_m")


def compression_options(compression: str) -> dict:
    """h5py ``create_dataset`` keywords for ``compression``; InputError for an unknown name or for
    bitshuffle without the optional ``hdf5plugin`` package."""
    if compression == "gzip":
        return dict(compression="gzip", compression_opts=GZIP_LEVEL, shuffle=True)
    if compression == "none":
        return {}
    if compression == "bitshuffle":
        try:
            import hdf5plugin  # noqa: PLC0415 -- hdf5plugin: optional (nbnumba[hdf5plugin])
        except ImportError:
            raise InputError("--hdf5-compression bitshuffle needs the hdf5plugin package "
                             "(pip install 'nbnumba[hdf5plugin]'); or use gzip") from None
        return dict(hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
    raise InputError("--hdf5-compression: expected one of %s, got %r" % (", ".join(COMPRESSIONS), compression))


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _attrs(node, **attrs):
    for key, value in attrs.items():
        node.attrs[key] = value
    return node


def _group(parent, name, nx_class, **attrs):
    return _attrs(parent.create_group(name), NX_class=nx_class, **attrs)


def _translation(parent, name, value_mm, vector, depends_on, offset_mm=None):
    ds = parent.create_dataset(name, data=float(value_mm))
    _attrs(ds, transformation_type="translation", units="mm", vector=np.asarray(vector, dtype=np.float64),
           depends_on=depends_on)
    if offset_mm is not None:
        _attrs(ds, offset=np.asarray(offset_mm, dtype=np.float64), offset_units="mm")
    return ds


class NXmxWriter:
    """Write images of one detector geometry into an NXmx file, atomically.

    The file is written under a temporary name in the target's folder and renamed onto ``path`` by
    ``commit``; ``abort`` (or an exception inside a ``with`` block, KeyboardInterrupt included)
    removes it, so ``path`` only ever holds a complete file. A symlink is followed (its target keeps
    its permission bits); for a device or FIFO ``path`` the file is built in the system's temporary
    folder and its bytes are copied into ``path`` by ``commit``. Ctrl-C and SIGTERM wait for the end
    of each h5py step, so they are never lost inside h5py.

    Parameters
    ----------
    path : str or os.PathLike
    setup : nbnumba.simulation.Setup
        The first image's set-up: it fixes the detector, beam and spindle geometry of the file.
    dtype : "float32" (noiseless images) or "int32" (noise images: counts, no 16-bit clamp)
    compression : "gzip" (default), "bitshuffle" (LZ4, needs hdf5plugin) or "none"; one chunk per image
    rotation : bool or None
        True: write the sample's omega axis (a rotation series), False: stills (sample depends_on
        "."); None (default): a rotation series when any appended image has an oscillation > 0.

    Example
    -------
    >>> with NXmxWriter("run.h5", setup) as out:      # doctest: +SKIP
    ...     out.append(result.floatimage, setup)
    """

    def __init__(self, path, setup, *, dtype="float32", compression="gzip", rotation=None):
        import h5py  # noqa: PLC0415 -- start-up: only runs that write HDF5 import h5py (0.1 s)
        if dtype not in DTYPES:
            raise ValueError("dtype: expected one of %s, got %r" % (", ".join(DTYPES), dtype))
        self.path = os.fspath(path)
        self.dtype = np.dtype(dtype)
        self.rotation = rotation
        self.setup = setup
        self.geometry = nxmx_geometry(setup)
        options = compression_options(compression)
        self._phi_start = []
        self._osc = []
        self._done = False
        self._file = None
        # h5py runs weak-reference callbacks in which a Ctrl-C would be lost ("Exception ignored"):
        # signals wait for the end of each h5py step (see atomic.deferred_signals)
        self._target, self._temp = atomic.temporary_path(self.path)
        try:
            with atomic.deferred_signals():
                self._file = h5py.File(self._temp, "w")
                self._write_static(setup, options)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise InputError(self._error(exc)) from None
            raise

    def _error(self, exc) -> str:
        """An h5py or OS error as a message naming the target, never the temporary file."""
        text = getattr(exc, "strerror", None) or str(exc)
        return "cannot write %s: %s" % (self.path, text.replace(self._temp, self._target))

    # -- context manager: commit on normal exit, abort on any exception --
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False

    @property
    def images(self) -> int:
        """How many images have been appended."""
        return len(self._phi_start)

    def _write_static(self, setup, options):
        g = self.geometry
        f = self._file
        slow, fast = g["data_size"]
        _attrs(f, NX_class="NXroot", file_name=os.path.basename(self._target), file_time=_utc_now(),
               creator="nbnumba %s" % __version__)
        entry = _group(f, "entry", "NXentry", default="data")
        entry["definition"] = "NXmx"
        entry["start_time"] = _utc_now()
        source = _group(entry, "source", "NXsource")
        _attrs(source.create_dataset("name", data="nanoBragg simulation"), short_name="nbnumba")
        instrument = _group(entry, "instrument", "NXinstrument")
        _attrs(instrument.create_dataset("name", data="nbnumba (nanoBragg.c port) simulated instrument"),
               short_name="nbnumba")
        beam = _group(instrument, "beam", "NXbeam")
        _attrs(beam.create_dataset("incident_wavelength", data=g["wavelength_A"]), units="angstrom")

        det = _group(instrument, "detector", "NXdetector")
        det["depends_on"] = DET_Z
        det["description"] = "nanoBragg simulated pixel-array detector"
        det["sensor_material"] = "Silicon"
        _attrs(det.create_dataset("sensor_thickness", data=g["sensor_thickness_m"]), units="m")
        det["saturation_value"] = np.int32(INT32_MAX)
        det["underload_value"] = np.int32(-INT32_MAX)
        _attrs(det.create_dataset("count_time", data=g["exposure_s"]), units="s")
        _attrs(det.create_dataset("frame_time", data=g["exposure_s"]), units="s")
        # 0 = good; bit 8 (user mask): pixels nanoBragg does not render (outside -roi, zero in -mask)
        # (gzip whatever the images use: all but a few pixels are 0, and every reader has gzip)
        det.create_dataset("pixel_mask", data=np.where(setup.rendered(), 0, 256).astype(np.int32),
                           chunks=(slow, fast), compression="gzip", shuffle=True)
        transformations = _group(det, "transformations", "NXtransformations")
        _translation(transformations, "det_z", g["det_z_mm"], g["normal"], ".")
        module = _group(det, "module", "NXdetector_module")
        module["data_origin"] = np.array([0, 0], dtype=np.int32)
        module["data_size"] = np.array([slow, fast], dtype=np.int32)
        _translation(module, "module_offset", 0.0, (1.0, 0.0, 0.0), DET_Z, offset_mm=g["module_offset_mm"])
        for name, key in (("fast_pixel_direction", "fast"), ("slow_pixel_direction", "slow")):
            _translation(module, name, g["pixel_size_mm"], g[key], MODULE + "/module_offset",
                         offset_mm=(0.0, 0.0, 0.0))

        sample = _group(entry, "sample", "NXsample")
        sample["name"] = "nanoBragg crystal"
        data = _group(entry, "data", "NXdata", signal="data")
        self._data = data.create_dataset("data", shape=(0, slow, fast), maxshape=(None, slow, fast),
                                         dtype=self.dtype, chunks=(1, slow, fast), **options)
        det["data"] = self._data  # the NXmx link detector/data -> entry/data/data (a hard link)

    def append(self, image, setup=None):
        """Add one image, shape (slow, fast).

        ``setup`` (default: the writer's) gives this image's phi start and oscillation; its detector,
        beam and spindle must be the first image's (InputError otherwise). Float images are stored as
        float32; for an int32 file the values must be integers that fit in int32."""
        if self._done:
            raise ValueError("NXmxWriter for %s is already closed" % self.path)
        image = np.asarray(image)
        shape = tuple(self.geometry["data_size"])
        if image.shape != shape:
            raise ValueError("image shape %s, expected (slow, fast) = %s" % (image.shape, shape))
        geometry = self.geometry if setup is None else nxmx_geometry(setup)
        if setup is not None:
            for key in _SHARED:
                if not np.array_equal(np.asarray(geometry[key]), np.asarray(self.geometry[key])):
                    raise InputError("%s: image %d has another %s than image 1; one NXmx file holds one "
                                     "detector and beam geometry" % (self.path, self.images + 1,
                                                                      key.replace("_", " ")))
        if self.dtype.kind == "i":
            if image.dtype.kind not in "iu" or (image.size and (image.min() < -INT32_MAX - 1
                                                                 or image.max() > INT32_MAX)):
                raise ValueError("an int32 NXmx file takes integer images within the int32 range")
        n = self.images
        try:
            with atomic.deferred_signals():
                self._data.resize(n + 1, axis=0)
                self._data[n] = image.astype(self.dtype, copy=False)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise InputError(self._error(exc)) from None
            raise
        self._phi_start.append(geometry["phi_start_deg"])
        self._osc.append(geometry["osc_deg"])

    def _write_sample(self):
        sample = self._file["/entry/sample"]
        rotation = self.rotation
        if rotation is None:
            rotation = any(osc > 0 for osc in self._osc)
        if not rotation:
            sample["depends_on"] = "."
            return
        sample["depends_on"] = OMEGA
        transformations = _group(sample, "transformations", "NXtransformations")
        start = np.asarray(self._phi_start, dtype=np.float64)
        osc = np.asarray(self._osc, dtype=np.float64)
        omega = transformations.create_dataset("omega", data=start)
        _attrs(omega, transformation_type="rotation", units="deg",
               vector=np.asarray(self.geometry["rotation_axis"], dtype=np.float64), depends_on=".")
        _attrs(transformations.create_dataset("omega_increment_set", data=osc), units="deg")
        _attrs(transformations.create_dataset("omega_end", data=start + osc), units="deg")

    def commit(self):
        """Write the sample's rotation (or still) description, close the file and rename it onto ``path``."""
        if self._done:
            return
        try:
            with atomic.deferred_signals():
                self._write_sample()
                self._file["/entry"]["end_time_estimated"] = _utc_now()
                self._file.close()
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise InputError(self._error(exc)) from None
            raise
        self._done = True
        atomic.replace(self._temp, self._target)

    def __del__(self):
        # a writer dropped without commit or abort (an interrupt between the constructor and a with
        # block) removes its temporary file
        try:
            if not getattr(self, "_done", True):
                self.abort()
        except Exception:
            pass

    def abort(self):
        """Close and remove the temporary file; ``path`` is left as it was."""
        if self._done:
            return
        self._done = True
        with atomic.deferred_signals():
            try:
                if self._file is not None:
                    self._file.close()
            except Exception:
                pass
            finally:
                atomic.discard(self._temp)


def write_nxmx(path, setup, image, *, dtype="float32", compression="gzip") -> None:
    """One image as an NXmx file (what ``--hdf5`` and ``--hdf5-noise`` write)."""
    with NXmxWriter(path, setup, dtype=dtype, compression=compression) as out:
        out.append(image)
