/* The work list of `libstyle stylize`: input files and directories (searched recursively)
 * turned into (input, output) pairs under --out-dir, with the checks that need no model. */
#ifndef LIBSTYLE_CLI_STYLIZE_JOBS_H
#define LIBSTYLE_CLI_STYLIZE_JOBS_H

#include "input_files.h"

#include <stddef.h>
#include <sys/stat.h>

enum stylize_job_state {
    JOB_READY,   /* to be stylized */
    JOB_SKIPPED, /* --skip-existing and the output exists, or an input given again */
    JOB_REFUSED, /* a check failed (reported); counts as failed */
};

struct stylize_job {
    char *input_path;
    char *output_path;
    int in_tree;      /* found in a directory argument: the output's directories may be made */
    int is_stdin;     /* the input is "-" (standard input; single-image mode only) */
    int named_output; /* OUTPUT was given (single-image mode), not derived under --out-dir */
    struct stat input_stat;
    enum stylize_job_state state;
};

struct stylize_job_list {
    struct stylize_job *items;
    size_t count;
    size_t capacity;
    size_t unreadable; /* directories or entries that could not be searched (reported) */
    /* every file under an input directory (the --out-dir too, when inside one), by inode */
    struct input_files tree_files;
    size_t special;    /* image names in a tree that are no regular file (reported; skipped) */
};

/**
 * Adds the jobs of the positional arguments. With out_dir NULL there are exactly two,
 * INPUT OUTPUT. Otherwise each argument is a file, written to out_dir under its own name, or a
 * directory, whose image files (.png, .jpg, .jpeg, .webp, any case; sorted by name, symbolic links to
 * directories not followed) go to out_dir under their path relative to it. out_dir itself is
 * never searched. Missing inputs are reported and become refused jobs, and so do inputs named
 * on the command line that are not regular files (a FIFO, a device); unreadable directories
 * are reported and counted in jobs->unreadable. In a directory only regular files and links to
 * them are taken: other entries with an image name are reported and counted in jobs->special.
 * An out_dir inside an input directory is not searched for inputs, but its files are
 * recorded, like every file under an input directory, as files never to be overwritten.
 * Returns 0, or -1 when memory runs out (reported).
 */
int stylize_jobs_collect(struct stylize_job_list *jobs, const char *out_dir, char **arguments,
                         int count);

/**
 * The checks that need no model, each problem reported: an input file met again (the same
 * inode: nested or repeated arguments, links) is stylized once, the later jobs JOB_SKIPPED; the
 * output can be encoded; writing it would clobber neither an input nor another file under an
 * input directory (same inode), nor another job's output (the same place, however spelled);
 * with skip_existing, jobs whose output exists (and is not an input) become JOB_SKIPPED.
 * When memory runs out, every job is refused (reported).
 */
void stylize_jobs_check(struct stylize_job_list *jobs, int skip_existing);

/** Creates the directories above job->output_path inside out_dir as needed; 0 or -1 (errno). */
int stylize_job_make_parent_dirs(const struct stylize_job *job, const char *out_dir);

/** Frees the list's memory. */
void stylize_jobs_free(struct stylize_job_list *jobs);

#endif
