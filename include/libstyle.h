/*
 * libstyle: fast feed-forward neural style transfer on the CPU.
 *
 * The contract of the library. Two handles carry everything:
 *   - style_model: an immutable set of weights loaded from a model file. It may be used by any
 *     number of threads at once (each with its own session) and is reference-counted by the
 *     sessions made from it, so style_model_free() may be called while sessions still live.
 *   - style_session: per-thread working state (oneDNN primitives, activation buffers, threads).
 *     A session is used by one thread at a time.
 *
 * Every fallible function returns a style_status. On failure, a detail message naming the
 * file and the problem is available from style_last_error() in the failing thread, and any
 * output handle is set to NULL. The library never prints, never exits, never aborts on bad input.
 * Every *_free(NULL) and style_image_release(NULL) is a no-op.
 *
 * This header is the stable inference API. Training, Gatys' optimisation and evaluation are in
 * libstyle_train.h (which includes this one), exported by the same library.
 */
#ifndef LIBSTYLE_H
#define LIBSTYLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define STYLE_API
#else
#define STYLE_API __attribute__((visibility("default")))
#endif

/* ---- Version ---------------------------------------------------------------------------- */

#define LIBSTYLE_VERSION_MAJOR 0
#define LIBSTYLE_VERSION_MINOR 1
#define LIBSTYLE_VERSION_PATCH 0
#define LIBSTYLE_VERSION_STRING "0.1.0"
/** MAJOR * 10000 + MINOR * 100 + PATCH, for compile-time comparisons. */
#define LIBSTYLE_VERSION_NUMBER                                                                    \
    (LIBSTYLE_VERSION_MAJOR * 10000 + LIBSTYLE_VERSION_MINOR * 100 + LIBSTYLE_VERSION_PATCH)

/** Version of the library actually linked, as "MAJOR.MINOR.PATCH". Static string. */
STYLE_API const char *style_version_string(void);
/** Version of the library actually linked, as LIBSTYLE_VERSION_NUMBER encodes it. */
STYLE_API unsigned style_version_number(void);

/* ---- Status and errors ------------------------------------------------------------------ */

/** Result of every fallible call. Values are ABI: new ones are only appended. */
typedef enum style_status {
    STYLE_OK = 0,
    STYLE_ERR_INVALID_ARGUMENT = 1, /**< a NULL pointer, a bad size, mismatched images */
    STYLE_ERR_NOMEM = 2,            /**< an allocation failed */
    STYLE_ERR_IO = 3,               /**< a file could not be opened, read or written */
    STYLE_ERR_FORMAT = 4,           /**< a file's content is corrupt or malformed */
    STYLE_ERR_UNSUPPORTED = 5,      /**< well-formed but not supported (version, dtype, ...) */
    STYLE_ERR_LIMIT = 6,            /**< over a configured limit (pixels, memory budget) */
    STYLE_ERR_CANCELLED = 7,        /**< a progress callback asked to stop */
    STYLE_ERR_BACKEND = 8,          /**< oneDNN reported a failure */
    STYLE_ERR_INTERNAL = 9          /**< a bug in libstyle; please report it */
} style_status;

/** A short static English name for a status ("out of memory", ...). Never NULL. */
STYLE_API const char *style_status_string(style_status status);

/**
 * Detail message of the last failure in the calling thread, e.g.
 * "model_load: candy.safetensors: tensor 'in1.weight' has shape [31], expected [32]".
 * Thread-local storage owned by the library; valid until the next libstyle call in this thread.
 * An empty string when nothing has failed yet.
 */
STYLE_API const char *style_last_error(void);

/* ---- Callbacks -------------------------------------------------------------------------- */

typedef enum style_log_level {
    STYLE_LOG_DEBUG = 0,
    STYLE_LOG_INFO = 1,
    STYLE_LOG_WARNING = 2
} style_log_level;

/** Receives the library's log messages (the library itself never prints). */
typedef void (*style_log_fn)(void *user, style_log_level level, const char *message);

/**
 * Called during long operations with the fraction done in [0, 1]. Return 0 to continue,
 * non-zero to cancel: the operation then stops soon and returns STYLE_ERR_CANCELLED.
 */
typedef int (*style_progress_fn)(void *user, double fraction);

/* ---- Images ----------------------------------------------------------------------------- */

/** Sample type of an image. 16-bit samples span 0..65535, float samples 0..255. */
typedef enum style_sample_type {
    STYLE_SAMPLE_U8 = 0,
    STYLE_SAMPLE_U16 = 1,
    STYLE_SAMPLE_F32 = 2
} style_sample_type;

/**
 * A plain image the caller may own. Interleaved samples (RGB or RGBA), rows `stride` bytes
 * apart (0 means tightly packed: width * channels * sample size). Alpha is straight (not
 * premultiplied) and is passed through stylization unchanged.
 */
