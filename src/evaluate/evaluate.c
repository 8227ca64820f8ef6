/*
 * style_evaluate: Johnson et al.'s evaluation protocol as a tool (docs/quality.md). A model's
 * outputs on held-out photos are scored under one frozen, versioned objective, against Gatys'
 * optimisation of the same photos (whose loss curves are cached by photo, style and
 * objective), with a colour distance to the style image and an artifact score; the results go
 * to a CSV and a JSON report and a contact sheet per photo. An arbitrary-style (AdaIN) model
 * is measured the same way on every (style, photo) pair of the style images the user names.
 */
#include "evaluate/evaluate_files.h"
#include "evaluate/evaluate_metrics.h"
#include "train/optimize.h"
#include "train/train_data.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The frozen definition STYLE_EVALUATION_DEFINITION: change any of these and it is a new
 * version (a new name), never a silent change. */
#define DEFINITION_SIZE 512
#define DEFINITION_CONTENT_WEIGHT 1.0
#define DEFINITION_STYLE_WEIGHT 20.0
#define DEFINITION_TV_WEIGHT 50.0
#define DEFINITION_GATYS_ITERATIONS 300
/* AdaIN models have no training style size: the style's short side is the one `libstyle
 * stylize --style-image` feeds the model by default (the paper's 512), so that the objective
 * sees the style as the model does. A rule for the new arch, not a change for johnson models. */
#define DEFINITION_ADAIN_STYLE_SIZE 512
#define EVALUATE_MAX_STYLES 4096

/* A style image the model is measured on. */
typedef struct evaluated_style {
    char path[EVALUATE_PATH_MAX];
    char sha256[SHA256_HEX_SIZE];
    color_stats colors;
} evaluated_style;

typedef struct evaluation {
    style_evaluate_options o;
    int32_t size, style_size;
    int64_t iterations;
    bool adain;
    char loss_net_path[EVALUATE_PATH_MAX];
    char model_sha256[SHA256_HEX_SIZE], loss_net_sha256[SHA256_HEX_SIZE];
    style_model *model;
    style_session *session;
    evaluated_style *styles;
    size_t style_count;
    photo_set photos;
    style_evaluate_photo *results; /* [style * photos + photo] */
    size_t done;                   /* results measured, in that order */
    style_evaluate_summary *style_summaries;
} evaluation;

static void log_info(const evaluation *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_info(const evaluation *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    style__log_v(e->o.log, e->o.log_user, STYLE_LOG_INFO, fmt, ap);
    va_end(ap);
}

static int report_progress(const evaluation *e, size_t style, size_t photo, const char *stage,
                           int64_t iteration, const style_evaluate_photo *result)
{
    if (!e->o.progress) return 0;
    style_evaluate_progress p = {.photo = photo,
                                 .photos = e->photos.count,
                                 .name = style__basename(e->photos.paths[photo]),
                                 .stage = stage,
                                 .iteration = iteration,
                                 .iterations = e->iterations,
                                 .result = result,
                                 .style = style,
                                 .styles = e->style_count,
                                 .style_image = style__basename(e->styles[style].path),
                                 .style_summary =
                                     e->style_summaries ? &e->style_summaries[style] : NULL};
    return e->o.progress(e->o.progress_user, &p);
}

/* ---- Set-up: options, the model, its files ---------------------------------------------- */

/* mkdir -p. */
static style_status make_dir(const char *path)
{
    char partial[EVALUATE_PATH_MAX];
    if (strlen(path) >= sizeof partial)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "%s: path too long", path);
    snprintf(partial, sizeof partial, "%s", path);
    for (char *slash = strchr(partial + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash) *slash = '\0';
        if (partial[0] && mkdir(partial, 0777) != 0 && errno != EEXIST)
            return style__fail(STYLE_ERR_IO, "cannot create directory %s: %s", partial,
                               strerror(errno));
        if (!slash) break;
        *slash = '/';
    }
    return STYLE_OK;
}

static bool has_style_option(const style_evaluate_options *o)
{
    return (o->style_image && *o->style_image) || o->style_image_count || o->styles_dir;
}

