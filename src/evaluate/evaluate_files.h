/*
 * What `libstyle evaluate` needs besides the model: its style image and loss network, found
 * by the names and SHA-256 the model's training provenance (libstyle.training) records, in
 * folders the user names; and the held-out photos (a folder, optionally narrowed to a
 * sha256sum-format list, each file checked against its hash).
 */
#ifndef STYLE_EVALUATE_FILES_H
#define STYLE_EVALUATE_FILES_H

#include "core/file_sha256.h"

#define EVALUATE_PATH_MAX 4096

/* A file the model's provenance names: its recorded name (base name) and hash ("" when the
 * model records none, as models trained before provenance had hashes). */
typedef struct recorded_file {
    char name[EVALUATE_PATH_MAX];
    char sha256[SHA256_HEX_SIZE];
} recorded_file;

typedef struct training_provenance {
    recorded_file style_image, loss_net;
    int32_t style_size; /* 0: not recorded */
} training_provenance;

/* Reads libstyle.training (NULL or absent: everything empty). Old models record absolute
 * paths: their base names are kept. */
style_status training_provenance_parse(const char *json, training_provenance *out);

/*
 * A file under the search folders (recursively, symlinks not followed) named
 * `wanted->name` whose SHA-256 is `wanted->sha256` (the first found by name when that is "");
 * `what` ("style image", "loss network") and the options that would supply the file (`option`) name
 * it in the error when there is none.
 */
style_status find_recorded_file(const char *const *dirs, size_t dir_count,
                                const recorded_file *wanted, const char *what, const char *option,
                                char path[EVALUATE_PATH_MAX]);

/* The photos to evaluate, as paths: every image under dir (sorted), or the list's files in
 * dir in the list's order, each checked against its SHA-256. At most max (0: all). */
typedef struct photo_set {
    char **paths;
    char (*sha256)[SHA256_HEX_SIZE];
    size_t count;
} photo_set;

style_status photo_set_open(photo_set *set, const char *dir, const char *list, size_t max,
                            style_log_fn log, void *log_user);
void photo_set_close(photo_set *set);

#endif
