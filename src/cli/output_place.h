/* Where an output file will land, as an identity that two different spellings of the same
 * place share ("out/a.png", "out//a.png", "link-to-out/a.png"): the device and inode of the
 * deepest directory above it that exists, and the rest of the path below that directory. */
#ifndef LIBSTYLE_CLI_OUTPUT_PLACE_H
#define LIBSTYLE_CLI_OUTPUT_PLACE_H

#include <sys/stat.h>

struct output_place {
    dev_t device;
    ino_t inode;
    char *rest; /* below that directory, without repeated '/' (owned) */
};

/** Fills `place` for `path`. Returns 0, or -1 with errno (ENOMEM, or no directory found). */
int output_place_find(const char *path, struct output_place *place);

/** Orders two places; 0 when they are the same. */
int output_place_compare(const struct output_place *a, const struct output_place *b);

void output_place_free(struct output_place *place);

#endif