static style_status push_style(evaluation *e, const char *path, const char *sha256)
{
    style_status status = STYLE_OK;
    FAIL_IF(!path || !*path, STYLE_ERR_INVALID_ARGUMENT, "evaluate: an empty style image path");
    FAIL_IF(e->style_count == EVALUATE_MAX_STYLES, STYLE_ERR_INVALID_ARGUMENT,
            "evaluate: more than %d style images", EVALUATE_MAX_STYLES);
    FAIL_IF(strlen(path) >= EVALUATE_PATH_MAX, STYLE_ERR_INVALID_ARGUMENT,
            "evaluate: %s: path too long", path);
    evaluated_style *grown = style__realloc(e->styles, (e->style_count + 1) * sizeof *grown);
    FAIL_IF(!grown, STYLE_ERR_NOMEM, "evaluate: out of memory");
    e->styles = grown;
    evaluated_style *style = &e->styles[e->style_count++];
    memset(style, 0, sizeof *style);
    snprintf(style->path, sizeof style->path, "%s", path);
    if (sha256) snprintf(style->sha256, sizeof style->sha256, "%s", sha256);
fail:
    return status;
}

/* Rows and sheets are named by the style's file name: two of one name would be confused. */
static style_status check_style_names(const evaluation *e)
{
    for (size_t i = 0; i < e->style_count; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(style__basename(e->styles[i].path), style__basename(e->styles[j].path)) == 0)
                return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                                   "evaluate: two style images named %s (%s and %s): the "
                                   "reports and contact sheets name styles by file name",
                                   style__basename(e->styles[i].path), e->styles[j].path,
                                   e->styles[i].path);
    return STYLE_OK;
}

/*
 * The style images: a johnson model's own (given, or found by its provenance); an AdaIN
 * model's, as the options name them (style_image, style_images, then styles_dir / style_list).
 */
static style_status collect_styles(evaluation *e, const training_provenance *recorded)
{
    style_status status = STYLE_OK;
    photo_set listed = {0};
    const style_evaluate_options *o = &e->o;
    if (o->style_image && *o->style_image) TRY(push_style(e, o->style_image, NULL));
    for (size_t i = 0; i < o->style_image_count; i++)
        TRY(push_style(e, o->style_images ? o->style_images[i] : NULL, NULL));
    if (e->adain) {
        if (o->styles_dir && *o->styles_dir) {
            /* The style folder is read as the photo folder is: sorted, or in the list's order,
             * each listed file checked against its hash. */
            TRY(photo_set_open(&listed, o->styles_dir, o->style_list, 0, o->log, o->log_user));
            for (size_t i = 0; i < listed.count; i++)
                TRY(push_style(e, listed.paths[i], listed.sha256[i]));
        } else {
            FAIL_IF(o->style_list, STYLE_ERR_INVALID_ARGUMENT,
                    "evaluate: a style list (--style-list) needs the folder holding its images "
                    "(--styles DIR)");
        }
        FAIL_IF(e->style_count == 0, STYLE_ERR_INVALID_ARGUMENT,
                "evaluate: %s is an arbitrary-style (adain) model: name the styles to measure "
                "it on with --style-image IMG (repeatable), or --styles DIR [--style-list "
                "LIST] (e.g. the held-out styles: --styles DIR --style-list "
                "models/heldout-styles.sha256)",
                o->model);
        TRY(check_style_names(e));
        goto fail;
    }
    FAIL_IF(e->style_count > 1 || (o->styles_dir && *o->styles_dir) || o->style_list,
            STYLE_ERR_INVALID_ARGUMENT,
            "evaluate: %s is a single-style (johnson) model: it is measured on the style it was "
            "trained with; give at most one --style-image, and no --styles or --style-list "
            "(those are for arbitrary-style (adain) models)",
            o->model);
    if (e->style_count == 0) {
        char path[EVALUATE_PATH_MAX];
        TRY(find_recorded_file(o->search_dirs, o->search_dir_count, &recorded->style_image,
                               "style image", "--style-image", path));
        TRY(push_style(e, path, NULL));
    }
fail:
    photo_set_close(&listed);
    return status;
}

