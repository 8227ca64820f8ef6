/* A trained model's provenance (libstyle.training): the run's settings with file names and
 * SHA-256 instead of paths (train_provenance.c). */
#ifndef STYLE_TRAIN_PROVENANCE_H
#define STYLE_TRAIN_PROVENANCE_H

#include "train/train_checkpoint.h"

/* The model's libstyle.training: the settings with file names and SHA-256 instead of paths,
 * the data folder's name and data_sha256 (train_dataset_fingerprint), and the held-out list
 * (NULL: none). Caller frees with free(); NULL on failure (style_last_error() says why). */
char *train_provenance_json(const train_settings *s, int64_t dataset_size, double seconds,
                            const char *data_sha256, const char *exclude_list);
/* The same for an AdaIN run's settings JSON: loss_net and the held-out lists (exclude,
 * style_exclude) as file name + SHA-256, init_model by name, the photo and style folders by
 * name with the SHA-256 of their file lists (data_sha256, styles_sha256; NULL or "": none). */
char *train_provenance_adain_json(const char *settings_json, const char *loss_net,
                                  const char *data_sha256, const char *styles_sha256);

#endif
