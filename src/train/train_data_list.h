/*
 * The training photos by content: every file's SHA-256, the photos a held-out list
 * (sha256sum format, models/heldout-photos.sha256) forbids refused by hash whatever their
 * name, and one hash of the whole list for the model's provenance.
 */
#ifndef STYLE_TRAIN_DATA_LIST_H
#define STYLE_TRAIN_DATA_LIST_H

#include "core/file_sha256.h"
#include "train/train_data.h"

/*
 * Hashes every photo of `data`; with exclude_list (may be NULL), drops each whose SHA-256 the
 * list holds, logging a warning that names it; fails when none is left. *data_sha256 becomes
 * the SHA-256 of the kept photos' "HASH  NAME\n" lines (base names, in the data set's order):
 * the same photos give the same hash on any machine, whatever their folder.
 */
style_status train_dataset_fingerprint(train_dataset *data, const char *exclude_list,
                                       char data_sha256[SHA256_HEX_SIZE], size_t *excluded);

#endif
