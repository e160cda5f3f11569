# SPDX-License-Identifier: BSD-3-Clause
"""--hdf5 / --hdf5-noise: NeXus NXmx files that h5py and the nxmx reader (what DIALS uses) open, whose
data equal the float and noise images and whose geometry, read back by walking the file's own
depends_on chain, reproduces the run's beam centre, distance and pixel directions.

The expected geometry is worked out by hand from the flags (the conventions' rules in
docs/usage.md and c_behaviour.md), never from nbnumba's geometry helpers."""
import math
import os
import sys

import h5py
import numpy as np
import pytest
from cli_helpers import run_cli

from nbnumba.errors import ExitStatus

EXIT_INPUT_ERROR, EXIT_INTERRUPTED = ExitStatus.INPUT_ERROR, ExitStatus.INTERRUPTED
from nbnumba.errors import InputError

#: 32 fast x 24 slow pixels of 0.5 mm (non-square, so a fast/slow mix-up shows)
FPIX, SPIX, PIXEL_MM = 32, 24, 0.5
RUN = ["-cell", "20", "30", "40", "90", "90", "90", "-default_F", "100", "-N", "3", "-oversample", "1",
       "-detpixels_f", str(FPIX), "-detpixels_s", str(SPIX), "-pixel", str(PIXEL_MM), "-noprogress", "-nopgm",
       "-seed", "4321"]
OUT = ["-floatfile", "f.bin", "-intfile", "i.img", "-noisefile", "n.img"]
C20, S20 = math.cos(math.radians(20)), math.sin(math.radians(20))
C10 = math.cos(math.radians(10))


def walk_chain(f, path):
    """Translation of a depends_on chain (mm), by hand: each translation adds value * vector + offset."""
    total = np.zeros(3)
    while path != ".":
        node = f[path]
        assert node.attrs["transformation_type"] == "translation"
        assert node.attrs["units"] == "mm"
        total += float(node[()]) * np.asarray(node.attrs["vector"])
        if "offset" in node.attrs:
            assert node.attrs["offset_units"] == "mm"
            total += np.asarray(node.attrs["offset"])
        path = node.attrs["depends_on"]
        path = path.decode() if isinstance(path, bytes) else path
    return total


def read_geometry(filename):
    """The detector as the file states it, in McStas (beam along +z, sample at the origin)."""
    with h5py.File(filename, "r") as f:
        module = f["/entry/instrument/detector/module"]
        fast_ds, slow_ds = module["fast_pixel_direction"], module["slow_pixel_direction"]
        depends = fast_ds.attrs["depends_on"]
        assert slow_ds.attrs["depends_on"] == depends
        origin = walk_chain(f, depends)
        fast = np.asarray(fast_ds.attrs["vector"])
        slow = np.asarray(slow_ds.attrs["vector"])
        sizes = float(fast_ds[()]), float(slow_ds[()])
        data_size = tuple(module["data_size"][()])
    normal = np.cross(fast, slow)
    beam = np.array([0.0, 0.0, 1.0])
    # where the beam x(0, 0, 1) meets the plane (p - origin) . normal = 0
    t = origin @ normal / (beam @ normal)
    hit = t * beam - origin
    foot = (origin @ normal) * normal - origin  # nearest point of the plane to the sample, from the corner
    return dict(fast=fast, slow=slow, normal=normal, sizes=sizes, data_size=data_size, origin=origin,
                beam_hit_px=(hit @ fast / sizes[0], hit @ slow / sizes[1]), beam_path_mm=t,
                normal_distance_mm=abs(origin @ normal),
                foot_px=(foot @ fast / sizes[0], foot @ slow / sizes[1]))


