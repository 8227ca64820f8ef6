/* The work list of `libstyle stylize` (see stylize_jobs.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* scandir, alphasort */

#include "stylize_jobs.h"
#include "cli_files.h"
#include "cli_image_io.h"
#include "cli_util.h"
#include "output_place.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Deeper trees are almost certainly a loop made by bind mounts; stop rather than recurse. */
#define STYLIZE_MAX_DEPTH 64

/* What a directory walk needs to know besides the directory. */
struct walk {
    struct stylize_job_list *jobs;
    const char *out_dir;
    struct stat out_dir_stat;
    int have_out_dir_stat;
};

static int add_job(struct stylize_job_list *jobs, char *input_path, char *output_path, int in_tree)
{
    if (input_path == NULL || output_path == NULL) goto out_of_memory;
    if (jobs->count == jobs->capacity) {
        size_t capacity = jobs->capacity ? jobs->capacity * 2 : 16;
        struct stylize_job *grown = realloc(jobs->items, capacity * sizeof *grown);
        if (grown == NULL) goto out_of_memory;
        jobs->items = grown;
        jobs->capacity = capacity;
    }
    struct stylize_job *job = &jobs->items[jobs->count++];
    memset(job, 0, sizeof *job);
    job->input_path = input_path;
    job->output_path = output_path;
    job->in_tree = in_tree;
    job->state = JOB_READY;
    if (cli_is_stdio(input_path)) {
        /* "-" (standard input) has no file to check: it is read when its turn comes. */
        job->is_stdin = 1;
    } else if (stat(input_path, &job->input_stat) != 0) {
        cli_error("%s: %s", input_path, strerror(errno));
        job->state = JOB_REFUSED;
    } else if (S_ISDIR(job->input_stat.st_mode)) {
        cli_error("%s: is a directory, not an image", input_path);
        job->state = JOB_REFUSED;
    } else if (!S_ISREG(job->input_stat.st_mode)) {
        /* Opening a FIFO or a device could wait forever; '-' is the way to read a pipe. */
        cli_error("%s: is %s, not a regular file (use '-' to read a pipe on standard input)",
                  input_path, file_type_name(job->input_stat.st_mode));
        job->state = JOB_REFUSED;
    }
    return 0;
out_of_memory:
    free(input_path);
    free(output_path);
    cli_error("out of memory");
    return -1;
}

/* Records a file under an input directory (and what a symbolic link points to) as never to be
 * overwritten. Returns 0, or -1 without memory. */
static int record_tree_file(struct walk *walk, const char *path, const struct stat *entry_stat)
{
    struct stat target_stat;
    if (input_files_add(&walk->jobs->tree_files, entry_stat, path, 1) != 0) return -1;
    if (S_ISLNK(entry_stat->st_mode) && stat(path, &target_stat) == 0 &&
        input_files_add(&walk->jobs->tree_files, &target_stat, path, 1) != 0)
        return -1;
    return 0;
}

/* The --out-dir met as (or inside) an input directory: its files are not inputs (they are
 * likely outputs of an earlier run), but nothing in it may be overwritten either. */
static int record_out_dir(struct walk *walk, const char *path)
{
    cli_error("%s: is the output directory; not searched (none of its files is overwritten)", path);
    long unreadable = input_files_add_tree(&walk->jobs->tree_files, path, STYLIZE_MAX_DEPTH);
    if (unreadable < 0) return -1;
    walk->jobs->unreadable += (size_t)unreadable;
    return 0;
}

static int is_out_dir(const struct walk *walk, const struct stat *dir_stat)
{
    return walk->have_out_dir_stat && dir_stat->st_dev == walk->out_dir_stat.st_dev &&
           dir_stat->st_ino == walk->out_dir_stat.st_ino;
}

/*
 * Whether a directory entry (its lstat in `entry_stat`) is a regular file or a symbolic link
 * to one: only those are read. Anything else with an image name (a FIFO, a socket, a device,
 * a dangling link, a link loop) is reported as skipped with its kind and counted in
 * jobs->special, so that the run never waits on it and still finishes.
 */