static style_status set_up(evaluation *e)
{
    style_status status = STYLE_OK;
    const style_evaluate_options *o = &e->o;
    FAIL_IF(!o->model || !*o->model, STYLE_ERR_INVALID_ARGUMENT, "evaluate: no model given");
    FAIL_IF(o->style_image_count && !o->style_images, STYLE_ERR_INVALID_ARGUMENT,
            "evaluate: style_image_count %zu with no style_images", o->style_image_count);
    FAIL_IF(!o->photos_dir || !*o->photos_dir, STYLE_ERR_INVALID_ARGUMENT,
            "evaluate: no photo folder given");
    FAIL_IF(o->size < 0 || o->size > 16384 || o->style_size < 0 || o->style_size > 16384 ||
                o->gatys_iterations < 0 || o->gatys_iterations > 100000,
            STYLE_ERR_INVALID_ARGUMENT, "evaluate: size, style size or iterations out of range");
    e->size = o->size ? o->size : DEFINITION_SIZE;
    e->iterations = o->gatys_iterations ? o->gatys_iterations : DEFINITION_GATYS_ITERATIONS;

    TRY(style_model_load(o->model, NULL, &e->model));
    const char *arch = style_model_metadata_get(e->model, "libstyle.arch");
    e->adain = arch && strcmp(arch, "adain") == 0;
    FAIL_IF(!arch || (strcmp(arch, "johnson") != 0 && !e->adain), STYLE_ERR_UNSUPPORTED,
            "evaluate: %s: arch %s: only single-style (johnson) and arbitrary-style (adain) "
            "models are evaluated",
            o->model, arch ? arch : "(none)");
    TRY(file_sha256(o->model, e->model_sha256));
    training_provenance recorded;
    status = training_provenance_parse(style_model_metadata_get(e->model, "libstyle.training"),
                                       &recorded);
    if (status != STYLE_OK) {
        style__prefix_error(o->model);
        goto fail;
    }
    TRY(collect_styles(e, &recorded));
    if (o->loss_net && *o->loss_net)
        snprintf(e->loss_net_path, sizeof e->loss_net_path, "%s", o->loss_net);
    else
        TRY(find_recorded_file(o->search_dirs, o->search_dir_count, &recorded.loss_net,
                               "loss network", "--loss-net", e->loss_net_path));
    TRY(file_sha256(e->loss_net_path, e->loss_net_sha256));
    if (!e->adain && !has_style_option(o) && !recorded.style_image.sha256[0])
        log_info(e, "%s records no SHA-256 of its style image: %s matched by name only", o->model,
                 e->styles[0].path);
    if (!o->loss_net && !recorded.loss_net.sha256[0])
        log_info(e, "%s records no SHA-256 of its loss network: %s matched by name only", o->model,
                 e->loss_net_path);
    if (o->style_size)
        e->style_size = o->style_size;
    else
        e->style_size = e->adain ? DEFINITION_ADAIN_STYLE_SIZE : recorded.style_size;
    for (size_t s = 0; s < e->style_count; s++) {
        evaluated_style *style = &e->styles[s];
        if (!style->sha256[0]) TRY(file_sha256(style->path, style->sha256));
        log_info(e, "model %s, style image %s, loss network %s, style size %d%s", o->model,
                 style->path, e->loss_net_path, e->style_size,
                 e->style_size ? "" : " (unrecorded: the result's short side)");
        float *rgb = NULL;
        int32_t sw = 0, sh = 0;
        TRY(train_load_rgb(style->path, 0, &rgb, &sw, &sh));
        color_stats_of(rgb, (size_t)sw * sh, &style->colors);
        style__free(rgb);
    }

    TRY(photo_set_open(&e->photos, o->photos_dir, o->photo_list, o->max_photos, o->log,
                       o->log_user));
    FAIL_IF(e->photos.count > SIZE_MAX / sizeof *e->results / e->style_count, STYLE_ERR_NOMEM,
            "evaluate: out of memory");
    e->results = style__calloc(e->photos.count * e->style_count, sizeof *e->results);
    FAIL_IF(!e->results, STYLE_ERR_NOMEM, "evaluate: out of memory");
    if (e->adain) {
        e->style_summaries = style__calloc(e->style_count, sizeof *e->style_summaries);
        FAIL_IF(!e->style_summaries, STYLE_ERR_NOMEM, "evaluate: out of memory");
    }
    TRY(style_session_create(e->model, &e->session));
    if (o->threads > 0) TRY(style_session_set_threads(e->session, o->threads));
    if (o->cache_dir) TRY(make_dir(o->cache_dir));
    if (o->out_dir) {
        char sheets[EVALUATE_PATH_MAX];
        TRY(make_dir(o->out_dir));
        snprintf(sheets, sizeof sheets, "%s/sheets", o->out_dir);
        TRY(make_dir(sheets));
    }
fail:
    return status;
}

/* ---- The Gatys reference, cached ---------------------------------------------------------- */

typedef struct gatys_curve {
    double *total; /* [0]: the photo; [i]: after iteration i */
    size_t count, capacity;
    const evaluation *e;
    size_t style, photo;
    bool cancelled;
} gatys_curve;

static bool curve_push(gatys_curve *c, double total)
{
    if (c->count == c->capacity) {
        size_t grown = c->capacity ? 2 * c->capacity : 512;
        double *t = style__realloc(c->total, grown * sizeof *t);
        if (!t) return false;
        c->total = t;
        c->capacity = grown;
    }
    c->total[c->count++] = total;
    return true;
}

