/*
 * libstyle: training, optimisation and evaluation (experimental; include/libstyle.h is the
 * stable inference API, which this header includes).
 *
 *   - style_train, style_train_adain: train a feed-forward model (Johnson et al.; AdaIN
 *     decoders), with checkpoints, resumption and data-parallel groups;
 *   - style_optimize, style_evaluate_losses: Gatys et al.'s optimisation of one image;
 *   - style_evaluate: a model's quality under Johnson et al.'s protocol.
 *
 * These functions are exported by the same libstyle.so (symbol version LIBSTYLE_0) and follow
 * the same rules as libstyle.h's: a style_status, style_last_error() on failure, structs with
 * a struct_size. Their options may still grow or change between minor versions.
 */
#ifndef LIBSTYLE_TRAIN_H
#define LIBSTYLE_TRAIN_H

#include "libstyle.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Training ---------------------------------------------------------------------------- */

/** Where a training run stands; passed to the progress callback after every iteration. */
typedef struct style_train_stats {
    int64_t iteration;        /**< iterations completed */
    int64_t iterations;       /**< iterations planned in all */
    double content_loss;      /**< weighted content loss, mean over the batch */
    double style_loss;        /**< weighted style loss (all layers), mean over the batch */
    double tv_loss;           /**< weighted total-variation loss, mean over the batch */
    double total_loss;        /**< their sum */
    double images_per_second; /**< throughput over the last iterations */
    double elapsed_seconds;   /**< wall time of this run (not counting earlier resumed runs) */
    double eta_seconds;       /**< estimated time to the end */
    double learning_rate;     /**< the rate used for this iteration */
} style_train_stats;

/** Called after every training iteration; return non-zero to stop (a checkpoint is saved). */
typedef int (*style_train_progress_fn)(void *user, const style_train_stats *stats);

/**
 * Asked between the stages of a long operation (e.g. of one training iteration: its data, its
 * loss-network and transform-network passes); return non-zero to stop soon. It must be cheap
 * and may be called from the thread running the operation only; to stop from another thread
 * or a signal, have it read an atomic flag that the other sets.
 */
typedef int (*style_cancel_fn)(void *user);

/**
 * Data-parallel training over several processes (docs/training.md, "Multi-machine training"):
 * the caller's communication layer behind two collective calls, so that the library itself
 * needs no MPI. `libstyle train` under `mpirun` fills it with MPI_Allreduce and MPI_Bcast.
 *
 * Every process calls style_train with the same options and its own rank. Each computes its
 * share of every batch (the batch split as evenly as possible, ranks with the lower numbers
 * taking one more crop) while drawing the same random crops as a single process would, and the
 * gradients are summed over the group, so the group trains the same model as one process
 * with the same batch (up to floating-point summation order). Rank 0 reads the checkpoint to
 * resume from and sends the state to the others; it alone writes checkpoints, the loss log
 * and the model. Refused: batch normalisation (its statistics would need synchronising) and
 * a batch smaller than the group.
 * Both calls must be collective: every process makes the same calls in the same order. When
 * style_train fails on one process, the caller must end the others' calls (MPI_Abort).
 */
typedef struct style_train_group {
    size_t struct_size; /**< sizeof(style_train_group) */
    int32_t rank;       /**< this process, 0 .. ranks - 1 */
    int32_t ranks;      /**< processes in the group (1: alone) */
    /** Sums `count` floats element-wise over all processes, in place, leaving the same result
     *  in every process (MPI_Allreduce with MPI_IN_PLACE, MPI_SUM); returns 0 on success. */
    int (*allreduce_sum)(void *user, float *data, size_t count);
    /** Copies `bytes` bytes of rank 0's `data` into every other process's (MPI_Bcast);
     *  returns 0 on success. */
    int (*broadcast)(void *user, void *data, size_t bytes);
    void *user;
} style_train_group;