# each: flags; beam spot (fast, slow pixels from the first pixel's outer corner); distance along the beam;
# distance along the normal; fast, slow (McStas); the closest point (fast, slow pixels) when checked
GEOMETRY_CASES = {
    # MOSFLM: X is the slow coordinate, Y the fast one, each + half a pixel: fast (7 + 0.25) / 0.5
    "mosflm": (["-distance", "50", "-Xbeam", "5", "-Ybeam", "7"], (14.5, 10.5), 50.0, 50.0,
               # dxtbx reads an ADSC (MOSFLM-frame) detector as fast (1,0,0), slow (0,-1,0) in imgCIF:
               # McStas = diag(-1, 1, -1) imgCIF
               (-1, 0, 0), (0, -1, 0), None),
    # DENZO: as MOSFLM without the half pixel
    "denzo": (["-denzo", "-distance", "50", "-Xbeam", "5", "-Ybeam", "7"], (14.0, 10.0), 50.0, 50.0,
              (-1, 0, 0), (0, -1, 0), None),
    # XDS: ORGX/ORGY in pixels whose first centre is 1 (Fclose = (ORGX - 0.5) px): the same physical
    # detector as MOSFLM's default (beam +z, fast +x along the spindle, slow +y; E-vector +x)
    "xds": (["-xds", "-ORGX", "12", "-ORGY", "9", "-distance", "60"], (11.5, 8.5), 60.0, 60.0,
            (-1, 0, 0), (0, -1, 0), (11.5, 8.5)),
    # nanoBragg's DIALS convention: beam +z, fast +x, slow +y, spindle and E-vector +y: the E-vector is
    # McStas -x, so the slow axis is horizontal (-x) and the fast one points up
    "dials": (["-dials", "-ORGX", "20.5", "-ORGY", "6.5", "-distance", "80"], (20.0, 6.0), 80.0, 80.0,
              (0, 1, 0), (-1, 0, 0), (20.0, 6.0)),
    # MOSFLM, two-theta 20 deg about the lab -z (= -fast) axis, pivoting about the beam spot: the spot stays,
    # the plane tilts so the normal distance is 50 cos 20
    "twotheta": (["-distance", "50", "-Xbeam", "5", "-Ybeam", "7", "-twotheta", "20"], (14.5, 10.5), 50.0,
                 50.0 * C20, (-1, 0, 0), (0, -C20, -S20), None),
    # XDS, rotated 10 deg about the lab x (= fast) axis, pivoting about the sample: the closest point stays at
    # ORGX/ORGY, the normal distance is 60 cos 10 and the beam still travels 60 mm
    "rotx": (["-xds", "-ORGX", "12", "-ORGY", "9", "-distance", "60", "-detector_rotx", "10"], None, 60.0,
             60.0 * C10, (-1, 0, 0), None, (11.5, 8.5)),
}


@pytest.mark.parametrize("case", sorted(GEOMETRY_CASES))
def test_geometry_read_back_from_the_file(folder, capsys, case):
    flags, spot, path_mm, normal_mm, fast, slow, foot = GEOMETRY_CASES[case]
    status, out, err = run_cli(RUN + flags + OUT + ["-nonoise", "--hdf5", "g.h5"], capsys)
    assert status == 0, err
    g = read_geometry("g.h5")
    assert g["data_size"] == (SPIX, FPIX)
    assert g["sizes"] == (PIXEL_MM, PIXEL_MM)
    if spot is not None:
        assert np.allclose(g["beam_hit_px"], spot, atol=1e-9, rtol=0)
    if foot is not None:
        assert np.allclose(g["foot_px"], foot, atol=1e-9, rtol=0)
    assert g["beam_path_mm"] == pytest.approx(path_mm, abs=1e-9)
    assert g["normal_distance_mm"] == pytest.approx(normal_mm, abs=1e-9)
    assert np.allclose(g["fast"], fast, atol=1e-12)
    if slow is not None:
        assert np.allclose(g["slow"], slow, atol=1e-12)
    # pixel axes orthonormal; the sample is in front of the detector (normal towards +z side)
    assert abs(g["fast"] @ g["slow"]) < 1e-12 and np.allclose(np.linalg.norm(g["normal"]), 1.0)
    with h5py.File("g.h5", "r") as f:
        det_z = f["/entry/instrument/detector/transformations/det_z"]
        assert float(det_z[()]) == pytest.approx(normal_mm, abs=1e-9)  # det_z: distance along the normal
        assert np.allclose(det_z.attrs["vector"], g["normal"] * np.sign(g["normal"][2]), atol=1e-12)


def test_mcstas_frame_is_a_rotation_of_nanobraggs():
    """The conversion keeps handedness and sends the beam to +z for every convention's vectors."""
    from nbnumba.io.nxmx import to_mcstas_matrix
    rng = np.random.default_rng(5)
    for beam, polar in [((1, 0, 0), (0, 0, 1)), ((0, 0, 1), (1, 0, 0)), ((0, 0, 1), (0, 1, 0)),
                        ((1, 0, 0), (1, 0, 0))] + [tuple(rng.normal(size=(2, 3))) for _ in range(5)]:
        R = to_mcstas_matrix(beam, polar, (0, 0, 1))
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.linalg.det(R) == pytest.approx(1.0)
        assert np.allclose(R @ (np.asarray(beam) / np.linalg.norm(beam)), (0, 0, 1), atol=1e-12)
    # MOSFLM: dxtbx's imgCIF->McStas diag(-1, 1, -1) after nanoBragg's own MOSFLM->imgCIF "dials origin" map
    imgcif_from_mosflm = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    assert np.array_equal(to_mcstas_matrix((1, 0, 0), (0, 0, 1)), np.diag([-1, 1, -1]) @ imgcif_from_mosflm)


