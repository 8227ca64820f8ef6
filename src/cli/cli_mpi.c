/* MPI for `libstyle train` (see cli_mpi.h). Only this file includes mpi.h. */
#define _GNU_SOURCE
#include "cli_mpi.h"
#include "cli_util.h"

#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef STYLE_HAVE_MPI
#include <mpi.h>
#endif

/* The number of processes a launcher says it started, or 0 when there is none. */
static int launcher_size(void)
{
    static const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                  "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *value = getenv(names[i]);
        if (value && atoi(value) > 0) return atoi(value);
    }
    return 0;
}

#ifdef STYLE_HAVE_MPI
static int mpi_allreduce_sum(void *user, float *data, size_t count)
{
    (void)user;
    if (count > INT_MAX) return -1;
    return MPI_Allreduce(MPI_IN_PLACE, data, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) ==
                   MPI_SUCCESS
               ? 0
               : -1;
}

static int mpi_broadcast(void *user, void *data, size_t bytes)
{
    (void)user;
    const size_t chunk = (size_t)1 << 30;
    for (size_t done = 0; done < bytes; done += chunk) {
        size_t n = bytes - done < chunk ? bytes - done : chunk;
        if (MPI_Bcast((char *)data + done, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}
#endif

int cli_mpi_begin(cli_mpi *mpi)
{
    memset(mpi, 0, sizeof *mpi);
    mpi->group.struct_size = sizeof mpi->group;
    mpi->group.ranks = 1;
    mpi->local_ranks = 1;
    int launched = launcher_size();
#ifdef STYLE_HAVE_MPI
    if (launched == 0) return 0; /* a plain run: MPI is not touched */
    /* MPI's errors are fatal (MPI_ERRORS_ARE_FATAL): a lost process ends the whole job, which
     * mpirun reports, instead of leaving the others waiting in a collective call. */
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        cli_error("train: MPI_Init failed");
        return -1;
    }
    mpi->initialised = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi->group.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi->group.ranks);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_size(local, &mpi->local_ranks);
        MPI_Comm_free(&local);
    }
    mpi->group.allreduce_sum = mpi_allreduce_sum;
    mpi->group.broadcast = mpi_broadcast;
    return 0;
#else
    if (launched > 1) {
        cli_error("train: started as one of %d processes, but this libstyle was built without "
                  "MPI (configure with -DSTYLE_MPI=ON and libopenmpi-dev installed); each "
                  "process would train a model of its own",
                  launched);
        return -1;
    }
    return 0;
#endif
}

int cli_mpi_default_threads(const cli_mpi *mpi)
{
    /* mpirun may bind each process to cores: then its share is its affinity mask (which
     * OpenMP follows anyway); unbound processes on one machine split its processors. */
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)online;
    if (allowed < online || mpi->local_ranks <= 1) return allowed > 0 ? allowed : 1;
    int share = allowed / mpi->local_ranks;
    return share > 0 ? share : 1;
}

void cli_mpi_end(cli_mpi *mpi)
{
#ifdef STYLE_HAVE_MPI
    if (mpi->initialised) MPI_Finalize();
#endif
    mpi->initialised = 0;
}

void cli_mpi_abort(cli_mpi *mpi, int exit_code)
{
#ifdef STYLE_HAVE_MPI
    if (mpi->initialised && mpi->group.ranks > 1) {
        fflush(stderr);
        /* When every process fails alike (a missing file), let rank 0's abort end the job:
         * simultaneous aborts make mpirun print garbled reports. */
        if (mpi->group.rank > 0) sleep(1);
        MPI_Abort(MPI_COMM_WORLD, exit_code);
    }
    cli_mpi_end(mpi);
#else
    (void)mpi;
    (void)exit_code;
#endif
}