static int on_gatys_iteration(void *user, const style_optimize_stats *st)
{
    gatys_curve *c = user;
    if (!curve_push(c, st->total_loss)) return 1;
    if (report_progress(c->e, c->style, c->photo, "gatys", st->iteration, NULL))
        c->cancelled = true;
    return c->cancelled;
}

/* The cache key: the definition, the photo, the style and the objective's settings (not the
 * model: a curve is Gatys' on that photo and style, whichever model is compared with it). */
static style_status cache_key(const evaluation *e, size_t style, size_t photo,
                              char key[SHA256_HEX_SIZE])
{
    char text[1024];
    int n = snprintf(text, sizeof text,
                     "%s\nphoto %s\nstyle %s\nstyle_size %d\nloss_net %s\nsize %d\n"
                     "weights %g %g %g\ngatys lbfgs history 10 init content iterations %lld\n",
                     STYLE_EVALUATION_DEFINITION, e->photos.sha256[photo], e->styles[style].sha256,
                     e->style_size, e->loss_net_sha256, e->size, DEFINITION_CONTENT_WEIGHT,
                     DEFINITION_STYLE_WEIGHT, DEFINITION_TV_WEIGHT, (long long)e->iterations);
    return bytes_sha256(text, (size_t)n, key);
}

/* Reads a cached curve (the CSV `libstyle optimize --log-csv` writes: the total is column 6
 * of rows "iteration,evaluations,content,style,tv,total,seconds"). False when absent or
 * unusable (the run is then made again). */
static bool read_cached_curve(const char *path, gatys_curve *c, int64_t iterations)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[512];
    bool ok = fgets(line, sizeof line, f) && strncmp(line, "iteration,", 10) == 0;
    int64_t expected = 1;
    while (ok && fgets(line, sizeof line, f)) {
        long long iteration, evaluations;
        double content, style, tv, total, seconds;
        if (sscanf(line, "%lld,%lld,%lf,%lf,%lf,%lf,%lf", &iteration, &evaluations, &content,
                   &style, &tv, &total, &seconds) != 7 ||
            iteration != expected || !isfinite(total) || !curve_push(c, total))
            ok = false;
        expected++;
    }
    fclose(f);
    /* An L-BFGS run may converge before the planned count, never run past it. */
    return ok && c->count >= 2 && (int64_t)c->count - 1 <= iterations;
}

static style_status write_curve(const char *path, const gatys_curve *c)
{
    style_status status = STYLE_OK;
    size_t capacity = 64 + c->count * 64, used = 0;
    char *text = style__malloc(capacity);
    FAIL_IF(!text, STYLE_ERR_NOMEM, "evaluate: out of memory");
    used +=
        (size_t)snprintf(text, capacity, "iteration,evaluations,content,style,tv,total,seconds\n");
    for (size_t i = 1; i < c->count; i++)
        used +=
            (size_t)snprintf(text + used, capacity - used, "%zu,0,0,0,0,%.17g,0\n", i, c->total[i]);
    TRY(style__write_file_atomic(path, text, used));
fail:
    style__free(text);
    return status;
}

/* Rounds to 8-bit values, as a PNG keeps them, so that a cached result measures the same. */
static void quantize(float *rgb, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        float v = rgb[i] < 0 ? 0 : rgb[i] > 255 ? 255 : rgb[i];
        rgb[i] = roundf(v);
    }
}

/* The Gatys curve (photo loss first) and result of one photo and style: from the cache, or
 * run. */