typedef struct style_image {
    int32_t width;                 /**< >= 1 */
    int32_t height;                /**< >= 1 */
    int32_t channels;              /**< 3 (RGB) or 4 (RGBA) */
    style_sample_type sample_type; /**< STYLE_SAMPLE_U8, _U16 or _F32 */
    size_t stride;                 /**< bytes between rows; 0 = packed */
    void *data;                    /**< first sample of the top row */
} style_image;

/** Default cap on decoded pixels (64 megapixels). */
#define STYLE_DEFAULT_MAX_PIXELS (64ull * 1024 * 1024)

/**
 * Allocates packed pixel memory for an image of the given shape and fills in *image.
 * Release it with style_image_release(). Fails with STYLE_ERR_INVALID_ARGUMENT for a bad
 * shape and STYLE_ERR_NOMEM when the memory cannot be had.
 */
STYLE_API style_status style_image_alloc(style_image *image, int32_t width, int32_t height,
                                         int32_t channels, style_sample_type sample_type);

/**
 * Frees pixel memory that the library allocated (style_image_alloc, style_image_load*,
 * or a stylize call given an output with data == NULL) and sets image->data to NULL.
 * Never call it on memory the caller allocated. NULL or data == NULL is a no-op.
 */
STYLE_API void style_image_release(style_image *image);

/**
 * Decodes a PNG, JPEG or WebP file (detected from its content, not its name). The result is
 * RGB, or RGBA when the file has alpha; 8-bit, or 16-bit for 16-bit PNGs; grey and palette
 * images are expanded (tRNS becomes alpha); CMYK and YCCK JPEGs are converted to RGB (Adobe
 * inverted ink when an APP14 marker is present). JPEGs are turned upright by their EXIF
 * orientation.
 * Samples are taken as sRGB: a PNG gAMA other than 2.2 is converted to sRGB unless an sRGB or
 * iCCP chunk is present; ICC profiles are not applied (docs/pipeline.md, "Formats"). Images with
 * more than max_pixels pixels (0 = STYLE_DEFAULT_MAX_PIXELS) are refused with STYLE_ERR_LIMIT
 * before any pixel memory is allocated. Only regular files are read: a FIFO, socket or device is
 * refused with STYLE_ERR_IO naming its kind, without waiting (the file is opened with O_NONBLOCK;
 * so are model, loss-network and checkpoint files, all read by the same function). On success
 * release *out with style_image_release(). Errors: STYLE_ERR_IO (missing, unreadable, not a regular
 * file), STYLE_ERR_FORMAT (truncated, corrupt, not an image: the message says what the file is,
 * e.g. a model), STYLE_ERR_UNSUPPORTED (GIF, BMP, TIFF, HEIF, animated WebP), STYLE_ERR_LIMIT.
 */
STYLE_API style_status style_image_load(const char *path, uint64_t max_pixels, style_image *out);

/** Like style_image_load() on an encoded file held in memory. */
STYLE_API style_status style_image_load_memory(const void *data, size_t size, uint64_t max_pixels,
                                               style_image *out);

/**
 * Encodes an image to a file, PNG, JPEG or WebP by the file name's extension (.png, .jpg,
 * .jpeg, .webp; case-insensitive). PNG keeps 16-bit samples and alpha and is marked sRGB; JPEG
 * stores 8-bit RGB (alpha dropped) at `jpeg_quality` 1..100 (0 = 92); WebP stores 8-bit RGB or
 * RGBA, lossless when `jpeg_quality` is 0 and lossy at 1..100 (alpha kept either way). Floats are
 * rounded and clamped to 0..255. The file is written to a temporary name in the same directory and
 * renamed into place, so a failure never leaves a partial file behind.
 */
STYLE_API style_status style_image_save(const char *path, const style_image *image,
                                        int jpeg_quality);

/**
 * Encodes an image in memory, as style_image_save() would write it: `format` "png", "jpeg"
 * ("jpg" too) or "webp" (case-insensitive). On success *data holds *size bytes of the encoded file;
 * release them with style_free(). On failure *data is NULL and *size 0.
 */
STYLE_API style_status style_image_encode(const style_image *image, const char *format,
                                          int jpeg_quality, void **data, size_t *size);

/** style_save_options.png_level for zlib level 0: stored, no compression (0 is the default). */
#define STYLE_PNG_LEVEL_STORED (-1)

/**
 * Options for style_image_save_with_options() and style_image_encode_with_options();
 * zero-initialise, then set struct_size = sizeof(it). Zero fields take their defaults, and
 * so do fields past the caller's struct_size. NULL options: every default.
 */