/**
 * Options of style_train(). Zero-initialise, set struct_size = sizeof(style_train_options) and
 * the four paths; every other zero field takes its default. Loss definitions and the defaults
 * are documented in docs/training.md.
 */
typedef struct style_train_options {
    size_t struct_size;
    const char *style_image;     /**< the style (PNG or JPEG) */
    const char *data_dir;        /**< content photos, searched recursively */
    const char *loss_net;        /**< feature network file (VGG-16/19 or libstyle feature-net) */
    const char *out_path;        /**< the final model file */
    const char *checkpoint_path; /**< NULL: out_path + ".ckpt" */
    const char *resume_path;     /**< a checkpoint to continue from, or NULL */
    int32_t widths[3];           /**< channel widths; 0: 32 64 128 */
    int32_t residual_blocks;     /**< 0: 5 */
    const char *norm;            /**< "instance" (NULL) or "batch" */
    int32_t crop_size;           /**< training crop, a multiple of 4; 0: 256 */
    int32_t style_size;          /**< short side of the style image in pixels; 0: crop_size */
    int32_t batch_size;          /**< 0: 4 */
    int64_t iterations;          /**< 0: 2000 (on resume: the checkpoint's, unless set) */
    double learning_rate;        /**< Adam's rate; 0: 1e-3 */
    const char *lr_schedule;     /**< "cosine" (NULL: decays to 10 % at the end) or "constant" */
    double content_weight;       /**< 0: 1; a negative value disables the content loss */
    double style_weight;         /**< 0: the loss network's default (2 with the normalised
                                      style loss); a negative value disables the style loss */
    double tv_weight;            /**< 0: 50; a negative value disables the TV loss */
    const char *content_layer;   /**< tap name; NULL: the loss network's recommendation */
    const char *style_layers;    /**< comma-separated tap names; NULL: recommended */
    uint64_t seed;               /**< initialisation and data order (0 is a valid seed) */
    int threads;                 /**< 0: one per processor */
    int64_t checkpoint_every;    /**< iterations between checkpoints; 0: 100 */
    const char *loss_log;        /**< optional CSV file of per-iteration losses (appended) */
    style_train_progress_fn progress;
    void *progress_user;
    style_log_fn log; /**< warnings (skipped images) and information */
    void *log_user;
    const style_train_group *group; /**< data-parallel processes; NULL: this one alone */
    /* Since 0.x (read when struct_size covers them): several styles in one model. */
    const char *const *style_images; /**< style_image_count paths, replacing style_image: 2 or
                                          more train one johnson-cin model (conditional instance
                                          norm, Dumoulin et al.): shared convolutions, a scale
                                          and shift per style; each batch trains one style, in
                                          turn */
    size_t style_image_count;
    const char *const *style_names; /**< a name per style image (NULL, or a NULL entry: the
                                         image's file name without its extension) */
    const char *add_style_to;       /**< a trained model (johnson-cin, or a johnson model with
                                         instance norm): add the one style image to it as a new
                                         style, training only that style's scales and shifts
                                         (the architecture options are taken from the model;
                                         the convolutions and other styles stay bit-identical) */
    /* Since 0.x (read when struct_size covers them): stopping inside an iteration. */
    style_cancel_fn cancel; /**< asked between the stages of every iteration (alone, without
                                 a group); non-zero abandons the iteration in flight (its
                                 update is never applied, its random crops are drawn again on
                                 resume), saves the checkpoint of the last whole iteration
                                 and returns STYLE_ERR_CANCELLED. With batch norm it is asked
                                 only before the transform network runs (its running
                                 statistics must not take a half iteration). NULL: stops
                                 only through `progress`, after an iteration */
    void *cancel_user;
    /* Since 0.x (read when struct_size covers it): held-out photos. */
    const char *exclude_list; /**< a sha256sum-format list (models/heldout-photos.sha256):
                                   photos of data_dir whose SHA-256 it holds are refused
                                   (not trained on, whatever their name; a warning names
                                   each); the model records the list's name and hash */
    /* Since 0.x (read when struct_size covers them): quality terms (docs/training.md). */
    const char *loss_pooling; /**< "max" (NULL: as the loss network is) or "avg": its
                                   2x2 max pools run as average pools while training,
                                   which keeps the period-4 grid out of the model */
    double color_weight;      /**< weight of the colour loss (mean and covariance of
                                   the output's RGB against the style image's); 0: none */
    /* Since 0.x (read when struct_size covers them): shift jitter and warm start. */
    int32_t loss_shift;     /**< 0: none; N > 0: the loss network sees a window of
                                 (crop - N)^2 pixels of the output and of the photo at
                                 a random offset of 0..N pixels per image and
                                 iteration, so the model cannot align a pattern to the
                                 loss network's pooling grid (at most crop / 4) */
    const char *init_model; /**< a trained single-style model (johnson, the trainer's
                                 architecture): start from its weights instead of a
                                 random initialisation (its blocks and norm replace
                                 the options', and its widths unless `widths` are
                                 whole multiples of them: then the model is widened,
                                 Net2Net, computing the same function at the start);
                                 every weight is trained */
    /* Since 0.x (read when struct_size covers it): the scale photos are cropped at. */
    int32_t max_short_side; /**< 0: each crop's photo is scaled to a short side drawn
                                 from [crop, its own]; N: from [crop, min(its own, N)],
                                 the scale the model will be used at (a model for
                                 512-pixel images: about 384) */
    /* Since 0.x (read when struct_size covers it): against the weave of the network's grid. */
    double grid_weight; /**< weight of the grid loss (docs/training.md): per 64 x 64
                             tile and channel of the output, the variance of the
                             means of its 16 pixel phases (y mod 4, x mod 4), the
                             transform network's stride, so a pattern locked to
                             that grid (the period-4 weave) costs; 0: none */
    /* Since 0.x (read when struct_size covers it): video (docs/training.md). */
    double temporal_weight; /**< weight of the temporal loss: in each pair of crops of
                                 a batch the second is the first moved by a random
                                 sub-pixel translation of up to 4 pixels, and its
                                 output is compared with the first's output moved
                                 the same way (mean squared difference where both
                                 are known), so the model paints moving content
                                 the same in every frame; needs a batch of 2 or
                                 more; 0: none */
    /* Since 0.x (read when struct_size covers it): mixed precision (docs/training.md). */
    const char *precision; /**< the convolutions' arithmetic: "fp32" (NULL, the
                                default), "bf16" (bf16 convolutions with f32
                                accumulation, f32 master weights, Adam state, norms
                                and losses; STYLE_ERR_UNSUPPORTED where the
                                processor lacks AVX-512 BF16 / AMX) or "auto" (bf16
                                where it runs natively, else fp32); recorded in the
                                checkpoint, which a resume follows unless this is
                                set */
} style_train_options;

