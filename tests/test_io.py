# SPDX-License-Identifier: BSD-3-Clause
"""Tests of nbnumba.io against the nanoBragg.c reference outputs in c_reference/."""
from __future__ import annotations

import gzip
import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from nbnumba.errors import InputError
from nbnumba.io.atomic import atomic_open, atomic_write
from nbnumba.io.hkl import HKLTable, read_fdump, read_hkl, write_fdump
from nbnumba.io.matrix import read_mosflm_matrix
from nbnumba.io.raw import read_float_image, write_float_image
from nbnumba.io.smv import read_smv, smv_header_text, value_of, write_smv
from nbnumba.io.textcols import read_text_columns

REF = Path(__file__).resolve().parent.parent / "c_reference"
INPUTS = REF / "inputs"
MANIFEST = json.loads((REF / "manifest.json").read_text())
HOST = f"{sys.byteorder}_endian"


def case_bytes(case: str, key: str) -> bytes:
    """Uncompressed bytes of one output of one reference case."""
    return gzip.decompress((REF / "cases" / case / MANIFEST[case]["outputs"][key]["file"]).read_bytes())


def flag_value(case: str, flag: str):
    argv = MANIFEST[case]["argv"]
    return argv[argv.index(flag) + 1] if flag in argv else None


def dump_of(table: HKLTable, tmp_path: Path) -> bytes:
    out = tmp_path / "Fdump.bin"
    assert write_fdump(out, table) is True
    return out.read_bytes()