typedef struct style_save_options {
    size_t struct_size; /**< sizeof(style_save_options), for future extension */
    int quality;        /**< JPEG and WebP, as style_image_save()'s jpeg_quality */
    /**
     * PNG zlib compression level 1 (fastest) .. 9 (smallest), or STYLE_PNG_LEVEL_STORED
     * (level 0, no compression); 0 = the default: 6 up to 2048x2048 pixels, 1 above (writing
     * a large image at 6 can take longer than stylizing it; docs/performance.md). Levels 1..3
     * use the Sub row filter, 4..9 libpng's adaptive filters. Any level gives the same pixels.
     */
    int png_level;
} style_save_options;

/**
 * style_image_save() with options (NULL: the defaults): the PNG compression level besides the
 * JPEG/WebP quality. A png_level outside STYLE_PNG_LEVEL_STORED..9 is STYLE_ERR_INVALID_ARGUMENT.
 */
STYLE_API style_status style_image_save_with_options(const char *path, const style_image *image,
                                                     const style_save_options *options);

/** style_image_encode() with options (NULL: the defaults), as style_image_save_with_options(). */
STYLE_API style_status style_image_encode_with_options(const style_image *image, const char *format,
                                                       const style_save_options *options,
                                                       void **data, size_t *size);

/** Frees memory the library returned through a `void **` (style_image_encode). NULL: no-op. */
STYLE_API void style_free(void *data);

/* ---- Models ----------------------------------------------------------------------------- */

typedef struct style_model style_model;

/** Default caps of style_load_options (docs/reliability.md). */
#define STYLE_DEFAULT_MAX_MODEL_BYTES (2ull << 30)            /**< the file: 2 GiB */
#define STYLE_DEFAULT_MAX_HEADER_BYTES (100ull * 1000 * 1000) /**< JSON header: 100 MB */
#define STYLE_DEFAULT_MAX_TENSORS 65536ull                    /**< tensors in one file */
#define STYLE_DEFAULT_MAX_TENSOR_BYTES (4ull << 30)           /**< tensor data as float32: 4 GiB */

/**
 * Options for loading a model; zero-initialise, then set struct_size = sizeof(it). Every cap
 * is checked against what the file declares before the memory is allocated, and exceeding
 * one fails with STYLE_ERR_LIMIT. Fields past the caller's struct_size take their defaults,
 * so programs built against an older libstyle.h keep working.
 */
typedef struct style_load_options {
    size_t struct_size; /**< sizeof(style_load_options), for future extension */
    style_log_fn log;   /**< optional receiver of warnings (e.g. ignored legacy keys) */
    void *log_user;     /**< passed to log */
    uint64_t max_bytes; /**< cap on the model file's size; 0 = STYLE_DEFAULT_MAX_MODEL_BYTES */
    /* Since 0.1 (issue 9). */
    uint64_t max_header_bytes; /**< cap on the JSON header (metadata and tensor table);
                                    0 = STYLE_DEFAULT_MAX_HEADER_BYTES (also the maximum) */
    uint64_t max_tensors;      /**< cap on the number of tensors; 0 = STYLE_DEFAULT_MAX_TENSORS */
    uint64_t max_tensor_bytes; /**< cap on all tensors converted to float32, in bytes;
                                    0 = STYLE_DEFAULT_MAX_TENSOR_BYTES */
} style_load_options;

/**
 * Loads a style model file (safetensors; see docs/formats.md). `options` may be NULL.
 * The file is read and validated completely: unexpected, missing or misshapen tensors,
 * bad offsets, unknown `libstyle.*` metadata and unsupported values are refused with
 * STYLE_ERR_FORMAT or STYLE_ERR_UNSUPPORTED and a message naming the file and the problem.
 * Free the model with style_model_free().
 */
STYLE_API style_status style_model_load(const char *path, const style_load_options *options,
                                        style_model **out);

/** Like style_model_load() on a file image held in memory (the bytes are copied). */
STYLE_API style_status style_model_load_memory(const void *data, size_t size,
                                               const style_load_options *options,
                                               style_model **out);

/**
 * Drops the caller's reference. The model is destroyed when no session made from it is left.
 * NULL is a no-op.
 */
STYLE_API void style_model_free(style_model *model);

/**
 * Writes the model to a safetensors file with every libstyle.* metadata key explicit
 * (atomically: temporary file, then rename). Re-loading it gives an identical network.
 */
STYLE_API style_status style_model_save(const style_model *model, const char *path);

/**
 * What a model is. All strings belong to the model and live as long as it does. For an AdaIN
 * model (arch "adain") the transform network's fields (widths, residual_blocks, padding, ...)
 * do not apply and hold zeros or defaults; its encoder and decoder are described by the
 * libstyle.encoder.* and libstyle.decoder.layers metadata (docs/formats.md).
 */
