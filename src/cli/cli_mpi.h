/*
 * `libstyle train` under mpirun: the MPI side of style_train_group (the library itself never
 * links MPI). Without MPI support built in (STYLE_MPI=OFF or no MPI found), a run that finds
 * itself started by a launcher with several processes is refused rather than letting each
 * process train its own copy of the model.
 */
#ifndef LIBSTYLE_CLI_MPI_H
#define LIBSTYLE_CLI_MPI_H

#include <libstyle_train.h>

typedef struct cli_mpi {
    style_train_group group; /* ranks 1: not started by mpirun */
    int local_ranks;         /* processes of the group on this machine */
    int initialised;
} cli_mpi;

/*
 * Joins the MPI job when the process was started by mpirun (Open MPI's or a PMI launcher's
 * environment), else stays a group of one. Returns 0, or prints why not and returns non-zero.
 */
int cli_mpi_begin(cli_mpi *mpi);
/* OpenMP threads for this process when none were asked for: its share of the machine. */
int cli_mpi_default_threads(const cli_mpi *mpi);
/* After a successful or collectively stopped run: leaves the job (MPI_Finalize). */
void cli_mpi_end(cli_mpi *mpi);
/* After a failure in this process: ends every process of the job (MPI_Abort); returns only
 * when not under MPI. */
void cli_mpi_abort(cli_mpi *mpi, int exit_code);

#endif