/**
 * Trains a transform network for one style (Johnson et al.'s perceptual losses) and writes it
 * to options->out_path as a model file with provenance metadata (libstyle.training: the
 * settings, with the style images, loss network and held-out list as file names and SHA-256
 * and the photos as the data folder's name and the SHA-256 of their list, never a path).
 * Checkpoints (atomic, with the optimizer state; marked as checkpoints, not models) are written
 * every checkpoint_every iterations and when the progress callback stops the run (then
 * STYLE_ERR_CANCELLED is returned). With the same seed and thread count a run is deterministic, and
 * a resumed run continues bit-identically.
 */
STYLE_API style_status style_train(const style_train_options *options);

/* ---- Training benchmark ----------------------------------------------------------------- */

/**
 * Options of style_train_bench(). Zero-initialise and set struct_size; every zero field takes
 * its default.
 */
typedef struct style_train_bench_options {
    size_t struct_size;
    const char *loss_net;    /**< feature network file; NULL: a VGG-16-shaped network with
                                  random weights (the shapes of torchvision's VGG-16) */
    int32_t widths[3];       /**< transform network widths; 0: 32 64 128 */
    int32_t residual_blocks; /**< 0: 5 */
    int32_t crop_size;       /**< a multiple of 4; 0: 256 */
    int32_t batch_size;      /**< 0: 4 */
    int32_t iterations;      /**< timed iterations; 0: 10 */
    int32_t warmup;          /**< untimed iterations before them; 0: 2, negative: none */
    int threads;             /**< 0: one per processor */
    /* Since 0.x (read when struct_size covers it). */
    const char *precision; /**< "fp32" (NULL), "bf16" or "auto", as style_train_options */
} style_train_bench_options;

