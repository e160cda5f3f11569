# SPDX-License-Identifier: BSD-3-Clause
"""--trace-pixel (issue 16): every sample of a pixel as JSON. The traced samples, combined as the pixel
loop combines them, give the pixel's value in the float image; the traced rotations match an
independent Rodrigues rotation (spec) and C's phi = 0 carryover (c-parity); -dmin and F_latt = 0 skips
and the interpolation switch-off are listed; the diff helper finds an injected difference; the run
writes the file and changes nothing else."""
import copy
import json
import math
import os
import shutil

import numpy as np
import pytest
from reference import INPUTS

from nbnumba import params_from_argv
from nbnumba.errors import InputError

CELL = ["-cell", "70", "80", "90", "75", "85", "95", "-misset", "10", "20", "30", "-default_F", "100",
        "-lambda", "1.0", "-distance", "100", "-pixel", "1.6"]
#: a square crystal with oversample, divergence and dispersion (sources), phi steps and mosaic domains
SQUARE = CELL + ["-N", "5", "-detpixels", "24", "-oversample", "2", "-divergence", "0.5", "-divsteps", "2",
                 "-dispersion", "0.5", "-dispsteps", "2", "-phi", "0", "-osc", "3", "-phisteps", "3",
                 "-mosaic", "0.4", "-mosaic_domains", "3"]
#: the other shapes, with a thick sensor and the -oversample_thick/polar/omega running-sum multiplications
OVERSAMPLE_ALL = ["-oversample_thick", "-oversample_polar", "-oversample_omega", "-polar", "0.9",
                  "-detector_thick", "50", "-detector_abs", "300", "-detector_thicksteps", "2"]
SHAPES = {
    "square": SQUARE,
    "round": CELL + ["-N", "4", "-detpixels", "20", "-oversample", "2", "-round_xtal", "-phisteps", "2", "-osc", "2",
                     "-mosaic", "0.3", "-mosaic_domains", "2"],
    "gauss": CELL + ["-N", "4", "-detpixels", "20", "-oversample", "2", "-gauss_xtal", "-phisteps", "2", "-osc", "2"]
    + OVERSAMPLE_ALL,
    "tophat": CELL + ["-N", "4", "-detpixels", "20", "-oversample", "2", "-tophat_spots", "-phisteps", "2",
                      "-osc", "2", "-fudge", "3"],
    "square-oversample-flags": CELL + ["-N", "3", "-detpixels", "20", "-oversample", "2", "-phisteps", "2", "-osc",
                                       "2"] + OVERSAMPLE_ALL,
}
QUIET = ["-nonoise", "-nopgm", "-noprogress"]


def _stage(tmp_path, monkeypatch):
    for name in os.listdir(INPUTS):
        shutil.copy(INPUTS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)


def _run(argv, tmp_path, monkeypatch, pixels, name="trace.json"):
    """Run the command's job with --trace-pixel for ``pixels``; (Result, trace document, stdout lines)."""
    from nbnumba.run import run
    _stage(tmp_path, monkeypatch)
    flags = [token for f, s in pixels for token in ("--trace-pixel", str(f), str(s), name)]
    params = params_from_argv(argv + QUIET + flags)[0]
    lines = []
    result = run(params, log=lines.append)
    with open(tmp_path / name) as handle:
        document = json.load(handle)
    return result, document, lines


def recombine(pixel):
    """The pixel's value from its traced samples, combined as nanoBragg.c's loop combines them
    (L3013-3018 per sample, L3033-3038 at the end), checking each sample's increment and running sum."""
    I = pixel["I_bg"]
    for sample in pixel["samples"]:
        if sample["skipped"] is not None:
            assert "F_cell" not in sample and "I_after" not in sample
            continue
        increment = sample["F_cell"] * sample["F_cell"] * sample["F_latt"] * sample["F_latt"]
        assert increment == pytest.approx(sample["increment"], rel=1e-12, abs=0)
        I += increment
        if pixel["oversample_thick"]:
            I *= sample["capture_fraction"]
        if pixel["oversample_polar"]:
            I *= sample["polar"]
        if pixel["oversample_omega"]:
            I *= sample["omega_sr"]
        assert I == pytest.approx(sample["I_after"], rel=1e-12, abs=0)
    assert I == pytest.approx(pixel["I_final"], rel=1e-12, abs=0)
    value = pixel["r_e_sqr_fluence"] * I / pixel["steps"]
    if not pixel["oversample_thick"]:
        value *= pixel["capture_fraction"]
    if not pixel["oversample_polar"]:
        value *= pixel["polar"]
    if not pixel["oversample_omega"]:
        value *= pixel["omega_sr"]
    return value