typedef struct style_model_info {
    const char *arch;         /**< "johnson", "johnson-cin" (several styles) or "adain" */
    const char *padding;      /**< "reflect", "zero" or "tf_same" */
    const char *upsample;     /**< "nearest_conv", "transposed_tf" or "transposed_torch" */
    const char *norm;         /**< "instance" or "batch" */
    const char *output;       /**< "linear" or "tanh150" */
    const char *final_norm;   /**< "none" or "instance" */
    float norm_eps;           /**< normalization epsilon */
    int32_t format_version;   /**< libstyle.format_version */
    int32_t widths[3];        /**< channel widths of conv1, conv2, conv3 (32, 64, 128 by default) */
    int32_t residual_blocks;  /**< number of residual blocks (5 by default) */
    int32_t has_bias;         /**< 1 if the convolutions carry biases */
    uint64_t parameter_count; /**< number of scalar parameters used by the network (every
                                   style's scale and shift included) */
} style_model_info;

/** Fills *info. */
STYLE_API style_status style_model_get_info(const style_model *model, style_model_info *info);

/** Number of metadata entries (every key of the file's __metadata__, libstyle.* included). */
STYLE_API size_t style_model_metadata_count(const style_model *model);

/**
 * Metadata entry `index` (0 <= index < count), in the file's order. The strings belong to
 * the model. Returns STYLE_ERR_INVALID_ARGUMENT for an index out of range.
 */
STYLE_API style_status style_model_metadata_at(const style_model *model, size_t index,
                                               const char **key, const char **value);

/** The value of metadata `key`, or NULL when absent. The string belongs to the model. */
STYLE_API const char *style_model_metadata_get(const style_model *model, const char *key);

/* ---- Several styles in one model (johnson-cin, Dumoulin et al.) ------------------------ */

/**
 * Number of styles of a johnson-cin model (conditional instance norm: shared convolutions, a
 * scale and shift per style for every instance norm). 0 for a single-style model (johnson) or
 * NULL.
 */
STYLE_API size_t style_model_style_count(const style_model *model);

/** Name of style `index` (libstyle.styles), or NULL when out of range. Belongs to the model. */
STYLE_API const char *style_model_style_name(const style_model *model, size_t index);

/** Index of the style named `name` (exact match), or -1. */
STYLE_API int64_t style_model_find_style(const style_model *model, const char *name);

/**
 * Converts an ml5 / deeplearn.js checkpoint dump (a directory with manifest.json and raw
 * float32 files; docs/formats.md section 3) into a model file. `name` (may be NULL) is stored
 * as libstyle.name. The output is written atomically.
 */
STYLE_API style_status style_import_ml5(const char *dir, const char *out_path, const char *name);

/* ---- Sessions --------------------------------------------------------------------------- */

typedef struct style_session style_session;

/** Default memory budget of a session for one run: 4 GiB. */
#define STYLE_DEFAULT_MEMORY_BUDGET (4ull << 30)

/**
 * Creates a session on a model. The session holds a reference to the model, which therefore
 * stays alive until the session is freed. Use one session per thread.
 */
STYLE_API style_status style_session_create(style_model *model, style_session **out);

/** Frees the session and its memory. NULL is a no-op. */
STYLE_API void style_session_free(style_session *session);

/**
 * Number of threads a run uses (0 = one per processor, the default). The setting applies to
 * this session only.
 */
STYLE_API style_status style_session_set_threads(style_session *session, int threads);

/**
 * Cap on the memory one run may allocate (activations, padded copies, scratch), in bytes;
 * 0 restores STYLE_DEFAULT_MEMORY_BUDGET. An image that does not fit is processed in bands
 * through temporary files (see style_session_set_band_rows) when the model and precision
 * allow it; otherwise the run fails with STYLE_ERR_LIMIT before allocating anything.
 * (The caller's images and, for RGBA images with fully transparent pixels, a filled copy of
 * the input are not part of the budget of a whole-image run.)
 */
STYLE_API style_status style_session_set_memory_budget(style_session *session, uint64_t bytes);

/**
 * Tileable (seamless) textures: non-zero makes every convolution, stride-2 layer and
 * upsampling of the session's runs pad circularly (wrap around) instead of with the model's
 * reflection or zero padding, so that the output of an input that tiles, tiles too (default
 * 0). Sides that are not multiples of 4 (the network's stride) are resampled periodically
 * (bilinear, wrapping) to the next multiple of 4 and back, which keeps the wrap-around and
 * softens the image very slightly. Works at every precision. Images over the memory budget
 * (run in bands, see style_session_set_memory_budget) must have sides that are multiples of
 * 4 in this mode, and a scale other than 1 (style_session_set_scale) is refused with
 * STYLE_ERR_UNSUPPORTED (its resampling does not wrap around). Models whose transposed
 * convolutions do not exactly double the size are refused with STYLE_ERR_UNSUPPORTED at the
 * first run. AdaIN models (arch adain) get the same result another way: the image is wrapped
 * around itself for more than the network's receptive field on every side, the content
 * statistics are taken over exactly one period and the centre period is kept (sides are
 * resampled to multiples of the encoder's reduction, 8 for the bundled model; the run costs
 * the area of the wrapped image, about 1.6 times a 512 x 512 one's for the bundled model).
 */