/** Parts of the transform network in style_train_bench_result's split: downsampling,
 *  residual blocks, upsampling, output layer. */
#define STYLE_TRAIN_BENCH_PARTS 4

/**
 * What style_train_bench() measured. Times are seconds per iteration, each the median over
 * the timed iterations (so the parts need not add up to `seconds` exactly).
 */
typedef struct style_train_bench_result {
    size_t struct_size;          /**< sizeof(style_train_bench_result), set by the caller */
    int32_t iterations;          /**< timed iterations */
    double seconds, min_seconds; /**< median and fastest whole iteration */
    double transform_forward;    /**< the transform network's forward pass */
    double transform_backward;   /**< its backward pass (data and weight gradients) */
    double loss_network;         /**< the loss network: forward on the photos and on the
                                      outputs, backward to the outputs (no weight gradients) */
    double losses;               /**< content, style and total-variation losses, gradients */
    double optimizer;            /**< Adam */
    double data;                 /**< making the batch (synthetic photos, in memory) */
    double transform_part_forward[STYLE_TRAIN_BENCH_PARTS];  /**< forward by part */
    double transform_part_backward[STYLE_TRAIN_BENCH_PARTS]; /**< backward by part */
    double flops;         /**< per iteration: 2 x the multiply-adds the step's
                               convolutions execute */
    double nominal_flops; /**< the same for the networks as written (an upsampling
                               convolution counted at its upsampled size) */
    double transform_flops, loss_network_flops; /**< executed, per network */
    double cpu_share;       /**< CPU time / (wall time x threads) while timing */
    double cpu_seconds;     /**< median CPU time of an iteration (all threads): on a shared
                                 machine the steadier measure of the work done */
    int threads;            /**< threads used */
    char loss_net_name[64]; /**< the loss network's name */
    /* Since 0.x (written when struct_size covers it). */
    style_precision precision; /**< the convolutions' arithmetic, resolved: FP32 or BF16 */
} style_train_bench_result;

/**
 * Times training iterations of the transform network (Johnson et al., instance norm, one
 * style) on synthetic photos and a synthetic style made in memory: no data set and no files
 * but the loss network. The step is the trainer's (its layers, losses and Adam); nothing is
 * written.
 */
STYLE_API style_status style_train_bench(const style_train_bench_options *options,
                                         style_train_bench_result *result);

/* ---- Training an arbitrary-style (AdaIN) decoder ---------------------------------------- */

/**
 * Options of style_train_adain(). Zero-initialise, set struct_size and the four paths; every
 * other zero field takes its default. The method, the losses and the defaults are in
 * docs/adain.md.
 */
