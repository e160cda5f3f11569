# SPDX-License-Identifier: BSD-3-Clause
"""File formats of nanoBragg: SMV and raw float images, HKL text and Fdump tables, MOSFLM matrices, text columns."""