STYLE_API style_status style_session_set_tileable(style_session *session, int enable);

/**
 * Huge images: a run whose image does not fit the memory budget is not refused but computed
 * one layer at a time in bands of rows, the activations between layers kept in unlinked
 * temporary files in $TMPDIR (default /tmp; at the peak 4 x (3 + the first convolution's
 * channels) bytes of disk per pixel: 140 for the default architecture), with each instance norm's
 * statistics gathered over the whole image: the result equals the untiled one up to float rounding
 * (docs/pipeline.md). Peak memory stays within the budget. It runs in fp32 (another precision is
 * refused with STYLE_ERR_UNSUPPORTED) and needs a model with nearest_conv upsampling. AdaIN
 * models run in bands of rows through the whole network with the receptive field as context
 * and whole-image AdaIN statistics (two passes, no temporary files; not in tileable mode).
 * This setting forces that path even when the image fits: rows > 0 runs every image in bands
 * of at most `rows` output rows per layer (for tests and comparisons; AdaIN rounds it up to a
 * multiple of the encoder's reduction); 0 (the default) restores the automatic choice.
 */
STYLE_API style_status style_session_set_band_rows(style_session *session, int32_t rows);

/** Installs (or with fn == NULL removes) the session's log receiver. */
STYLE_API style_status style_session_set_log_callback(style_session *session, style_log_fn fn,
                                                      void *user);

/**
 * Installs (or with fn == NULL removes) a progress callback, called between layers of every
 * run with the fraction done. Returning non-zero cancels the run (STYLE_ERR_CANCELLED).
 * Where it is asked: after every layer of a whole-image run, after every band of every layer
 * of a banded run, and for an AdaIN model between its encoder and decoder and after every
 * band. So the delay from a request to stop to the return is one layer (or band) at most:
 * on a large image run whole, one layer can take seconds; style_session_set_band_rows bounds
 * it. The callback runs in the calling thread (a session is used by one thread at a time); to
 * stop from another thread or a signal, have it read an atomic flag that the other sets.
 */
STYLE_API style_status style_session_set_progress_callback(style_session *session,
                                                           style_progress_fn fn, void *user);

/*
 * Controls of the result (docs/pipeline.md, "Controls"). They apply to every later stylize call
 * of the session; with all three at their defaults a run is the plain network run, bit for bit.
 * The order is: resample the input to the scale, run the network, resample back to the input's
 * size, transfer colours, blend by strength. Alpha always follows the input.
 */

/**
 * How strongly the style is applied, 0..1 (default 1). How an architecture interprets it is
 * documented with the architecture; for the Johnson transform network (arch "johnson") the
 * result is strength * stylized + (1 - strength) * input per sample, on the sRGB-encoded
 * values (like a layer's opacity). Strength 0 returns the input's pixels (converted to the
 * output's format) without running the network; strength 1 is the plain stylized output.
 * For an AdaIN model (arch "adain") it is the paper's alpha, in feature space: the decoder
 * gets alpha * AdaIN(f(c), s) + (1 - alpha) * f(c) (strength 0 decodes the input's own
 * features), and no pixel blend follows.
 * Values outside 0..1 and NaN are refused with STYLE_ERR_INVALID_ARGUMENT (the setting is
 * kept).
 */
STYLE_API style_status style_session_set_strength(style_session *session, float strength);

/**
 * Non-zero: keep the input's colours (default 0). The result takes the stylized image's
 * luminance (BT.601 Y of the sRGB values) and the input's chroma (Cb, Cr), i.e. every channel
 * becomes input + (Y(stylized) - Y(input)), clamped to the sample range.
 */
STYLE_API style_status style_session_set_preserve_color(style_session *session, int enable);

/**
 * Runs the network on the input resized by `scale` (default 1; above 0, at most 8), and resizes
 * the result back to the input's size. Both resizes use Keys' cubic filter (a = -0.5, PIL's
 * BICUBIC), widened when downscaling so it does not alias. Below 1 the style's strokes come
 * out larger relative to the picture and the run is faster (scale^2 of the pixels); above 1
 * they come out finer. The memory budget applies to the scaled size (above 1, including the
 * scaled copies of the image the run holds). Out-of-range values and
 * NaN are refused with STYLE_ERR_INVALID_ARGUMENT (the setting is kept).
 */
