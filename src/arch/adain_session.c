/*
 * AdaIN inference: a session's encoder and decoder built for one padded image size on the
 * inference layers (adain_network.c), run with a style's statistics (adain_style.c makes and
 * blends those): the AdaIN layer between them, tileable runs and bands.
 */
#include "arch/adain.h"
#include "arch/adain_network.h"
#include "arch/adain_session.h"
#include "arch/adain_style.h"
#include "image/alpha_fill.h"
#include "image/pixels.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct adain_runtime {
    int32_t height, width; /* padded size of the build; 0: none */
    int threads;           /* the OpenMP thread count the primitives were created for */
    bool bf16;             /* convolutions in bf16 */
    /* Tileable builds: the period (the input's size rounded up to the reduction) and the
     * wrapped context around it on every side; height = period_h + 2 * margin. */
    bool tileable;
    int32_t period_h, period_w, margin;
    adain_net net;  /* the encoder and decoder on the inference layers */
    float *content; /* padded rgb255 input (for preserve-colour) */
    float *rgb;     /* the decoder's output as rgb255 */
    float *period;  /* tileable: one period, rgb255 (input, then output) */
    uint64_t memory;
    double flops; /* per image: 2 x multiply-adds of the encoder's and decoder's convolutions */
    bool profiling; /* per-op timing of every build (kept across builds) */
    style_layer_profile *profile; /* the last adain_runtime_profile's, per op */
    double *profile_executed;
};

/* Bytes of a build at h x w (padded): the network's activations (adain_network.c) and the
 * runtime's two rgb images (the input, and the output before pixels). */
static uint64_t estimate_bytes(const adain_model *m, int32_t h, int32_t w, bool decoder, bool bf16)
{
    uint64_t bytes = adain_net_bytes(m, h, w, decoder, bf16);
    return decoder ? bytes + 2 * (uint64_t)h * w * 3 * sizeof(float) : bytes;
}

uint64_t adain_encoder_bytes(const adain_model *model, int32_t h, int32_t w)
{
    return estimate_bytes(model, h, w, false, false) + (uint64_t)h * w * 3 * sizeof(float);
}

/* 2 x multiply-adds of the convolutions of a run at h x w (padded). */
static double network_flops(const adain_model *m, int32_t h, int32_t w)
{
    double flops = 0;
    int32_t ch = h, cw = w, c = 3;
    for (int32_t i = 0; i <= m->tap; i++) {
        const fnet_layer *l = &m->encoder->layers[i];
        if (l->op == FNET_CONV) {
            ch = (ch + 2 * l->pad - l->kernel) / l->stride + 1;
            cw = (cw + 2 * l->pad - l->kernel) / l->stride + 1;
            flops += 2.0 * ch * cw * l->kernel * l->kernel * l->in_channels * l->out_channels;
            c = l->out_channels;
        } else if (l->op == FNET_MAXPOOL) {
            ch /= 2, cw /= 2;
        }
    }
    int32_t factor = 1, pad = 0;
    for (int32_t i = 0; i < m->decoder.count; i++) {
        const dec_layer *l = &m->decoder.layers[i];
        if (l->op == DEC_UPSAMPLE) factor = l->value;
        if (l->op == DEC_REFLECT_PAD) pad = l->value;
        if (l->op != DEC_CONV) continue;
        ch = ch * factor + 2 * pad - l->kernel + 1, cw = cw * factor + 2 * pad - l->kernel + 1;
        flops += 2.0 * ch * cw * l->kernel * l->kernel * c * l->out_channels;
        c = l->out_channels, factor = 1, pad = 0;
    }
    return flops;
}

void adain_runtime_describe(const adain_runtime *rt, int32_t *width, int32_t *height, double *flops,
                            uint64_t *memory)
{
    *width = rt ? rt->width : 0, *height = rt ? rt->height : 0;
    *flops = rt ? rt->flops : 0, *memory = rt ? rt->memory : 0;
}