static int is_regular_file(struct walk *walk, const char *path, const struct stat *entry_stat)
{
    struct stat target;
    if (S_ISREG(entry_stat->st_mode)) return 1;
    if (!S_ISLNK(entry_stat->st_mode)) {
        cli_error("%s: skipped: %s, not a regular file", path, file_type_name(entry_stat->st_mode));
    } else if (stat(path, &target) != 0) {
        cli_error("%s: skipped: %s", path,
                  errno == ELOOP    ? "a symbolic link loop"
                  : errno == ENOENT ? "a dangling symbolic link (its target does not exist)"
                                    : strerror(errno));
    } else if (S_ISREG(target.st_mode)) {
        return 1;
    } else {
        cli_error("%s: skipped: a symbolic link to %s, not to a regular file", path,
                  file_type_name(target.st_mode));
    }
    walk->jobs->special++;
    return 0;
}

/* Adds the image files under `dir` (relative path `relative`, "" at the top). */
static int walk_directory(struct walk *walk, const char *dir, const char *relative, int depth)
{
    struct dirent **entries = NULL;
    int count = scandir(dir, &entries, NULL, alphasort);
    int result = 0;
    if (count < 0) {
        cli_error("%s: %s", dir, strerror(errno));
        walk->jobs->unreadable++;
        return 0;
    }
    for (int i = 0; i < count; ++i) {
        const char *name = entries[i]->d_name;
        if (result != 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || name[0] == '\0')
            continue;
        char *path = cli_path_join(dir, name);
        char *inner = relative[0] ? cli_path_join(relative, name) : strdup(name);
        struct stat entry_stat;
        if (path == NULL || inner == NULL) {
            cli_error("out of memory");
            result = -1;
        } else if (lstat(path, &entry_stat) != 0) {
            cli_error("%s: %s", path, strerror(errno));
            walk->jobs->unreadable++;
        } else if (S_ISDIR(entry_stat.st_mode)) {
            if (is_out_dir(walk, &entry_stat)) {
                result = record_out_dir(walk, path);
            } else if (depth >= STYLIZE_MAX_DEPTH) {
                cli_error("%s: deeper than %d directories; not searched", path, STYLIZE_MAX_DEPTH);
                walk->jobs->unreadable++;
            } else {
                result = walk_directory(walk, path, inner, depth + 1);
            }
        } else if (record_tree_file(walk, path, &entry_stat) != 0) {
            cli_error("out of memory");
            result = -1;
        } else if (cli_has_image_extension(name) && is_regular_file(walk, path, &entry_stat)) {
            result = add_job(walk->jobs, path, cli_path_join(walk->out_dir, inner), 1);
            path = NULL; /* owned by the job list now */
        }
        free(path);
        free(inner);
    }
    for (int i = 0; i < count; ++i)
        free(entries[i]);
    free(entries);
    return result;
}

int stylize_jobs_collect(struct stylize_job_list *jobs, const char *out_dir, char **arguments,
                         int count)
{
    if (out_dir == NULL) {
        if (add_job(jobs, strdup(arguments[0]), strdup(arguments[1]), 0) != 0) return -1;
        jobs->items[0].named_output = 1;
        return 0;
    }
    struct walk walk = {jobs, out_dir, {0}, 0};
    walk.have_out_dir_stat = stat(out_dir, &walk.out_dir_stat) == 0;
    for (int i = 0; i < count; ++i) {
        struct stat argument_stat;
        if (stat(arguments[i], &argument_stat) == 0 && S_ISDIR(argument_stat.st_mode)) {
            if (is_out_dir(&walk, &argument_stat)) {
                if (record_out_dir(&walk, arguments[i]) != 0) return -1;
                continue;
            }
            if (walk_directory(&walk, arguments[i], "", 1) != 0) return -1;
            continue;
        }
        if (add_job(jobs, strdup(arguments[i]),
                    cli_path_join(out_dir, cli_path_basename(arguments[i])), 0) != 0)
            return -1;
    }
    return 0;
}

/* Adds every job's input to jobs->tree_files (the files under input directories are there
 * already) and sorts it. Returns 0, or -1 without memory. */
