# SPDX-License-Identifier: BSD-3-Clause
"""The float image converted as nanoBragg.c converts it for its SMV file: the scale, the 16-bit pixels
and the header values."""
import numpy as np

from nbnumba.constants import RTD

#: rows per block when the SMV pixels are computed (bounds their float64 temporaries)
ROW_BLOCK = 64


def _row_blocks(rows):
    for start in range(0, rows, ROW_BLOCK):
        yield slice(start, min(start + ROW_BLOCK, rows))


def intfile_scale(setup, max_I):
    """-scale, or C's automatic scale: 55000 / max_I (1 for an empty image; C L3135-3137)."""
    scale = setup.params.intfile_scale
    if scale <= 0.0:
        scale = 1.0
        if max_I > 0.0:
            scale = 55000.0 / max_I
    return scale


def int_image(floatimage, setup, intfile_scale):
    """The noiseless SMV pixels (C L3132-3150): ROI pixels scaled, offset by the ADC, clamped to
    [0, 65535] and rounded by ``floorf(v + 0.5)`` in float32 as C does; other pixels 0. Computed
    in blocks of rows (no full-image float64 temporaries)."""
    out = np.empty(floatimage.shape, np.uint16)
    roi = setup.roi_mask()
    adc = setup.params.adc_offset
    for rows in _row_blocks(floatimage.shape[0]):
        v = floatimage[rows].astype(np.float64) * intfile_scale + adc
        np.clip(v, 0.0, 65535.0, out=v)
        v += 0.5
        block = np.floor(v.astype(np.float32)).astype(np.uint16)  # C's floorf: float32 (bit-parity)
        block[~roi[rows]] = 0
        out[rows] = block
    return out


def smv_header_values(setup):
    """The numbers of the SMV header in the units it is written in (C L3161-3183). The mixed ``* 1000.0``
    and ``* 1000`` and the ``- 0.0 * px`` are C's own expressions (bit-parity of the printed digits)."""
    d, st = setup.detector, setup.steps
    px = d.pixel_size
    return dict(fpixels=d.fpixels, spixels=d.spixels, pixel_mm=px * 1000.0, distance_mm=d.distance * 1000.0,
                wavelength_A=setup.params.lambda0 * 1e10, beam_center_x_mm=d.Xbeam * 1000.0,
                beam_center_y_mm=d.Ybeam * 1000, adxv_x_mm=d.Fbeam * 1000.0, adxv_y_mm=(d.detsize_s - d.Sbeam) * 1000,
                mosflm_x_mm=(d.Sbeam - 0.5 * px) * 1000.0, mosflm_y_mm=(d.Fbeam - 0.5 * px) * 1000,
                denzo_x_mm=(d.Sbeam - 0.0 * px) * 1000.0, denzo_y_mm=(d.Fbeam - 0.0 * px) * 1000,
                dials_origin=d.dials_origin, orgx=d.ORGX, orgy=d.ORGY, close_distance_mm=d.close_distance * 1000.0,
                phi_deg=st.phi0 * RTD, osc_start_deg=st.phi0 * RTD, osc_range_deg=st.osc * RTD,
                twotheta_deg=d.twotheta * RTD)