static style_status gatys_reference(evaluation *e, size_t style, size_t photo,
                                    const optimize_problem *p, double photo_total,
                                    gatys_curve *curve, float **result, bool *cached)
{
    style_status status = STYLE_OK;
    style_image image = {0};
    char key[SHA256_HEX_SIZE], csv[EVALUATE_PATH_MAX], png[EVALUATE_PATH_MAX];
    int32_t w = 0, h = 0;
    *cached = false;
    FAIL_IF(!curve_push(curve, photo_total), STYLE_ERR_NOMEM, "evaluate: out of memory");
    if (e->o.cache_dir) {
        TRY(cache_key(e, style, photo, key));
        snprintf(csv, sizeof csv, "%s/%s.csv", e->o.cache_dir, key);
        snprintf(png, sizeof png, "%s/%s.png", e->o.cache_dir, key);
        if (read_cached_curve(csv, curve, e->iterations) &&
            train_load_rgb(png, 0, result, &w, &h) == STYLE_OK && w == p->width && h == p->height) {
            *cached = true;
            report_progress(e, style, photo, "gatys-cached", 0, NULL);
            return STYLE_OK;
        }
        style__free(*result);
        *result = NULL;
        curve->count = 1;
        log_info(e, "%s%s%s: no usable cached Gatys curve (%s): running it",
                 e->adain ? style__basename(e->styles[style].path) : "", e->adain ? ": " : "",
                 style__basename(e->photos.paths[photo]), csv);
    }
    const char *styles[1] = {e->styles[style].path};
    style_optimize_options o = {.struct_size = sizeof o,
                                .content_image = e->photos.paths[photo],
                                .style_images = styles,
                                .style_count = 1,
                                .loss_net = e->loss_net_path,
                                .result = &image,
                                .size = e->size,
                                .style_size = e->style_size,
                                .iterations = e->iterations,
                                .content_weight = DEFINITION_CONTENT_WEIGHT,
                                .style_weight = DEFINITION_STYLE_WEIGHT,
                                .tv_weight = DEFINITION_TV_WEIGHT,
                                .threads = e->o.threads,
                                .progress = on_gatys_iteration,
                                .progress_user = curve};
    curve->e = e;
    curve->style = style;
    curve->photo = photo;
    status = style_optimize(&o);
    if (curve->cancelled)
        status = style__fail(STYLE_ERR_CANCELLED, "evaluate: stopped during Gatys' run on %s",
                             e->photos.paths[photo]);
    TRY(status);
    FAIL_IF(image.width != p->width || image.height != p->height, STYLE_ERR_INTERNAL,
            "evaluate: Gatys' result is %dx%d, the problem %dx%d", image.width, image.height,
            p->width, p->height);
    const size_t count = (size_t)image.width * image.height * 3;
    *result = style__malloc(count * sizeof(float));
    FAIL_IF(!*result, STYLE_ERR_NOMEM, "evaluate: out of memory");
    memcpy(*result, image.data, count * sizeof(float));
    quantize(*result, count);
    if (e->o.cache_dir) {
        TRY(style_image_save(png, &image, 0));
        TRY(write_curve(csv, curve));
    }
fail:
    style_image_release(&image);
    return status;
}

/* ---- One photo ---------------------------------------------------------------------------- */

static style_status stylize_photo(evaluation *e, const optimize_problem *p, float **out)
{
    style_status status = STYLE_OK;
    style_image in = {.width = p->width,
                      .height = p->height,
                      .channels = 3,
                      .sample_type = STYLE_SAMPLE_F32,
                      .data = p->content_rgb};
    style_image result = {0};
    TRY(style_session_stylize(e->session, &in, &result));
    const size_t count = (size_t)p->width * p->height * 3;
    *out = style__malloc(count * sizeof(float));
    FAIL_IF(!*out, STYLE_ERR_NOMEM, "evaluate: out of memory");
    memcpy(*out, result.data, count * sizeof(float));
    quantize(*out, count);
fail:
    style_image_release(&result);
    return status;
}

/* A file's base name without its extension. */
static void stem_of(const char *path, char out[EVALUATE_PATH_MAX])
{
    snprintf(out, EVALUATE_PATH_MAX, "%s", style__basename(path));
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
}

/* An AdaIN model's style for the next photos: the image at the definition's style size, as
 * `libstyle stylize --style-image` gives it to the model. */
static style_status set_adain_style(evaluation *e, size_t style)
{
    style_status status = STYLE_OK;
    style_image image = {0};
    style_adain_style *statistics = NULL;
    TRY(style_image_load(e->styles[style].path, 0, &image));
    TRY(style_adain_style_create(e->session, &image, e->style_size, &statistics));
    TRY(style_session_set_adain_style(e->session, statistics));
fail:
    if (status != STYLE_OK && !strstr(style_last_error(), e->styles[style].path))
        style__prefix_error(e->styles[style].path);
    style_adain_style_free(statistics);
    style_image_release(&image);
    return status;
}

/* sheets/PHOTO.png; for an AdaIN model sheets/STYLE/PHOTO.png. */
static style_status write_sheet(const evaluation *e, size_t style, size_t photo,
                                const optimize_problem *p, const float *model, const float *gatys)
{
    style_status status = STYLE_OK;
    style_image sheet = {0};
    char path[3 * EVALUATE_PATH_MAX + 16], name[EVALUATE_PATH_MAX], folder[EVALUATE_PATH_MAX];
    const int32_t w = p->width, h = p->height;
    TRY(style_image_alloc(&sheet, 3 * w, h, 3, STYLE_SAMPLE_F32));
    float *dst = sheet.data;
    const float *panels[3] = {p->content_rgb, model, gatys};
    for (int32_t y = 0; y < h; y++)
        for (int k = 0; k < 3; k++)
            memcpy(dst + ((size_t)y * 3 * w + (size_t)k * w) * 3, panels[k] + (size_t)y * w * 3,
                   (size_t)w * 3 * sizeof(float));
    stem_of(e->photos.paths[photo], name);
    if (e->adain) {
        stem_of(e->styles[style].path, folder);
        snprintf(path, sizeof path, "%s/sheets/%s", e->o.out_dir, folder);
        TRY(make_dir(path));
        snprintf(path, sizeof path, "%s/sheets/%s/%s.png", e->o.out_dir, folder, name);
    } else {
        snprintf(path, sizeof path, "%s/sheets/%s.png", e->o.out_dir, name);
    }
    TRY(style_image_save(path, &sheet, 0));
fail:
    style_image_release(&sheet);
    return status;
}

