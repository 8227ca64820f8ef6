#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ref_tensor ref_tensor_new(int c, int h, int w)
{
    ref_tensor t = {c, h, w, calloc((size_t)c * h * w, sizeof(double))};
    return t;
}

void ref_tensor_free(ref_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

ref_tensor ref_conv2d(ref_tensor in, const float *weight, const float *bias, int out_channels,
                      int k, int stride, int pt, int pl, int pb, int pr)
{
    int oh = (in.h + pt + pb - k) / stride + 1, ow = (in.w + pl + pr - k) / stride + 1;
    ref_tensor out = ref_tensor_new(out_channels, oh, ow);
    for (int o = 0; o < out_channels; o++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                double sum = bias ? bias[o] : 0.0;
                for (int i = 0; i < in.c; i++)
                    for (int ky = 0; ky < k; ky++) {
                        int iy = y * stride - pt + ky;
                        if (iy < 0 || iy >= in.h) continue;
                        for (int kx = 0; kx < k; kx++) {
                            int ix = x * stride - pl + kx;
                            if (ix < 0 || ix >= in.w) continue;
                            sum += REF_AT(in, i, iy, ix) *
                                   weight[(((size_t)o * in.c + i) * k + ky) * k + kx];
                        }
                    }
                REF_AT(out, o, y, x) = sum;
            }
    return out;
}

ref_tensor ref_conv_transpose2d(ref_tensor in, const float *weight, const float *bias,
                                int out_channels, int k, int stride, int before, int after)
{
    int fh = (in.h - 1) * stride + k, fw = (in.w - 1) * stride + k;
    ref_tensor full = ref_tensor_new(out_channels, fh, fw);
    for (int i = 0; i < in.c; i++)
        for (int y = 0; y < in.h; y++)
            for (int x = 0; x < in.w; x++)
                for (int o = 0; o < out_channels; o++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                            REF_AT(full, o, y * stride + ky, x * stride + kx) +=
                                REF_AT(in, i, y, x) *
                                weight[(((size_t)i * out_channels + o) * k + ky) * k + kx];
    ref_tensor out = ref_tensor_new(out_channels, fh - before - after, fw - before - after);
    for (int o = 0; o < out_channels; o++)
        for (int y = 0; y < out.h; y++)
            for (int x = 0; x < out.w; x++)
                REF_AT(out, o, y, x) = REF_AT(full, o, y + before, x + before) + (bias ? bias[o] : 0);
    ref_tensor_free(&full);
    return out;
}

/* Mirror index without repeating the edge; replicate when the mirror falls outside. */
static int mirror(int i, int n)
{
    if (n == 1) return 0;
    int m = i < 0 ? -i : i >= n ? 2 * n - 2 - i : i;
    if (m < 0) m = n - 1;
    if (m >= n) m = i < 0 ? 0 : n - 1;
    return m;
}

ref_tensor ref_reflect_pad(ref_tensor in, int p)
{
    ref_tensor out = ref_tensor_new(in.c, in.h + 2 * p, in.w + 2 * p);
    for (int c = 0; c < in.c; c++)
        for (int y = 0; y < out.h; y++)
            for (int x = 0; x < out.w; x++)
                REF_AT(out, c, y, x) = REF_AT(in, c, mirror(y - p, in.h), mirror(x - p, in.w));
    return out;
}

ref_tensor ref_circular_pad(ref_tensor in, int pt, int pl, int pb, int pr)
{
    ref_tensor out = ref_tensor_new(in.c, in.h + pt + pb, in.w + pl + pr);
    for (int c = 0; c < in.c; c++)
        for (int y = 0; y < out.h; y++)
            for (int x = 0; x < out.w; x++)
                REF_AT(out, c, y, x) =
                    REF_AT(in, c, ((y - pt) % in.h + in.h) % in.h, ((x - pl) % in.w + in.w) % in.w);
    return out;
}

/* Circular transposed conv: the full output folded modulo (in * stride), then shifted by
 * `before` (the rows the non-circular version crops at the top). */
static ref_tensor ref_conv_transpose2d_circular(ref_tensor in, const float *weight,
                                                const float *bias, int out_channels, int k,
                                                int stride, int before)
{
    ref_tensor full = ref_conv_transpose2d(in, weight, NULL, out_channels, k, stride, 0, 0);
    int oh = in.h * stride, ow = in.w * stride;
    ref_tensor out = ref_tensor_new(out_channels, oh, ow);
    for (int o = 0; o < out_channels; o++) {
        for (int y = 0; y < full.h; y++)
            for (int x = 0; x < full.w; x++)
                REF_AT(out, o, ((y - before) % oh + oh) % oh, ((x - before) % ow + ow) % ow) +=
                    REF_AT(full, o, y, x);
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                REF_AT(out, o, y, x) += bias ? bias[o] : 0.0;
    }
    ref_tensor_free(&full);
    return out;
}

ref_tensor ref_upsample_nearest2(ref_tensor in)
{
    ref_tensor out = ref_tensor_new(in.c, in.h * 2, in.w * 2);
    for (int c = 0; c < in.c; c++)
        for (int y = 0; y < out.h; y++)
            for (int x = 0; x < out.w; x++) REF_AT(out, c, y, x) = REF_AT(in, c, y / 2, x / 2);
    return out;
}

void ref_instance_norm(ref_tensor t, const float *scale, const float *shift, double eps)
{
    size_t n = (size_t)t.h * t.w;
    for (int c = 0; c < t.c; c++) {
        double *x = t.data + c * n, mean = 0, var = 0;
        for (size_t i = 0; i < n; i++) mean += x[i];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= (double)n; /* biased */
        double inv = 1.0 / sqrt(var + eps);
        for (size_t i = 0; i < n; i++) x[i] = (x[i] - mean) * inv * scale[c] + shift[c];
    }
}

void ref_batch_norm(ref_tensor t, const float *scale, const float *shift, const float *mean,
                    const float *var, double eps)
{
    size_t n = (size_t)t.h * t.w;
    for (int c = 0; c < t.c; c++) {
        double inv = 1.0 / sqrt((double)var[c] + eps);
        for (size_t i = 0; i < n; i++)
            t.data[c * n + i] = (t.data[c * n + i] - mean[c]) * inv * scale[c] + shift[c];
    }
}

void ref_relu(ref_tensor t)
{
    size_t n = (size_t)t.c * t.h * t.w;
    for (size_t i = 0; i < n; i++)
        if (t.data[i] < 0) t.data[i] = 0;
}

static void tf_same(int n, int k, int s, int *before, int *after)
{
    int out = (n + s - 1) / s;
    int total = (out - 1) * s + k - n;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
}

/* One stage: [upsample] [pad] conv, then [norm], [relu]. Consumes `in`. */
static ref_tensor stage(const style_model *m, const model_stage *s, ref_tensor in, bool upsample,
                        bool relu, bool circular)
{
    const model_conv *c = &s->conv;
    int k = c->kernel;
    ref_tensor out;
    if (c->transposed) {
        int crop = k - 2;
        int before = m->upsample == UPSAMPLE_TRANSPOSED_TF ? crop / 2 : k / 2;
        if (circular)
            out = ref_conv_transpose2d_circular(in, c->weight, c->bias, c->out_channels, k,
                                                c->stride, before);
        else
            out = ref_conv_transpose2d(in, c->weight, c->bias, c->out_channels, k, c->stride,
                                       before, crop - before);
    } else {
        if (upsample) {
            ref_tensor up = ref_upsample_nearest2(in);
            ref_tensor_free(&in);
            in = up;
        }
        if (circular) {
            /* The model's pad amounts, filled by wrapping around. */
            int pt = k / 2, pb = k / 2, pl = k / 2, pr = k / 2;
            if (m->padding == PADDING_TF_SAME) {
                tf_same(in.h, k, c->stride, &pt, &pb);
                tf_same(in.w, k, c->stride, &pl, &pr);
            }
            ref_tensor padded = ref_circular_pad(in, pt, pl, pb, pr);
            out = ref_conv2d(padded, c->weight, c->bias, c->out_channels, k, c->stride, 0, 0, 0, 0);
            ref_tensor_free(&padded);
        } else if (m->padding == PADDING_REFLECT) {
            ref_tensor padded = ref_reflect_pad(in, k / 2);
            out = ref_conv2d(padded, c->weight, c->bias, c->out_channels, k, c->stride, 0, 0, 0, 0);
            ref_tensor_free(&padded);
        } else if (m->padding == PADDING_ZERO) {
            out = ref_conv2d(in, c->weight, c->bias, c->out_channels, k, c->stride, k / 2, k / 2,
                             k / 2, k / 2);
        } else {
            int pt, pb, pl, pr;
            tf_same(in.h, k, c->stride, &pt, &pb);
            tf_same(in.w, k, c->stride, &pl, &pr);
            out = ref_conv2d(in, c->weight, c->bias, c->out_channels, k, c->stride, pt, pl, pb, pr);
        }
    }
    ref_tensor_free(&in);
    if (s->has_norm) {
        if (m->norm == NORM_INSTANCE)
            ref_instance_norm(out, s->norm.scale, s->norm.shift, m->norm_eps);
        else
            ref_batch_norm(out, s->norm.scale, s->norm.shift, s->norm.running_mean,
                           s->norm.running_var, m->norm_eps);
    }
    if (relu) ref_relu(out);
    return out;
}

static ref_tensor copy(ref_tensor t)
{
    ref_tensor c = ref_tensor_new(t.c, t.h, t.w);
    memcpy(c.data, t.data, sizeof(double) * t.c * t.h * t.w);
    return c;
}

ref_tensor ref_network_ex(const style_model *m, ref_tensor image, bool circular)
{
    ref_tensor x = copy(image);
    for (int i = 0; i < 3; i++)
        x = stage(m, &m->down[i], x, false, true, circular);
    for (int b = 0; b < m->residual_blocks; b++) {
        ref_tensor y = stage(m, &m->residual[b][0], copy(x), false, true, circular);
        y = stage(m, &m->residual[b][1], y, false, false, circular);
        for (size_t i = 0; i < (size_t)x.c * x.h * x.w; i++) x.data[i] += y.data[i];
        ref_tensor_free(&y);
    }
    x = stage(m, &m->up[0], x, true, true, circular);
    x = stage(m, &m->up[1], x, true, true, circular);
    return stage(m, &m->out, x, false, false, circular);
}

ref_tensor ref_network(const style_model *m, ref_tensor image)
{
    return ref_network_ex(m, image, false);
}

double ref_output_head(const style_model *m, double x)
{
    if (m->output == OUTPUT_TANH150) x = 150.0 * tanh(x) + 127.5;
    return x < 0 ? 0 : x > 255 ? 255 : x;
}
