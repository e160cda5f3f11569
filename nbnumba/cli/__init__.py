# SPDX-License-Identifier: BSD-3-Clause
"""The ``nbnumba`` command line: the flag table, its parser and the click command."""
