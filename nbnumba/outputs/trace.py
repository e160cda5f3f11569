# SPDX-License-Identifier: BSD-3-Clause
"""``--trace-pixel``: every sample of a pixel as JSON, for parity debugging, and the reader/diff helper
behind ``nbnumba-compare --trace A.json B.json``.

A trace is one JSON document (``FORMAT``, ``FORMAT_VERSION``) holding, per traced pixel, the pixel's
factors and final value and its samples in nanoBragg.c's loop order (thickness layer, sub-pixel subS/subF,
source, phi step, mosaic domain; C L2678-3019), from the render plan's serial re-evaluation of the pixel
(``nbnumba.render.plan.trace_samples``). Values are in C's internal units, named in the keys (``_m``
metres, ``_minv`` 1/metre, ``_rad``, ``_deg``, ``_sr`` steradian; Miller indices, F and I are
dimensionless), and written as the shortest decimal that reads back to the same double, so a C build
that prints its variables with ``%.17g`` compares bit for bit. docs/usage.md describes the format."""
from __future__ import annotations

import json
import math

import numpy as np

from nbnumba import _version
from nbnumba.constants import RTD
from nbnumba.errors import InputError
from nbnumba.io.atomic import atomic_open
from nbnumba.kernels import physics
from nbnumba.kernels import types as kt
from nbnumba.kernels.pixel import INTERP_CUT, INTERP_ON
from nbnumba.render.plan import interpolation_failure, trace_samples
from nbnumba.render.serial_order import NO_PIXEL

FORMAT = "nbnumba-trace"
FORMAT_VERSION = 1
#: the loop indices that name a sample, outermost first (nanoBragg.c's loop variables)
LOOP_KEYS = ("thick_tic", "subS", "subF", "source", "phi_tic", "mos_tic")
#: why a sample contributes nothing (C L2763-2769 and L2868)
SKIPPED = {kt.SAMPLE_SKIP_DMIN: "dmin", kt.SAMPLE_SKIP_F_LATT: "F_latt=0"}
INTERPOLATION = {0: "off", INTERP_ON: "on", INTERP_CUT: "cut"}
#: default tolerances of ``diff_traces``
DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 0.0


def _number(value):
    """A float for JSON: None for NaN."""
    value = float(value)
    return None if math.isnan(value) else value


def orientations(phi_values, carryover: bool):
    """Which orientation each phi step's cell had, per cell table: ``{"first": [...], "carry": [...]}``,
    each entry ``(kind, phi)`` with kind "rotated" (rotated afresh by phi), "unrotated" (the unrotated
    cell) or "carried" (c-parity, a phi step of exactly 0: the previous phi evaluation's orientation,
    C-PARITY-001) and phi the angle (radians) of the orientation used, None for the unrotated cell.

    In c-parity C rotates only when ``phi != 0.0`` (L2783-2789): ``first`` is the image's first phi
    loop, which starts from the unrotated cell; ``carry`` every later loop, which starts where the
    previous loop left (its last non-zero phi). In spec mode every step is rotated afresh (phi = 0: the
    unrotated cell) and both tables are the same."""
    if not carryover:
        steps = [("rotated", phi) if phi != 0.0 else ("unrotated", 0.0) for phi in phi_values]
        return {"first": steps, "carry": steps}

    def loop(state):
        steps = []
        for phi in phi_values:
            if phi != 0.0:
                state = phi
                steps.append(("rotated", phi))
            elif state is None:  # nothing rotated yet: C's ap, bp, cp still hold a0, b0, c0
                steps.append(("unrotated", None))
            else:
                steps.append(("carried", state))
        return steps, state

    first, after = loop(None)
    carry, _ = loop(after)
    return {"first": first, "carry": carry}


def _vector(row, start):
    return [_number(row[start]), _number(row[start + 1]), _number(row[start + 2])]