def test_float_data_and_nxmx_reader(folder, capsys):
    """Data equal -floatfile exactly; the nxmx package (dxtbx's reader) finds what FormatNXmx needs."""
    import nxmx
    status, out, err = run_cli(RUN + ["-distance", "50", "-Xbeam", "5", "-Ybeam", "7", "-lambda", "1.3",
                                      "-detector_thick", "320"] + OUT + ["--hdf5", "a.h5"], capsys)
    assert status == 0, err
    floatimage = np.fromfile("f.bin", np.float32).reshape(SPIX, FPIX)
    with h5py.File("a.h5", "r") as f:
        data = f["/entry/data/data"]
        assert data.shape == (1, SPIX, FPIX) and data.dtype == np.float32 and data.chunks == (1, SPIX, FPIX)
        assert data.compression == "gzip"
        assert np.array_equal(data[0], floatimage)
        assert f["/entry/instrument/detector/data"].id == data.id  # the NXmx link
        assert not f["/entry/instrument/detector/pixel_mask"][()].any()
        entry = nxmx.NXmx(f).entries[0]
        assert entry.definition == "NXmx"
        assert entry.data[0].signal == "data"
        beam = entry.instruments[0].beams[0]
        assert beam.incident_wavelength.to("angstrom").magnitude == pytest.approx(1.3)
        det = entry.instruments[0].detectors[0]
        assert det.sensor_material == "Silicon"
        assert det.sensor_thickness.to("um").magnitude == pytest.approx(320)
        assert det.depends_on.path == "/entry/instrument/detector/transformations/det_z"
        (module,) = det.modules
        assert list(module.data_origin) == [0, 0] and list(module.data_size) == [SPIX, FPIX]
        assert module.fast_pixel_direction[()].to("mm").magnitude == pytest.approx([PIXEL_MM])
        assert module.slow_pixel_direction[()].to("mm").magnitude == pytest.approx([PIXEL_MM])
        assert np.allclose(module.fast_pixel_direction.vector, (-1, 0, 0))
        assert np.allclose(module.slow_pixel_direction.vector, (0, -1, 0))
        # dxtbx's panel origin: the cumulative transformation of the module's chain (mm): the outer
        # corner of the first pixel, 7.25 mm and 5.25 mm from the beam spot along -fast and -slow
        chain = nxmx.get_dependency_chain(module.fast_pixel_direction.depends_on)
        origin = nxmx.get_cumulative_transformation(chain)[0, :3, 3]
        assert np.allclose(origin, (7.25, 5.25, 50.0), atol=1e-9)
        assert entry.samples[0].depends_on is None  # a still


def test_thin_sensor_when_the_run_has_none(folder, capsys):
    from nbnumba.io.nxmx import THIN_SENSOR_M
    status, out, err = run_cli(RUN + OUT + ["-nonoise", "--hdf5", "a.h5"], capsys)
    assert status == 0, err
    with h5py.File("a.h5", "r") as f:
        thick = f["/entry/instrument/detector/sensor_thickness"]
        assert thick.attrs["units"] == "m" and float(thick[()]) == THIN_SENSOR_M > 0


def test_noise_counts_are_the_smv_noise_image_without_the_clamp(folder, capsys):
    """int32 noise equals the SMV noise image below 65535 and goes past it where the SMV is clamped; the
    SMV noise file itself does not change when --hdf5-noise is asked for."""
    bright = RUN + ["-fluence", "1e32"]
    status, out_plain, err = run_cli(bright + OUT, capsys)
    assert status == 0, err
    smv_plain = open("n.img", "rb").read()
    status, out, err = run_cli(bright + OUT + ["--hdf5-noise", "noise.h5"], capsys)
    assert status == 0, err
    assert out == out_plain  # nothing extra on stdout
    smv = open("n.img", "rb").read()
    assert smv == smv_plain
    pixels = np.frombuffer(smv[512:], "<u2").reshape(SPIX, FPIX)
    with h5py.File("noise.h5", "r") as f:
        data = f["/entry/data/data"]
        assert data.dtype == np.int32 and data.shape == (1, SPIX, FPIX)
        counts = data[0]
    below = pixels < 65535
    assert np.array_equal(counts[below], pixels[below])
    assert (~below).sum() >= 1 and (counts[~below] >= 65535).all() and (counts[~below] > 65535).any()
    overloads = int(out.split("photons on noise image (")[1].split(" ")[0])
    assert overloads == (~below).sum()


