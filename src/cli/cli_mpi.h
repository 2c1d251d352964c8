/* vsml-vk train across MPI ranks (meson feature 'mpi'). Without MPI built
 * in, or when not started by mpirun, everything here is a single process
 * (rank 0 of 1) and the calls do nothing.
 *
 * Rank r runs pairs [share[r], share[r+1]) of the population on its own
 * device; fitness values are combined with MPI_Allgatherv into the full
 * pair-ordered array and every rank applies the same update. Rank 0 alone
 * touches the run directory. A rank that fails logs its error and aborts
 * the job (MPI_Abort); during training, a collective that waits longer
 * than the watchdog timeout ends the process with a message, so no rank
 * waits forever for one that is stuck (a device that never finishes is
 * caught by the fence timeout of src/vk). */
#ifndef VSML_CLI_MPI_H
#define VSML_CLI_MPI_H
#include <stdbool.h>
#include <stddef.h>

#define CLI_MPI_MAX_RANKS 4096

typedef struct cli_mpi {
    bool on;          /* MPI initialised (mpirun with MPI built in) */
    int rank, size, local_rank;
    int *share;       /* [size + 1] pair offsets */
    double comm_s;    /* seconds inside MPI calls since the last cli_mpi_take_comm */
    int timeout_s;    /* watchdog for one collective; 0 = off */
    bool armed;       /* the watchdog runs (set once training steps begin: setup
                       * waits for the slowest rank's device and compiler) */
} cli_mpi;

/* Starts MPI when launched by mpirun (OMPI_COMM_WORLD_SIZE / PMIX_RANK /
 * PMI_RANK in the environment); fails with one error when launched by
 * mpirun but built without MPI. */
int cli_mpi_init(cli_mpi *m);
void cli_mpi_finalize(cli_mpi *m);
/* Splits `pairs` by the comma-separated relative weights (NULL = equal);
 * every rank must get at least one pair. */
int cli_mpi_split(cli_mpi *m, int pairs, const char *weights);
/* The device of this rank: entry local_rank % n of a comma-separated
 * --device list, or local_rank % (number of Vulkan devices) without one.
 * buf receives the choice ("" = the default device). */
int cli_mpi_device(const cli_mpi *m, const char *device, char *buf, size_t size);
/* 0 when rc is 0 on every rank, else the largest rc (a collective). */
int cli_mpi_agree(cli_mpi *m, int rc);
/* Copies bytes from rank 0 to every rank. */
int cli_mpi_bcast(cli_mpi *m, void *buf, size_t bytes);
/* The fitness exchange of vsml_trainer_share (user = cli_mpi *). */
int cli_mpi_exchange(void *user, const float *mine, int n_mine, float *all, int n_all);
/* Ends every rank of the job after a failure on this one. */
void cli_mpi_abort(cli_mpi *m, int code);
double cli_mpi_take_comm(cli_mpi *m);
#endif
