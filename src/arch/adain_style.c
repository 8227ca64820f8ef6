/*
 * AdaIN styles (adain_style.h): made from a style image by a session's encoder
 * (style_adain_style_create), checked against and copied into sessions, blended, read and
 * freed: the public style_adain_style_* functions of include/libstyle.h.
 */
#include "arch/adain_network.h"
#include "arch/adain_style.h"
#include "arch/adain_session.h"
#include "arch/arch.h"
#include "image/alpha_fill.h"
#include "image/pixels.h"
#include "session/session.h"
#include "image/resize.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

static style_adain_style *style_alloc(int32_t channels)
{
    style_adain_style *s = style__calloc(1, sizeof *s);
    if (!s) return NULL;
    s->channels = channels;
    s->mean = style__calloc((size_t)channels, sizeof(float));
    s->std = style__calloc((size_t)channels, sizeof(float));
    if (!s->mean || !s->std) {
        style_adain_style_free(s);
        return NULL;
    }
    return s;
}

void style_adain_style_free(style_adain_style *style)
{
    if (!style) return;
    style__free(style->mean);
    style__free(style->std);
    style__free(style);
}

/*
 * The weight of each of the rows x cols feature positions of a style image with transparent
 * pixels: the mean alpha (0..1) of the image pixels it covers (the positions tile the image,
 * at whatever size it was resized to, in proportion). NULL without memory.
 */
static float *alpha_weights(const style_image *image, int32_t rows, int32_t cols)
{
    float *weights = style__calloc((size_t)rows * cols, sizeof *weights);
    float *counts = style__calloc((size_t)rows * cols, sizeof *counts);
    if (!weights || !counts) {
        style__free(weights), style__free(counts);
        return NULL;
    }
    const size_t stride = style__image_stride(image);
    for (int32_t y = 0; y < image->height; y++) {
        const unsigned char *row = (const unsigned char *)image->data + (size_t)y * stride;
        const size_t fy = (size_t)((int64_t)y * rows / image->height);
        for (int32_t x = 0; x < image->width; x++) {
            const size_t at = fy * cols + (size_t)((int64_t)x * cols / image->width);
            weights[at] += pixels_read_sample(row, x * 4 + 3, image->sample_type) / 255.0f;
            counts[at] += 1.0f;
        }
    }
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        weights[i] = counts[i] > 0 ? weights[i] / counts[i] : 0.0f;
    style__free(counts);
    return weights;
}

style_status adain_style_compute(const adain_model *m, dnn_context *dnn, const style_image *image,
                                 int32_t style_size, uint64_t budget, style_adain_style **out)
{
    style_status status = STYLE_OK;
    float *rgb = NULL, *resized = NULL, *weights = NULL;
    adain_net run = {0};
    style_adain_style *s = NULL;
    style_image filled = {0};
    int32_t w = image->width, h = image->height;
    /* Transparent pixels are not part of the style: their colour is filled from the visible
     * ones (so it reaches no feature), and their positions weigh nothing in the statistics. */
    const bool transparent = alpha_fill_needed(image);
    if (transparent) TRY(alpha_fill_copy(image, false, &filled));
    rgb = style__aligned_alloc((size_t)w * h * 3 * sizeof(float));
    FAIL_IF(!rgb, STYLE_ERR_NOMEM, "adain_style_create: out of memory");
    pixels_to_tensor(transparent ? &filled : image, h, w, rgb);
    if (style_size > 0) { /* the short side becomes style_size */
        double scale = (double)style_size / (w < h ? w : h);
        int32_t nw = (int32_t)lround(w * scale), nh = (int32_t)lround(h * scale);
        if (nw < 1) nw = 1;
        if (nh < 1) nh = 1;
        if (nw != w || nh != h) {
            FAIL_IF((uint64_t)nw * nh > 64ull << 20, STYLE_ERR_LIMIT,
                    "adain_style_create: %dx%d is too large", nw, nh);
            resized = style__aligned_alloc((size_t)nw * nh * 3 * sizeof(float));
            FAIL_IF(!resized, STYLE_ERR_NOMEM, "adain_style_create: out of memory");
            TRY(image_resize_rgb(rgb, w, h, resized, nw, nh));
            style__aligned_free(rgb);
            rgb = resized, resized = NULL;
            w = nw, h = nh;
        }
    }
    FAIL_IF(w < m->reduction || h < m->reduction, STYLE_ERR_INVALID_ARGUMENT,
            "adain_style_create: the style image must be at least %dx%d pixels", m->reduction,
            m->reduction);
    uint64_t need = adain_encoder_bytes(m, h, w);
    FAIL_IF(need > budget, STYLE_ERR_LIMIT,
            "adain_style_create: a %dx%d style needs %.1f MiB, over the memory budget", w, h,
            need / 1048576.0);
    /* fp32 whatever the session's precision: the statistics are made once per style. */
    TRY(adain_net_create(&run, m, dnn, h, w, false, false));
    TRY(adain_net_encode(&run, dnn, rgb));
    s = style_alloc(run.feat_c);
    FAIL_IF(!s, STYLE_ERR_NOMEM, "adain_style_create: out of memory");
    const int32_t rows = run.feat_h, cols = run.feat_w;
    weights = transparent ? alpha_weights(image, rows, cols) : NULL;
    FAIL_IF(transparent && !weights, STYLE_ERR_NOMEM, "adain_style_create: out of memory");
    float total = 0;
    for (int32_t i = 0; weights && i < rows * cols; i++)
        total += weights[i];
    if (weights && total > 0)
        adain_statistics_weighted(run.features, weights, rows * cols, s->channels, s->mean, s->std);
    else /* opaque, or so little visible that no feature position carries it */
        adain_statistics(run.features, rows * cols, s->channels, s->mean, s->std);
    s->encoder_parameters = m->encoder->parameter_count;
    snprintf(s->tap, sizeof s->tap, "%s", m->tap_name);
    *out = s;
    s = NULL;
fail:
    adain_net_destroy(&run);
    style__aligned_free(rgb);
    style__aligned_free(resized);
    style__free(weights);
    style_image_release(&filled);
    style_adain_style_free(s);
    return status;
}