def sample_records(samples: np.ndarray, phi_values, carryover: bool, square: bool) -> list[dict]:
    """The JSON objects of a pixel's samples (rows of ``kernels.types.SAMPLE_*`` columns)."""
    table_orient = orientations(phi_values, carryover)
    records = []
    for index, row in enumerate(samples.tolist()):
        status = int(row[kt.SAMPLE_STATUS])
        r = {"index": index}
        for key, col in zip(LOOP_KEYS[:4], (kt.SAMPLE_THICK, kt.SAMPLE_SUBS, kt.SAMPLE_SUBF, kt.SAMPLE_SOURCE)):
            r[key] = int(row[col])
        if status != kt.SAMPLE_SKIP_DMIN:
            r["phi_tic"] = int(row[kt.SAMPLE_PHI])
            r["mos_tic"] = int(row[kt.SAMPLE_MOS])
        r["skipped"] = SKIPPED.get(status)
        r["Fdet_m"] = _number(row[kt.SAMPLE_FDET])
        r["Sdet_m"] = _number(row[kt.SAMPLE_SDET])
        r["Odet_m"] = _number(row[kt.SAMPLE_ODET])
        r["pixel_pos_m"] = _vector(row, kt.SAMPLE_POS)
        r["diffracted"] = _vector(row, kt.SAMPLE_DIFFRACTED)
        r["incident"] = _vector(row, kt.SAMPLE_INCIDENT)
        r["lambda_m"] = _number(row[kt.SAMPLE_LAMBDA])
        r["scattering_minv"] = _vector(row, kt.SAMPLE_SCATTERING)
        r["stol_minv"] = _number(row[kt.SAMPLE_STOL])
        r["polar"] = _number(row[kt.SAMPLE_POLAR])
        r["omega_sr"] = _number(row[kt.SAMPLE_OMEGA])
        r["capture_fraction"] = _number(row[kt.SAMPLE_CAPTURE])
        if status == kt.SAMPLE_SKIP_DMIN:
            records.append(r)
            continue
        phi_tic = r["phi_tic"]
        phi = float(phi_values[phi_tic])
        r["phi_rad"] = phi
        r["phi_deg"] = phi * RTD
        table = "first" if row[kt.SAMPLE_TABLE] == 0.0 else "carry"
        if carryover:
            r["cell_table"] = table
        kind, orientation_phi = table_orient[table][phi_tic]
        r["orientation"] = kind
        r["orientation_phi_deg"] = None if orientation_phi is None else orientation_phi * RTD
        r["rot_a_m"] = _vector(row, kt.SAMPLE_ROT)
        r["rot_b_m"] = _vector(row, kt.SAMPLE_ROT + 3)
        r["rot_c_m"] = _vector(row, kt.SAMPLE_ROT + 6)
        for key, col in (("h", kt.SAMPLE_H), ("k", kt.SAMPLE_K), ("l", kt.SAMPLE_L)):
            r[key] = row[col]
        for key, col in (("h0", kt.SAMPLE_H0), ("k0", kt.SAMPLE_K0), ("l0", kt.SAMPLE_L0)):
            r[key] = int(row[col])
        for key in ("h", "k", "l"):
            r[key + "_frac"] = r[key] - r[key + "0"]
        r["F_latt"] = _number(row[kt.SAMPLE_F_LATT])
        if square:
            r["F_latt_a"] = _number(row[kt.SAMPLE_F_LATT_A])
            r["F_latt_b"] = _number(row[kt.SAMPLE_F_LATT_B])
            r["F_latt_c"] = _number(row[kt.SAMPLE_F_LATT_C])
        if status == kt.SAMPLE_EVALUATED:
            r["F_cell"] = _number(row[kt.SAMPLE_F_CELL])
            r["F_cell_interpolated"] = row[kt.SAMPLE_INTERPOLATED] == 1.0
            r["interpolation_switch_off"] = row[kt.SAMPLE_SWITCH_OFF] == 1.0
            r["increment"] = _number(row[kt.SAMPLE_INCREMENT])
            r["I_after"] = _number(row[kt.SAMPLE_I])
        records.append(r)
    return records


def _pass_record(passes) -> dict:
    return {"start_pixel": int(passes.start_pixel), "first_eval_pixel": int(passes.first_eval_pixel),
            "interp_cut_pixel": None if passes.interp_cut_pixel == NO_PIXEL else int(passes.interp_cut_pixel),
            "interp_cut_eval": int(passes.interp_cut_eval)}