typedef struct style_train_adain_options {
    size_t struct_size;
    const char *data_dir;        /**< content photos, searched recursively */
    const char *styles_dir;      /**< style images, searched recursively */
    const char *loss_net;        /**< feature network: the encoder (cut at `tap`) and the loss */
    const char *out_path;        /**< the model file (arch adain) to write */
    const char *checkpoint_path; /**< NULL: out_path + ".ckpt" */
    const char *resume_path;     /**< a checkpoint to continue from, or NULL */
    const char *tap;             /**< AdaIN tap; NULL: relu4_1 or its analogue (docs/adain.md) */
    const char *style_layers;    /**< comma-separated taps of the style loss; NULL: the first
                                      tap of each resolution up to `tap` */
    int32_t crop_size;           /**< content and style crops, a multiple of the encoder's
                                      reduction; 0: 256 */
    int32_t batch_size;          /**< 0: 4 */
    int64_t iterations;          /**< 0: 2000 (on resume: the checkpoint's, unless set) */
    double learning_rate;        /**< Adam's rate; 0: 1e-4 */
    double content_weight;       /**< 0: 1 */
    double style_weight;         /**< 0: 2 (mean/std loss normalised per layer) */
    uint64_t seed;               /**< initialisation and data order */
    int threads;                 /**< 0: one per processor */
    int64_t checkpoint_every;    /**< 0: 100 */
    const char *loss_log;        /**< optional CSV of per-iteration losses (appended) */
    style_train_progress_fn progress; /**< stats.tv_loss: the grid loss (0 without it) */
    void *progress_user;
    style_log_fn log;
    void *log_user;
    /* Since 0.x (read when struct_size covers them): the quality options of style_train
     * (docs/adain.md, "Training options"); each is recorded in the checkpoint and the model. */
    const char *init_model;         /**< a trained AdaIN model (arch adain) whose decoder weights
                                         the training starts from; its encoder must be the loss
                                         network's, cut at the same tap (refused otherwise; with
                                         no `tap`, the model's) */
    int32_t loss_shift;             /**< 0: none; N > 0: the loss network sees the decoder
                                         output's (crop - N)^2 window at a random offset of 0..N
                                         px per image and iteration, its content target being
                                         the AdaIN target of the photo's same window (at most
                                         crop / 4) */
    int32_t max_short_side;         /**< 0: each content crop's photo is scaled to a short side
                                         drawn from [crop, its own]; N: from [crop, min(its own,
                                         N)] (style crops are not capped) */
    double color_weight;            /**< weight of the colour loss (mean and covariance of the
                                         output's RGB against its pair's style crop's); 0: none */
    const char *exclude_list;       /**< sha256sum-format list (models/heldout-photos.sha256): the
                                         photos of data_dir it holds are refused (a warning names
                                         each) */
    const char *style_exclude_list; /**< the same for the style images of styles_dir */
    /* Since 0.x (read when struct_size covers it). */
    double grid_weight; /**< weight of the grid loss (docs/adain.md): per 64 x 64 tile and
                             channel of the output, the variance of the mean of each phase of
                             the decoder's own grid (its period: the encoder's reduction, 8 for
                             darknet-tiny cut at leaky_8), so a checker locked to that grid
                             costs; 0: none */
    /* Since 0.x (read when struct_size covers it). */
    const char *precision; /**< "fp32" (NULL), "bf16" or "auto", as style_train_options: the
                                decoder's and the loss network's convolutions */
} style_train_adain_options;

/**
 * Trains an AdaIN decoder for a feature network's encoder on content photos and style images
 * and writes one self-contained model file (arch adain: the encoder embedded). Checkpoints,
 * cancellation and resumption as style_train().
 */
STYLE_API style_status style_train_adain(const style_train_adain_options *options);

/* ---- Optimisation-based style transfer (Gatys et al.) -------------------------------------- */

/** Where style_optimize stands; passed to the progress callback after every iteration. */
typedef struct style_optimize_stats {
    int64_t iteration;      /**< iterations completed */
    int64_t iterations;     /**< iterations planned */
    int64_t evaluations;    /**< loss-and-gradient evaluations so far (an L-BFGS iteration's
                                 line search may take several) */
    double content_loss;    /**< weighted content loss of the current image */
    double style_loss;      /**< weighted style loss, all layers */
    double tv_loss;         /**< weighted total-variation loss */
    double total_loss;      /**< their sum (Adam: at the image before this iteration's step) */
    double elapsed_seconds; /**< wall time since the optimisation started */
    double eta_seconds;     /**< estimated time to the last iteration */
} style_optimize_stats;

/** Called after every iteration of style_optimize; return non-zero to stop. */
typedef int (*style_optimize_progress_fn)(void *user, const style_optimize_stats *stats);

