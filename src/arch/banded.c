/*
 * The banded (out-of-core) run of the transform network; see banded.h.
 *
 * Why layer by layer and not tile by tile: a tile of the output depends on a ~100-pixel
 * neighbourhood through 15 instance norms whose statistics are global. Tiles with per-tile
 * statistics disagree in colour; tiles with global statistics need each norm's statistics
 * before the layers after it can run anywhere, i.e. one pass over the image per norm. Running
 * each layer over the whole image before the next is that schedule with no recomputation:
 * one pass per layer, each band reading its input rows plus the kernel's halo (the overlap),
 * the layer's output written to a temporary file while its per-channel sums accumulate in
 * double; the norm (and ReLU, and the residual add) is applied as the next layer reads.
 * Memory is a band of input and output rows per layer; the temporary files are read and
 * written with pread/pwrite (the page cache holds them as long as memory allows, without
 * counting against the process).
 */
#define _GNU_SOURCE
#include "arch/banded.h"
#include "arch/johnson_topology.h"
#include "image/pixels.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An activation on disk: h x w x c f32 rows; as read, y = relu?(a (x - m) + b) + 0. */
typedef struct act_file {
    int fd;
    int32_t h, w, c;
    float *affine; /* a, m, b: [3][c]; NULL = identity */
    bool relu;
} act_file;

typedef struct band_ctx {
    const banded_options *o;
    int threads;
    double work_done, work_total; /* multiply-adds, for progress */
} band_ctx;

/* Where one stage reads its input and what it produces. */
typedef struct stage_geometry {
    int32_t up, k, s, pt, pb, pl, pr;
    int32_t in_h, in_w; /* the conv's logical input (after upsampling) */
    int32_t out_h, out_w;
    border_mode border;
} stage_geometry;

bool banded_runs_model(const style_model *model)
{
    return model->upsample == UPSAMPLE_NEAREST_CONV && !model->up[0].conv.transposed &&
           !model->up[1].conv.transposed;
}

static void act_init(act_file *f)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

static void act_close(act_file *f)
{
    if (f->fd >= 0) close(f->fd);
    style__free(f->affine);
    act_init(f);
}

static style_status act_create(act_file *f, int32_t h, int32_t w, int32_t c)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    act_init(f);
    f->h = h, f->w = w, f->c = c;
#ifdef O_TMPFILE
    f->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
    if (f->fd < 0) {
        /* Filesystems without O_TMPFILE: a named file, unlinked at once. */
        char path[4096];
        snprintf(path, sizeof path, "%s/libstyle-band-XXXXXX", dir);
        f->fd = mkstemp(path);
        if (f->fd >= 0) unlink(path);
    }
    if (f->fd < 0)
        return style__fail(STYLE_ERR_IO, "stylize: cannot create a temporary file in %s: %s", dir,
                           strerror(errno));
    return STYLE_OK;
}

static size_t row_bytes(const act_file *f)
{
    return (size_t)f->w * (size_t)f->c * sizeof(float);
}