static style_status evaluate_photo(evaluation *e, size_t style, size_t photo)
{
    style_status status = STYLE_OK;
    optimize_problem p = {0};
    gatys_curve curve = {0};
    float *model = NULL, *gatys = NULL, *grad = NULL;
    const char *path = e->photos.paths[photo];
    const evaluated_style *s = &e->styles[style];
    const char *styles[1] = {s->path};
    const double blend[1] = {1.0};
    style_evaluate_photo *r = &e->results[style * e->photos.count + photo];
    r->name = style__basename(path);
    r->style_image = style__basename(s->path);
    FAIL_IF(report_progress(e, style, photo, "model", 0, NULL), STYLE_ERR_CANCELLED,
            "evaluate: stopped before %s", path);
    TRY(optimize_problem_create(&p, e->loss_net_path, path, e->size, styles, blend, 1,
                                e->style_size, NULL, NULL, DEFINITION_CONTENT_WEIGHT,
                                DEFINITION_STYLE_WEIGHT, DEFINITION_TV_WEIGHT, NULL, NULL));
    const size_t pixels = (size_t)p.width * p.height;
    grad = style__aligned_alloc(pixels * 3 * sizeof(float));
    FAIL_IF(!grad, STYLE_ERR_NOMEM, "evaluate: out of memory");
    double f = 0, aux[OPT_AUX] = {0};
    TRY(optimize_evaluate(&p, p.content_rgb, grad, &f, aux));
    r->photo_total = f;
    TRY(stylize_photo(e, &p, &model));
    TRY(optimize_evaluate(&p, model, grad, &f, aux));
    r->content = aux[0], r->style = aux[1], r->tv = aux[2], r->total = f;

    bool cached = false;
    TRY(gatys_reference(e, style, photo, &p, r->photo_total, &curve, &gatys, &cached));
    r->gatys_cached = cached;
    r->gatys_iterations = (int64_t)curve.count - 1;
    r->gatys_total = curve.total[curve.count - 1];
    bool beyond = false;
    r->gatys_equivalent = gatys_equivalent_iterations(curve.total, curve.count, r->total, &beyond);
    r->gatys_beyond = beyond;

    color_stats colors;
    color_stats_of(model, pixels, &colors);
    r->color_model = color_distance(&colors, &s->colors);
    color_stats_of(p.content_rgb, pixels, &colors);
    r->color_photo = color_distance(&colors, &s->colors);
    color_stats_of(gatys, pixels, &colors);
    r->color_gatys = color_distance(&colors, &s->colors);
    TRY(artifact_peak_fraction(model, p.width, p.height, &r->peaks_model));
    TRY(artifact_peak_fraction(gatys, p.width, p.height, &r->peaks_gatys));
    r->artifact_score = artifact_score(r->peaks_model, r->peaks_gatys);
    if (e->o.out_dir) TRY(write_sheet(e, style, photo, &p, model, gatys));
    e->done = style * e->photos.count + photo + 1;
    FAIL_IF(report_progress(e, style, photo, "done", 0, r), STYLE_ERR_CANCELLED,
            "evaluate: stopped after %s", path);
fail:
    if (status != STYLE_OK && status != STYLE_ERR_CANCELLED && !strstr(style_last_error(), path)) {
        if (e->adain) {
            char subject[2 * EVALUATE_PATH_MAX + 16];
            snprintf(subject, sizeof subject, "%s with style %s", path, s->path);
            style__prefix_error(subject);
        } else {
            style__prefix_error(path);
        }
    }
    optimize_problem_destroy(&p);
    style__free(curve.total);
    style__free(model);
    style__free(gatys);
    style__aligned_free(grad);
    return status;
}

/* ---- Summary and reports ------------------------------------------------------------------ */