/**
 * Options of style_optimize(). Zero-initialise, set struct_size = sizeof(style_optimize_options),
 * the content image, at least one style image, the loss network and out_path and/or result;
 * every other zero field takes its default. Loss definitions are the trainer's
 * (docs/training.md); docs/gatys.md describes the method and the defaults.
 */
typedef struct style_optimize_options {
    size_t struct_size;
    const char *content_image;       /**< the photo (PNG or JPEG) */
    const char *const *style_images; /**< style_count style images (PNG or JPEG) */
    size_t style_count;              /**< 1..64 */
    const double *style_blend;       /**< style_count weights >= 0 of the styles' Gram matrices,
                                          normalised to sum 1; NULL: equal */
    const char *loss_net;      /**< feature network file (VGG-16/19 or libstyle feature-net) */
    const char *out_path;      /**< PNG/JPEG written atomically (clamped to 0..255); may
                                    be NULL when result is given */
    style_image *result;       /**< optional: receives the result as packed RGB F32
                                    (0..255, clamped); release with style_image_release */
    int32_t size;              /**< long side of the result (the content is resized to
                                    it, up or down); 0: 512 */
    int32_t style_size;        /**< short side of every style image; 0: the result's
                                    short side */
    int64_t iterations;        /**< 0: 300 */
    const char *optimizer;     /**< "lbfgs" (NULL; history 10, strong-Wolfe line search)
                                    or "adam" */
    double learning_rate;      /**< Adam's step in pixel units (0..255 scale); 0: 4 */
    const char *init;          /**< "content" (NULL) or "noise" (uniform 0..255, seeded) */
    double content_weight;     /**< 0: 1; negative: no content loss */
    double style_weight;       /**< 0: 2; negative: no style loss */
    double tv_weight;          /**< 0: 50; negative: no total-variation loss */
    const char *content_layer; /**< tap name; NULL: the loss network's recommendation */
    const char *style_layers;  /**< comma-separated tap names; NULL: recommended */
    int preserve_color;        /**< non-zero: keep the content's colours (the result's
                                    BT.601 luminance with the content's chroma) */
    uint64_t seed;             /**< the noise of init "noise" */
    int threads;               /**< 0: one per processor */
    const char *log_csv;       /**< optional CSV file of per-iteration losses (rewritten) */
    style_optimize_progress_fn progress;
    void *progress_user;
    style_log_fn log; /**< information (sizes, layers, timing) */
    void *log_user;
    /* Since 0.x (read when struct_size covers them): stopping inside an iteration. */
    style_cancel_fn cancel; /**< asked before and after the loss network's forward
                                 pass of every evaluation; non-zero drops the
                                 iteration in flight and ends the run as `progress`
                                 does, with the image of the last whole iteration.
                                 NULL: stops only through `progress` */
    void *cancel_user;
} style_optimize_options;

/**
 * Gatys et al.'s style transfer: optimises the pixels of one image (starting from the content
 * or from noise; unclamped while optimising) to minimise content_weight * content +
 * style_weight * style + tv_weight * tv, with the trainer's loss definitions, the style target
 * of each layer being the blend of the styles' Gram matrices. The result goes to out_path
 * and/or options->result. When the progress callback stops the run, the current image is
 * still written to out_path and STYLE_ERR_CANCELLED is returned (result is left empty).
 */
STYLE_API style_status style_optimize(const style_optimize_options *options);

/** Losses of one image, weighted as style_optimize reports them (a term turned off is 0). */
typedef struct style_losses {
    double content, style, tv, total;
} style_losses;

/**
 * The losses style_optimize minimises, of a given image instead of an optimised one: the
 * problem is the one `options` describes (content image and size, styles and blend, loss
 * network, layers, weights; the fields about the optimisation and its output are ignored), and
 * `image_path` is resized to the problem's size (the content's size after resizing) if it
 * differs. Gives Gatys' losses of any image, e.g. a feed-forward model's output, to compare
 * with style_optimize's after some iterations (Huang and Belongie's comparison).
 */
