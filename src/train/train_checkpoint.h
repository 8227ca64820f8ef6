/*
 * The Johnson trainer's resolved settings (style_train) and its files (train_checkpoint.c):
 * the settings as JSON, checkpoints (every trainer's: parameters, Adam moments, state and
 * settings), and the export of a trained transform network as a model file.
 */
#ifndef STYLE_TRAIN_CHECKPOINT_H
#define STYLE_TRAIN_CHECKPOINT_H

#include "model/model.h"
#include "train/train_data.h"
#include "model/safetensors.h"
#include "train/train_net.h"
#include "train/train_loop.h"
#include "core/file_sha256.h"

#define TRAIN_PATH_MAX 4096

#define TRAIN_STYLE_NAME_MAX 128

typedef struct train_settings {
    /* The style images this run trains, style_count of them (one batch = one style, in turn);
     * style_images[i] is the network's style first_style + i. */
    char style_images[TRAIN_MAX_STYLES][TRAIN_PATH_MAX];
    int32_t style_count, first_style;
    /* Every style's name (net.styles of them; johnson-cin), in row order. */
    char style_names[TRAIN_MAX_STYLES][TRAIN_STYLE_NAME_MAX];
    /* Adding a style to this model: only the new style's scale and shift are trained. */
    char add_style_to[TRAIN_PATH_MAX];
    char data_dir[TRAIN_PATH_MAX], loss_net[TRAIN_PATH_MAX];
    train_net_config net;
    int32_t crop_size, style_size, batch_size;
    int64_t iterations;
    double learning_rate;
    bool cosine;
    double content_weight, style_weight, tv_weight;
    /* Quality terms (docs/training.md): the loss network's max pools run as average pools;
     * the weight of the colour loss (0: none). */
    bool average_pooling;
    double color_weight;
    /* The weight of the grid loss against a pattern locked to the network's stride (0: none). */
    double grid_weight;
    /* The weight of the temporal loss on pairs of crops under synthetic motion (0: none). */
    double temporal_weight;
    /* Shift jitter: the loss network's window is (crop - loss_shift)^2 at a random offset
     * of 0..loss_shift per image (0: the whole crop). */
    int32_t loss_shift;
    /* Warm start: the weights come from this model ("" : random initialisation), whose
     * SHA-256 is taken when it is read (the file may be gone when the model is exported). */
    char init_model[TRAIN_PATH_MAX];
    char init_model_sha256[SHA256_HEX_SIZE];
    /* The widths were asked for (not defaults): a warm start widens the model to them. */
    bool widths_given;
    /* The cap on the short side photos are scaled to before cropping (0: none). */
    int32_t max_short_side;
    /* The convolutions compute in bf16 mixed precision (f32 master weights, Adam state,
     * norms and losses); false: f32. Resolved from the option ("auto" never stored). */
    bool bf16;
    char content_layer[64];
    char style_layers[512];
    uint64_t seed;
    int64_t checkpoint_every;
} train_settings;

/* Settings as JSON (for checkpoints). Caller frees. */
char *train_settings_to_json(const train_settings *s, int64_t dataset_size, double seconds);
style_status train_settings_from_json(const char *json, train_settings *s);

/* Checkpoint: parameters, Adam moments, state and settings, written atomically. */
style_status train_checkpoint_save(const char *path, const train_settings *s,
                                   const train_state *state, const train_params *params,
                                   const float *adam_m, const float *adam_v);
/* The same for any trainer: `settings` is its JSON (libstyle.train.settings). */
style_status train_checkpoint_write(const char *path, const char *settings,
                                    const train_state *state, const train_params *params,
                                    const float *adam_m, const float *adam_v);
/* Prefixes the current error message with "checkpoint PATH" and returns `status`. */
style_status train_checkpoint_error(const char *path, style_status status);
/* A checkpoint's settings JSON (*json: free with style__free). */
style_status train_checkpoint_read_settings(const char *path, char **json);
/* A checkpoint's settings (style_train's). */
style_status train_checkpoint_load_settings(const char *path, train_settings *s);
/* Loads into already-created params (same configuration) and moments. */
style_status train_checkpoint_load(const char *path, train_state *state, train_params *params,
                                   float *adam_m, float *adam_v);

/* Writes the trained network as a model file (every libstyle.* key explicit). */
style_status train_export_model(const char *path, const train_settings *s, const char *data_sha256,
                                const char *exclude_list, const train_params *params,
                                int64_t dataset_size, double seconds);

/* Serialises `file`, loads the bytes back as a model (so a model the loader would refuse is
 * never written: duplicate style names, a damaged network) and only then writes it
 * atomically to `path`. */
style_status train_write_model(const char *path, st_file *file);

#endif