def pixel_record(plan, rendering, fpixel: int, spixel: int, switch_off=None) -> dict:
    """The JSON object of one traced pixel: its factors, final value and samples. ``switch_off``: the
    run-wide interpolation switch-off record (``trace_document`` computes it once)."""
    s = plan.setup
    sc = plan.scalars
    t = trace_samples(plan, rendering, fpixel, spixel)
    rendered = bool(s.rendered()[spixel, fpixel])
    flags = plan.flags
    record = {
        "fpixel": int(fpixel), "spixel": int(spixel),
        # outside the ROI or masked: C does not evaluate it (no samples; the image holds 0)
        "rendered": rendered,
        "floatimage": float(rendering.floatimage[spixel, fpixel]),
        "value_photons": t.value if rendered else 0.0,
        "I_bg": float(sc.I_bg),
        "I_final": _number(t.trace[kt.TRACE_I]),
        "polar": _number(t.trace[kt.TRACE_POLAR]),
        "omega_sr": _number(t.trace[kt.TRACE_OMEGA]),
        "capture_fraction": _number(t.trace[kt.TRACE_CAPTURE]),
        "r_e_sqr_fluence": float(sc.r_e_sqr_fluence),
        "steps": int(sc.steps),
        "scale": float(sc.r_e_sqr_fluence / sc.steps),
        "oversample_thick": bool(flags.oversample_thick),
        "oversample_polar": bool(flags.oversample_polar),
        "oversample_omega": bool(flags.oversample_omega),
        "phi_carryover_mode": s.params.phi_carryover_mode,
        "first_loop": t.first_loop,
        "interpolation": INTERPOLATION[t.interpolating] if flags.interpolate else "off",
        "interpolation_switch_off": switch_off,
        "pass": _pass_record(t.passes),
    }
    samples = t.samples if rendered else t.samples[:0]
    record["n_samples"] = int(samples.shape[0])
    record["samples"] = sample_records(samples, s.steps.phi_values, bool(flags.phi_carryover),
                                       plan.flags.shape == physics.SQUARE)
    return record


def trace_document(plan, rendering, pixels) -> dict:
    """The trace of ``pixels`` [(fpixel, spixel), ...] as one JSON-ready dict."""
    failure = interpolation_failure(plan, rendering)
    switch_off = None
    if failure is not None:
        f, sp, (h, k, l, h0, k0, l0) = failure
        switch_off = {"fpixel": int(f), "spixel": int(sp), "h": float(h), "k": float(k), "l": float(l),
                      "h0": int(h0), "k0": int(k0), "l0": int(l0)}
    s = plan.setup
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nbnumba_version": _version.__version__,
        "loop_order": list(LOOP_KEYS),
        "crystal_shape": str(s.shape.value),
        "phi_carryover_mode": s.params.phi_carryover_mode,
        "device": rendering.device,
        "pixels": [pixel_record(plan, rendering, f, sp, switch_off) for f, sp in pixels],
    }


def write_trace(path, plan, rendering, pixels) -> None:
    """Write the trace of ``pixels`` to ``path`` atomically (a temporary file renamed at the end)."""
    document = trace_document(plan, rendering, pixels)
    with atomic_open(path) as handle:
        handle.write(json.dumps(document, allow_nan=False, separators=(",", ":")).encode("utf-8"))
        handle.write(b"\n")


# ------------------------------------------------------------------------------------ reader and diff