style_status adain_runtime_set_profiling(adain_runtime **rtp, bool enable)
{
    if (!*rtp) {
        *rtp = style__calloc(1, sizeof **rtp);
        if (!*rtp) return style__fail(STYLE_ERR_NOMEM, "session_set_profiling: out of memory");
    }
    adain_runtime *rt = *rtp;
    style_status status = rt->width ? adain_net_set_profiling(&rt->net, enable) : STYLE_OK;
    rt->profiling = status == STYLE_OK && enable;
    return status;
}

style_status adain_runtime_profile(adain_runtime *rt, const style_layer_profile **layers,
                                   const double **executed, size_t *count, uint64_t *runs)
{
    if (!rt || !rt->width)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_get_profile: nothing is built yet");
    if (!rt->net.op_ms)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_profile: profiling is off (style_session_set_profiling)");
    const size_t n = (size_t)rt->net.op_count;
    if (!rt->profile) rt->profile = style__calloc(n + 1, sizeof *rt->profile);
    if (!rt->profile_executed) rt->profile_executed = style__calloc(n + 1, sizeof(double));
    if (!rt->profile || !rt->profile_executed)
        return style__fail(STYLE_ERR_NOMEM, "session_get_profile: out of memory");
    adain_net_profile(&rt->net, rt->profile, rt->profile_executed);
    *layers = rt->profile, *executed = rt->profile_executed;
    *count = n, *runs = rt->net.runs;
    return STYLE_OK;
}

double adain_runtime_executed_flops(const adain_runtime *rt)
{
    return rt && rt->width ? rt->net.executed_flops : 0;
}

bool adain_runtime_bf16(const adain_runtime *rt)
{
    return rt && rt->width && rt->bf16;
}

/*
 * How far (in input pixels) an output pixel can see: the receptive field's radius of the
 * encoder up to the tap and the decoder back, counted generously (a pooling window's full
 * width, one coarse pixel per nearest upsampling), rounded up to whole multiples of the
 * reduction so that a context of this width keeps the pooling grid aligned.
 */
static int32_t receptive_margin(const adain_model *m)
{
    int64_t radius = 0, jump = 1;
    for (int32_t i = 0; i <= m->tap; i++) {
        const fnet_layer *l = &m->encoder->layers[i];
        if (l->op == FNET_CONV) {
            radius += (int64_t)(l->kernel / 2 > l->pad ? l->kernel / 2 : l->pad) * jump;
            jump *= l->stride;
        } else if (l->op == FNET_MAXPOOL) {
            radius += (int64_t)(l->kernel - 1) * jump;
            jump *= l->stride;
        }
    }
    for (int32_t i = 0; i < m->decoder.count; i++) {
        const dec_layer *l = &m->decoder.layers[i];
        if (l->op == DEC_CONV) radius += (int64_t)(l->kernel / 2) * jump;
        if (l->op == DEC_UPSAMPLE && l->value > 0) radius += jump, jump /= l->value;
        if (jump < 1) jump = 1;
    }
    const int64_t r = m->reduction;
    return (int32_t)((radius + r - 1) / r * r);
}

static int32_t round_up(int32_t value, int32_t multiple)
{
    return (value + multiple - 1) / multiple * multiple;
}

/* The build size for a width x height image: rounded up to the reduction, and in tileable
 * mode with the wrapped context on every side. */
static void build_size(const adain_model *m, int32_t width, int32_t height, bool tileable,
                       int32_t *h, int32_t *w, int32_t *margin)
{
    const int32_t r = m->reduction;
    *margin = tileable ? receptive_margin(m) : 0;
    *h = round_up(height, r) + 2 * *margin;
    *w = round_up(width, r) + 2 * *margin;
}