def write_text(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- HKL and Fdump

@pytest.mark.parametrize("hkl_file, case, default_F", [
    ("cubic.hkl", "sf_hkl_nearest", 0.0),
    ("cubic.hkl", "sf_hkl_default_F", 7.0),
    ("sparse.hkl", "sf_sparse_default_F", 10.0),
    ("five_col_clean.hkl", "sf_five_columns_clean", 0.0),
    ("five_col.hkl", "sf_five_columns_clean", 0.0),
    ("decimal_clean.hkl", "sf_decimal_indices_clean", 0.0),
    ("decimal_idx.hkl", "sf_decimal_indices_clean", 0.0),
    ("tet.hkl", "xtal_matrix_file", 0.0),
])
def test_fdump_is_byte_identical_to_c(tmp_path, hkl_file, case, default_F):
    hkl_in_case = flag_value(case, "-hkl")
    port_of = {c: v["port_matches"] for c, v in MANIFEST.items() if "port_matches" in v}
    assert hkl_in_case == hkl_file or any(
        flag_value(bad, "-hkl") == hkl_file and good == case for bad, good in port_of.items())
    assert float(flag_value(case, "-default_F") or 0.0) == default_F
    table = read_hkl(INPUTS / hkl_file, default_F)
    assert dump_of(table, tmp_path) == case_bytes(case, "fdump")


def test_default_F_fills_only_unset_cells_inside_the_box(tmp_path):
    with_default = read_hkl(INPUTS / "sparse.hkl", 10.0)
    without = read_hkl(INPUTS / "sparse.hkl", 0.0)
    assert dump_of(without, tmp_path) != case_bytes("sf_sparse_default_F", "fdump")
    box = (slice(0, with_default.h_range), slice(0, with_default.k_range), slice(0, with_default.l_range))
    unset = without.Fhkl[box] == 0.0
    assert unset.sum() == with_default.h_range * with_default.k_range * with_default.l_range - without.hkls
    assert np.all(with_default.Fhkl[box][unset] == 10.0)
    assert np.all(with_default.Fhkl[box][~unset] == without.Fhkl[box][~unset])
    assert not with_default.Fhkl[-1].any() and not with_default.Fhkl[:, -1].any()
    assert not with_default.Fhkl[:, :, -1].any()


def test_five_column_file_reads_like_the_clean_one():
    five = read_hkl(INPUTS / "five_col.hkl")
    clean = read_hkl(INPUTS / "five_col_clean.hkl")
    assert five.hkls == clean.hkls == 13 ** 3
    assert (five.h_min, five.h_max, five.k_min, five.k_max, five.l_min, five.l_max) == (-6, 6, -6, 6, -6, 6)
    assert np.array_equal(five.Fhkl, clean.Fhkl)


def test_read_hkl_table_layout():
    table = read_hkl(INPUTS / "cubic.hkl")
    first = INPUTS.joinpath("cubic.hkl").read_text().split("\n")[0].split()
    h, k, l, f = int(first[0]), int(first[1]), int(first[2]), float(first[3])
    assert table.Fhkl.shape == (table.h_range + 1, table.k_range + 1, table.l_range + 1)
    assert table.Fhkl.dtype == np.float64
    assert table.Fhkl[h - table.h_min, k - table.k_min, l - table.l_min] == f
    assert table.hkls == 25 ** 3


def test_hkl_comments_blanks_duplicates_and_extra_columns(tmp_path):
    path = write_text(tmp_path, "x.hkl", "# h k l F\n\n  1 0 0 5.0 99 junk\n\t# note\n1.0 0 -1 2.5\n1 0 0 6.0\n")
    table = read_hkl(path, 3.0)
    assert (table.h_min, table.h_max, table.k_min, table.k_max, table.l_min, table.l_max) == (1, 1, 0, 0, -1, 0)
    assert table.hkls == 3
    assert table.Fhkl.shape == (2, 2, 3)
    assert table.Fhkl[0, 0, 1] == 6.0
    assert table.Fhkl[0, 0, 0] == 2.5
    assert table.Fhkl[1].sum() == 0.0


@pytest.mark.parametrize("name", ["bench.hkl", "cubic.hkl", "five_col_clean.hkl", "sparse.hkl", "tet.hkl",
                                  "decimal_clean.hkl"])
def test_plain_hkl_fast_path_equals_the_line_reader(name):
    """numpy's C parser (plain files) and the line-by-line reader give the same values."""
    from nbnumba.io.hkl import _read_hkl_lines, _read_plain_hkl
    fast = _read_plain_hkl(str(INPUTS / name))
    assert fast is not None, "a plain HKL file should take the fast path"
    assert np.array_equal(fast, _read_hkl_lines(str(INPUTS / name)))


@pytest.mark.parametrize("text", ["1 2 3 nan\n", "1 2 3 inf\n", "1.5 2 3 4\n",
                                  "1 2 3 1_0\n", "1 2 3\n", "", "3000000000 0 0 1\n", "1 2 3 0x10\n"])
def test_hkl_fast_path_leaves_everything_else_to_the_line_reader(tmp_path, text):
    from nbnumba.io.hkl import _read_plain_hkl
    assert _read_plain_hkl(str(write_text(tmp_path, "x.hkl", text))) is None


@pytest.mark.parametrize("text, line, fragment", [
    ("1 2 3 4\n1 2 3\n", 2, "expected 4 numbers (h k l F)"),
    ("1 2 3 4\n\n1 2 abc 4\n", 3, "'1 2 abc 4'"),
    ("1 2 3 nan\n", 1, "expected 4 numbers"),
    ("1 2 3 inf\n", 1, "expected 4 numbers"),
    ("h k l F\n1 2 3 4\n", 1, "expected 4 numbers"),
    ("1 2 3 4\n1.5 2 3 4\n", 2, "integer index h"),
    ("1 2 3 4\n1 2 3.2 4\n", 2, "integer index l"),
])
def test_bad_hkl_lines(tmp_path, text, line, fragment):
    path = write_text(tmp_path, "bad.hkl", text)
    with pytest.raises(InputError) as error:
        read_hkl(path)
    message = str(error.value)
    assert message.startswith(f"{path} line {line}: ")
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_hkl_without_reflections(tmp_path, text):
    path = write_text(tmp_path, "empty.hkl", text)
    with pytest.raises(InputError, match=re.escape(f"{path}: no reflections (expected lines of h k l F)")):
        read_hkl(path)


def test_missing_hkl_file(tmp_path):
    with pytest.raises(InputError, match="nothere.hkl"):
        read_hkl(tmp_path / "nothere.hkl")


def test_read_fdump_of_c_dump(tmp_path):
    path = tmp_path / "Fdump.bin"
    path.write_bytes(case_bytes("sf_hkl_nearest", "fdump"))
    table = read_fdump(path)
    expected = read_hkl(INPUTS / "cubic.hkl")
    assert (table.h_min, table.h_max, table.k_min, table.k_max, table.l_min, table.l_max) == (-12, 12) * 3
    assert table.hkls == table.h_range * table.k_range * table.l_range
    assert np.array_equal(table.Fhkl, expected.Fhkl)
    (tmp_path / "again").mkdir()
    assert dump_of(table, tmp_path / "again") == path.read_bytes()


def test_read_fdump_of_c_defect_dump_is_all_zero(tmp_path):
    path = tmp_path / "Fdump.bin"
    path.write_bytes(case_bytes("sf_decimal_indices", "fdump"))
    table = read_fdump(path)
    assert table.Fhkl.shape == (8, 8, 8)
    assert not table.Fhkl.any()
    assert table.hkls == 343


@pytest.mark.parametrize("mangle", [
    lambda data: data[:-8],
    lambda data: data + b"\0" * 8,
    lambda data: data.replace(b"\n\f", b"\n ", 1),
    lambda data: b"-12 12 -12 12 -12\n\f" + data[data.index(b"\f") + 1:],
    lambda data: b"",
    lambda data: b"3 1 0 0 0 0\n\f" + bytes(8 * 2 * 2 * 2),
])
def test_bad_fdump(tmp_path, mangle):
    path = tmp_path / "Fdump.bin"
    path.write_bytes(mangle(case_bytes("sf_hkl_nearest", "fdump")))
    with pytest.raises(InputError, match=re.escape(str(path))):
        read_fdump(path)


def test_write_fdump_reports_failure_instead_of_raising(tmp_path):
    table = read_hkl(INPUTS / "decimal_clean.hkl")
    assert write_fdump(tmp_path / "missing" / "Fdump.bin", table) is False
    assert not (tmp_path / "missing").exists()


# ---------------------------------------------------------------- SMV

def header_values(image) -> dict:
    """The numbers smv_header_text takes, read back from a nanoBragg header (keys anchored at line starts)."""
    header = image.header

    def get(key):
        return value_of(header, "\n" + key)

    origin = re.search(r"\nDIALS_ORIGIN=([^\n]*)\n", header).group(1).split(",")
    return dict(
        fpixels=image.width, spixels=image.height, pixel_mm=get("PIXEL_SIZE"), distance_mm=get("DISTANCE"),
        wavelength_A=get("WAVELENGTH"), beam_center_x_mm=get("BEAM_CENTER_X"),
        beam_center_y_mm=get("BEAM_CENTER_Y"), adxv_x_mm=get("ADXV_CENTER_X"), adxv_y_mm=get("ADXV_CENTER_Y"),
        mosflm_x_mm=get("MOSFLM_CENTER_X"), mosflm_y_mm=get("MOSFLM_CENTER_Y"), denzo_x_mm=get("DENZO_X_BEAM"),
        denzo_y_mm=get("DENZO_Y_BEAM"), dials_origin=tuple(float(x) for x in origin), orgx=get("XDS_ORGX"),
        orgy=get("XDS_ORGY"), close_distance_mm=get("CLOSE_DISTANCE"), phi_deg=get("PHI"),
        osc_start_deg=get("OSC_START"), osc_range_deg=get("OSC_RANGE"), twotheta_deg=get("TWOTHETA"))


def read_case_image(tmp_path, case, key="int"):
    raw = case_bytes(case, key)
    path = tmp_path / f"{case}_{key}.img"
    path.write_bytes(raw)
    return raw, read_smv(path, "-img")


def test_smv_header_of_c_image_is_regenerated(tmp_path):
    raw, image = read_case_image(tmp_path, "geo_mosflm_default")
    assert (image.width, image.height, image.header_size) == (128, 128, 512)
    assert image.byte_order == "little_endian"
    values = header_values(image)
    assert values["pixel_mm"] == 0.8 and values["distance_mm"] == 100.0 and values["wavelength_A"] == 6.2
    text = smv_header_text(values)
    assert len(text) == 512
    assert text.encode("latin-1") == raw[:512]
    assert np.array_equal(image.data, np.frombuffer(raw[512:], "<u2").reshape(128, 128))


def test_smv_headers_of_all_c_images_are_regenerated(tmp_path):
    checked = 0
    for case, entry in MANIFEST.items():
        for key in ("int", "noise"):
            if key in entry["outputs"]:
                raw, image = read_case_image(tmp_path, case, key)
                assert smv_header_text(header_values(image)).encode("latin-1") == raw[:512], case
                checked += 1
    assert checked > 100


def test_smv_header_changes_with_values(tmp_path):
    _, image = read_case_image(tmp_path, "geo_mosflm_default")
    values = header_values(image)
    values["twotheta_deg"] = 12.5
    values["dials_origin"] = (-52, 52.25, -100)
    text = smv_header_text(values)
    assert "\nTWOTHETA=12.5;\n" in text and "\nDIALS_ORIGIN=-52,52.25,-100\n" in text
    assert f"\nBYTE_ORDER={HOST};\n" in text
    assert text.rstrip(" ").endswith("BEAMLINE=fake;\n}\f")


def test_smv_header_too_long():
    values = dict.fromkeys(
        ["pixel_mm", "distance_mm", "wavelength_A", "beam_center_x_mm", "beam_center_y_mm", "adxv_x_mm",
         "adxv_y_mm", "mosflm_x_mm", "mosflm_y_mm", "denzo_x_mm", "denzo_y_mm", "orgx", "orgy",
         "close_distance_mm", "phi_deg", "osc_start_deg", "osc_range_deg", "twotheta_deg"], -1.23456789e-100)
    values.update(fpixels=1024, spixels=1024, dials_origin=(-1.5e-100,) * 3)
    with pytest.raises(InputError, match="512"):
        smv_header_text(values)


def test_value_of_distance_quirk_on_c_header(tmp_path):
    _, image = read_case_image(tmp_path, "geo_rotations")
    assert value_of(image.header, "\nDISTANCE") == 100.0
    assert value_of(image.header, "CLOSE_DISTANCE") == 99.8021
    assert value_of(image.header, "DISTANCE") == 99.8021
    orgx = float(re.search(r"\nXDS_ORGX=([^;]*);", image.header).group(1))
    assert value_of(image.header, "ORGX") == value_of(image.header, "XDS_ORGX") == orgx


@pytest.mark.parametrize("header, key, expected", [
    ("{\nDISTANCE=120;\nCLOSE_DISTANCE=99.5;\n}", "DISTANCE", 99.5),
    ("{\nCLOSE_DISTANCE=99.5;\nDISTANCE=120;\n}", "DISTANCE", 120.0),
    ("{\nDISTANCE=120;\n}", "WAVELENGTH", math.nan),
    ("{\nDISTANCE 120;\n}", "DISTANCE", 0.0),
    ("{\nA=  \t12.5mm;\n}", "A", 12.5),
    ("{\nA=abc;\n}", "A", 0.0),
    ("{\nA=-1.5e3x;\n}", "A", -1500.0),
    ("{\nA=7e;\n}", "A", 7.0),
    ("{\nA=.5;\n}", "A", 0.5),
    ("{\nA=0x10;\n}", "A", 16.0),
    ("{\nA=1;\nB\nC=2;\n}", "B", 2.0),
    ("{\nA=1;\0A=2;\n}", "A", 1.0),
    ("{\nX=1;\0Y=2;\n}", "Y", math.nan),
])
def test_value_of_c_semantics(header, key, expected):
    got = value_of(header, key)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_read_smv_mask():
    path = INPUTS / "mask128.img"
    mask = read_smv(path, "-mask")
    raw = path.read_bytes()
    assert (mask.width, mask.height, mask.header_size) == (128, 128, 512)
    assert mask.data.dtype == np.dtype("=u2") and mask.data.shape == (128, 128)
    expected = np.frombuffer(raw[512:512 + 2 * 128 * 128], "<u2").reshape(128, 128)
    assert np.array_equal(mask.data, expected)
    assert 0 < int((mask.data == 0).sum()) < 128 * 128
    assert value_of(mask.header, "PIXEL_SIZE") == 0.8
    assert math.isnan(value_of(mask.header, "DISTANCE"))


def test_read_smv_img_header():
    image = read_smv(INPUTS / "header128.img", "-img")
    assert value_of(image.header, "DISTANCE") == 120.0
    assert value_of(image.header, "WAVELENGTH") == 5.5
    assert value_of(image.header, "BEAM_CENTER_Y") == 35.0
    assert value_of(image.header, "OSC_RANGE") == 0.5


def smv_file(tmp_path, body: str, pixels: bytes, name="x.img", size=512) -> Path:
    head = ("{\nHEADER_BYTES=%d;\n" % size + body + "}\f").encode("latin-1").ljust(size, b" ")
    path = tmp_path / name
    path.write_bytes(head + pixels)
    return path


@pytest.mark.parametrize("order", ["big_endian", "little_endian"])
def test_read_smv_swaps_bytes_of_foreign_order(tmp_path, order):
    values = (np.arange(12, dtype=np.uint32) * 4099 + 258).astype(np.uint16).reshape(3, 4)
    dtype = ">u2" if order == "big_endian" else "<u2"
    pixels = values.astype(dtype).tobytes()
    assert pixels != values.astype(">u2" if dtype == "<u2" else "<u2").tobytes()
    path = smv_file(tmp_path, f"DIM=2;\nBYTE_ORDER={order};\nTYPE=unsigned_short;\nSIZE1=4;\nSIZE2=3;\n", pixels)
    image = read_smv(path, "-img")
    assert image.byte_order == order
    assert image.data.dtype == np.dtype("=u2")
    assert np.array_equal(image.data, values)


def test_read_smv_other_header_size_and_detector_dimensions(tmp_path):
    values = np.arange(4, dtype=np.uint16).reshape(2, 2) + 1000
    path = smv_file(tmp_path, f"BYTE_ORDER={HOST};\nDETECTOR_DIMENSIONS=2;\n",
                    values.tobytes() + b"trailing", size=1024)
    image = read_smv(path, "-mask")
    assert (image.header_size, image.width, image.height) == (1024, 2, 2)
    assert len(image.header) == 1024
    assert np.array_equal(image.data, values)


def test_write_smv_roundtrip(tmp_path):
    _, image = read_case_image(tmp_path, "geo_mosflm_default")
    header = smv_header_text(header_values(image))
    data = (np.arange(128 * 128) % 65536).astype(np.uint16).reshape(128, 128)
    out = tmp_path / "out.img"
    write_smv(out, header, data)
    raw = out.read_bytes()
    assert len(raw) == 512 + 2 * 128 * 128
    assert raw[:512] == header.encode("latin-1")
    back = read_smv(out, "-img")
    assert np.array_equal(back.data, data)
    write_smv(out, "{\nHEADER_BYTES=512;\nSIZE1=128;\nSIZE2=128;\n}\f", data)
    assert out.read_bytes()[:512].endswith(b" " * 100)
    with pytest.raises(InputError, match="512"):
        write_smv(out, "{\n" + "X" * 600, data)
    assert out.stat().st_size == 512 + 2 * 128 * 128


@pytest.mark.parametrize("content, fragment", [
    (b"", "is not an SMV image (expected a '{ HEADER_BYTES=' header)"),
    (b"P5\n128 128\n255\n" + bytes(600), "is not an SMV image"),
    (b"{\nHEADER_BYTES=512;\nSIZE1=128;\nSIZE2=128;\n}\f".ljust(512) + bytes(100), "truncated"),
    (b"{\nHEADER_BYTES=512;\nSIZE1=0;\nSIZE2=128;\n}\f".ljust(512) + bytes(600), "SIZE1"),
    (b"{\nHEADER_BYTES=512;\nSIZE1=4;\nSIZE2=-2;\n}\f".ljust(512) + bytes(600), "SIZE2"),
    (b"{\nHEADER_BYTES=2048;\nSIZE1=4;\nSIZE2=2;\n}\f".ljust(512) + bytes(600), "truncated"),
    (b"{\nHEADER_BYTES=zero;\nSIZE1=4;\nSIZE2=2;\n}\f".ljust(512) + bytes(600), "HEADER_BYTES"),
    (b"{\nHEADER_BYTES=512;\nBYTE_ORDER=middle;\nSIZE1=1;\nSIZE2=1;\n}\f".ljust(512) + bytes(2), "BYTE_ORDER"),
])
def test_bad_smv(tmp_path, content, fragment):
    path = tmp_path / "bad.img"
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        read_smv(path, "-mask")
    message = str(error.value)
    assert message.startswith(f"-mask file {path}")
    assert fragment in message
    assert "\n" not in message


def test_missing_smv(tmp_path):
    with pytest.raises(InputError, match=re.escape(f"-img file {tmp_path / 'no.img'}")):
        read_smv(tmp_path / "no.img", "-img")


# ---------------------------------------------------------------- raw float images

def test_float_image_roundtrip_with_c_output(tmp_path):
    raw = case_bytes("geo_mosflm_default", "float")
    path = tmp_path / "float.bin"
    path.write_bytes(raw)
    image = read_float_image(path, 128, 128)
    assert image.shape == (128, 128) and image.dtype == np.float32
    assert image.max() > 0
    out = tmp_path / "again.bin"
    write_float_image(out, image)
    assert out.read_bytes() == raw
    write_float_image(out, image.astype(np.float64))
    assert out.read_bytes() == raw


def test_float_image_layout_and_size_check(tmp_path):
    image = np.arange(6, dtype=np.float64).reshape(2, 3)
    out = tmp_path / "f.bin"
    write_float_image(out, image)
    assert out.read_bytes() == np.arange(6, dtype="=f4").tobytes()
    assert np.array_equal(read_float_image(out, 3, 2), image)
    with pytest.raises(InputError, match="expected 28 bytes"):
        read_float_image(out, 7, 1)
    with pytest.raises(InputError, match="cannot write"):
        write_float_image(tmp_path / "none" / "f.bin", image)


# ---------------------------------------------------------------- atomic writes

def test_atomic_write_replaces_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    atomic_write(target, b"new data")
    assert target.read_bytes() == b"new data"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_atomic_write_missing_folder(tmp_path):
    target = tmp_path / "absent" / "out.bin"
    with pytest.raises(InputError) as error:
        atomic_write(target, b"x")
    assert str(error.value) == f"cannot write {target}: folder {tmp_path / 'absent'} does not exist"


@pytest.mark.parametrize("exception", [KeyboardInterrupt, RuntimeError])
@pytest.mark.parametrize("existing", [None, b"previous"])
def test_interrupted_atomic_write_leaves_target_untouched(tmp_path, exception, existing):
    target = tmp_path / "out.bin"
    if existing is not None:
        target.write_bytes(existing)
    with pytest.raises(exception):
        with atomic_open(target) as handle:
            handle.write(b"partial")
            assert any(name.endswith(".tmp") for name in os.listdir(tmp_path))
            raise exception()
    if existing is None:
        assert os.listdir(tmp_path) == []
    else:
        assert os.listdir(tmp_path) == ["out.bin"] and target.read_bytes() == existing


def test_atomic_open_writes_at_the_end(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_open(target) as handle:
        handle.write(b"abc")
        assert not target.exists()
    assert target.read_bytes() == b"abc"


# ---------------------------------------------------------------- MOSFLM matrix

def test_mosflm_matrix_columns_are_vectors():
    rows = [[float(x) for x in line.split()] for line in INPUTS.joinpath("tet.mat").read_text().splitlines()[:3]]
    a_star, b_star, c_star = read_mosflm_matrix(INPUTS / "tet.mat", 1.0e-10)
    assert a_star == pytest.approx([rows[i][0] for i in range(3)], rel=1e-15)
    assert b_star == pytest.approx([rows[i][1] for i in range(3)], rel=1e-15)
    assert c_star == pytest.approx([rows[i][2] for i in range(3)], rel=1e-15)
    half = read_mosflm_matrix(INPUTS / "tet.mat", 2.0e-10)
    assert half[2] == pytest.approx([x / 2 for x in c_star], rel=1e-15)
    lengths = [1.0 / math.sqrt(sum(x * x for x in v)) for v in (a_star, b_star, c_star)]
    assert lengths == pytest.approx([78.5, 78.5, 37.2], rel=1e-4)


@pytest.mark.parametrize("text, fragment", [
    ("1 2 3\n4 5 6\n", "found 2"),
    ("1 2 3\n4 5\n7 8 9\n", "line 2: expected 3 numbers"),
    ("1 2 3\n4 x 6\n7 8 9\n", "line 2"),
    ("1 2 3 4 5 6 7 8 9\n", "line 1"),
    ("", "found 0"),
])
def test_bad_mosflm_matrix(tmp_path, text, fragment):
    path = write_text(tmp_path, "bad.mat", text)
    with pytest.raises(InputError) as error:
        read_mosflm_matrix(path, 1e-10)
    assert str(path) in str(error.value) and fragment in str(error.value)


def test_missing_mosflm_matrix(tmp_path):
    with pytest.raises(InputError, match="none.mat"):
        read_mosflm_matrix(tmp_path / "none.mat", 1e-10)


# ---------------------------------------------------------------- text columns

def test_sourcefile_columns():
    table = read_text_columns(INPUTS / "sources.txt", 5, "-sourcefile")
    assert table.shape == (3, 5) and table.dtype == np.float64
    assert table[1].tolist() == [-10, 0.002, 0, 0.5, 6.2e-10]
    assert table[2, 4] == 6.3e-10


def test_stol_columns():
    table = read_text_columns(INPUTS / "water.stol", 2, "-stol")
    assert table.shape == (60, 2)
    assert table[0].tolist() == [0.0, 2.57]


def test_text_columns_delimiters_comments_and_missing(tmp_path):
    path = write_text(tmp_path, "s.txt", "# X Y Z I lambda\n\n1,2;3:4!5 6 7\n  \t8\t9\n# end\n-1e-3 nan 2")
    table = read_text_columns(path, 5, "-sourcefile")
    assert table.shape == (3, 5)
    assert table[0].tolist() == [1, 2, 3, 4, 5]
    assert table[1, :2].tolist() == [8, 9] and np.isnan(table[1, 2:]).all()
    assert table[2, 0] == -1e-3 and np.isnan(table[2, 1]) and table[2, 2] == 2 and np.isnan(table[2, 3:]).all()


def test_text_columns_bad_field(tmp_path):
    path = write_text(tmp_path, "s.txt", "1 2 3 4 5\n1 2 abc 4 5\n")
    with pytest.raises(InputError, match=re.escape(f"-sourcefile file {path} line 2:")):
        read_text_columns(path, 5, "-sourcefile")


@pytest.mark.parametrize("text", ["", "\n \n", "# nothing\n"])
def test_text_columns_no_data(tmp_path, text):
    path = write_text(tmp_path, "s.txt", text)
    with pytest.raises(InputError) as error:
        read_text_columns(path, 2, "-stol")
    assert str(error.value) == f"-stol file {path} has no data"


def test_text_columns_missing_file(tmp_path):
    with pytest.raises(InputError, match=re.escape(f"-stol file {tmp_path / 'x'}")):
        read_text_columns(tmp_path / "x", 2, "-stol")