def _check_pixel(pixel, image, setup, skips_allowed=("F_latt=0",)):
    f, s = pixel["fpixel"], pixel["spixel"]
    value = recombine(pixel)
    assert value == pytest.approx(pixel["value_photons"], rel=1e-12, abs=0)
    assert np.float32(value) == image[s, f]
    assert pixel["floatimage"] == float(image[s, f])
    # every sample of C's loop nest, in its order
    st = setup.steps
    keys = [(x["thick_tic"], x["subS"], x["subF"], x["source"], x.get("phi_tic", -1), x.get("mos_tic", -1))
            for x in pixel["samples"]]
    assert keys == sorted(keys)
    full = st.detector_thicksteps * setup.oversample ** 2 * setup.sources.shape[0] * st.phisteps * st.mosaic_domains
    assert len(keys) == full == pixel["n_samples"]
    assert {x["skipped"] for x in pixel["samples"]} <= {None, *skips_allowed}
    assert pixel["scale"] == pixel["r_e_sqr_fluence"] / pixel["steps"]


def _brightest(image, count=2):
    flat = np.argsort(image, axis=None)[::-1][:count]
    return [(int(i % image.shape[1]), int(i // image.shape[1])) for i in flat]


@pytest.mark.parametrize("case", list(SHAPES))
def test_traced_samples_combine_to_the_pixel_value(case, tmp_path, monkeypatch):
    argv = SHAPES[case]
    # the brightest pixels are only known after a render: a first run finds them, the traced run must
    # give the same image
    from nbnumba import simulate
    _stage(tmp_path, monkeypatch)
    image = simulate(params_from_argv(argv + QUIET)[0]).floatimage
    pixels = _brightest(image) + [(0, 0), (3, 7)]
    result, document, _ = _run(argv, tmp_path, monkeypatch, pixels)
    assert np.array_equal(result.floatimage, image)
    assert document["format"] == "nbnumba-trace" and document["format_version"] == 1
    assert [(p["fpixel"], p["spixel"]) for p in document["pixels"]] == pixels
    setup = result.setup
    for pixel in document["pixels"]:
        _check_pixel(pixel, image, setup)
        evaluated = [x for x in pixel["samples"] if x["skipped"] is None]
        assert evaluated and pixel["value_photons"] > 0
        for x in pixel["samples"]:
            # the Miller index is the traced rotated cell on the traced scattering vector
            hkl = np.array([x["rot_a_m"], x["rot_b_m"], x["rot_c_m"]]) @ np.array(x["scattering_minv"])
            assert hkl == pytest.approx([x["h"], x["k"], x["l"]], rel=1e-12, abs=1e-12)
            assert [x["h0"], x["k0"], x["l0"]] == [math.ceil(v - 0.5) for v in (x["h"], x["k"], x["l"])]
            assert 0.5 * np.linalg.norm(x["scattering_minv"]) == pytest.approx(x["stol_minv"], rel=1e-14)
            if case.startswith("square"):
                product = x["F_latt_a"] * x["F_latt_b"] * x["F_latt_c"]
                assert product == pytest.approx(x["F_latt"], rel=1e-12, abs=1e-12)
            else:
                assert "F_latt_a" not in x
            if x["skipped"] == "F_latt=0":
                assert x["F_latt"] == 0.0
    if case == "tophat":  # a flat-top spot is zero away from the peaks: those samples are listed as skipped
        assert any(x["skipped"] == "F_latt=0" for p in document["pixels"] for x in p["samples"])
    if case == "square":
        assert setup.sources.shape[0] > 1 and setup.steps.phisteps == 3 and setup.steps.mosaic_domains == 3


def _rodrigues(v, axis, phi):
    """v rotated by phi about the unit vector axis (numpy, independent of the kernels)."""
    v, axis = np.asarray(v, float), np.asarray(axis, float)
    return v * math.cos(phi) + np.cross(axis, v) * math.sin(phi) + axis * np.dot(axis, v) * (1 - math.cos(phi))


PHI_CASE = CELL + ["-N", "5", "-detpixels", "24", "-oversample", "2", "-phi", "0", "-osc", "10", "-phisteps", "2"]


def test_spec_rot_b_is_b_rotated_by_each_phi(tmp_path, monkeypatch):
    result, document, _ = _run(PHI_CASE + ["-phisteps", "4", "-osc", "30"], tmp_path, monkeypatch,
                               [(0, 0), (11, 5)])
    setup = result.setup
    b0 = np.asarray(setup.crystal.b)
    spindle = np.asarray(setup.detector.spindle)
    for pixel in document["pixels"]:
        _check_pixel(pixel, result.floatimage, setup)
        seen = set()
        for x in pixel["samples"]:
            phi = x["phi_tic"] * (30.0 / 4) * math.pi / 180.0  # -phi 0 -osc 30 -phisteps 4
            assert x["phi_rad"] == pytest.approx(phi, rel=1e-15, abs=0)
            assert np.allclose(x["rot_b_m"], _rodrigues(b0, spindle, phi), rtol=0, atol=1e-12 * np.linalg.norm(b0))
            assert x["orientation"] == ("unrotated" if x["phi_tic"] == 0 else "rotated")
            assert "cell_table" not in x
            seen.add(x["phi_tic"])
        assert seen == {0, 1, 2, 3}


def _carryover_walk(pixel, b0, spindle, state):
    """C's phi loop (L2779-2789) as a state machine over the traced samples: a phi step rotates the
    crystal only when phi != 0; otherwise ap, bp, cp keep the previous evaluation's orientation
    (``state``: None for the unrotated cell). A -dmin skip runs no phi loop. Returns the state after."""
    for x in pixel["samples"]:
        if x["skipped"] == "dmin":
            continue
        phi = x["phi_rad"]
        if phi != 0.0:
            state = phi
        expected = b0 if state is None else _rodrigues(b0, spindle, state)
        assert np.allclose(x["rot_b_m"], expected, rtol=0, atol=1e-12 * np.linalg.norm(b0)), x["index"]
        if phi == 0.0:
            assert x["orientation"] == ("unrotated" if state is None else "carried")
            assert x["orientation_phi_deg"] == (None if state is None else pytest.approx(state * 180 / math.pi))
    return state


def test_c_parity_phi_zero_carries_the_previous_orientation(tmp_path, monkeypatch):
    # -phi 0 -osc 10 -phisteps 2: phi = 0 and 5 degrees; C-PARITY-001: every phi = 0 evaluation but
    # the image's very first uses the orientation of the previous evaluation (phi = 5)
    result, document, _ = _run(PHI_CASE + ["--phi-carryover-mode", "c-parity"], tmp_path, monkeypatch,
                               [(0, 0), (11, 5)])
    setup = result.setup
    b0 = np.asarray(setup.crystal.b)
    spindle = np.asarray(setup.detector.spindle)
    phi_last = 5.0 * math.pi / 180
    first, later = document["pixels"]
    for pixel in document["pixels"]:
        _check_pixel(pixel, result.floatimage, setup)
    assert first["first_loop"] and not later["first_loop"]
    # the image's first pixel starts from the unrotated cell, a later one from the previous pixel's last phi
    _carryover_walk(first, b0, spindle, None)
    _carryover_walk(later, b0, spindle, phi_last)
    # the first evaluation (first sub-pixel of the first pixel) holds the unrotated cell; after it every
    # phi = 0 sample carries phi = 5
    zero = [x for x in first["samples"] if x["phi_tic"] == 0]
    assert zero[0]["orientation"] == "unrotated" and zero[0]["cell_table"] == "first"
    assert np.array_equal(zero[0]["rot_b_m"], b0)
    assert all(x["orientation"] == "carried" for x in zero[1:])
    assert {x["cell_table"] for x in later["samples"]} == {"carry"}
    # phi = 0 evaluations equal the phi = 5 ones: the phi = 0 slice is lost
    for x in later["samples"]:
        assert np.allclose(x["rot_b_m"], _rodrigues(b0, spindle, phi_last), rtol=0, atol=1e-12 * np.linalg.norm(b0))


def test_dmin_skips_whole_sources_and_the_carryover_passes_over_them(tmp_path, monkeypatch):
    argv = PHI_CASE + ["-oversample", "3", "--phi-carryover-mode", "c-parity"]
    pixel_at = (20, 12)
    # -dmin at the resolution of the pixel's centre: some of its sub-pixels are skipped, others not
    _, plain, _ = _run(argv, tmp_path, monkeypatch, [pixel_at], "plain.json")
    centre = [x for x in plain["pixels"][0]["samples"] if x["subS"] == 1 and x["subF"] == 1][0]
    dmin_A = 0.5 / centre["stol_minv"] * 1e10
    argv = argv + ["-dmin", repr(dmin_A)]
    result, document, _ = _run(argv, tmp_path, monkeypatch, [(0, 0), pixel_at])
    setup = result.setup
    st = setup.steps
    corner, pixel = document["pixels"]
    # the corner is beyond -dmin: every source skipped, one row each, no phi loop ran
    assert [x["skipped"] for x in corner["samples"]] == ["dmin"] * (setup.oversample ** 2 * setup.sources.shape[0])
    skipped = [x for x in pixel["samples"] if x["skipped"] == "dmin"]
    kept = [x for x in pixel["samples"] if x["skipped"] != "dmin"]
    assert skipped and kept
    dmin = dmin_A * 1e-10
    for x in skipped:  # C L2763-2769: the whole source, before its phi loop: one row, no phi step
        assert dmin > 0.5 / (0.5 * np.linalg.norm(x["scattering_minv"]))
        assert "phi_tic" not in x and "h" not in x
    for x in kept:
        assert not dmin > 0.5 / (0.5 * np.linalg.norm(x["scattering_minv"]))
    assert len(kept) + len(skipped) * st.phisteps * st.mosaic_domains == (
        setup.oversample ** 2 * setup.sources.shape[0] * st.phisteps * st.mosaic_domains)
    assert pixel["n_samples"] == len(pixel["samples"])
    assert np.float32(recombine(pixel)) == result.floatimage[pixel_at[1], pixel_at[0]]
    # the image's first phi loop belongs to the first pixel that evaluated one (C-PARITY-001: skipped
    # sources run no phi loop); it starts from the unrotated cell, every later pixel from phi = 5
    first_eval = corner["pass"]["first_eval_pixel"]
    assert first_eval > 0
    fpixels = setup.detector.fpixels
    first_at = (first_eval % fpixels, first_eval // fpixels)
    result, document, _ = _run(argv, tmp_path, monkeypatch, [first_at, pixel_at])
    b0 = np.asarray(setup.crystal.b)
    spindle = np.asarray(setup.detector.spindle)
    first, pixel = document["pixels"]
    assert first["first_loop"] and not pixel["first_loop"]
    _carryover_walk(first, b0, spindle, None)
    _carryover_walk(pixel, b0, spindle, 5.0 * math.pi / 180)
    evaluated = [x for x in first["samples"] if x["skipped"] is None]
    assert evaluated[0]["orientation"] == "unrotated" and evaluated[0]["cell_table"] == "first"
    for p in document["pixels"]:
        assert np.float32(recombine(p)) == result.floatimage[p["spixel"], p["fpixel"]]


INTERP = ["-hkl", "cubic.hkl", "-cell", "100", "100", "100", "90", "90", "90", "-N", "5", "-lambda", "6.2",
          "-distance", "100", "-detpixels", "40", "-pixel", "2.4", "-interpolate", "-Xbeam", "5", "-Ybeam", "5"]


def _out_of_range(x, t):
    """C L2936-2941: too close to the table's edge for tricubic interpolation."""
    h, k, l = x["h"], x["k"], x["l"]
    return ((h - t.h_min + 3) > t.h_range or h - 2 < t.h_min or (k - t.k_min + 3) > t.k_range or k - 2 < t.k_min
            or (l - t.l_min + 3) > t.l_range or l - 2 < t.l_min)


def test_interpolation_and_its_run_wide_switch_off(tmp_path, monkeypatch):
    from nbnumba import simulate
    from nbnumba.render.plan import interpolation_failure
    _stage(tmp_path, monkeypatch)
    plain = simulate(params_from_argv(INTERP + QUIET)[0])
    failure = interpolation_failure(plain.plan, plain.rendering)
    assert failure is not None
    fcut, scut = failure[0], failure[1]
    fpixels = plain.setup.detector.fpixels
    assert scut * fpixels + fcut > 0
    before = divmod(scut * fpixels + fcut - 1, fpixels)[::-1]
    after = divmod(scut * fpixels + fcut + 1, fpixels)[::-1]
    result, document, _ = _run(INTERP, tmp_path, monkeypatch, [before, (fcut, scut), after])
    table = result.setup.fhkl
    for pixel in document["pixels"]:
        _check_pixel(pixel, result.floatimage, result.setup)
        assert pixel["interpolation_switch_off"] == {
            "fpixel": fcut, "spixel": scut, "h": failure[2][0], "k": failure[2][1], "l": failure[2][2],
            "h0": failure[2][3], "k0": failure[2][4], "l0": failure[2][5]}
    pb, pc, pa = document["pixels"]
    evaluated = {name: [x for x in p["samples"] if x["skipped"] is None] for name, p in
                 (("before", pb), ("cut", pc), ("after", pa))}
    assert pb["interpolation"] == "on" and all(x["F_cell_interpolated"] for x in evaluated["before"])
    assert all(not _out_of_range(x, table) for x in evaluated["before"])
    assert pa["interpolation"] == "off" and not any(x["F_cell_interpolated"] for x in evaluated["after"])
    assert pc["interpolation"] == "cut"
    flags = [x["interpolation_switch_off"] for x in evaluated["cut"]]
    assert flags.count(True) == 1
    at = flags.index(True)
    off = evaluated["cut"][at]
    # the switch-off sample is the first out of range; interpolation until it, nearest F from it on
    assert _out_of_range(off, table) and not any(_out_of_range(x, table) for x in evaluated["cut"][:at])
    assert [off["h"], off["k"], off["l"], off["h0"], off["k0"], off["l0"]] == list(failure[2])
    assert all(x["F_cell_interpolated"] for x in evaluated["cut"][:at])
    assert not any(x["F_cell_interpolated"] for x in evaluated["cut"][at:])
    assert pc["pass"]["interp_cut_eval"] == at


def test_diff_finds_an_injected_difference(tmp_path, monkeypatch, capsys):
    from nbnumba.cli.compare import main_argv
    from nbnumba.outputs.trace import diff_traces, read_trace
    _, document, _ = _run(SQUARE, tmp_path, monkeypatch, [(12, 12), (5, 6)])
    assert diff_traces(document, copy.deepcopy(document)) == []
    changed = copy.deepcopy(document)
    target = changed["pixels"][1]["samples"][37]
    target["h"] *= 1 + 1e-7
    target["rot_b_m"][2] *= 1 + 1e-6
    changed["pixels"][1]["samples"][50]["h"] *= 1 + 1e-7  # later: not the first difference of h
    differences = diff_traces(document, changed)
    assert [(d["pixel"], d["quantity"], d["sample"]) for d in differences] == [
        ((5, 6), "h", 37), ((5, 6), "rot_b_m", 37)]
    assert differences[0]["where"] == ", ".join("%s %d" % (k, target[k]) for k in (
        "thick_tic", "subS", "subF", "source", "phi_tic", "mos_tic"))
    # within a looser tolerance they agree
    assert diff_traces(document, changed, rtol=1e-5) == []
    # the command: exit 1 and the first differing sample per quantity; exit 0 when they agree
    with open(tmp_path / "changed.json", "w") as handle:
        json.dump(changed, handle)
    capsys.readouterr()
    assert main_argv(["--trace", "trace.json", "changed.json", "--rtol", "1e-9"]) == 1
    out = capsys.readouterr().out
    assert "pixel 5 6: h: sample 37 (" in out and "pixel 5 6: rot_b_m: sample 37 (" in out
    assert main_argv(["--trace", "trace.json", "trace.json"]) == 0
    assert "traces agree" in capsys.readouterr().out
    assert main_argv(["--trace", "trace.json", "missing.json"]) == 2
    # JSON lines with a few keys (as an instrumented C build prints them, its own output around them),
    # without the F_latt = 0 samples C's printout after the F_cell lookup never reaches
    with open(tmp_path / "c.txt", "w") as handle:
        handle.write("nanoBragg nanocrystal diffraction simulator\n")
        for pixel in changed["pixels"]:
            for x in pixel["samples"]:
                if x["skipped"] is None:
                    line = {k: x[k] for k in ("thick_tic", "subS", "subF", "source", "phi_tic", "mos_tic", "h",
                                              "F_latt", "F_cell", "I_after")}
                    handle.write(json.dumps(dict(line, fpixel=pixel["fpixel"], spixel=pixel["spixel"])) + "\n")
        handle.write("writing floatimage.bin\n")
    differences = diff_traces(read_trace("trace.json"), read_trace("c.txt"))
    assert [(d["pixel"], d["quantity"], d["sample"]) for d in differences] == [((5, 6), "h", 37)]


def test_the_run_writes_the_trace_and_nothing_else_changes(tmp_path, monkeypatch, capsys):
    from nbnumba.cli.main import main_argv
    _stage(tmp_path, monkeypatch)
    argv = SQUARE + ["-noprogress", "-nonoise", "-pgmfile", "a.pgm"]
    assert main_argv(argv + ["-floatfile", "plain.bin", "-intfile", "plain.img"]) == 0
    plain = capsys.readouterr()
    assert main_argv(argv + ["-floatfile", "traced.bin", "-intfile", "traced.img", "--trace-pixel", "3", "4",
                             "t.json", "--trace-pixel", "5", "6", "u.json", "--trace-pixel", "7", "8", "t.json"]) == 0
    traced = capsys.readouterr()
    assert traced.out.replace("traced.", "plain.") == plain.out and traced.err == plain.err
    assert (tmp_path / "plain.bin").read_bytes() == (tmp_path / "traced.bin").read_bytes()
    assert (tmp_path / "plain.img").read_bytes() == (tmp_path / "traced.img").read_bytes()
    with open(tmp_path / "t.json") as handle:
        assert [(p["fpixel"], p["spixel"]) for p in json.load(handle)["pixels"]] == [(3, 4), (7, 8)]
    with open(tmp_path / "u.json") as handle:
        assert [(p["fpixel"], p["spixel"]) for p in json.load(handle)["pixels"]] == [(5, 6)]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_a_pixel_outside_the_roi_has_no_samples(tmp_path, monkeypatch):
    result, document, _ = _run(SQUARE + ["-roi", "0", "10", "0", "10"], tmp_path, monkeypatch, [(20, 20)])
    (pixel,) = document["pixels"]
    assert pixel["rendered"] is False and pixel["samples"] == [] and pixel["floatimage"] == 0.0


@pytest.mark.parametrize("argv,fragment", [
    (["--trace-pixel", "1", "2"], "--trace-pixel: expected two integers and a file name (F S FILE.json), got only 2"),
    (["--trace-pixel", "1", "x", "t.json"], "--trace-pixel: expected two integers and a file name"),
    (["--trace-pixel", "1", "2", "-nonoise"], "--trace-pixel: expected two integers and a file name "
                                              "(F S FILE.json), got the flag -nonoise"),
])
def test_bad_trace_pixel_flags(argv, fragment):
    with pytest.raises(InputError) as info:
        params_from_argv(argv)
    assert str(info.value).startswith(fragment)


def test_trace_pixel_is_repeatable():
    params = params_from_argv(["--trace-pixel", "1", "2", "a.json", "--trace-pixel", "3", "4.0", "a.json"])[0]
    assert params.trace_pixels == ((1, 2, "a.json"), (3, 4, "a.json"))
    params.validate()
    with pytest.raises(InputError, match="Params.trace_pixels"):
        params.copy(trace_pixels=((1, "2", "a.json"),)).validate()


@pytest.mark.parametrize("pixel", [("24", "0"), ("0", "-1")])
def test_a_pixel_off_the_detector_is_refused_before_rendering(pixel, tmp_path, monkeypatch, capsys):
    from nbnumba.cli.main import main_argv
    _stage(tmp_path, monkeypatch)
    assert main_argv(SQUARE + QUIET + ["--trace-pixel", *pixel, "t.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nbnumba: error: --trace-pixel %s %s: no such pixel" % pixel)
    assert not (tmp_path / "t.json").exists() and not (tmp_path / "floatimage.bin").exists()


def test_too_many_samples_are_refused(tmp_path, monkeypatch):
    from nbnumba import limits
    from nbnumba.setup import prepare
    _stage(tmp_path, monkeypatch)
    monkeypatch.setattr(limits, "MAX_TRACE_SAMPLES", 100)
    params = params_from_argv(SQUARE + ["--trace-pixel", "1", "1", "t.json"])[0]
    with pytest.raises(InputError, match=r"--trace-pixel: a pixel of this run has \d+ samples"):
        prepare(params)
    prepare(params.copy(trace_pixels=()))