static int record_inputs(struct stylize_job_list *jobs)
{
    for (size_t i = 0; i < jobs->count; ++i) {
        const struct stylize_job *job = &jobs->items[i];
        if (job->state == JOB_REFUSED || job->is_stdin) continue;
        if (input_files_add(&jobs->tree_files, &job->input_stat, job->input_path, 1) != 0)
            return -1;
    }
    input_files_sort(&jobs->tree_files);
    return 0;
}

/* Orders jobs by input identity (device, inode), then by position in the list. */
static int by_input_identity(const void *a, const void *b)
{
    const struct stylize_job *i = *(struct stylize_job *const *)a;
    const struct stylize_job *j = *(struct stylize_job *const *)b;
    if (i->input_stat.st_dev != j->input_stat.st_dev)
        return i->input_stat.st_dev < j->input_stat.st_dev ? -1 : 1;
    if (i->input_stat.st_ino != j->input_stat.st_ino)
        return i->input_stat.st_ino < j->input_stat.st_ino ? -1 : 1;
    return (i > j) - (i < j);
}

/*
 * An input file met again (nested or overlapping directories, a file named twice, a link to
 * it) is stylized once, for its first job; the later ones are skipped, each reported. Returns
 * 0, or -1 without memory.
 */
static int skip_repeated_inputs(struct stylize_job_list *jobs)
{
    struct stylize_job **order = malloc((jobs->count ? jobs->count : 1) * sizeof *order);
    size_t count = 0;
    if (order == NULL) return -1;
    for (size_t i = 0; i < jobs->count; ++i)
        if (jobs->items[i].state != JOB_REFUSED && !jobs->items[i].is_stdin)
            order[count++] = &jobs->items[i];
    if (count > 1) qsort(order, count, sizeof *order, by_input_identity);
    for (size_t k = 1; k < count; ++k) {
        const struct stylize_job *first = order[k - 1];
        struct stylize_job *job = order[k];
        if (job->input_stat.st_dev != first->input_stat.st_dev ||
            job->input_stat.st_ino != first->input_stat.st_ino)
            continue;
        cli_error("%s: the same file as '%s', already an input; stylized once, into '%s'",
                  job->input_path, first->input_path, first->output_path);
        job->state = JOB_SKIPPED;
        order[k] = (struct stylize_job *)first; /* a third one names the first as well */
    }
    free(order);
    return 0;
}

/* A job and where its output lands. */
struct placed_job {
    struct stylize_job *job;
    struct output_place place;
};

/* Orders by place, then by position in the job list (the array is contiguous). */
static int by_output_place(const void *a, const void *b)
{
    const struct placed_job *i = a, *j = b;
    int order = output_place_compare(&i->place, &j->place);
    return order != 0 ? order : (i->job > j->job) - (i->job < j->job);
}

/*
 * Two jobs writing the same place ("out/a.png", "out//a.png", a link to out/): the later one
 * is refused (sorted, so n log n). Returns 0, or -1 without memory.
 */
static int refuse_duplicate_outputs(struct stylize_job_list *jobs)
{
    struct placed_job *order = calloc(jobs->count ? jobs->count : 1, sizeof *order);
    size_t count = 0;
    int result = 0;
    if (order == NULL) return -1;
    for (size_t i = 0; i < jobs->count && result == 0; ++i) {
        struct stylize_job *job = &jobs->items[i];
        if (job->state != JOB_READY || cli_is_stdio(job->output_path)) continue;
        if (output_place_find(job->output_path, &order[count].place) == 0) {
            order[count++].job = job;
        } else if (errno == ENOMEM) {
            result = -1;
        } else {
            cli_error("%s: cannot tell where it would be written: %s", job->output_path,
                      strerror(errno));
            job->state = JOB_REFUSED;
        }
    }
    if (result == 0 && count > 1) qsort(order, count, sizeof *order, by_output_place);
    for (size_t k = 1; k < count && result == 0; ++k) {
        const struct placed_job *kept = &order[k - 1];
        struct stylize_job *job = order[k].job;
        if (output_place_compare(&kept->place, &order[k].place) != 0) continue;
        cli_error("%s: its output '%s' would overwrite that of '%s'", job->input_path,
                  job->output_path, kept->job->input_path);
        job->state = JOB_REFUSED;
        order[k].job = kept->job; /* a third one names the first as well */
    }
    for (size_t k = 0; k < count; ++k)
        output_place_free(&order[k].place);
    free(order);
    return result;
}