STYLE_API style_status style_evaluate_losses(const style_optimize_options *options,
                                             const char *image_path, style_losses *losses);

/* ---- Quality evaluation (Johnson et al.'s protocol) ---------------------------------------- */

/**
 * The name of the frozen evaluation definition style_evaluate applies (docs/quality.md): the
 * objective (the model's loss network with its recommended taps, content weight 1, style weight
 * 20, TV weight 50, the photo resized to long side 512, the style image at the model's
 * training style size) and the reference (Gatys: L-BFGS, history 10, strong-Wolfe line
 * search, from the photo, 300 iterations). Changing any of it makes a new version.
 * Arbitrary-style (arch adain) models, which have no training style size, are measured with
 * the style image at short side 512, the size `libstyle stylize --style-image` feeds it to the
 * model by default (the paper's), so that the objective sees the style as the model does; the
 * model stylizes with that same resized style. This rule was added for the new arch: it
 * changes nothing for johnson models.
 */
#define STYLE_EVALUATION_DEFINITION "johnson-gatys-v1"

/** The measures of one photo (docs/quality.md defines each). */
typedef struct style_evaluate_photo {
    const char *name;                 /**< the photo's file name */
    double content, style, tv, total; /**< weighted losses of the model's output */
    double photo_total;               /**< total loss of the photo itself (Gatys' iteration 0) */
    double gatys_total;               /**< Gatys' total loss after the last iteration */
    int64_t gatys_iterations;         /**< iterations of the Gatys curve */
    double gatys_equivalent; /**< iterations at which Gatys reaches `total` (0: the model is
                                  no better than the photo) */
    int gatys_beyond;        /**< non-zero: better than Gatys' last iteration (">N") */
    double color_model;      /**< colour distance of the output to the style image */
    double color_photo;      /**< of the photo to the style image */
    double color_gatys;      /**< of the Gatys result to the style image */
    double peaks_model;      /**< periodic-peak fraction of the output's spectrum */
    double peaks_gatys;      /**< of the Gatys result's */
    double artifact_score;   /**< peaks_model / peaks_gatys (denominator floored at 0.01) */
    int gatys_cached;        /**< non-zero: the curve came from the cache */
    const char *style_image; /**< the style image's file name (an AdaIN model is measured
                                  on each (style, photo) pair) */
} style_evaluate_photo;

/** Medians over the photos (for gatys_equivalent, ">N" counts as more than any number); for
 *  an AdaIN model over every (style, photo) pair, or over one style's photos. */
typedef struct style_evaluate_summary {
    size_t photos;            /**< photos measured ((style, photo) pairs for AdaIN) */
    double total_ratio;       /**< median of total / gatys_total */
    double gatys_equivalent;  /**< median Gatys-equivalent iterations */
    int gatys_beyond;         /**< non-zero: the median is ">N" */
    int64_t gatys_iterations; /**< N */
    double color_model;       /**< median colour distance of the outputs to the style */
    double color_photo;       /**< median of the photos' own */
    double artifact_score;    /**< median artifact score */
} style_evaluate_summary;

/** Where style_evaluate stands: a stage of a photo, or a Gatys iteration of it. */
typedef struct style_evaluate_progress {
    size_t photo;       /**< 0-based index of the photo being measured */
    size_t photos;      /**< photos in all (per style) */
    const char *name;   /**< its file name */
    const char *stage;  /**< "model", "gatys", "gatys-cached", "done"; and for an AdaIN
                             model "style-done" after each style's last photo */
    int64_t iteration;  /**< stage "gatys": iterations done */
    int64_t iterations; /**< stage "gatys": iterations planned */
    const style_evaluate_photo *result; /**< stage "done": the photo's measures */
    size_t style;                       /**< 0-based index of the style image being measured */
    size_t styles;                      /**< style images in all (1 for a johnson model) */
    const char *style_image;            /**< its file name */
    const style_evaluate_summary *style_summary; /**< stage "style-done": that style's medians */
} style_evaluate_progress;