/* Medians over results [first, first + n). */
static style_status summarize(const evaluation *e, size_t first, size_t n,
                              style_evaluate_summary *s)
{
    double *values = style__calloc(n ? n : 1, sizeof *values);
    if (!values) return style__fail(STYLE_ERR_NOMEM, "evaluate: out of memory");
    const style_evaluate_photo *results = e->results + first;
    memset(s, 0, sizeof *s);
    s->photos = n;
    s->gatys_iterations = e->iterations;
    for (size_t i = 0; i < n; i++)
        values[i] =
            results[i].gatys_total > 0 ? results[i].total / results[i].gatys_total : INFINITY;
    s->total_ratio = median_of(values, n);
    for (size_t i = 0; i < n; i++)
        values[i] = results[i].gatys_beyond ? INFINITY : results[i].gatys_equivalent;
    s->gatys_equivalent = median_of(values, n);
    if (isinf(s->gatys_equivalent)) {
        s->gatys_beyond = 1;
        s->gatys_equivalent = (double)e->iterations;
    }
    for (size_t i = 0; i < n; i++)
        values[i] = results[i].color_model;
    s->color_model = median_of(values, n);
    for (size_t i = 0; i < n; i++)
        values[i] = results[i].color_photo;
    s->color_photo = median_of(values, n);
    for (size_t i = 0; i < n; i++)
        values[i] = results[i].artifact_score;
    s->artifact_score = median_of(values, n);
    style__free(values);
    return STYLE_OK;
}

static void format_equivalent(char *out, size_t size, double value, int beyond, int64_t n)
{
    if (beyond)
        snprintf(out, size, ">%lld", (long long)n);
    else
        snprintf(out, size, "%.1f", value);
}

static style_status write_csv(const evaluation *e)
{
    style_status status = STYLE_OK;
    char path[EVALUATE_PATH_MAX], *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    FAIL_IF(!f, STYLE_ERR_NOMEM, "evaluate: out of memory");
    fprintf(f, "photo,style_image,content,style,tv,total,photo_total,gatys_total,total_ratio,"
               "gatys_equivalent,color_model,color_photo,color_gatys,peaks_model,peaks_gatys,"
               "artifact_score\n");
    for (size_t i = 0; i < e->done; i++) {
        const style_evaluate_photo *r = &e->results[i];
        char equivalent[32];
        format_equivalent(equivalent, sizeof equivalent, r->gatys_equivalent, r->gatys_beyond,
                          r->gatys_iterations);
        fprintf(f, "%s,%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.4f,%s,%.3f,%.3f,%.3f,%.6g,%.6g,%.4f\n",
                r->name, r->style_image, r->content, r->style, r->tv, r->total, r->photo_total,
                r->gatys_total, r->total / r->gatys_total, equivalent, r->color_model,
                r->color_photo, r->color_gatys, r->peaks_model, r->peaks_gatys, r->artifact_score);
    }
    int closed = fclose(f);
    f = NULL;
    FAIL_IF(closed != 0, STYLE_ERR_NOMEM, "evaluate: out of memory");
    snprintf(path, sizeof path, "%s/report.csv", e->o.out_dir);
    TRY(style__write_file_atomic(path, text, size));
fail:
    if (f) fclose(f);
    free(text);
    return status;
}

static json_t *file_json(const char *path, const char *sha256)
{
    return json_pack("{s:s, s:s}", "name", style__basename(path), "sha256", sha256);
}

static json_t *summary_json(const style_evaluate_summary *s)
{
    return json_pack("{s:I, s:f, s:f, s:b, s:I, s:f, s:f, s:f}", "photos", (json_int_t)s->photos,
                     "total_ratio", s->total_ratio, "gatys_equivalent", s->gatys_equivalent,
                     "gatys_beyond", s->gatys_beyond, "gatys_iterations",
                     (json_int_t)s->gatys_iterations, "color_model", s->color_model, "color_photo",
                     s->color_photo, "artifact_score", s->artifact_score);
}

/* Every style with its SHA-256 (and for an AdaIN model its medians). */
static json_t *styles_json(const evaluation *e)
{
    json_t *styles = json_array();
    for (size_t i = 0; styles && i < e->style_count; i++) {
        json_t *style = file_json(e->styles[i].path, e->styles[i].sha256);
        if (style && e->style_summaries)
            json_object_set_new(style, "summary", summary_json(&e->style_summaries[i]));
        if (!style || json_array_append_new(styles, style) != 0) {
            json_decref(styles);
            return NULL;
        }
    }
    return styles;
}

