# SPDX-License-Identifier: BSD-3-Clause
"""The package version (a leaf module: importing it imports nothing else of nbnumba)."""
__version__ = "0.1.0"
