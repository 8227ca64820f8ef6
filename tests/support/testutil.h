/* Helpers shared by the CMocka tests: deterministic random numbers, temp dirs, comparisons. */
#ifndef STYLE_TESTUTIL_H
#define STYLE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "libstyle.h"

/* A small deterministic generator (splitmix64), so tests never depend on libc's rand. */
typedef struct test_rng {
    uint64_t state;
} test_rng;

uint64_t test_rng_next(test_rng *rng);
/* Uniform in [lo, hi). */
double test_rng_uniform(test_rng *rng, double lo, double hi);
void test_fill_uniform(test_rng *rng, float *data, size_t count, double lo, double hi);

/* ||a - b||_2 / ||b||_2 (b is the reference). */
double test_rel_l2(const float *a, const double *b, size_t count);
double test_max_abs_diff(const float *a, const double *b, size_t count);

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it with test_remove_tree. */
char *test_make_temp_dir(void);
void test_remove_tree(const char *path);
/* Entries of `dir` whose name contains ".tmp" (leftovers of an atomic write). */
int test_count_temporaries(const char *dir);

/* dir + "/" + name in a static ring of buffers (valid for a few calls). */
const char *test_path(const char *dir, const char *name);

int test_write_file(const char *path, const void *data, size_t size);
/* Reads a file into a malloc'd buffer; NULL on failure. */
void *test_read_file(const char *path, size_t *size);

/* True when ../shared exists; otherwise prints a "skipping: ..." line naming `why`. */
int test_have_shared(const char *relative, const char *why);

#endif