static style_status act_write(const act_file *f, int32_t row, int32_t count, const float *src)
{
    size_t left = row_bytes(f) * (size_t)count;
    off_t at = (off_t)row_bytes(f) * row;
    const char *p = (const char *)src;
    while (left) {
        ssize_t n = pwrite(f->fd, p, left, at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return style__fail(STYLE_ERR_IO, "stylize: cannot write a temporary file: %s",
                               n < 0 ? strerror(errno) : "no space");
        p += n, left -= (size_t)n, at += n;
    }
    return STYLE_OK;
}

/* Row `row` as the next layer sees it (norm, ReLU applied). */
static style_status act_read(const act_file *f, int32_t row, float *dst)
{
    size_t left = row_bytes(f);
    off_t at = (off_t)row_bytes(f) * row;
    char *p = (char *)dst;
    while (left) {
        ssize_t n = pread(f->fd, p, left, at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return style__fail(STYLE_ERR_IO, "stylize: cannot read a temporary file: %s",
                               n < 0 ? strerror(errno) : "truncated");
        p += n, left -= (size_t)n, at += n;
    }
    if (!f->affine && !f->relu) return STYLE_OK;
    const int32_t C = f->c;
    for (int32_t x = 0; x < f->w; x++) {
        float *v = dst + (size_t)x * C;
        for (int32_t c = 0; c < C; c++) {
            float y =
                f->affine ? f->affine[c] * (v[c] - f->affine[C + c]) + f->affine[2 * C + c] : v[c];
            v[c] = f->relu && !(y > 0.0f) ? 0.0f : y;
        }
    }
    return STYLE_OK;
}

static bool cancelled(band_ctx *ctx, double work)
{
    ctx->work_done += work;
    const banded_options *o = ctx->o;
    double fraction = ctx->work_total > 0 ? ctx->work_done / ctx->work_total : 1.0;
    return o->progress && o->progress(o->progress_user, fraction > 1.0 ? 1.0 : fraction);
}

static void tf_same(int32_t n, int32_t k, int32_t s, int32_t *before, int32_t *after)
{
    int32_t out = (n + s - 1) / s, total = (out - 1) * s + k - n;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
}

static stage_geometry geometry(const band_ctx *ctx, const model_stage *st, int32_t up, int32_t in_h,
                               int32_t in_w)
{
    const style_model *m = ctx->o->model;
    stage_geometry g = {.up = up, .k = st->conv.kernel, .s = st->conv.stride};
    g.in_h = in_h * up, g.in_w = in_w * up;
    if (m->padding == PADDING_TF_SAME) {
        tf_same(g.in_h, g.k, g.s, &g.pt, &g.pb);
        tf_same(g.in_w, g.k, g.s, &g.pl, &g.pr);
    } else {
        g.pt = g.pb = g.pl = g.pr = g.k / 2;
    }
    g.border = ctx->o->circular                ? BORDER_WRAP
               : m->padding == PADDING_REFLECT ? BORDER_REFLECT
                                               : BORDER_ZERO;
    g.out_h = (g.in_h + g.pt + g.pb - g.k) / g.s + 1;
    g.out_w = (g.in_w + g.pl + g.pr - g.k) / g.s + 1;
    return g;
}

static double stage_work(const model_stage *st, const stage_geometry *g)
{
    return (double)g->out_h * g->out_w * st->conv.in_channels * st->conv.out_channels * g->k * g->k;
}

/* The per-channel affine of a stage's norm from its sums (instance) or running statistics
 * (batch); identity without a norm. */
static style_status set_norm(band_ctx *ctx, const model_stage *st, act_file *out, bool relu,
                             const double *sum, const double *sumsq, const float *shift)
{
    const style_model *m = ctx->o->model;
    const int32_t C = out->c;
    out->relu = relu;
    if (!st->has_norm) return STYLE_OK;
    out->affine = style__malloc(sizeof(float) * 3 * (size_t)C);
    if (!out->affine) return style__fail(STYLE_ERR_NOMEM, "stylize: out of memory");
    const double count = (double)out->h * (double)out->w;
    for (int32_t c = 0; c < C; c++) {
        double mean, var;
        if (m->norm == NORM_INSTANCE) {
            double d = sum[c] / count;
            mean = (double)shift[c] + d;
            var = sumsq[c] / count - d * d;
            if (var < 0.0) var = 0.0;
        } else {
            mean = st->norm.running_mean[c];
            var = st->norm.running_var[c];
        }
        out->affine[c] = (float)(st->norm.scale[c] / sqrt(var + (double)m->norm_eps));
        out->affine[C + c] = (float)mean;
        out->affine[2 * C + c] = st->norm.shift[c];
    }
    return STYLE_OK;
}

/* Fills band row j (conv input row u) from the input file: upsampled, padded. */
static style_status fill_row(const act_file *in, const stage_geometry *g, int32_t u, float *row,
                             float *tmp)
{
    const int32_t C = in->c, Wp = g->pl + g->in_w + g->pr;
    const size_t px = (size_t)C * sizeof(float);
    int32_t src = pad_border_index(u, g->in_h, g->border);
    if (src < 0) {
        memset(row, 0, (size_t)Wp * px);
        return STYLE_OK;
    }
    style_status status = act_read(in, src / g->up, tmp);
    if (status != STYLE_OK) return status;
    for (int32_t x = 0; x < Wp; x++) {
        int32_t sx = pad_border_index(x - g->pl, g->in_w, g->border);
        if (sx < 0)
            memset(row + (size_t)x * C, 0, px);
        else
            memcpy(row + (size_t)x * C, tmp + (size_t)(sx / g->up) * C, px);
    }
    return STYLE_OK;
}

/*
 * One convolution stage over the whole image: reads `in` (its norm applied on reading),
 * writes the raw convolution output to `out` and sets out's norm from the sums over all
 * bands.
 */
static style_status run_stage(band_ctx *ctx, const model_stage *st, int32_t up, bool relu,
                              act_file *in, act_file *out)
{
    style_status status = STYLE_OK;
    const banded_options *o = ctx->o;
    const stage_geometry g = geometry(ctx, st, up, in->h, in->w);
    const int32_t cin = st->conv.in_channels, cout = st->conv.out_channels;
    const int32_t Wp = g.pl + g.in_w + g.pr;
    conv_layer conv;
    direct_conv direct;
    memset(&conv, 0, sizeof conv);
    memset(&direct, 0, sizeof direct);
    float *band_in = NULL, *band_out = NULL, *tmp = NULL;
    double *row_sum = NULL, *sum = NULL;
    dnn_scratchpad *scratchpad = NULL;
    style_status *row_status = NULL;
    float *shift = NULL, *zero_bias = NULL; /* [cout] each */

    TRY(act_create(out, g.out_h, g.out_w, cout));
    const bool use_direct = g.s == 1 && direct_conv_supported(cin, cout, g.k, ACT_F32);
    const uint64_t per_in = (uint64_t)Wp * cin * sizeof(float);
    const uint64_t per_out = (uint64_t)g.out_w * cout * sizeof(float);
    const uint64_t fixed = (uint64_t)ctx->threads * in->w * cin * sizeof(float) +
                           2ull * g.k * g.k * cin * cout * sizeof(float) +
                           (uint64_t)cout * sizeof(double) * 4;
    int32_t rows = o->max_band_rows > 0 && o->max_band_rows < g.out_h ? o->max_band_rows : g.out_h;
    for (;;) {
        const uint64_t rows_in = (uint64_t)(rows - 1) * g.s + g.k;
        uint64_t need =
            rows_in * per_in + rows * per_out + fixed + (uint64_t)rows * cout * 2 * sizeof(double);
        if (need <= o->memory_budget || rows == 1) {
            if (!use_direct) {
                conv_spec spec = {
                    .in_channels = cin, .out_channels = cout, .kernel = g.k, .stride = g.s};
                TRY(conv_layer_describe(&conv, o->dnn, &spec, (int32_t)rows_in, Wp));
                need += conv.scratchpad_bytes;
            }
            if (need <= o->memory_budget) break;
            FAIL_IF(rows == 1, STYLE_ERR_LIMIT,
                    "stylize: one row of a %dx%d layer needs %.1f MiB, over the memory budget "
                    "of %.1f MiB",
                    g.out_w, g.out_h, need / 1048576.0, o->memory_budget / 1048576.0);
            conv_layer_destroy(&conv);
        }
        rows = (rows + 1) / 2;
    }
    const int32_t rows_in = (rows - 1) * g.s + g.k;
    band_in = style__aligned_alloc((size_t)rows_in * per_in);
    band_out = style__aligned_alloc((size_t)rows * per_out);
    tmp = style__malloc((size_t)ctx->threads * in->w * cin * sizeof(float));
    row_sum = style__calloc((size_t)rows * cout * 2, sizeof(double));
    sum = style__calloc((size_t)cout * 2, sizeof(double));
    row_status = style__calloc((size_t)rows_in, sizeof *row_status);
    shift = style__calloc((size_t)cout * 2, sizeof(float));
    FAIL_IF(!band_in || !band_out || !tmp || !row_sum || !sum || !row_status || !shift,
            STYLE_ERR_NOMEM, "stylize: out of memory for a band of %d rows", rows);
    const float *bias = st->conv.bias;
    zero_bias = shift + cout;
    if (use_direct) {
        TRY(direct_conv_init(&direct, cin, cout, g.k, rows, g.out_w, ACT_F32, st->conv.weight,
                             bias ? bias : zero_bias));
    } else {
        TRY(conv_layer_bind(&conv, o->dnn, st->conv.weight, bias ? bias : zero_bias, band_in,
                            band_out));
        TRY(dnn_scratchpad_create(&scratchpad, o->dnn, conv.scratchpad_bytes, "stylize"));
    }

    for (int32_t y0 = 0; y0 < g.out_h; y0 += rows) {
        const int32_t valid = g.out_h - y0 < rows ? g.out_h - y0 : rows;
        /* Input rows of the band, halo included (rows past the end of the output just
         * compute discarded rows from valid input). */
#pragma omp parallel for schedule(static)
        for (int32_t j = 0; j < rows_in; j++) {
            float *t = tmp + (size_t)omp_get_thread_num() * in->w * cin;
            row_status[j] =
                fill_row(in, &g, y0 * g.s - g.pt + j, band_in + (size_t)j * Wp * cin, t);
        }
        for (int32_t j = 0; j < rows_in; j++)
            TRY(row_status[j]);
        if (use_direct)
            direct_conv_forward(&direct, band_in, band_out);
        else
            TRY(conv_layer_forward(&conv, o->dnn, scratchpad));
        if (y0 == 0)
            for (int32_t c = 0; c < cout; c++)
                shift[c] = band_out[c];
                /* Sums per row in parallel, then added in row order: deterministic. */
#pragma omp parallel for schedule(static)
        for (int32_t r = 0; r < valid; r++) {
            double *s1 = row_sum + (size_t)r * cout * 2, *s2 = s1 + cout;
            for (int32_t c = 0; c < cout; c++)
                s1[c] = s2[c] = 0.0;
            const float *v = band_out + (size_t)r * g.out_w * cout;
            for (int32_t x = 0; x < g.out_w; x++)
                for (int32_t c = 0; c < cout; c++) {
                    double d = (double)v[(size_t)x * cout + c] - shift[c];
                    s1[c] += d;
                    s2[c] += d * d;
                }
        }
        for (int32_t r = 0; r < valid; r++)
            for (int32_t c = 0; c < cout; c++) {
                sum[c] += row_sum[(size_t)r * cout * 2 + c];
                sum[cout + c] += row_sum[(size_t)r * cout * 2 + cout + c];
            }
        TRY(act_write(out, y0, valid, band_out));
        FAIL_IF(cancelled(ctx, stage_work(st, &g) * valid / g.out_h), STYLE_ERR_CANCELLED,
                "stylize: cancelled by the progress callback");
    }
    TRY(set_norm(ctx, st, out, relu, sum, sum + cout, shift));
fail:
    if (status != STYLE_OK) act_close(out);
    conv_layer_destroy(&conv);
    direct_conv_destroy(&direct);
    dnn_scratchpad_free(scratchpad);
    style__aligned_free(band_in);
    style__aligned_free(band_out);
    style__free(tmp);
    style__free(row_sum);
    style__free(sum);
    style__free(row_status);
    style__free(shift);
    return status;
}

/* x + y row by row (both with their norms applied) into a plain file: the residual stream. */
static style_status residual_sum(band_ctx *ctx, const act_file *x, const act_file *y, act_file *out)
{
    style_status status = STYLE_OK;
    const size_t n = (size_t)x->w * x->c;
    float *buf = style__malloc((size_t)ctx->threads * 2 * n * sizeof(float));
    style_status *row_status = style__calloc((size_t)x->h, sizeof *row_status);
    FAIL_IF(!buf || !row_status, STYLE_ERR_NOMEM, "stylize: out of memory");
    TRY(act_create(out, x->h, x->w, x->c));
#pragma omp parallel for schedule(static)
    for (int32_t r = 0; r < x->h; r++) {
        float *a = buf + (size_t)omp_get_thread_num() * 2 * n, *b = a + n;
        style_status s = act_read(x, r, a);
        if (s == STYLE_OK) s = act_read(y, r, b);
        if (s == STYLE_OK) {
            for (size_t i = 0; i < n; i++)
                a[i] += b[i];
            s = act_write(out, r, 1, a);
        }
        row_status[r] = s;
    }
    for (int32_t r = 0; r < x->h; r++)
        TRY(row_status[r]);
fail:
    if (status != STYLE_OK) act_close(out);
    style__free(buf);
    style__free(row_status);
    return status;
}

/* The padded image as the first layer's input file. */
static style_status write_input(band_ctx *ctx, const style_image *image, int32_t h, int32_t w,
                                act_file *out)
{
    style_status status = STYLE_OK;
    float *buf = style__malloc((size_t)ctx->threads * w * 3 * sizeof(float));
    style_status *row_status = style__calloc((size_t)h, sizeof *row_status);
    FAIL_IF(!buf || !row_status, STYLE_ERR_NOMEM, "stylize: out of memory");
    TRY(act_create(out, h, w, 3));
#pragma omp parallel for schedule(static)
    for (int32_t r = 0; r < h; r++) {
        float *row = buf + (size_t)omp_get_thread_num() * w * 3;
        pixels_row_to_floats(image, r, w, row);
        row_status[r] = act_write(out, r, 1, row);
    }
    for (int32_t r = 0; r < h; r++)
        TRY(row_status[r]);
fail:
    if (status != STYLE_OK) act_close(out);
    style__free(buf);
    style__free(row_status);
    return status;
}

/* The last layer's file (its norm applied) through the output head into the caller's image. */
static style_status write_output(band_ctx *ctx, const act_file *f, const style_image *alpha,
                                 style_image *output)
{
    style_status status = STYLE_OK;
    const int32_t chunk = 64;
    float *buf = style__malloc((size_t)chunk * f->w * 3 * sizeof(float));
    FAIL_IF(!buf, STYLE_ERR_NOMEM, "stylize: out of memory");
    for (int32_t y0 = 0; y0 < output->height; y0 += chunk) {
        const int32_t n = output->height - y0 < chunk ? output->height - y0 : chunk;
        for (int32_t r = 0; r < n; r++)
            TRY(act_read(f, y0 + r, buf + (size_t)r * f->w * 3));
        style_image out_view = *output, alpha_view = *alpha;
        out_view.height = alpha_view.height = n;
        out_view.data = (char *)output->data + (size_t)y0 * style__image_stride(output);
        alpha_view.data = (char *)alpha->data + (size_t)y0 * style__image_stride(alpha);
        tensor_to_pixels(buf, f->w, ctx->o->model->output, &alpha_view, &out_view);
    }
fail:
    style__free(buf);
    return status;
}

style_status banded_stylize(const banded_options *o, const style_image *input,
                            const style_image *alpha_source, style_image *output)
{
    style_status status = STYLE_OK;
    const style_model *m = o->model;
    band_ctx ctx = {.o = o, .threads = omp_get_max_threads()};
    act_file cur, next, x, t1, t2;
    act_init(&cur), act_init(&next), act_init(&x), act_init(&t1), act_init(&t2);
    FAIL_IF(!banded_runs_model(m), STYLE_ERR_UNSUPPORTED, "stylize: " BANDED_MODEL_MESSAGE);
    const int32_t h = (input->height + 3) / 4 * 4, w = (input->width + 3) / 4 * 4;
    FAIL_IF(o->circular && (h != input->height || w != input->width), STYLE_ERR_UNSUPPORTED,
            "stylize: a tileable image run in bands (%s) must have sides that are multiples of "
            "4 (it is %dx%d)",
            o->max_band_rows > 0 ? "band rows were set" : "it is over the memory budget",
            input->width, input->height);

    /* Total work for the progress fraction, stage by stage. */
    const int32_t steps = johnson_step_count(m->residual_blocks);
    {
        int32_t gh = h, gw = w;
        for (int32_t i = 0; i < steps; i++) {
            johnson_step step;
            johnson_step_at(m->residual_blocks, i, &step);
            const model_stage *st = johnson_model_stage_const(m, &step);
            const stage_geometry g = geometry(&ctx, st, step.spec->upsample ? 2 : 1, gh, gw);
            ctx.work_total += stage_work(st, &g);
            gh = g.out_h, gw = g.out_w;
        }
        FAIL_IF(gh != h || gw != w || m->out.conv.out_channels != 3, STYLE_ERR_INTERNAL,
                "stylize: banded output is %dx%d for %dx%d", gw, gh, w, h);
    }

    /* One stage at a time through files: cur is the stage's input; inside a residual block,
     * x holds the block's input, t1 and t2 its two convolutions' outputs. */
    TRY(write_input(&ctx, input, h, w, &cur));
    for (int32_t i = 0; i < steps; i++) {
        johnson_step step;
        johnson_step_at(m->residual_blocks, i, &step);
        const johnson_stage_spec *spec = step.spec;
        const model_stage *st = johnson_model_stage_const(m, &step);
        const int32_t up = spec->upsample ? 2 : 1;
        if (spec->kind == JOHNSON_RESIDUAL_1) {
            x = cur, act_init(&cur);
            TRY(run_stage(&ctx, st, up, spec->relu, &x, &t1));
        } else if (spec->kind == JOHNSON_RESIDUAL_2) {
            TRY(run_stage(&ctx, st, up, spec->relu, &t1, &t2));
            act_close(&t1);
            TRY(residual_sum(&ctx, &x, &t2, &cur));
            act_close(&x), act_close(&t2);
        } else {
            TRY(run_stage(&ctx, st, up, spec->relu, &cur, &next));
            act_close(&cur);
            cur = next, act_init(&next);
        }
    }
    TRY(write_output(&ctx, &cur, alpha_source, output));
fail:
    act_close(&cur), act_close(&next), act_close(&x), act_close(&t1), act_close(&t2);
    return status;
}