style_status adain_style_check(const adain_model *m, const style_adain_style *style)
{
    if (style->channels != m->decoder.in_channels ||
        style->encoder_parameters != m->encoder->parameter_count || strcmp(style->tap, m->tap_name))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "the style was computed with another model's encoder (%d channels at "
                           "'%s'; this model has %d at '%s')",
                           style->channels, style->tap, m->decoder.in_channels, m->tap_name);
    return STYLE_OK;
}

style_status adain_style_copy(const style_adain_style *style, style_adain_style **out)
{
    style_adain_style *copy = style_alloc(style->channels);
    if (!copy) return style__fail(STYLE_ERR_NOMEM, "out of memory");
    memcpy(copy->mean, style->mean, (size_t)style->channels * sizeof(float));
    memcpy(copy->std, style->std, (size_t)style->channels * sizeof(float));
    copy->encoder_parameters = style->encoder_parameters;
    memcpy(copy->tap, style->tap, sizeof copy->tap);
    style_adain_style_free(*out);
    *out = copy;
    return STYLE_OK;
}

style_status style_adain_style_create(style_session *session, const style_image *image,
                                      int32_t style_size, style_adain_style **out)
{
    style_status status = STYLE_OK;
    if (out) *out = NULL;
    if (!session || !out || style_size < 0 || style_size > 8192)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "adain_style_create: bad argument");
    session_context context;
    session_get_context(session, &context);
    const adain_model *model = context.model->arch == &arch_adain ? context.model->arch_data : NULL;
    if (!model)
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "adain_style_create: the model is not an AdaIN model (arch %s)",
                           context.model->arch_name);
    TRY(style__check_image(image, "style image"));
    int previous = omp_get_max_threads();
    omp_set_num_threads(context.threads);
    status = adain_style_compute(model, context.dnn, image, style_size, context.memory_budget, out);
    omp_set_num_threads(previous);
fail:
    return status;
}

/*
 * Interpolating AdaIN outputs, sum_k w_k (std_k xh + mean_k) with sum w_k = 1, is AdaIN with
 * the weighted means of the statistics: the blend is exact at the statistics.
 */
style_status style_adain_style_blend(const style_adain_style *const *styles, const float *weights,
                                     size_t count, style_adain_style **out)
{
    if (out) *out = NULL;
    if (!styles || !out || count == 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "adain_style_blend: NULL argument");
    double total = 0;
    for (size_t k = 0; k < count; k++) {
        double wk = weights ? weights[k] : 1.0;
        if (!styles[k] || !(wk >= 0) || !isfinite(wk))
            return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                               "adain_style_blend: style %zu is NULL or its weight is not a "
                               "non-negative number",
                               k);
        if (styles[k]->channels != styles[0]->channels ||
            styles[k]->encoder_parameters != styles[0]->encoder_parameters ||
            strcmp(styles[k]->tap, styles[0]->tap))
            return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                               "adain_style_blend: style %zu comes from another encoder", k);
        total += wk;
    }
    if (!(total > 0))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "adain_style_blend: the weights sum to 0");
    style_adain_style *s = style_alloc(styles[0]->channels);
    if (!s) return style__fail(STYLE_ERR_NOMEM, "adain_style_blend: out of memory");
    s->encoder_parameters = styles[0]->encoder_parameters;
    memcpy(s->tap, styles[0]->tap, sizeof s->tap);
    for (int32_t c = 0; c < s->channels; c++) {
        double mean = 0, std = 0;
        for (size_t k = 0; k < count; k++) {
            double wk = (weights ? weights[k] : 1.0) / total;
            mean += wk * styles[k]->mean[c];
            std += wk * styles[k]->std[c];
        }
        s->mean[c] = (float)mean, s->std[c] = (float)std;
    }
    *out = s;
    return STYLE_OK;
}

style_status style_adain_style_get(const style_adain_style *style, int32_t *channels,
                                   const float **mean, const float **std)
{
    if (!style) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "adain_style_get: NULL style");
    if (channels) *channels = style->channels;
    if (mean) *mean = style->mean;
    if (std) *std = style->std;
    return STYLE_OK;
}