def test_noise_hdf5_with_nonoise_is_the_same_noise_image(folder, capsys):
    status, out, err = run_cli(RUN + OUT + ["--hdf5-noise", "a.h5"], capsys)
    assert status == 0, err
    status, out_quiet, err = run_cli(RUN + OUT + ["-nonoise", "--hdf5-noise", "b.h5"], capsys)
    assert status == 0, err
    assert "noise" not in out_quiet.split("roi:")[-1]  # as C: no noise lines with -nonoise
    with h5py.File("a.h5", "r") as a, h5py.File("b.h5", "r") as b:
        assert np.array_equal(a["/entry/data/data"][()], b["/entry/data/data"][()])


def test_rotation_run_and_stills(folder, capsys):
    status, out, err = run_cli(RUN + OUT + ["-nonoise", "-phi", "12.5", "-osc", "0.25", "--hdf5", "r.h5"], capsys)
    assert status == 0, err
    with h5py.File("r.h5", "r") as f:
        sample = f["/entry/sample"]
        path = sample["depends_on"][()].decode()
        omega = f[path]
        assert path == "/entry/sample/transformations/omega"
        assert omega.attrs["transformation_type"] == "rotation" and omega.attrs["units"] == "deg"
        assert omega[()] == pytest.approx([12.5])
        assert f["/entry/sample/transformations/omega_increment_set"][()] == pytest.approx([0.25])
        assert f["/entry/sample/transformations/omega_end"][()] == pytest.approx([12.75])
        # MOSFLM spindle +z: dxtbx's usual rotation axis, imgCIF (1, 0, 0) = McStas (-1, 0, 0)
        assert np.allclose(omega.attrs["vector"], (-1, 0, 0))
    status, out, err = run_cli(RUN + OUT + ["-nonoise", "-phi", "12.5", "--hdf5", "s.h5"], capsys)
    assert status == 0, err
    with h5py.File("s.h5", "r") as f:
        assert f["/entry/sample/depends_on"][()].decode() == "."
        assert "transformations" not in f["/entry/sample"]


def _setup(argv):
    from nbnumba import params_from_argv
    from nbnumba.setup import prepare
    params, _ = params_from_argv(RUN + argv)
    return prepare(params)


def test_writer_api_series_of_images(folder):
    """NXmxWriter: several images, per-image phi, one chunk per image, and a refused other geometry."""
    from nbnumba.io.nxmx import NXmxWriter
    setups = [_setup(["-phi", str(phi), "-osc", "0.5"]) for phi in (0, 0.5, 1)]
    images = [np.full((SPIX, FPIX), k, np.int32) + np.arange(FPIX, dtype=np.int32) for k in range(3)]
    images[2][0, 0] = 70000
    with NXmxWriter("series.h5", setups[0], dtype="int32", compression="none") as out:
        for image, setup in zip(images, setups):
            out.append(image, setup)
        with pytest.raises(InputError, match="series.h5: image 4 has another"):
            out.append(images[0], _setup(["-distance", "99"]))
        assert out.images == 3
        assert not os.path.exists("series.h5")  # only at commit
    with h5py.File("series.h5", "r") as f:
        data = f["/entry/data/data"]
        assert data.shape == (3, SPIX, FPIX) and data.chunks == (1, SPIX, FPIX) and data.compression is None
        assert np.array_equal(data[()], np.stack(images))
        assert f["/entry/sample/transformations/omega"][()] == pytest.approx([0, 0.5, 1])
    assert sorted(os.listdir(folder)) == ["series.h5"]


def test_writer_aborts_on_exception_and_leaves_no_file(folder):
    from nbnumba.io.nxmx import NXmxWriter
    setup = _setup([])
    with pytest.raises(KeyboardInterrupt):
        with NXmxWriter("x.h5", setup) as out:
            out.append(np.zeros((SPIX, FPIX), np.float32))
            assert len(os.listdir(folder)) == 1  # the temporary file
            raise KeyboardInterrupt
    assert os.listdir(folder) == []
    out = NXmxWriter("y.h5", setup)
    out.abort()
    assert os.listdir(folder) == []


