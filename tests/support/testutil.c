#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t test_rng_next(test_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double test_rng_uniform(test_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(test_rng_next(rng) >> 11) / 9007199254740992.0);
}

void test_fill_uniform(test_rng *rng, float *data, size_t count, double lo, double hi)
{
    for (size_t i = 0; i < count; i++) data[i] = (float)test_rng_uniform(rng, lo, hi);
}

double test_rel_l2(const float *a, const double *b, size_t count)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < count; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += b[i] * b[i];
    }
    if (den == 0) return sqrt(num);
    return sqrt(num / den);
}

double test_max_abs_diff(const float *a, const double *b, size_t count)
{
    double m = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

char *test_make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char *path = malloc(strlen(base) + 32);
    sprintf(path, "%s/libstyle-test-XXXXXX", base);
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_remove_tree(const char *path)
{
    if (path) nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_path(const char *dir, const char *name)
{
    static _Thread_local char ring[8][4096];
    static _Thread_local int next;
    char *out = ring[next];
    next = (next + 1) % 8;
    snprintf(out, sizeof ring[0], "%s/%s", dir, name);
    return out;
}

int test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t put = fwrite(data, 1, size, f);
    int rc = fclose(f);
    return (put == size && rc == 0) ? 0 : -1;
}

void *test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = malloc(n > 0 ? (size_t)n : 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (data) *size = (size_t)n;
    return data;
}

int test_have_shared(const char *relative, const char *why)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", STYLE_SHARED_DIR, relative);
    if (access(path, R_OK) == 0) return 1;
    printf("skipping: %s (%s not found)\n", why, path);
    return 0;
}

int test_count_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) n++;
    closedir(d);
    return n;
}
