# SPDX-License-Identifier: BSD-3-Clause
"""Write reports/parity_cpu.md: per reference case, how far nbnumba's float image is from nanoBragg.c's
(relative to the image maximum), how many SMV pixels differ, and for the noise and PGM cases how many
noise-image pixels differ and whether the PGM file is identical. Run: python tests/parity_report.py"""
import contextlib
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import manifest, reference_bytes, reference_float, relative_max_difference, run_case  # noqa: E402


def measure(case, mode):
    m = manifest()[case]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert run_case(case, d, ["--phi-carryover-mode", mode]) == 0
        ours = np.fromfile(d / "float.bin", np.float32).reshape(m["spixels"], m["fpixels"])
        ref_case = m.get("port_matches", case)
        key = "float_spec" if m["phi_carryover"] and mode == "spec" else "float"
        rel = relative_max_difference(ours, reference_float(ref_case, key))
        if key != "float":
            return rel, None, None, None
        a = np.frombuffer((d / "int.img").read_bytes()[512:], np.uint16)
        b = np.frombuffer(reference_bytes(ref_case, "int")[512:], np.uint16)
        noise = pgm = None
        outputs = manifest()[ref_case]["outputs"]
        if "noise" in outputs:
            argv = m["argv"]
            ours_noise = (d / argv[argv.index("-noisefile") + 1]).read_bytes()
            ref_noise = reference_bytes(ref_case, "noise")
            noise = int(np.count_nonzero(np.frombuffer(ours_noise[512:], np.uint16)
                                         != np.frombuffer(ref_noise[512:], np.uint16)))
            noise += int(ours_noise[:512] != ref_noise[:512])
        if "pgm" in outputs:
            pgm = "identical" if (d / "image.pgm").read_bytes() == reference_bytes(ref_case, "pgm") else "differs"
        return rel, int(np.count_nonzero(a != b)), noise, pgm


def main():
    rows = []
    for case in sorted(manifest()):
        carry = manifest()[case]["phi_carryover"]
        rows.append((case, "c-parity" if carry else "spec", *measure(case, "c-parity" if carry else "spec")))
        if carry:
            rows.append((case, "spec vs float_spec", *measure(case, "spec")))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    worst = max(rows, key=lambda r: r[2])
    lines = ["# CPU kernel parity with nanoBragg.c", "",
             f"Commit {commit}; `python tests/parity_report.py`. Float images: max |ours - C| / max |C|; SMV: pixels "
             "that differ from C's (threshold: 0.1% off by one ADU); noise: noise-image pixels that differ from C's "
             "for the same -seed (+1 if the header differs); PGM: the file against C's.", "",
             f"{sum(1 for r in rows if r[1] != 'spec vs float_spec')} cases; largest relative difference "
             f"{worst[2]:.3g} ({worst[0]}, {worst[1]}); cases with a float image bit-identical to C's: "
             f"{sum(1 for r in rows if r[2] == 0.0 and r[1] != 'spec vs float_spec')}.", "",
             "| case | mode | max rel. diff | SMV pixels differing | noise pixels differing | PGM |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {c} | {mode} | {rel:.3g} | {'' if off is None else off} | {'' if noise is None else noise} | "
              f"{pgm or ''} |" for c, mode, rel, off, noise, pgm in rows]
    out = Path(__file__).resolve().parent.parent / "reports" / "parity_cpu.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