STYLE_API style_status style_session_set_scale(style_session *session, float scale);

/**
 * The bytes a run on a width x height image would allocate (what the budget is compared to).
 */
STYLE_API style_status style_session_estimate_memory(style_session *session, int32_t width,
                                                     int32_t height, uint64_t *bytes);

/**
 * Stylizes one image. `output` must have the input's width and height; its channel count
 * (3 or 4) and sample type may differ from the input's. When input and output both have
 * alpha, it is copied unchanged; an output alpha with no input alpha is set opaque.
 * The colour under fully transparent input pixels (alpha 0) is ignored: it is replaced by a
 * smooth fill from the nearest visible pixels before stylizing, so that it cannot bleed into
 * the visible ones (two inputs that differ only there give identical outputs). An image with
 * no visible pixel at all is used as it is.
 * If output->data is NULL, the library allocates packed memory in the input's format,
 * fills output's fields, and the caller releases it with style_image_release().
 * The first run at a size builds the primitives for it; later runs at that size allocate
 * nothing. Input and output must not overlap.
 */
STYLE_API style_status style_session_stylize(style_session *session, const style_image *input,
                                             style_image *output);

/**
 * Stylizes `count` images of one size in one call (same rules as style_session_stylize for
 * each pair). Progress is reported over the whole batch.
 */
STYLE_API style_status style_session_stylize_batch(style_session *session,
                                                   const style_image *inputs, style_image *outputs,
                                                   size_t count);

/* ---- Video: a stream of frames ---------------------------------------------------------- */

/**
 * A video session: a session (style_video_session) plus the state kept between the frames of
 * one stream. Stylizing every frame on its own makes a feed-forward network flicker: each
 * frame's instance norms use that frame's own statistics, which jump with small changes of
 * content. A video session can smooth those statistics over time instead: every instance norm
 * of the network normalizes with an exponential moving average of its per-channel mean and
 * variance,  smoothed(t) = w * smoothed(t - 1) + (1 - w) * measured(t),  w being
 * `norm_smoothing`. This works for any model with instance norms, with no retraining; the
 * average starts afresh at a cut (style_video_reset) and when the frame size changes.
 * It measured no flicker reduction on the bundled models: their flicker is local. The cure
 * that works is `temporal_blend`: each output is blended with the previous output warped
 * along the motion (the library's own estimate on the input frames), where the motion is
 * reliable; it costs some texture contrast on zooms and rotations, so it is opt-in too.
 * Measured flicker and style numbers: docs/video.md. The library reads no video files (the CLI
 * does, through FFmpeg); frames are style_image values.
 */
typedef struct style_video style_video;

/**
 * The default of style_video_settings.norm_smoothing (style_video_create with NULL settings):
 * 0, per-frame. Smoothing measured no flicker reduction on the bundled models (within +-1 %,
 * docs/video.md), so it is opt-in.
 */
#define STYLE_DEFAULT_NORM_SMOOTHING 0.0f

/**
 * The default of style_video_settings.temporal_blend (NULL settings, or settings whose
 * struct_size predates the field): see docs/video.md for what it measured.
 */
#define STYLE_DEFAULT_TEMPORAL_BLEND 0.0f

/**
 * Settings of a video session; zero-initialise, set struct_size = sizeof(it). All zero means
 * per-frame stylization (no smoothing).
 */
typedef struct style_video_settings {
    size_t struct_size;   /**< sizeof(style_video_settings), for future extension */
    float norm_smoothing; /**< w in [0, 1): weight of the past frames' instance-norm statistics;
                               0 = each frame on its own (bit for bit style_session_stylize) */
    float temporal_blend; /**< a in [0, 1): each output is blended with the previous output
                               warped along the motion, out = S + a * m * (warp(prev) - S),
                               where m (0..1) says how reliable the motion is there (the
                               library's own coarse-to-fine Lucas-Kanade estimate on the
                               input frames' luma, checked forward-backward, so uncovered
                               areas keep their own stylization); 0 = no blending.
                               Default STYLE_DEFAULT_TEMPORAL_BLEND (docs/video.md) */
} style_video_settings;

/**
 * Creates a video session on a model (the session holds a reference to it). `settings` NULL
 * means STYLE_DEFAULT_NORM_SMOOTHING (per-frame). Smoothing (w > 0) needs a model with instance
 * norms run whole-frame: an AdaIN or batch-norm model, or a frame that would run in bands (over the
 * memory budget), is refused with STYLE_ERR_UNSUPPORTED.
 */
STYLE_API style_status style_video_create(style_model *model, const style_video_settings *settings,
                                          style_video **out);

/**
 * The session the frames run in, owned by the video session: set its threads, precision,
 * memory budget, strength, preserve-colour, scale, style or callbacks there (the controls
 * apply to every frame as to an image). Valid until style_video_free.
 */
