# SPDX-License-Identifier: BSD-3-Clause
"""``python -m nbnumba <nanoBragg flags>``: the same as the ``nbnumba`` command."""
from nbnumba.cli.client import main

if __name__ == "__main__":
    main()
