/*
 * Replays inputs through a fuzz target without libFuzzer: every file named on the command
 * line, or every file in a directory named there. Built with the normal compiler (and under
 * ASan+UBSan in the sanitizer suite), registered in ctest for tests/fuzz/regressions/ and the
 * seeds, so that every input that once crashed stays fixed.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long length = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* A separate exact-size allocation, so that ASan catches any read past the end. */
    uint8_t *data = malloc(length > 0 ? (size_t)length : 1);
    size_t got = data ? fread(data, 1, (size_t)length, f) : 0;
    fclose(f);
    if (!data || got != (size_t)length) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(data);
        return 1;
    }
    LLVMFuzzerTestOneInput(data, got);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int errors = 0, replayed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "%s: missing\n", argv[i]);
            errors++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            errors += replay_file(argv[i]);
            replayed++;
            continue;
        }
        DIR *dir = opendir(argv[i]);
        struct dirent *entry;
        while (dir && (entry = readdir(dir))) {
            if (entry->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], entry->d_name);
            errors += replay_file(path);
            replayed++;
        }
        if (dir) closedir(dir);
    }
    printf("replayed %d inputs, %d unreadable\n", replayed, errors);
    return errors || replayed == 0;
}
