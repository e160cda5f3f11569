# SPDX-License-Identifier: BSD-3-Clause
"""Pixel kernels: shared scalar physics (``physics``), the CPU kernel (``cpu``); CUDA comes later."""
