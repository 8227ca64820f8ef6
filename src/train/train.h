/* The trainer's resolved settings, shared by the training loop and its checkpoints. */
#ifndef STYLE_TRAIN_H
#define STYLE_TRAIN_H

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
/* Loads into already-created params (same configuration) and moments. */
style_status train_checkpoint_load_settings(const char *path, train_settings *s);
style_status train_checkpoint_load(const char *path, train_state *state, train_params *params,
                                   float *adam_m, float *adam_v);

/*
 * Adding a style to a trained model (s->add_style_to; s->style_count == 1): loads it (a
 * johnson-cin model, or a single-style johnson one, which becomes style 0 of a johnson-cin
 * one), takes its architecture into s->net with one more style and frozen convolutions, and
 * names every style. *base receives the model (free it with style_model_free).
 */
style_status train_add_style_settings(train_settings *s, style_model **base);
/* Copies the base model's parameters into p; the new style's row starts as the mean of the
 * existing styles' rows. */
style_status train_add_style_params(const style_model *base, train_params *p);

/* Whether the trainer's network can represent model `m` (pytorch/examples TransformerNet:
 * johnson or johnson-cin, instance norm, reflect padding, nearest_conv upsampling, linear
 * output, 9x9 first and last kernels). */
style_status train_check_trainable(const style_model *m);

/*
 * Warm start (s->init_model): loads the model, checks that it is a single-style model the
 * trainer can represent, and takes its blocks and norm into s->net, and its widths unless
 * s->widths_given asks for whole multiples of them (widened). *init receives the
 * model (caller frees with style_model_free).
 */
style_status train_warm_start_settings(train_settings *s, style_model **init);
/* Copies every weight of `init` (read from `path`) into the trainer's parameters (same names;
 * the same shapes, or whole multiples of its channels: widened, splits drawn from `seed`). */
style_status train_warm_start_params(const style_model *init, const char *path, uint64_t seed,
                                     train_params *p);

/* Writes the trained network as a model file (every libstyle.* key explicit). */
style_status train_export_model(const char *path, const train_settings *s, const char *data_sha256,
                                const char *exclude_list, const train_params *params,
                                int64_t dataset_size, double seconds);

/* Serialises `file`, loads the bytes back as a model (so a model the loader would refuse is
 * never written: duplicate style names, a damaged network) and only then writes it
 * atomically to `path`. */
style_status train_write_model(const char *path, st_file *file);

#endif