/** Called at every stage and Gatys iteration; return non-zero to stop (STYLE_ERR_CANCELLED). */
typedef int (*style_evaluate_progress_fn)(void *user, const style_evaluate_progress *progress);

/**
 * Options of style_evaluate(). Zero-initialise, set struct_size = sizeof(it), model and
 * photos_dir; zero fields take the frozen definition's values. The test overrides (size,
 * gatys_iterations, style_size) change the numbers: a report made with them names them.
 * A johnson model is measured on its own style (one image: style_image, or the one of
 * style_images, or found by its provenance); an AdaIN model on every style image named by
 * style_image, style_images and styles_dir (with style_list), in that order.
 */
typedef struct style_evaluate_options {
    size_t struct_size;
    const char *model;              /**< the model file (arch johnson or adain) */
    const char *photos_dir;         /**< held-out photos (PNG/JPEG), searched recursively */
    const char *photo_list;         /**< optional sha256sum-format list: only these files of
                                         photos_dir, by name, each checked against its SHA-256
                                         (models/heldout-photos.sha256) */
    const char *const *search_dirs; /**< folders searched (recursively) for the style image and
                                         the loss network the model's training metadata names,
                                         matched by file name and SHA-256 */
    size_t search_dir_count;
    const char *style_image;  /**< the style image, instead of searching */
    const char *loss_net;     /**< the loss network, instead of searching */
    const char *cache_dir;    /**< Gatys curves and results by photo, style and
                                   objective (created if missing); NULL: no cache */
    const char *out_dir;      /**< report.csv, report.json and sheets/NAME.png (photo |
                                   model | Gatys); NULL: nothing written */
    size_t max_photos;        /**< 0: all; else the first ones (in list or path order) */
    int32_t size;             /**< test override of the long side (0: 512) */
    int32_t style_size;       /**< short side of the style image; 0: the model's training
                                   style size (the result's short side if unrecorded;
                                   512 for an AdaIN model) */
    int64_t gatys_iterations; /**< test override (0: 300) */
    int threads;              /**< 0: one per processor */
    style_evaluate_progress_fn progress;
    void *progress_user;
    style_log_fn log; /**< which files were found, warnings */
    void *log_user;
    /* Added with AdaIN evaluation: read only when struct_size covers them. */
    const char *const *style_images; /**< style images to measure an AdaIN model on (a johnson
                                          model: at most one, as style_image) */
    size_t style_image_count;
    const char *styles_dir; /**< AdaIN: every image of this folder (recursive) is a
                                 style, or only those style_list names */
    const char *style_list; /**< sha256sum-format list of styles_dir's styles to use,
                                 each checked against its SHA-256
                                 (models/heldout-styles.sha256) */
} style_evaluate_options;

/**
 * Measures a feed-forward model against Gatys' optimisation on held-out photos under the
 * frozen definition STYLE_EVALUATION_DEFINITION (docs/quality.md): per photo the weighted
 * losses of the model's output, the Gatys-equivalent iterations, the colour distance to the
 * style image (2-Wasserstein distance of Gaussians in CIELAB) and the artifact score
 * (periodic spectral peaks relative to Gatys'); the medians go to *summary, everything to
 * out_dir's reports. The style image and loss network come from the options, or are found in
 * search_dirs by the names and SHA-256 the model's libstyle.training records; a clear error
 * names what is missing otherwise. Single-style (arch johnson) models are measured on their
 * style; arbitrary-style (arch adain) models on each style image the options name (each
 * (style, photo) pair a row of the reports, with medians per style and over all pairs; the
 * loss network is the one the model records); multi-style (johnson-cin) models are refused.
 */
STYLE_API style_status style_evaluate(const style_evaluate_options *options,
                                      style_evaluate_summary *summary);

#ifdef __cplusplus
}
#endif

#endif /* LIBSTYLE_TRAIN_H */