uint64_t adain_runtime_estimate(const adain_model *model, int32_t width, int32_t height,
                                bool tileable, bool bf16)
{
    int32_t h, w, margin;
    build_size(model, width, height, tileable, &h, &w, &margin);
    uint64_t bytes = estimate_bytes(model, h, w, true, bf16);
    if (tileable) bytes += (uint64_t)(h - 2 * margin) * (w - 2 * margin) * 3 * sizeof(float);
    return bytes;
}

static void runtime_clear(adain_runtime *rt)
{
    const bool profiling = rt->profiling;
    style__free(rt->profile);
    style__free(rt->profile_executed);
    adain_net_destroy(&rt->net);
    style__aligned_free(rt->content);
    style__aligned_free(rt->rgb);
    style__aligned_free(rt->period);
    memset(rt, 0, sizeof *rt);
    rt->profiling = profiling;
}

void adain_runtime_free(adain_runtime *rt)
{
    if (!rt) return;
    runtime_clear(rt);
    style__free(rt);
}

style_status adain_runtime_prepare(adain_runtime **rtp, const adain_model *m, dnn_context *dnn,
                                   int32_t width, int32_t height, bool tileable, uint64_t budget,
                                   int threads, bool bf16)
{
    style_status status = STYLE_OK;
    int32_t h, w, margin;
    build_size(m, width, height, tileable, &h, &w, &margin);
    if (!*rtp) {
        *rtp = style__calloc(1, sizeof **rtp);
        if (!*rtp) return style__fail(STYLE_ERR_NOMEM, "stylize: out of memory");
    }
    adain_runtime *rt = *rtp;
    if (rt->height == h && rt->width == w && rt->threads == threads && rt->tileable == tileable &&
        rt->margin == margin && rt->bf16 == bf16)
        return STYLE_OK;
    runtime_clear(rt);
    uint64_t need = adain_runtime_estimate(m, width, height, tileable, bf16);
    FAIL_IF(need > budget, STYLE_ERR_LIMIT,
            "stylize: a %dx%d run needs %.1f MiB, over the memory budget of %.1f MiB", width,
            height, need / 1048576.0, budget / 1048576.0);
    TRY(adain_net_create(&rt->net, m, dnn, h, w, true, bf16));
    if (rt->profiling) TRY(adain_net_set_profiling(&rt->net, true));
    rt->content = style__aligned_alloc((size_t)h * w * 3 * sizeof(float));
    rt->rgb = style__aligned_alloc((size_t)h * w * 3 * sizeof(float));
    FAIL_IF(!rt->content || !rt->rgb, STYLE_ERR_NOMEM, "stylize: out of memory");
    if (tileable) {
        rt->period_h = h - 2 * margin, rt->period_w = w - 2 * margin;
        rt->period = style__aligned_alloc((size_t)rt->period_h * rt->period_w * 3 * sizeof(float));
        FAIL_IF(!rt->period, STYLE_ERR_NOMEM, "stylize: out of memory");
    }
    rt->height = h, rt->width = w, rt->memory = need, rt->threads = threads, rt->bf16 = bf16;
    rt->tileable = tileable, rt->margin = margin, rt->flops = network_flops(m, h, w);
    return STYLE_OK;
fail:
    runtime_clear(rt);
    return status;
}

/* dst (dh x dw) = the periodic extension of src (sh x sw) shifted by (oy, ox): dst[y][x] =
 * src[(y - oy) mod sh][(x - ox) mod sw]. */
static void wrap_extend(const float *src, int32_t sh, int32_t sw, float *dst, int32_t dh,
                        int32_t dw, int32_t oy, int32_t ox)
{
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < dh; y++) {
        const float *row = src + (size_t)((((y - oy) % sh) + sh) % sh) * sw * 3;
        for (int32_t x = 0; x < dw; x++) {
            const int32_t sx = (((x - ox) % sw) + sw) % sw;
            memcpy(dst + ((size_t)y * dw + x) * 3, row + (size_t)sx * 3, 3 * sizeof(float));
        }
    }
}

/* Tileable input: the image as one period (resampled periodically when its size is not the
 * period's), wrapped around it for `margin` pixels on every side, into rt->content. */
static void load_periodic(adain_runtime *rt, const style_image *input)
{
    const int32_t ph = rt->period_h, pw = rt->period_w;
    if (input->height == ph && input->width == pw) {
        pixels_to_tensor(input, ph, pw, rt->period);
    } else { /* rt->rgb (the larger build size) as scratch */
        pixels_to_tensor(input, input->height, input->width, rt->rgb);
        tensor_resample_periodic(rt->rgb, input->height, input->width, rt->period, ph, pw);
    }
    wrap_extend(rt->period, ph, pw, rt->content, rt->height, rt->width, rt->margin, rt->margin);
}

/* The AdaIN layer on the encoder's tap into the decoder's input; in tileable mode the content
 * statistics cover one period, the centre of the tap's feature map. */
static void adain_at_tap(adain_runtime *rt, const adain_model *m, const style_adain_style *style,
                         float strength)
{
    const int32_t th = rt->net.feat_h, tw = rt->net.feat_w, c = rt->net.feat_c;
    const float *features = rt->net.features;
    float mean[c], std[c];
    if (rt->tileable) {
        const int32_t r = m->reduction, edge = rt->margin / r;
        adain_statistics_region(features + ((size_t)edge * tw + edge) * c, rt->period_h / r,
                                rt->period_w / r, tw, c, mean, std);
    } else {
        adain_statistics(features, th * tw, c, mean, std);
    }
    adain_apply(features, th * tw, c, mean, std, style->mean, style->std, strength,
                rt->net.decoder_input);
}

/*
 * Tileable mode computes the network on the infinite periodic image: the input wrapped around
 * for more than the receptive field on every side, the content statistics at the tap taken
 * over exactly one period (the centre, which the zero padding at the border cannot reach), the
 * centre period of the output kept. The output is then periodic, so it tiles.
 */
/* Asks the progress callback (if any) between stages; true when it wants the run stopped. */
static bool stop_requested(int (*progress)(void *user, double fraction), void *user,
                           double fraction)
{
    return progress != NULL && progress(user, fraction) != 0;
}

style_status adain_runtime_stylize(adain_runtime *rt, const adain_model *m, dnn_context *dnn,
                                   const style_adain_style *style, float strength,
                                   const style_image *input, style_image *output,
                                   int (*progress)(void *user, double fraction),
                                   void *progress_user)
{
    style_status status = STYLE_OK;
    const int32_t h = rt->height, w = rt->width;
    if (rt->tileable)
        load_periodic(rt, input);
    else
        pixels_to_tensor(input, h, w, rt->content);
    TRY(adain_net_encode(&rt->net, dnn, rt->content));
    FAIL_IF(stop_requested(progress, progress_user, 0.5), STYLE_ERR_CANCELLED,
            "stylize: cancelled by the progress callback");
    adain_at_tap(rt, m, style, strength);
    const float *out;
    TRY(adain_net_decode(&rt->net, dnn, &out));
    const size_t pixels = (size_t)h * w;
    for (size_t i = 0; i < pixels; i++)
        for (int k = 0; k < 3; k++)
            rt->rgb[i * 3 + k] = adain_to_rgb255(m->encoder, k, out[i * 3 + k]);
    if (!rt->tileable) {
        tensor_to_pixels(rt->rgb, w, OUTPUT_LINEAR, input, output);
        goto fail; /* status is STYLE_OK: the common exit */
    }
    const int32_t ph = rt->period_h, pw = rt->period_w;
    const float *centre = rt->rgb + ((size_t)rt->margin * w + rt->margin) * 3;
    if (input->height == ph && input->width == pw) {
        tensor_to_pixels(centre, w, OUTPUT_LINEAR, input, output);
    } else { /* the centre period, resampled back to the image's size */
        for (int32_t y = 0; y < ph; y++)
            memcpy(rt->period + (size_t)y * pw * 3, centre + (size_t)y * w * 3,
                   (size_t)pw * 3 * sizeof(float));
        tensor_resample_periodic(rt->period, ph, pw, rt->rgb, input->height, input->width);
        tensor_to_pixels(rt->rgb, input->width, OUTPUT_LINEAR, input, output);
    }
fail:
    return status;
}

/* ---- images over the memory budget: bands of rows ------------------------------------------ */

/* The rows of one band, in the padded image: [y0, y1) kept, [top, bottom) computed. */
typedef struct adain_band {
    int32_t y0, y1, top, bottom;
} adain_band;

/* Runs the encoder on rows [top, bottom) of the padded image (reflection beyond the image,
 * as in a whole-image run), building for that height unless already built. */
static style_status encode_band(adain_runtime **rtp, const adain_model *m, dnn_context *dnn,
                                const style_image *input, int32_t width, const adain_band *band,
                                uint64_t budget, int threads, bool bf16)
{
    style_status status = STYLE_OK;
    const int32_t rows = band->bottom - band->top;
    TRY(adain_runtime_prepare(rtp, m, dnn, width, rows, false, budget, threads, bf16));
    adain_runtime *rt = *rtp;
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < rows; i++)
        pixels_row_to_floats(input, band->top + i, width, rt->content + (size_t)i * width * 3);
    TRY(adain_net_encode(&rt->net, dnn, rt->content));
fail:
    return status;
}

/* Adds the kept rows' tap features to the per-channel sums (double: whole-image statistics
 * from many bands). */
static void accumulate_band(const adain_runtime *rt, const adain_model *m, const adain_band *band,
                            double *sum, double *squares)
{
    const int32_t r = m->reduction, tw = rt->net.feat_w, c = rt->net.feat_c;
    const float *features = rt->net.features;
    const size_t first = (size_t)(band->y0 - band->top) / r * tw;
    const size_t count = (size_t)(band->y1 - band->y0) / r * tw;
    for (size_t p = first; p < first + count; p++)
        for (int32_t k = 0; k < c; k++) {
            const double v = features[p * c + k];
            sum[k] += v, squares[k] += v * v;
        }
}

/* The decoder on a band with the whole image's content statistics; its kept rows that lie in
 * the image go to `output` (alpha from `input`). */
static style_status decode_band(adain_runtime *rt, const adain_model *m, dnn_context *dnn,
                                const style_adain_style *style, float strength, const float *mean,
                                const float *std, const adain_band *band, const style_image *input,
                                style_image *output)
{
    style_status status = STYLE_OK;
    const int32_t w = rt->width;
    adain_apply(rt->net.features, rt->net.feat_h * rt->net.feat_w, rt->net.feat_c, mean, std,
                style->mean, style->std, strength, rt->net.decoder_input);
    const float *out;
    TRY(adain_net_decode(&rt->net, dnn, &out));
    const int32_t last = band->y1 < input->height ? band->y1 : input->height;
    if (last <= band->y0) goto fail; /* only padding rows: status is STYLE_OK */
    const size_t first = (size_t)(band->y0 - band->top) * w * 3,
                 count = (size_t)(last - band->y0) * w * 3;
    for (size_t i = 0; i < count; i++)
        rt->rgb[i] = adain_to_rgb255(m->encoder, (int)(i % 3), out[first + i]);
    style_image in_rows = *input, out_rows = *output;
    in_rows.data = (unsigned char *)input->data + (size_t)band->y0 * style__image_stride(input);
    in_rows.stride = style__image_stride(input);
    out_rows.data = (unsigned char *)output->data + (size_t)band->y0 * style__image_stride(output);
    out_rows.stride = style__image_stride(output);
    in_rows.height = out_rows.height = last - band->y0;
    tensor_to_pixels(rt->rgb, w, OUTPUT_LINEAR, &in_rows, &out_rows);
fail:
    return status;
}

/*
 * An image over the memory budget (or with band_rows > 0) in bands of rows, each computed with
 * the context of the receptive field above and below and only its own rows kept, in two passes:
 * the encoder on every band to gather the whole image's content statistics at the tap, then
 * encoder, AdaIN with those statistics and decoder band by band. The result is the whole-image
 * run's up to float rounding (the statistics summed in another order); the encoder runs twice.
 */
style_status adain_runtime_stylize_banded(adain_runtime **rtp, const adain_model *m,
                                          dnn_context *dnn, const style_adain_style *style,
                                          float strength, const style_image *input,
                                          style_image *output, int32_t band_rows, uint64_t budget,
                                          int threads, bool bf16,
                                          int (*progress)(void *user, double fraction),
                                          void *progress_user)
{
    style_status status = STYLE_OK;
    const int32_t r = m->reduction, margin = receptive_margin(m);
    const int32_t height = round_up(input->height, r), width = round_up(input->width, r);
    const int32_t c = m->decoder.in_channels;
    double *sum = NULL, *squares = NULL;
    float *mean = NULL, *std = NULL;
    int32_t rows = band_rows > 0 ? round_up(band_rows, r) : 0;
    if (rows == 0) /* the tallest band that fits */
        for (rows = height; rows >= r; rows -= r) {
            const int32_t band_height = rows + 2 * margin < height ? rows + 2 * margin : height;
            if (adain_runtime_estimate(m, width, band_height, false, bf16) <= budget) break;
        }
    FAIL_IF(rows < r, STYLE_ERR_LIMIT,
            "stylize: %dx%d is over the memory budget of %.1f MiB even in bands of %d rows",
            input->width, input->height, budget / 1048576.0, r);
    sum = style__calloc((size_t)c, sizeof *sum);
    squares = style__calloc((size_t)c, sizeof *squares);
    mean = style__calloc((size_t)c, sizeof *mean);
    std = style__calloc((size_t)c, sizeof *std);
    FAIL_IF(!sum || !squares || !mean || !std, STYLE_ERR_NOMEM, "stylize: out of memory");
    /* Every band is computed at one height (one build: rebuilding for the shorter first and
     * last bands would leave the allocator's freed memory resident), the first and last with
     * more context below or above instead. */
    const int32_t computed = rows + 2 * margin < height ? rows + 2 * margin : height;
    const int32_t band_count = (height + rows - 1) / rows;
    int32_t bands_done = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t y0 = 0; y0 < height; y0 += rows) {
            adain_band band = {.y0 = y0, .y1 = y0 + rows < height ? y0 + rows : height};
            band.top = y0 - margin;
            if (band.top + computed > height) band.top = height - computed;
            if (band.top < 0) band.top = 0;
            band.bottom = band.top + computed;
            TRY(encode_band(rtp, m, dnn, input, width, &band, budget, threads, bf16));
            if (pass == 0)
                accumulate_band(*rtp, m, &band, sum, squares);
            else
                TRY(decode_band(*rtp, m, dnn, style, strength, mean, std, &band, input, output));
            /* Between bands (not after the last: the image is done then). */
            ++bands_done;
            FAIL_IF(bands_done < 2 * band_count &&
                        stop_requested(progress, progress_user,
                                       (double)bands_done / (2.0 * band_count)),
                    STYLE_ERR_CANCELLED, "stylize: cancelled by the progress callback");
        }
        if (pass > 0) break;
        const double n = (double)(height / r) * (width / r);
        for (int32_t k = 0; k < c; k++) {
            const double mk = sum[k] / n, variance = squares[k] / n - mk * mk;
            mean[k] = (float)mk;
            std[k] = (float)sqrt((variance > 0 ? variance : 0) + ADAIN_EPS);
        }
    }
fail:
    style__free(sum), style__free(squares), style__free(mean), style__free(std);
    return status;
}