/* The output of `job` exists: refuses or skips the job as writing it would clobber a file
 * under an input directory (`protected`, or NULL), an input, or nothing of the kind. */
static void check_existing_output(struct stylize_job *job, const struct input_file *protected,
                                  int skip_existing)
{
    if (protected != NULL && protected->is_input) {
        cli_error("%s: refusing to overwrite the input file '%s'", job->output_path,
                  protected->path);
        job->state = JOB_REFUSED;
    } else if (skip_existing) {
        job->state = JOB_SKIPPED;
    } else if (protected != NULL) {
        /* The --out-dir lies inside an input directory: what is in it may be a source image. */
        cli_error("%s: refusing to overwrite a file in the output directory, which is inside an "
                  "input directory; choose an --out-dir outside the inputs, or --skip-existing",
                  job->output_path);
        job->state = JOB_REFUSED;
    }
}

void stylize_jobs_check(struct stylize_job_list *jobs, int skip_existing)
{
    if (record_inputs(jobs) != 0 || skip_repeated_inputs(jobs) != 0) goto out_of_memory;
    for (size_t i = 0; i < jobs->count; ++i) {
        struct stylize_job *job = &jobs->items[i];
        struct stat output_stat;
        if (job->state != JOB_READY) continue;
        if (job->is_stdin && !job->named_output) {
            /* With --out-dir the output is named after the input, and "-" has no name. */
            cli_error("'-' (standard input) needs an OUTPUT name; it cannot be used with "
                      "--out-dir");
            job->state = JOB_REFUSED;
            continue;
        }
        if (cli_is_stdio(job->output_path)) continue; /* PNG to standard output */
        if (cli_path_basename(job->output_path)[0] == '\0' ||
            !cli_has_image_extension(job->output_path)) {
            cli_error("%s: cannot tell the output format; the name must end in .png, .jpg, "
                      ".jpeg or .webp",
                      job->output_path);
            job->state = JOB_REFUSED;
            continue;
        }
        /* The same inode, not just the same name: "./a.png", links and "dir/../a.png" count;
         * a symbolic link in the output's place counts as itself and as what it points to. */
        struct stat link_stat;
        const struct input_file *protected = NULL;
        if (lstat(job->output_path, &link_stat) != 0) continue;
        if (S_ISLNK(link_stat.st_mode)) protected = input_files_find(&jobs->tree_files, &link_stat);
        if (protected == NULL && stat(job->output_path, &output_stat) == 0)
        protected = input_files_find(&jobs->tree_files, &output_stat);
        check_existing_output(job, protected, skip_existing);
    }
    if (refuse_duplicate_outputs(jobs) != 0) goto out_of_memory;
    return;
out_of_memory:
    cli_error("out of memory checking the inputs and outputs");
    for (size_t i = 0; i < jobs->count; ++i)
        jobs->items[i].state = JOB_REFUSED;
}

int stylize_job_make_parent_dirs(const struct stylize_job *job, const char *out_dir)
{
    if (!job->in_tree || out_dir == NULL) return 0;
    size_t base = strlen(out_dir);
    char *path = strdup(job->output_path);
    if (path == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /* Each '/' after out_dir ends a directory to make ("out/a/b/c.png": out/a, out/a/b). */
    for (char *slash = path + base + 1; (slash = strchr(slash, '/')) != NULL; ++slash) {
        *slash = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            free(path);
            return -1;
        }
        *slash = '/';
    }
    free(path);
    return 0;
}

void stylize_jobs_free(struct stylize_job_list *jobs)
{
    for (size_t i = 0; i < jobs->count; ++i) {
        free(jobs->items[i].input_path);
        free(jobs->items[i].output_path);
    }
    free(jobs->items);
    input_files_free(&jobs->tree_files);
    memset(jobs, 0, sizeof *jobs);
}