def test_bitshuffle_round_trip(folder, capsys):
    pytest.importorskip("hdf5plugin")  # registers the filter for reading (an optional package)
    status, out, err = run_cli(RUN + OUT + ["-nonoise", "--hdf5", "b.h5", "--hdf5-compression", "bitshuffle"],
                               capsys)
    assert status == 0, err
    floatimage = np.fromfile("f.bin", np.float32).reshape(SPIX, FPIX)
    with h5py.File("b.h5", "r") as f:
        data = f["/entry/data/data"]
        assert "32008" in data._filters  # the bitshuffle filter id
        assert np.array_equal(data[0], floatimage)


def test_bitshuffle_without_hdf5plugin_is_one_line_error(folder, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)  # import hdf5plugin -> ImportError
    status, out, err = run_cli(RUN + OUT + ["--hdf5", "b.h5", "--hdf5-compression", "bitshuffle"], capsys)
    assert status == EXIT_INPUT_ERROR and "Traceback" not in out + err
    assert err.strip().splitlines() == ["nbnumba: error: --hdf5-compression bitshuffle needs the hdf5plugin "
                                        "package (pip install 'nbnumba[hdf5plugin]'); or use gzip"]
    assert os.listdir(folder) == []  # refused before rendering


@pytest.mark.parametrize("argv, fragment", [
    (["--hdf5", "nowhere/a.h5"], "cannot write nowhere/a.h5: folder nowhere does not exist"),
    (["--hdf5-noise", "sub"], "cannot write sub: it is a folder"),
    (["--hdf5", "sub/"], "cannot write sub/: expected a file name"),
    (["--hdf5-compression", "lzf"], "--hdf5-compression: expected one of gzip, bitshuffle, none"),
])
def test_bad_hdf5_path_is_refused_before_rendering(folder, capsys, argv, fragment):
    os.mkdir("sub")
    status, out, err = run_cli(RUN + OUT + argv, capsys)
    assert status == EXIT_INPUT_ERROR and "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nbnumba: error: ") and fragment in lines[0], err
    assert os.listdir(folder) == ["sub"] and os.listdir("sub") == []


def test_unwritable_hdf5_file_is_one_line_error(folder, capsys, monkeypatch):
    """The folder refuses the file (as a read-only folder does; root ignores permissions, so h5py's
    open is made to fail as it would): exit 2, one line, no HDF5 or temporary file."""
    real_file = h5py.File

    def refusing_file(name, mode="r", *args, **kwargs):
        if mode == "w":
            raise PermissionError(13, "Permission denied")
        return real_file(name, mode, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", refusing_file)
    status, out, err = run_cli(RUN + OUT + ["--hdf5", "a.h5"], capsys)
    assert status == EXIT_INPUT_ERROR and "Traceback" not in out + err
    assert err.strip() == "nbnumba: error: cannot write a.h5: Permission denied"
    assert sorted(os.listdir(folder)) == []  # all or nothing: C's files, finished before, are not left


@pytest.mark.parametrize("where", ["append", "commit"])
def test_interrupted_hdf5_write_leaves_no_file(folder, capsys, monkeypatch, where):
    from nbnumba.io import nxmx
    original = getattr(nxmx.NXmxWriter, "append" if where == "append" else "_write_sample")

    def interrupted(self, *args):
        if where == "append":
            self._data.resize(1, axis=0)  # half-written: the dataset grown, no data yet
        else:
            original(self, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(nxmx.NXmxWriter, "append" if where == "append" else "_write_sample", interrupted)
    status, out, err = run_cli(RUN + OUT + ["--hdf5", "a.h5"], capsys)
    assert status == EXIT_INTERRUPTED and err.strip() == "nbnumba: interrupted"
    assert sorted(os.listdir(folder)) == []  # all or nothing: not even C's files, finished before


def test_import_nbnumba_does_not_import_h5py():
    import subprocess
    code = ("import sys, nbnumba, nbnumba.run, nbnumba.cli.main, nbnumba.io.nxmx; "
            "print('h5py' in sys.modules, 'hdf5plugin' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_pixel_mask_marks_what_nanobragg_does_not_render(folder, capsys):
    """-roi x0 x1 y0 y1 (inclusive): pixels outside are masked (bit 8), inside are 0 ("good")."""
    status, out, err = run_cli(RUN + OUT + ["-nonoise", "-roi", "3", "20", "5", "9", "--hdf5", "m.h5"], capsys)
    assert status == 0, err
    expected = np.full((SPIX, FPIX), 256, np.int32)
    expected[5:10, 3:21] = 0
    with h5py.File("m.h5", "r") as f:
        mask = f["/entry/instrument/detector/pixel_mask"]
        assert mask.dtype == np.int32 and np.array_equal(mask[()], expected)