def read_trace(path) -> dict:
    """A trace document from ``path``: an nbnumba trace, or JSON lines (one sample object per line, with
    ``fpixel`` and ``spixel`` and any of the sample keys, e.g. printed by an instrumented nanoBragg.c;
    lines that do not start with ``{`` are skipped, so C's own output may stay in the file).
    InputError if the file cannot be read or holds no trace."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read trace {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and "pixels" in document:
        if document.get("format") != FORMAT:
            raise InputError(f"{path}: not an nbnumba trace (format {document.get('format')!r})")
        if not isinstance(document["pixels"], list):
            raise InputError(f"{path}: 'pixels' is not a list")
        return document
    pixels = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            sample = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}:{number}: not a JSON object: {exc}") from exc
        if not isinstance(sample, dict) or "fpixel" not in sample or "spixel" not in sample:
            raise InputError(f"{path}:{number}: a trace line needs fpixel and spixel")
        key = (sample.pop("fpixel"), sample.pop("spixel"))
        pixel = pixels.setdefault(key, {"fpixel": key[0], "spixel": key[1], "samples": []})
        pixel["samples"].append(sample)
    if not pixels:
        raise InputError(f"{path}: no trace (neither an nbnumba trace nor JSON lines with fpixel, spixel)")
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "pixels": list(pixels.values())}


def _sample_key(sample: dict) -> tuple:
    return tuple(sample.get(key) for key in LOOP_KEYS)


def _differs(a, b, rtol, atol) -> bool:
    """Whether two JSON values differ beyond ``atol + rtol * max(|a|, |b|)`` (element-wise for lists)."""
    if isinstance(a, list) or isinstance(b, list):
        if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
            return True
        return any(_differs(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return a != b
    if a == b:
        return False
    if not (math.isfinite(a) and math.isfinite(b)):
        return True
    return abs(a - b) > atol + rtol * max(abs(a), abs(b))


def _where(sample: dict) -> str:
    return ", ".join("%s %s" % (key, sample[key]) for key in LOOP_KEYS if sample.get(key) is not None)


def diff_traces(a: dict, b: dict, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> list[dict]:
    """Line up two trace documents (pixels by fpixel, spixel; samples by their loop indices) and report,
    per quantity, the first sample whose values differ beyond the tolerance. Only keys both traces have
    are compared (an instrumented C build may print a few). A sample only one trace has is a difference,
    unless it is a skipped one (C's printout after the F_cell lookup never sees those).

    Returns ``[{"pixel": (f, s), "quantity": key, "sample": index or None, "where": loop indices, "a":
    value, "b": value}, ...]``, in the order the samples come (the earliest divergence first); empty
    when the traces agree."""
    differences = []
    pixels_b = {(p["fpixel"], p["spixel"]): p for p in b["pixels"]}
    seen = set()
    for pa in a["pixels"]:
        key = (pa["fpixel"], pa["spixel"])
        if key in seen:
            continue
        seen.add(key)
        pb = pixels_b.get(key)
        if pb is None:
            differences.append({"pixel": key, "quantity": "pixel", "sample": None, "where": "", "a": "traced",
                                "b": "absent"})
            continue
        for name in sorted(set(pa) & set(pb) - {"samples", "fpixel", "spixel", "n_samples"}):
            if _differs(pa[name], pb[name], rtol, atol):
                differences.append({"pixel": key, "quantity": name, "sample": None, "where": "pixel",
                                    "a": pa[name], "b": pb[name]})
        differences += _diff_samples(key, pa.get("samples", []), pb.get("samples", []), rtol, atol)
    for pb in b["pixels"]:
        key = (pb["fpixel"], pb["spixel"])
        if key not in seen:
            seen.add(key)
            differences.append({"pixel": key, "quantity": "pixel", "sample": None, "where": "", "a": "absent",
                                "b": "traced"})
    return differences


def _diff_samples(pixel, samples_a, samples_b, rtol, atol) -> list[dict]:
    by_key_b = {}
    for position, sample in enumerate(samples_b):
        by_key_b.setdefault(_sample_key(sample), (position, sample))
    first = {}
    matched = set()
    for position, sa in enumerate(samples_a):
        key = _sample_key(sa)
        found = by_key_b.get(key)
        if found is None:
            if not sa.get("skipped") and "sample" not in first:
                first["sample"] = (position, sa, "present", "absent")
            continue
        matched.add(key)
        sb = found[1]
        for name in set(sa) & set(sb) - set(LOOP_KEYS) - {"index"}:
            if name not in first and _differs(sa[name], sb[name], rtol, atol):
                first[name] = (position, sa, sa[name], sb[name])
    keys_a = {_sample_key(sample) for sample in samples_a}
    for position, sb in enumerate(samples_b):
        key = _sample_key(sb)
        if key not in matched and key not in keys_a and not sb.get("skipped"):
            if "sample" not in first or first["sample"][0] > position:
                first["sample"] = (position, sb, "absent", "present")
            break
    return [{"pixel": pixel, "quantity": name, "sample": position, "where": _where(sample), "a": va, "b": vb}
            for name, (position, sample, va, vb) in sorted(first.items(), key=lambda item: (item[1][0], item[0]))]


def _show(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def diff_report(differences: list[dict], path_a, path_b, rtol, atol, a: dict, b: dict) -> list[str]:
    """The lines ``nbnumba-compare --trace`` prints."""
    if not differences:
        samples = sum(len(p.get("samples", [])) for p in a["pixels"])
        return ["traces agree within rtol %g, atol %g: %d pixel(s), %d sample(s) of %s lined up with %s"
                % (rtol, atol, len(a["pixels"]), samples, path_a, path_b)]
    lines = ["traces differ beyond rtol %g, atol %g (A = %s, B = %s); first difference per quantity:"
             % (rtol, atol, path_a, path_b)]
    for d in differences:
        at = "pixel value" if d["sample"] is None else "sample %d (%s)" % (d["sample"], d["where"])
        lines.append("pixel %d %d: %s: %s: A %s, B %s" % (d["pixel"][0], d["pixel"][1], d["quantity"], at,
                                                         _show(d["a"]), _show(d["b"])))
    return lines


__all__ = ["FORMAT", "FORMAT_VERSION", "diff_report", "diff_traces", "orientations", "pixel_record",
           "read_trace", "sample_records", "trace_document", "write_trace"]