static style_status write_json(const evaluation *e, const style_evaluate_summary *s)
{
    style_status status = STYLE_OK;
    char path[EVALUATE_PATH_MAX], *text = NULL;
    json_t *photos = json_array();
    for (size_t i = 0; i < e->done; i++) {
        const style_evaluate_photo *r = &e->results[i];
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:f, s:b, s:f, s:f, s:f, s:f, "
            "s:f, s:f, s:b}",
            "photo", r->name, "sha256", e->photos.sha256[i % e->photos.count], "style_image",
            r->style_image, "content", r->content, "style", r->style, "tv", r->tv, "total",
            r->total, "photo_total", r->photo_total, "gatys_total", r->gatys_total,
            "gatys_iterations", (json_int_t)r->gatys_iterations, "gatys_equivalent",
            r->gatys_equivalent, "gatys_beyond", r->gatys_beyond, "color_model", r->color_model,
            "color_photo", r->color_photo, "color_gatys", r->color_gatys, "peaks_model",
            r->peaks_model, "peaks_gatys", r->peaks_gatys, "artifact_score", r->artifact_score,
            "gatys_cached", r->gatys_cached);
        json_array_append_new(photos, o);
    }
    const bool overridden = e->o.size || e->o.gatys_iterations || e->o.style_size;
    /* style_image: the one style of a johnson model (as before AdaIN evaluation); styles: all
     * of them, an AdaIN model's with their medians. */
    json_t *root = json_pack(
        "{s:s, s:b, s:{s:s, s:s, s:s}, s:o, s:o, s:{s:i, s:i, s:f, s:f, s:f, s:s, s:I}, s:o, "
        "s:o}",
        "definition", STYLE_EVALUATION_DEFINITION, "overridden", overridden, "model", "name",
        style__basename(e->o.model), "sha256", e->model_sha256, "arch",
        e->adain ? "adain" : "johnson", "styles", styles_json(e), "loss_net",
        file_json(e->loss_net_path, e->loss_net_sha256), "objective", "size", e->size, "style_size",
        e->style_size, "content_weight", DEFINITION_CONTENT_WEIGHT, "style_weight",
        DEFINITION_STYLE_WEIGHT, "tv_weight", DEFINITION_TV_WEIGHT, "gatys",
        "lbfgs history 10, strong Wolfe, from the photo", "gatys_iterations",
        (json_int_t)e->iterations, "photos", photos, "summary", summary_json(s));
    photos = NULL; /* owned by root now (or freed with the failed pack) */
    FAIL_IF(!root, STYLE_ERR_NOMEM, "evaluate: cannot build the JSON report");
    if (!e->adain)
        FAIL_IF(json_object_set_new(root, "style_image",
                                    file_json(e->styles[0].path, e->styles[0].sha256)) != 0,
                STYLE_ERR_NOMEM, "evaluate: cannot build the JSON report");
    text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
    FAIL_IF(!text, STYLE_ERR_NOMEM, "evaluate: out of memory");
    snprintf(path, sizeof path, "%s/report.json", e->o.out_dir);
    TRY(style__write_file_atomic(path, text, strlen(text)));
fail:
    json_decref(root);
    free(text);
    return status;
}

style_status style_evaluate(const style_evaluate_options *options, style_evaluate_summary *summary)
{
    style_status status = STYLE_OK;
    evaluation e = {0};
    const int previous_threads = omp_get_max_threads();
    if (!options || options->struct_size < sizeof(size_t) || !summary)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "evaluate: NULL argument");
    memset(summary, 0, sizeof *summary);
    memcpy(&e.o, options, options->struct_size < sizeof e.o ? options->struct_size : sizeof e.o);
    if (e.o.threads > 0) omp_set_num_threads(e.o.threads);
    TRY(set_up(&e));
    for (size_t s = 0; s < e.style_count; s++) {
        if (e.adain) TRY(set_adain_style(&e, s));
        for (size_t i = 0; i < e.photos.count; i++)
            TRY(evaluate_photo(&e, s, i));
        if (e.adain && e.photos.count) {
            TRY(summarize(&e, s * e.photos.count, e.photos.count, &e.style_summaries[s]));
            FAIL_IF(report_progress(&e, s, e.photos.count - 1, "style-done", 0, NULL),
                    STYLE_ERR_CANCELLED, "evaluate: stopped after style %s", e.styles[s].path);
        }
    }
    TRY(summarize(&e, 0, e.done, summary));
    if (e.o.out_dir) {
        TRY(write_csv(&e));
        TRY(write_json(&e, summary));
    }
fail:
    photo_set_close(&e.photos);
    style__free(e.results);
    style__free(e.styles);
    style__free(e.style_summaries);
    style_session_free(e.session);
    style_model_free(e.model);
    omp_set_num_threads(previous_threads);
    return status;
}