STYLE_API style_session *style_video_session(style_video *video);

/**
 * Stylizes the next frame of the stream (same rules as style_session_stylize for `frame` and
 * `output`, output->data NULL allocating it). With smoothing, the frame's instance norms use
 * the moving average of the statistics of this and the earlier frames since the last reset;
 * a frame of another size than the previous one starts the average afresh. On failure the
 * average is reset too (the stream can go on).
 */
STYLE_API style_status style_video_push_frame(style_video *video, const style_image *frame,
                                              style_image *output);

/** Forgets the past frames (a scene cut): the next frame is stylized with its own statistics. */
STYLE_API style_status style_video_reset(style_video *video);

/** Frames stylized since creation (failed ones not counted). */
STYLE_API uint64_t style_video_frame_count(const style_video *video);

/** Frees the video session and its session. NULL is a no-op. */
STYLE_API void style_video_free(style_video *video);

/* ---- Arbitrary style (AdaIN, Huang & Belongie) ----------------------------------------- */

/**
 * The statistics of a style for an AdaIN model (arch adain): the per-channel mean and standard
 * deviation of the style image's features at the model's encoder tap. Compute them once and
 * set them on any number of sessions of models with the same encoder (video, batches).
 */
typedef struct style_adain_style style_adain_style;

/**
 * Computes a style's statistics with the session's model (arch adain, else
 * STYLE_ERR_UNSUPPORTED). `style_size` > 0 resizes the image first so that its short side has
 * that many pixels (512 is the paper's); 0 uses it as it is. With alpha, transparent pixels
 * are not part of the style: the colour under alpha 0 is ignored (filled from the visible
 * pixels) and each feature position weighs by the mean alpha of the pixels it covers. Free
 * with style_adain_style_free.
 */
STYLE_API style_status style_adain_style_create(style_session *session, const style_image *image,
                                                int32_t style_size, style_adain_style **out);

/**
 * Blends styles: the result is AdaIN with sum_k w_k AdaIN_k (the weights are normalised to sum
 * to 1; `weights` NULL = equal), which is exact as a weighted mean of the statistics. All
 * styles must come from the same encoder.
 */
STYLE_API style_status style_adain_style_blend(const style_adain_style *const *styles,
                                               const float *weights, size_t count,
                                               style_adain_style **out);

/** The statistics (channels, mean[channels], std[channels]); the arrays belong to the style. */
STYLE_API style_status style_adain_style_get(const style_adain_style *style, int32_t *channels,
                                             const float **mean, const float **std);

/** Frees a style. NULL is a no-op. */
STYLE_API void style_adain_style_free(style_adain_style *style);

/**
 * Sets the style of an AdaIN session (copied: the caller may free `style`). A session of an
 * AdaIN model must have one before style_session_stylize.
 */
STYLE_API style_status style_session_set_adain_style(style_session *session,
                                                     const style_adain_style *style);

/* ---- Precision and performance ---------------------------------------------------------- */

/**
 * Arithmetic of a session's runs. Values are ABI: new ones are only appended.
 * Whatever the precision, instance norms, residual sums and the output are computed in f32.
 */
typedef enum style_precision {
    STYLE_PRECISION_AUTO = 0, /**< the fastest the processor runs natively and the model allows */
    STYLE_PRECISION_FP32 = 1, /**< single precision: the reference (the default) */
    STYLE_PRECISION_BF16 = 2, /**< bfloat16 convolutions with f32 accumulation (AVX-512 BF16) */
    STYLE_PRECISION_INT8 = 3  /**< 8-bit convolutions (AVX-512 VNNI) where they keep the image
                                   within 35 dB of fp32: s8 weights with a scale per output
                                   channel, u8/s8 activations with a step per tensor measured
                                   on each image; the convolutions that quantize badly (the
                                   stride-2 ones, those reading the residual stream, the output
                                   conv) run in bf16 (fp32 without AVX-512 BF16) */
} style_precision;

/** "auto", "fp32", "bf16", "int8" (a static string; "?" for an unknown value). */
STYLE_API const char *style_precision_name(style_precision precision);

/** Parses a name style_precision_name() returns. STYLE_ERR_INVALID_ARGUMENT otherwise. */
STYLE_API style_status style_precision_parse(const char *name, style_precision *out);

/**
 * 1 when this processor runs `precision` natively (fp32 and auto: always), else 0. It follows
 * oneDNN's view of the processor, so ONEDNN_MAX_CPU_ISA limits it too.
 */
STYLE_API int style_precision_supported(style_precision precision);

/**
 * Selects the precision of the session's runs (default STYLE_PRECISION_FP32). A precision the
 * processor does not run natively, or int8 for a model without instance norms (norm=batch),
 * is refused with STYLE_ERR_UNSUPPORTED (the session keeps its previous setting).
 * STYLE_PRECISION_AUTO picks the fastest one the processor supports and the model allows.
 */
