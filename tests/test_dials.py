# SPDX-License-Identifier: BSD-3-Clause
"""DIALS itself reads what nbnumba writes: the real ``dials.import`` / ``dials.show`` and dxtbx (DIALS's
image library) on NXmx files written by ``nbnumba --hdf5`` / ``--hdf5-noise`` and ``nbnumba-batch --hdf5``,
and on SMV series written by ``-intfile``.

DIALS is not on PyPI: it comes from the system package archive (``apt-get install dials``, DIALS 3.12 with
dxtbx for the system Python, /usr/bin/python3). Without ``dials.import`` on PATH these tests skip, except
when the ``CI`` environment variable is set: then they fail, so CI always runs them (``.ci/run`` installs
DIALS first).

The expected values come from the printout nbnumba writes for each run (the same lines nanoBragg.c prints
for the same flags), never from nbnumba's geometry code. dxtbx is driven in one system-Python process
(``PROBE`` below, JSON on stdout, pixel data as .npy files), and ``dials.import`` + ``dials.show`` run once
on a mix of the files.

Frames
------
nanoBragg works in one right-handed lab frame per convention; its printout gives, in that frame, the pixel
axes (``DIRECTION_OF_DETECTOR_X-AXIS`` = fast f, ``_Y-AXIS`` = slow s, ``_Z-AXIS`` = normal o), the beam
b (``INCIDENT_BEAM_DIRECTION``), the spindle a (``spindle ROTATION_AXIS``) and n = b x e, e the E-vector
(``POLARIZATION_PLANE_NORMAL``). Its ``dials origin`` line is always

    dials origin = 1000 M pix0,   M = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]   (C: x = z, y = y, z = -x)

whatever the convention: pix0 (m), the outer corner of the first pixel, is pix0 = M^T (dials origin) / 1000.

DIALS works in the imgCIF frame (beam along -z, sample-to-source +z). NXmx files hold McStas vectors, which
dxtbx turns into imgCIF with D = diag(-1, 1, -1). Our writer's McStas frame (nbnumba/io/nxmx.py) has rows
z = b, x = -(n x b)/|n x b| (minus the E-vector's part across the beam: n x b = e - (e.b) b), y = z x x.
So a nanoBragg vector v reaches DIALS as T v with

    T = D R,   R = [x; y; z]

For MOSFLM and DENZO (b = +x, e = +z) T is exactly M: there DIALS's panel origin *is* the ``dials origin``
line. For XDS, DIALS, ADXV and CUSTOM (beam along +z, or anywhere) M is not the map into DIALS's frame (C's
line takes the beam along +x in every convention), so the origin DIALS reads is T M^T (dials origin),
which the tests check. The expected values are:

    panel origin (mm)     T M^T (dials origin)
    fast, slow axes       T f, T s
    beam                  sample-to-source direction -T b = (0, 0, 1); wavelength = ``wave=`` (m -> A)
    rotation axis         T a
    distance              dxtbx's distance |origin . (fast x slow)| = |pix0 . o| mm, the close distance.
                          nanoBragg prints ``distance=`` = close distance / ratio, ratio = b . (odet after
                          -detector_rot*, before -twotheta). Each case uses -twotheta or -detector_rot*,
                          not both, so ratio = 1 (every built-in convention starts with odet = b) with
                          -twotheta, and ratio = b . o without it: the DIALS distance is ``distance=`` x
                          ratio. dxtbx's directed distance origin . (fast x slow) has the sign of
                          o . (f x s): -1 for ADXV, whose pixel axes make a left-handed frame with o.
    scan                  image count = lines in the batch; oscillation start and width from each
                          image's ``N phi steps from A to B degrees`` (start A, width B - A)

Precision: %g prints 6 significant digits. Every origin component is kept under 100 mm (so it is printed
to 1e-4 mm, rounding at most 5e-5) and the beam and E-vector are exact decimals, so T is exact and the
origin is held to 1e-4 mm; printed direction cosines round by at most 5e-7, held to 1e-6.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytestmark = pytest.mark.slow

#: how long any one external command may take (a hung DIALS must not hang the suite)
TIMEOUT_S = 300

#: 64 fast x 48 slow pixels of 0.4 mm: the detector is 25.6 x 19.2 mm (non-square, so a fast/slow mix-up
#: shows), small enough that every origin component stays under 100 mm
FPIX, SPIX, PIXEL_MM = 64, 48, 0.4
COMMON = ("-cell 70 80 90 90 90 90 -default_F 100 -N 3 -lambda 1.2 -oversample 1 "
          f"-detpixels_f {FPIX} -detpixels_s {SPIX} -pixel {PIXEL_MM} -nopgm -noprogress")
#: the rotation series: three images of 0.5 degrees from phi = 10
PHI0, OSC, IMAGES = 10.0, 0.5, 3
#: CUSTOM: beam, detector normal, E-vector, spindle and pixel axes given as exact decimals (3-4-5), the
#: beam tilted 36.87 degrees from +z in the x-z plane; fast x slow = the normal
CUSTOM = ("-beam_vector 0.6 0 0.8 -odet_vector 0.6 0 0.8 -fdet_vector 0.8 0 -0.6 -sdet_vector 0 1 0 "
          "-polar_vector 0 1 0 -spindle_axis 0.8 0 -0.6 -distance 80 -Xbeam 12 -Ybeam 9 -detector_rotz 7")

#: each: (flags, uses -twotheta). Every convention; -twotheta and -detector_rotx/y/z; CUSTOM with both pivots
#: (the built-in conventions fix their own pivot: MOSFLM, DENZO, ADXV the beam spot, XDS and DIALS the sample)
CASES = {
    "mosflm": ("-mosflm -distance 90 -Xbeam 9 -Ybeam 14 -twotheta 12", True),
    "denzo": ("-denzo -distance 75 -Xbeam 10 -Ybeam 11 -detector_rotz 3 -detector_rotx -2", False),
    "xds": ("-xds -ORGX 30 -ORGY 20 -distance 80 -detector_rotx 4 -detector_roty -3", False),
    "dials": ("-dials -ORGX 35.5 -ORGY 22 -distance 70 -twotheta 10", True),
    "adxv": ("-adxv -Xbeam 12 -Ybeam 10 -distance 85 -detector_roty 5", False),
    "custom_beam_pivot": (CUSTOM + " -pivot beam", False),
    "custom_sample_pivot": (CUSTOM + " -pivot sample", False),
}
#: extra stills (SMV only matters): MOSFLM on a square detector, beam at the default centre and off it
SQUARE = ("-cell 70 80 90 90 90 90 -default_F 100 -N 3 -lambda 1.2 -oversample 1 -detpixels 64 -pixel 0.4 "
          "-distance 80 -nopgm -noprogress")
SMV_CENTRES = {"centre": SQUARE, "offcentre": SQUARE + " -Xbeam 9 -Ybeam 14"}
#: one rotation image alone in its file (dxtbx takes its width from omega_end)
ONE_IMAGE = f"{COMMON} -distance 80 -phi {PHI0:g} -osc {OSC:g}"
#: the batch of single images, in job-file order: every case's still, the SMV centres, the one-image sweep
STILLS = ([(case, f"{COMMON} {flags}") for case, (flags, _) in CASES.items()] + list(SMV_CENTRES.items())
          + [("one_image", ONE_IMAGE)])
#: the bright run of `nbnumba` itself: counts above 65535 in the noise image
BRIGHT = ("-cell 20 30 40 90 90 90 -default_F 100 -N 3 -oversample 1 -detpixels_f 32 -detpixels_s 24 "
          "-pixel 0.5 -distance 50 -fluence 1e32 -seed 4321 -nopgm -noprogress")

M_DIALS_ORIGIN = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
D_MCSTAS_TO_IMGCIF = np.diag([-1.0, 1.0, -1.0])
MM, DIRECTION = 1e-4, 1e-6

#: runs in the system Python that has dxtbx: argv = an output folder, then groups of files (comma-joined);
#: prints one JSON object: per group, each imageset dxtbx makes of the files (models in full precision) and
#: writes each imageset's get_raw_data() for every image to OUT/<group index>_<imageset index>.npy; a group
#: starting with "!" is expected to fail: its entry is the error message
PROBE = r'''
import json, sys
import numpy as np
from dxtbx.model.experiment_list import ExperimentListFactory

out_dir, groups = sys.argv[1], sys.argv[2:]
result = []
for g, group in enumerate(groups):
    if group.startswith("!"):
        try:
            ExperimentListFactory.from_filenames(group[1:].split(","))
            result.append("read without error")
        except Exception as exc:
            result.append("%s: %s" % (type(exc).__name__, exc))
        continue
    experiments = ExperimentListFactory.from_filenames(group.split(","))
    sets = []
    for k, iset in enumerate(experiments.imagesets()):
        detector, beam, scan, gonio = (iset.get_detector(), iset.get_beam(), iset.get_scan(),
                                       iset.get_goniometer())
        panel = detector[0]
        data = [iset.get_raw_data(i) for i in range(len(iset))]
        np.save("%s/%d_%d.npy" % (out_dir, g, k), np.stack([d[0].as_numpy_array() for d in data]))
        sets.append(dict(
            format=iset.get_format_class().__name__, kind=type(iset).__name__, images=len(iset),
            panels=len(detector), flex=[type(d[0]).__name__ for d in data],
            origin=list(panel.get_origin()), fast=list(panel.get_fast_axis()),
            slow=list(panel.get_slow_axis()), distance=panel.get_distance(),
            directed_distance=panel.get_directed_distance(),
            pixel_size=list(panel.get_pixel_size()), image_size=list(panel.get_image_size()),
            thickness=panel.get_thickness(),
            beam_centre=list(panel.get_beam_centre(beam.get_s0())),
            wavelength=beam.get_wavelength(),
            sample_to_source=list(beam.get_sample_to_source_direction()),
            oscillation=None if scan is None else list(scan.get_oscillation()),
            image_range=None if scan is None else list(scan.get_image_range()),
            rotation_axis=None if gonio is None else list(gonio.get_rotation_axis())))
    result.append(sets)
print(json.dumps(result))
'''


# -- DIALS present, or skip (fail under CI) --------------------------------------------------------------

def _under_ci():
    """CI is set (to anything but empty, 0 or false): the DIALS tests must run, not skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _dials_missing(reason):
    if _under_ci():
        pytest.fail(f"CI is set, so the DIALS interoperability tests must run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def dials_python():
    """The Python interpreter of the installed DIALS (the ``#!`` line of ``dials.import``), checked to
    import dxtbx; skips (fails under CI) without DIALS."""
    found = shutil.which("dials.import")
    if found is None:
        _dials_missing("dials.import not found on PATH: install DIALS (apt-get install dials) to run "
                       "the DIALS interoperability tests")
    first = Path(found).read_bytes()[:200].split(b"\n", 1)[0].decode(errors="replace")
    python = shlex.split(first[2:])[0] if first.startswith("#!") else "/usr/bin/python3"
    if Path(python).name == "env":
        python = shutil.which(shlex.split(first[2:])[1])
    check = subprocess.run([python, "-c", "import dxtbx"], capture_output=True, text=True, timeout=TIMEOUT_S)
    if check.returncode != 0:
        _dials_missing(f"dials.import is installed but its Python {python} cannot import dxtbx: "
                       f"{check.stderr.strip()[-300:]}")
    return python


# -- writing the files -----------------------------------------------------------------------------------

def _script(name):
    """The console script ``name`` that pip installed with this Python (or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install '.[test]'"
    return found


def _env():
    return dict(os.environ, NUMBA_NUM_THREADS="1")


def _run_all(commands):
    """Run (argv, cwd) commands two at a time (the machine's cores), one thread each; every process is
    waited for (or killed) before returning; a failure raises with its output."""
    pending, running, failed = list(commands), [], []
    try:
        while pending or running:
            while pending and len(running) < 2:
                argv, cwd = pending.pop(0)
                running.append((argv, cwd, subprocess.Popen(argv, cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                                                            stderr=subprocess.STDOUT, text=True)))
            argv, cwd, proc = running[0]
            out, _ = proc.communicate(timeout=TIMEOUT_S)
            running.pop(0)
            if proc.returncode != 0:
                failed.append(f"{shlex.join(argv)} (in {cwd}) exited {proc.returncode}:\n{out[-2000:]}")
    finally:
        for _, _, proc in running:
            proc.kill()
            proc.wait()
    assert not failed, "\n".join(failed)


def _series_jobs(flags):
    return "".join(f"nbnumba {COMMON} {flags} -phi {PHI0 + i * OSC:g} -osc {OSC:g} -nonoise "
                   f"-floatfile f_{i + 1}.bin -intfile img_{i + 1:04d}.img\n" for i in range(IMAGES))


@pytest.fixture(scope="module")
def runs(dials_python, tmp_path_factory):
    """Every file the tests read, written once: per case a rotation series (nbnumba-batch --hdf5, one line
    per image, in its own folder: series.h5, f_<i>.bin, img_000<i>.img, logs/job-<line>.log); the lines of
    STILLS as one batch, each with its own --hdf5 (stills/<name>.h5, <name>.bin, <name>_0001.img,
    logs/); and the bright run of nbnumba itself (bright/: float and noise NXmx, float, int and noise SMV,
    stdout.txt)."""
    root = tmp_path_factory.mktemp("dials")
    commands = []
    # nbnumba itself first, alone: it compiles the kernels when the cache is cold
    bright = root / "bright"
    bright.mkdir()
    argv = [_script("nbnumba")] + BRIGHT.split() + [
        "-floatfile", "bright.bin", "-intfile", "bright.img", "-noisefile", "noise.img",
        "--hdf5", "bright.h5", "--hdf5-noise", "noise.h5"]
    done = subprocess.run(argv, cwd=bright, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    (bright / "stdout.txt").write_text(done.stdout)
    stills = root / "stills"
    stills.mkdir()
    (stills / "jobs.txt").write_text("".join(
        f"nbnumba {flags} -nonoise -floatfile {name}.bin -intfile {name}_0001.img --hdf5 {name}.h5\n"
        for name, flags in STILLS))
    commands.append(([_script("nbnumba-batch"), "jobs.txt", "--log-dir", "logs"], stills))
    for case, (flags, _) in CASES.items():
        folder = root / case
        folder.mkdir()
        (folder / "jobs.txt").write_text(_series_jobs(flags))
        commands.append(([_script("nbnumba-batch"), "jobs.txt", "--log-dir", "logs", "--hdf5", "series.h5"],
                         folder))
    _run_all(commands)
    return root


# -- what nbnumba printed (= nanoBragg.c's lines) --------------------------------------------------------

def _floats(text, pattern):
    match = re.search(pattern, text, re.M)
    assert match, f"no line matching {pattern!r}"
    return [float(v) for v in match.groups()]


def printout(text):
    """The values of the run's printout that fix what DIALS must read (see the module docstring)."""
    vector = r"(\S+) (\S+) (\S+)\s*$"
    p = dict(
        fast=_floats(text, r"DIRECTION_OF_DETECTOR_X-AXIS= " + vector),
        slow=_floats(text, r"DIRECTION_OF_DETECTOR_Y-AXIS= " + vector),
        normal=_floats(text, r"DIRECTION_OF_DETECTOR_Z-AXIS= " + vector),
        beam=_floats(text, r"INCIDENT_BEAM_DIRECTION= " + vector),
        spindle=_floats(text, r"spindle ROTATION_AXIS= " + vector),
        polar_normal=_floats(text, r"POLARIZATION_PLANE_NORMAL= " + vector),
        dials_origin=_floats(text, r"dials origin= " + vector),
        distance_m=_floats(text, r"^\s*distance=(\S+) detsize")[0],
        wavelength_m=_floats(text, r"^\s*wave=(\S+) meters")[0],
        fbeam_sbeam_m=_floats(text, r"^\s*Fbeam=(\S+) Sbeam=(\S+)\s*$"),
        phi=_floats(text, r"^\s*\d+ phi steps from (\S+) to (\S+) degrees"))
    p = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
    # %g keeps 1e-4 mm only below 100 mm: the cases are chosen so (guard against a case that is not)
    assert np.all(np.abs(p["dials_origin"]) < 100), p["dials_origin"]
    return p


def to_dials(p):
    """T = D R: nanoBragg lab frame -> DIALS (imgCIF), from the printed beam and polarisation normal."""
    z = p["beam"] / np.linalg.norm(p["beam"])
    e = np.cross(p["polar_normal"], z)  # the E-vector's part across the beam
    x = -e / np.linalg.norm(e)
    return D_MCSTAS_TO_IMGCIF @ np.array([x, np.cross(z, x), z])


def expected(p, twotheta):
    """What dxtbx must read for a run with printout ``p`` (see the module docstring)."""
    T = to_dials(p)
    pix0_mm = M_DIALS_ORIGIN.T @ p["dials_origin"]
    ratio = 1.0 if twotheta else float(p["beam"] @ p["normal"])
    distance = p["distance_m"] * 1000.0 * ratio
    handed = float(np.sign(p["normal"] @ np.cross(p["fast"], p["slow"])))
    return dict(origin=T @ pix0_mm, fast=T @ p["fast"], slow=T @ p["slow"], rotation_axis=T @ p["spindle"],
                sample_to_source=-T @ p["beam"], distance=distance, directed_distance=handed * distance,
                wavelength=p["wavelength_m"] * 1e10, phi_start=p["phi"][0], osc=p["phi"][1] - p["phi"][0])


def smv(path):
    """Header dict and uint16 pixels (slow, fast) of an SMV file."""
    raw = Path(path).read_bytes()
    size = int(re.search(rb"HEADER_BYTES=\s*(\d+);", raw).group(1))
    header = dict(re.findall(r"^([A-Z0-9_]+)=([^;\n]*);?$", raw[:size].decode("latin-1"), re.M))
    image = np.frombuffer(raw[size:], dtype="<u2").reshape(int(header["SIZE2"]), int(header["SIZE1"]))
    return header, image


# -- dxtbx, once for every file ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dxtbx_read(dials_python, runs):
    """dxtbx's reading of every file: {key: (imagesets, [raw data of each imageset])}."""
    groups = {}
    for case in CASES:
        groups[("series", case)] = [runs / case / "series.h5"]
        groups[("still", case)] = [runs / "stills" / f"{case}.h5"]
        groups[("smv", case)] = [runs / case / f"img_{i + 1:04d}.img" for i in range(IMAGES)]
    for name in SMV_CENTRES:
        groups[("smv", name)] = [runs / "stills" / f"{name}_0001.img"]
    groups[("one_image", "nxmx")] = [runs / "stills" / "one_image.h5"]
    groups[("smv", "unnumbered")] = ["!" + str(runs / "bright" / "bright.img")]
    groups[("bright", "float")] = [runs / "bright" / "bright.h5"]
    groups[("bright", "noise")] = [runs / "bright" / "noise.h5"]
    out = runs / "dxtbx"
    out.mkdir()
    keys = list(groups)
    argv = [dials_python, "-c", PROBE, str(out)] + [",".join(map(str, groups[k])) for k in keys]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {key: sets if isinstance(sets, str) else (sets, [np.load(out / f"{g}_{k}.npy")
                                                             for k in range(len(sets))])
            for g, (key, sets) in enumerate(zip(keys, result))}


def _log(folder, line=1):
    return (folder / "logs" / f"job-{line}.log").read_text()


def _still_log(runs, name):
    return _log(runs / "stills", [n for n, _ in STILLS].index(name) + 1)


def _check_geometry(got, want, size=(FPIX, SPIX), pixel_mm=PIXEL_MM):
    assert got["panels"] == 1 and got["image_size"] == list(size)
    assert got["pixel_size"] == pytest.approx([pixel_mm, pixel_mm], abs=1e-12)
    assert np.allclose(got["origin"], want["origin"], atol=MM, rtol=0), (got["origin"], want["origin"])
    assert np.allclose(got["fast"], want["fast"], atol=DIRECTION, rtol=0), (got["fast"], want["fast"])
    assert np.allclose(got["slow"], want["slow"], atol=DIRECTION, rtol=0), (got["slow"], want["slow"])
    assert got["distance"] == pytest.approx(want["distance"], abs=MM)
    assert got["directed_distance"] == pytest.approx(want["directed_distance"], abs=MM)
    assert got["wavelength"] == pytest.approx(want["wavelength"], abs=1e-9)
    assert np.allclose(got["sample_to_source"], want["sample_to_source"], atol=1e-12)
    assert np.allclose(got["sample_to_source"], (0, 0, 1), atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rotation_series_geometry_and_scan(runs, dxtbx_read, case):
    """nbnumba-batch --hdf5: one sweep of IMAGES images, the geometry of the printout, each image's phi."""
    folder = runs / case
    (iset,), (data,) = dxtbx_read[("series", case)]
    assert iset["format"] == "FormatNXmx" and iset["kind"] == "ImageSequence"
    assert iset["images"] == IMAGES and iset["image_range"] == [1, IMAGES]
    want = expected(printout(_log(folder)), CASES[case][1])
    _check_geometry(iset, want)
    assert np.allclose(iset["rotation_axis"], want["rotation_axis"], atol=DIRECTION, rtol=0)
    # every image's printed phi range: consecutive starts OSC apart, each OSC wide
    phis = [printout(_log(folder, line))["phi"] for line in range(1, IMAGES + 1)]
    assert [a for a, _ in phis] == pytest.approx([PHI0 + i * OSC for i in range(IMAGES)], abs=1e-9)
    assert iset["oscillation"] == pytest.approx([want["phi_start"], want["osc"]], abs=1e-9)
    assert want["osc"] == pytest.approx(OSC, abs=1e-9)
    # the pixels: each image's float image, bit for bit
    assert set(iset["flex"]) == {"float"}
    floats = np.stack([np.fromfile(folder / f"f_{i + 1}.bin", np.float32).reshape(SPIX, FPIX)
                       for i in range(IMAGES)])
    assert data.dtype == np.float32 and np.array_equal(data, floats)
    assert floats.max() > 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_still_geometry(runs, dxtbx_read, case):
    """A run without -osc is a still: no scan, no goniometer; the geometry of the printout."""
    (iset,), (data,) = dxtbx_read[("still", case)]
    assert iset["format"] == "FormatNXmx" and iset["kind"] == "ImageSet" and iset["images"] == 1
    assert iset["oscillation"] is None and iset["rotation_axis"] is None
    p = printout(_still_log(runs, case))
    assert list(p["phi"]) == [0.0, 0.0]
    _check_geometry(iset, expected(p, CASES[case][1]))
    image = np.fromfile(runs / "stills" / f"{case}.bin", np.float32).reshape(SPIX, FPIX)
    assert np.array_equal(data[0], image)


def test_one_rotation_image_is_a_sweep_of_one(runs, dxtbx_read):
    """A single image with -osc is a one-image sweep with the printout's start and width (the dxtbx of
    DIALS 3.12 takes every width from omega_end - omega)."""
    (iset,), (data,) = dxtbx_read[("one_image", "nxmx")]
    assert iset["format"] == "FormatNXmx" and iset["kind"] == "ImageSequence"
    assert iset["images"] == 1 and iset["image_range"] == [1, 1]
    want = expected(printout(_still_log(runs, "one_image")), twotheta=False)
    assert iset["oscillation"] == pytest.approx([want["phi_start"], want["osc"]], abs=1e-9)
    assert iset["oscillation"] == pytest.approx([PHI0, OSC], abs=1e-9)
    _check_geometry(iset, want)
    assert np.array_equal(data[0], np.fromfile(runs / "stills" / "one_image.bin", np.float32).reshape(SPIX, FPIX))


def test_still_and_series_share_the_detector(dxtbx_read):
    """The first image of a series and the still of the same flags have one detector in DIALS, and the two
    CUSTOM pivots give two different ones (the pivot reaches the file)."""
    for case in CASES:
        series, still = dxtbx_read[("series", case)][0][0], dxtbx_read[("still", case)][0][0]
        for key in ("origin", "fast", "slow"):
            assert np.allclose(series[key], still[key], atol=1e-9), (case, key)
    beam, sample = (dxtbx_read[("series", c)][0][0] for c in ("custom_beam_pivot", "custom_sample_pivot"))
    assert np.allclose(beam["fast"], sample["fast"], atol=1e-12)
    assert not np.allclose(beam["origin"], sample["origin"], atol=0.1)


def test_mosflm_and_denzo_origin_is_the_dials_origin_line(runs, dxtbx_read):
    """Where nanoBragg's beam is +x, C's ``dials origin`` is DIALS's panel origin as printed; for XDS it is
    not (C's line maps the MOSFLM frame whatever the convention)."""
    for case in ("mosflm", "denzo"):
        p = printout(_log(runs / case))
        assert np.array_equal(to_dials(p), M_DIALS_ORIGIN)
        assert np.allclose(dxtbx_read[("series", case)][0][0]["origin"], p["dials_origin"], atol=MM, rtol=0)
    p = printout(_log(runs / "xds"))
    assert not np.allclose(dxtbx_read[("series", "xds")][0][0]["origin"], p["dials_origin"], atol=1.0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_smv_series_read_by_jhsim(runs, dxtbx_read, case):
    """-intfile images named img_0001.img, ...: one FormatSMVJHSim sweep with the header's wavelength,
    distance and oscillation; pixels are the int image; the beam centre is dxtbx's reading of the header
    (docs/usage.md, "SMV files in DIALS")."""
    folder = runs / case
    (iset,), (data,) = dxtbx_read[("smv", case)]
    assert iset["format"] == "FormatSMVJHSim" and iset["kind"] == "ImageSequence"
    assert iset["images"] == IMAGES and iset["image_range"] == [1, IMAGES]
    headers, images = zip(*(smv(folder / f"img_{i + 1:04d}.img") for i in range(IMAGES)))
    h = headers[0]
    assert iset["wavelength"] == pytest.approx(float(h["WAVELENGTH"]), abs=1e-9)
    assert iset["distance"] == pytest.approx(float(h["DISTANCE"]), abs=1e-9)
    assert iset["oscillation"] == pytest.approx([float(h["OSC_START"]), float(h["OSC_RANGE"])], abs=1e-9)
    assert [float(x["OSC_START"]) for x in headers] == pytest.approx([PHI0 + i * OSC for i in range(IMAGES)])
    p = printout(_log(folder))
    assert float(h["WAVELENGTH"]) == pytest.approx(p["wavelength_m"] * 1e10, abs=1e-9)
    assert float(h["DISTANCE"]) == pytest.approx(p["distance_m"] * 1000, abs=1e-9)
    assert iset["oscillation"] == pytest.approx([p["phi"][0], p["phi"][1] - p["phi"][0]], abs=1e-9)
    assert iset["image_size"] == [FPIX, SPIX] and iset["pixel_size"] == pytest.approx([PIXEL_MM, PIXEL_MM])
    # dxtbx's JHSim reader: an untilted detector, fast +x, slow -y, beam centre (mm from the first
    # pixel's outer corner) (BEAM_CENTER_X + pixel, SIZE2 pixel - BEAM_CENTER_Y + pixel)
    assert np.allclose(iset["fast"], (1, 0, 0)) and np.allclose(iset["slow"], (0, -1, 0))
    assert iset["beam_centre"] == pytest.approx(
        [float(h["BEAM_CENTER_X"]) + PIXEL_MM, SPIX * PIXEL_MM - float(h["BEAM_CENTER_Y"]) + PIXEL_MM],
        abs=1e-9)
    assert set(iset["flex"]) == {"int"}
    assert np.array_equal(data, np.stack(images).astype(np.int32))


def test_smv_beam_centre_against_nanobraggs(runs, dxtbx_read):
    """The numbers docs/usage.md quotes: dxtbx's JHSim reader takes the header's BEAM_CENTER_X (nanoBragg's
    MOSFLM Xbeam, a slow-axis coordinate) along fast and BEAM_CENTER_Y (Ybeam, along fast) flipped along
    slow, each + one pixel; nanoBragg's beam spot is (Fbeam, Sbeam) = (Ybeam, Xbeam) + half a pixel. At
    the default centre of a square detector that leaves dxtbx half a pixel off: + along fast, - along
    slow; off the centre the two differ by more."""
    pixel, size = 0.4, 64 * 0.4
    for name, xbeam, ybeam, shift in (("centre", 13.0, 13.0, (0.2, -0.2)),
                                      ("offcentre", 9.0, 14.0, (-4.8, 2.8))):
        (iset,), _ = dxtbx_read[("smv", name)]
        assert iset["format"] == "FormatSMVJHSim"
        header, _ = smv(runs / "stills" / f"{name}_0001.img")
        assert (float(header["BEAM_CENTER_X"]), float(header["BEAM_CENTER_Y"])) == (xbeam, ybeam)
        fbeam, sbeam = printout(_still_log(runs, name))["fbeam_sbeam_m"] * 1000
        assert (fbeam, sbeam) == pytest.approx((ybeam + pixel / 2, xbeam + pixel / 2), abs=1e-9)
        assert iset["beam_centre"] == pytest.approx((xbeam + pixel, size - ybeam + pixel), abs=1e-9)
        assert np.subtract(iset["beam_centre"], (fbeam, sbeam)) == pytest.approx(shift, abs=1e-9)


def test_noise_nxmx_keeps_counts_above_65535(runs, dxtbx_read):
    """nbnumba --hdf5-noise: dxtbx reads int32 counts, those above 65535 included (where the SMV noise
    image holds 65535 and the printout counts an overload), and the SMV noise image everywhere else;
    nbnumba's own --hdf5 of the same run is read back as its float image, with the printout's geometry."""
    folder = runs / "bright"
    out = (folder / "stdout.txt").read_text()
    overloads = int(_floats(out, r"photons on noise image \((\d+) overloads\)")[0])
    (iset,), (data,) = dxtbx_read[("bright", "noise")]
    assert iset["format"] == "FormatNXmx" and iset["kind"] == "ImageSet" and iset["flex"] == ["int"]
    counts = data[0]
    with h5py.File(folder / "noise.h5", "r") as f:
        stored = f["/entry/data/data"]
        assert stored.dtype == np.int32
        assert np.array_equal(counts, stored[0])
    assert overloads > 0 and np.count_nonzero(counts > 65535) == overloads
    assert counts.max() > 65535
    _, noise_smv = smv(folder / "noise.img")
    below = noise_smv < 65535
    assert np.array_equal(counts[below], noise_smv[below])
    assert np.all(noise_smv[~below] == 65535) and np.all(counts[~below] >= 65535)
    # the float file of the same run
    (iset,), (data,) = dxtbx_read[("bright", "float")]
    assert iset["format"] == "FormatNXmx" and iset["kind"] == "ImageSet" and iset["flex"] == ["float"]
    assert np.array_equal(data[0], np.fromfile(folder / "bright.bin", np.float32).reshape(24, 32))
    _check_geometry(iset, expected(printout(out), twotheta=False), size=(32, 24), pixel_mm=0.5)


def test_smv_without_a_number_in_its_name_is_refused(dxtbx_read):
    """dxtbx's JHSim reader needs a numbered name (its scan comes from the name's template): nanoBragg's
    default names (intimage.img, noiseimage.img) and any other unnumbered name are refused (docs/usage.md)."""
    refused = dxtbx_read[("smv", "unnumbered")]
    assert refused.startswith("ValueError:") and "filename template" in refused, refused


def _show_blocks(text):
    """dials.show's text, per experiment: the panel's vectors and distance, wavelength, scan lines."""
    blocks = re.split(r"^Experiment (\d+):\s*$", text, flags=re.M)[1:]
    out = []
    for number, block in zip(blocks[0::2], blocks[1::2]):
        def braces(name):
            match = re.search(r"^\s*%s:\s*\{([^}]*)\}" % re.escape(name), block, re.M)
            return None if match is None else [float(v) for v in match.group(1).split(",")]

        def value(name):
            match = re.search(r"^\s*%s:\s*(\S+)\s*$" % re.escape(name), block, re.M)
            return None if match is None else float(match.group(1))
        out.append(dict(number=int(number), origin=braces("origin"), fast=braces("fast_axis"),
                        slow=braces("slow_axis"), distance=value("distance"), wavelength=value("wavelength"),
                        images=value("number of images"), oscillation=braces("oscillation")))
    return out


def test_dials_import_and_dials_show(runs, dials_python):
    """The real commands on files of nbnumba-batch --hdf5 (a MOSFLM sweep), a batch line's own --hdf5 (a
    DIALS-convention still), nbnumba --hdf5 (a MOSFLM still) and an SMV series (XDS convention): one
    experiment each, with the printout's geometry, the header's for the SMV; dials.show prints the same."""
    work = runs / "import"
    work.mkdir()
    series, still, bright = runs / "mosflm" / "series.h5", runs / "stills" / "dials.h5", runs / "bright" / "bright.h5"
    smv_files = [runs / "xds" / f"img_{i + 1:04d}.img" for i in range(IMAGES)]
    done = subprocess.run([shutil.which("dials.import"), str(series), str(still), str(bright)]
                          + [str(f) for f in smv_files] + ["output.experiments=imported.expt"],
                          cwd=work, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Writing experiments to imported.expt" in done.stdout
    expt = json.loads((work / "imported.expt").read_text())
    assert len(expt["experiment"]) == 4

    def source(imageset):
        return imageset.get("template") or imageset["images"][0]

    wants = {
        str(series): (expected(printout(_log(runs / "mosflm")), True), (FPIX, SPIX), True),
        str(still): (expected(printout(_still_log(runs, "dials")), True), (FPIX, SPIX), False),
        str(bright): (expected(printout((runs / "bright" / "stdout.txt").read_text()), False), (32, 24), False),
    }
    seen = []
    for e in expt["experiment"]:
        imageset = expt["imageset"][e["imageset"]]
        panel = expt["detector"][e["detector"]]["panels"][0]
        beam = expt["beam"][e["beam"]]
        scan = expt["scan"][e["scan"]] if "scan" in e else None
        gonio = expt["goniometer"][e["goniometer"]] if "goniometer" in e else None
        name = source(imageset)
        seen.append(name)
        assert np.allclose(beam["direction"], (0, 0, 1), atol=1e-12)
        if name.endswith(".img"):  # the SMV series: the header's values
            header, _ = smv(smv_files[0])
            assert imageset["__id__"] == "ImageSequence" and name == str(runs / "xds" / "img_####.img")
            assert beam["wavelength"] == pytest.approx(float(header["WAVELENGTH"]), abs=1e-9)
            assert -panel["origin"][2] == pytest.approx(float(header["DISTANCE"]), abs=1e-9)
            assert scan["image_range"] == [1, IMAGES]
            assert scan["oscillation"] == pytest.approx([float(header["OSC_START"]), float(header["OSC_RANGE"])])
            continue
        want, size, rotation = wants[name]
        assert panel["image_size"] == list(size)
        assert np.allclose(panel["origin"], want["origin"], atol=MM, rtol=0)
        assert np.allclose(panel["fast_axis"], want["fast"], atol=DIRECTION, rtol=0)
        assert np.allclose(panel["slow_axis"], want["slow"], atol=DIRECTION, rtol=0)
        assert beam["wavelength"] == pytest.approx(want["wavelength"], abs=1e-9)
        if rotation:
            assert imageset["__id__"] == "ImageSequence"
            assert scan["image_range"] == [1, IMAGES]
            assert scan["oscillation"] == pytest.approx([want["phi_start"], want["osc"]], abs=1e-9)
            assert np.allclose(gonio["rotation_axis"], want["rotation_axis"], atol=DIRECTION, rtol=0)
        else:
            assert imageset["__id__"] == "ImageSet" and scan is None and gonio is None
    assert sorted(seen) == sorted(list(wants) + [str(runs / "xds" / "img_####.img")])

    shown = subprocess.run([shutil.which("dials.show"), "imported.expt"], cwd=work, capture_output=True,
                           text=True, timeout=TIMEOUT_S)
    assert shown.returncode == 0, shown.stdout[-3000:] + shown.stderr[-3000:]
    blocks = _show_blocks(shown.stdout)
    assert [b["number"] for b in blocks] == list(range(4))
    for block, e in zip(blocks, expt["experiment"]):
        panel = expt["detector"][e["detector"]]["panels"][0]
        for key, stored in (("origin", panel["origin"]), ("fast", panel["fast_axis"]),
                            ("slow", panel["slow_axis"])):  # dials.show prints 6 significant digits
            assert block[key] == pytest.approx(stored, rel=1e-5, abs=1e-5), key
        distance = abs(np.dot(panel["origin"], np.cross(panel["fast_axis"], panel["slow_axis"])))
        assert block["distance"] == pytest.approx(distance, rel=1e-5)
        assert block["wavelength"] == pytest.approx(expt["beam"][e["beam"]]["wavelength"], rel=1e-5)
        if "scan" in e:
            scan = expt["scan"][e["scan"]]
            assert block["images"] == scan["image_range"][1] - scan["image_range"][0] + 1
            assert block["oscillation"] == pytest.approx(scan["oscillation"], rel=1e-5)
        else:
            assert block["images"] is None and block["oscillation"] is None


@pytest.mark.parametrize("ci", [None, "true"])
def test_without_dials_the_tests_skip_or_fail_under_ci(tmp_path, ci):
    """With no dials.import on PATH a test of this file skips with the reason, or fails when CI is set."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(tmp_path)  # an empty folder: no dials.import
    if ci:
        env["CI"] = ci
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", __file__,
                           "-k", "test_smv_without_a_number_in_its_name_is_refused"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    reason = "dials.import not found on PATH: install DIALS (apt-get install dials)"
    assert reason in done.stdout, done.stdout
    if ci:
        assert done.returncode == 1 and "1 error" in done.stdout, done.stdout
        assert "CI is set, so the DIALS interoperability tests must run" in done.stdout
    else:
        assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout
