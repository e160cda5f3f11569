# SPDX-License-Identifier: BSD-3-Clause
"""How a process knows it runs under an MPI launcher (a leaf without imports: the ``nbnumba`` client
reads it on every command, see ``nbnumba.cli.client``)."""

#: environment variables that MPI launchers (MPICH/Hydra, Open MPI, PMIx, Intel MPI, Slurm PMI) set in each
#: rank: under MPI, nbnumba-batch splits its jobs and the nbnumba command never uses a warm worker
MPI_ENV_VARS = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MPI_LOCALRANKID")