STYLE_API style_status style_session_set_precision(style_session *session,
                                                   style_precision precision);

/** The precision runs actually use (the setting, with auto resolved). */
STYLE_API style_status style_session_get_precision(style_session *session,
                                                   style_precision *precision);

/**
 * Builds what a run on a width x height image needs (primitives, reordered weights,
 * activation buffers) without running, so that the first image costs no build time.
 * A session keeps the builds of its last few sizes (within its memory budget) and reuses them.
 */
STYLE_API style_status style_session_prepare(style_session *session, int32_t width, int32_t height);

/** What the session's current build is. Zero-initialise, set struct_size = sizeof(it) (a
 * struct_size that ends at layer_count, an older header's, is accepted too). */
typedef struct style_run_info {
    size_t struct_size;
    int32_t width, height;     /**< the size the network runs at (multiples of 4) */
    style_precision precision; /**< resolved */
    double flops;              /**< per image: 2 x multiply-adds of the model's convolutions */
    double build_ms;           /**< time it took to build: primitives, weight reorders and
                                    buffers (wall clock) */
    double buffers_ms;         /**< of build_ms: allocating and first-touching the activation
                                    buffers (page faults, in a VM the larger part) */
    uint64_t memory_bytes;     /**< activations, scratch and reordered weights */
    size_t layer_count;        /**< entries of style_session_get_profile */
    double executed_flops;     /**< per image: 2 x the multiply-adds the kernels execute (an
                                    upsampling convolution run as sub-pixel phases does 2.25x
                                    fewer than `flops` counts for it); filled when struct_size
                                    covers it */
} style_run_info;

/**
 * Fills *info for the current build; STYLE_ERR_INVALID_ARGUMENT when nothing is built yet. For
 * an AdaIN session: the build's size (with a tileable run's context), the encoder's and
 * decoder's FLOPs, its memory and the time of the last style_session_prepare that built it
 * (0 when a run built it); no per-layer profile (layer_count 0).
 */
STYLE_API style_status style_session_get_run_info(style_session *session, style_run_info *info);

/** One step of a run, as style_session_get_profile reports it. Strings belong to the session. */
typedef struct style_layer_profile {
    const char *name;    /**< "conv1", "in1", "res1.conv2", "deconv1.p0" (a sub-pixel phase) */
    const char *kind;    /**< "conv", "direct", "norm" (norm, ReLU, add, pad, conversions) */
    const char *impl;    /**< the kernel: oneDNN's name ("brgconv:avx512_core") or ours */
    double flops;        /**< nominal FLOPs attributed to this step (0 for non-convolutions) */
    double milliseconds; /**< total over the profiled runs */
} style_layer_profile;

/**
 * Turns per-step timing on (non-zero) or off for the session's runs; turning it on resets the
 * totals. Timing costs a clock read per step.
 */
STYLE_API style_status style_session_set_profiling(style_session *session, int enable);

/**
 * The per-step totals of the current build since profiling was turned on (or the build was
 * made), and the number of runs they cover. *layers stays valid until the next call on the
 * session.
 */
STYLE_API style_status style_session_get_profile(style_session *session,
                                                 const style_layer_profile **layers, size_t *count,
                                                 uint64_t *runs);

/**
 * The FLOPs each step of style_session_get_profile's list executes, in the same order
 * (*executed_flops[i] for layers[i]): a sub-pixel phase counts its own smaller kernel, any
 * other step its `flops`. A separate array so that style_layer_profile keeps its size (arrays
 * of it are read by programs built against older headers). Valid as the profile's list is.
 */
STYLE_API style_status style_session_get_profile_executed_flops(style_session *session,
                                                                const double **executed_flops,
                                                                size_t *count);

/**
 * johnson-cin models: the style later runs use (default: style 0). STYLE_ERR_INVALID_ARGUMENT
 * for an index out of range or a single-style model.
 */
STYLE_API style_status style_session_set_style(style_session *session, size_t index);

/**
 * johnson-cin models: runs use a blend of the styles, every instance norm's scale and shift
 * being the convex combination sum_s w_s * param[s] (Dumoulin et al.'s interpolation).
 * `weights` has one entry per style (count == style_model_style_count); each must be finite
 * and >= 0 and their sum > 0; they are divided by their sum, so (1, 3) means (0.25, 0.75).
 * STYLE_ERR_INVALID_ARGUMENT otherwise (the session keeps its previous style).
 */
STYLE_API style_status style_session_set_style_weights(style_session *session, const float *weights,
                                                       size_t count);

#ifdef __cplusplus
}
#endif

#endif /* LIBSTYLE_H */
