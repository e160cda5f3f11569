# SPDX-License-Identifier: BSD-3-Clause
"""nanoBragg.c's command line: ``flags`` (the one table of flags) and ``parse`` (C's argv rules, no file
I/O). ``nbnumba.params_from_argv`` (``nbnumba.setup.inputs``) is the entry that also reads -img/-mask."""
