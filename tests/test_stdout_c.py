# SPDX-License-Identifier: BSD-3-Clause
"""What nbnumba prints equals what nanoBragg.c printed (cases/*/stdout.txt) for every reference case:
the set-up lines, the parameter summary, the -printout block, the interpolation warning, and the
statistics lines scripts grep (solid angle, max_I, mean/rms/rmsd, intfile_scale, pgm_scale,
photons on the noise image), numbers as printed.

Left out of the comparison, and why:
- C's "N% done" progress lines: nbnumba shows a progress bar on stderr instead.
- the second of the two lines C prints while reading an -img/-mask file ("reading FILE", then
  "mmap(FILE) = 0x55...", a heap address).
- nbnumba's one line naming where the kernel runs ("nbnumba: rendering on the CPU, 2 threads"), printed
  after the parameter summary; ``test_device_line`` checks it.
For the ``c_defect`` cases, where C misreads its input, the statistics lines are compared with the
twin case whose output a correct reader reproduces."""
import re

import pytest
from reference import ROOT, manifest, run_case, without_device_line

PROGRESS = re.compile(r"\d+% done$")
STATISTICS = ("solid angle subtended by detector", "writing ", "max_I = ", "mean= ", "intfile_scale = ",
              "pgm_scale = ")
NOISE_TOTAL = re.compile(r"\d+ photons on noise image \(\d+ overloads\)$")


def c_stdout(case):
    lines = []
    for line in (ROOT / "cases" / case / "stdout.txt").read_text().splitlines():
        if PROGRESS.fullmatch(line) or line.startswith("mmap("):
            continue
        lines.append(PROGRESS.sub("", line))
    return lines


def statistics(lines):
    return [line for line in lines if line.startswith(STATISTICS) or NOISE_TOTAL.match(line)]


def our_stdout(case, workdir, capsys):
    """What the nbnumba command prints for the case's main run (not for its prepare run)."""
    entry = manifest()[case]
    extra = ["--phi-carryover-mode", "c-parity"] if entry["phi_carryover"] else []
    assert run_case(case, workdir, extra, after_prepare=capsys.readouterr) == entry["exit_code"]
    return without_device_line(capsys.readouterr().out.splitlines())


@pytest.mark.parity
@pytest.mark.parametrize("case", sorted(manifest()))
def test_stdout_matches_c(case, tmp_path, capsys):
    entry = manifest()[case]
    ours = our_stdout(case, tmp_path, capsys)
    if "port_matches" in entry:
        expected = statistics(c_stdout(entry["port_matches"]))
        assert statistics(ours) == expected
        assert len(expected) >= 6
        return
    expected = c_stdout(case)
    assert ours == expected
    # the lines scripts grep are all there
    assert len(statistics(expected)) >= 6


def test_device_line(tmp_path, capsys):
    """The one line nbnumba adds: where the kernel ran, between the parameter summary and the render's
    output (where C prints its progress lines)."""
    import numba
    case = [name for name, entry in sorted(manifest().items()) if entry["exit_code"] == 0 and not entry["phi_carryover"]
            and "port_matches" not in entry and "-img" not in entry["argv"] and "-mask" not in entry["argv"]][0]
    assert run_case(case, tmp_path, ["--device", "cpu"], after_prepare=capsys.readouterr) == 0
    lines = capsys.readouterr().out.splitlines()
    device_lines = [line for line in lines if line.startswith("nbnumba: ")]
    assert device_lines == ["nbnumba: rendering on the CPU, %d threads" % numba.get_num_threads()]
    expected = c_stdout(case)
    position = lines.index(device_lines[0])
    assert lines[:position] == expected[:position]
    assert lines[position + 1:] == expected[position:]
