/*
 * Running a feature network at a fixed batch and size: forward from a 0..255 RGB batch through
 * layers [0, last], keeping every activation; backward from gradients placed at the taps to
 * the image. A conv followed by a (leaky) ReLU is fused into one primitive unless a tap needs
 * the conv's own output.
 */
#include "features/feature_net.h"

#include <string.h>

static bool is_tap(const feature_net *net, int32_t layer)
{
    for (int32_t t = 0; t < net->tap_count; t++)
        if (net->tap_layers[t] == layer) return true;
    return false;
}

/* forward_only: no gradient buffers and no backward primitives (inference). */
static style_status run_create(feature_run *run, const feature_net *net, dnn_context *dnn,
                               int32_t n, int32_t h, int32_t w, int32_t last, bool need_input_grad,
                               bool forward_only, bool bf16)
{
    style_status status = STYLE_OK;
    memset(run, 0, sizeof *run);
    run->net = net;
    run->n = n, run->h = h, run->w = w, run->last = last;
    run->need_input_grad = need_input_grad && !forward_only;
    run->forward_only = forward_only;
    FAIL_IF(last < 0 || last >= net->layer_count, STYLE_ERR_INTERNAL, "feature run: bad layer");
    size_t layers = (size_t)last + 1;
    run->out_h = style__calloc(layers, sizeof(int32_t));
    run->out_w = style__calloc(layers, sizeof(int32_t));
    run->out_c = style__calloc(layers, sizeof(int32_t));
    run->out = style__calloc(layers, sizeof(float *));
    run->diff = style__calloc(layers, sizeof(float *));
    run->tap_grad = style__calloc(layers, sizeof(float *));
    run->fused = style__calloc(layers, sizeof(bool));
    run->convs = style__calloc(layers, sizeof(tconv));
    run->argmax = style__calloc(layers, sizeof(uint8_t *));
    FAIL_IF(!run->out_h || !run->out_w || !run->out_c || !run->out || !run->diff ||
                !run->tap_grad || !run->fused || !run->convs || !run->argmax,
            STYLE_ERR_NOMEM, "feature run: out of memory");
    size_t image = (size_t)n * h * w * 3 * sizeof(float);
    run->input = style__aligned_alloc(image);
    if (!forward_only) {
        run->diff_input = style__aligned_alloc(image);
        run->diff_rgb = style__aligned_alloc(image);
    }
    FAIL_IF(!run->input || (!forward_only && (!run->diff_input || !run->diff_rgb)), STYLE_ERR_NOMEM,
            "feature run: out of memory");

    /* Shapes, fusion and buffers. */
    int32_t ch = h, cw = w, cc = 3;
    size_t scratch = 0;
    for (int32_t i = 0; i <= last; i++) {
        const fnet_layer *l = &net->layers[i];
        if (l->op == FNET_CONV) {
            ch = (ch + 2 * l->pad - l->kernel) / l->stride + 1;
            cw = (cw + 2 * l->pad - l->kernel) / l->stride + 1;
            cc = l->out_channels;
            FAIL_IF(ch < 1 || cw < 1, STYLE_ERR_INVALID_ARGUMENT,
                    "feature network '%s': a %dx%d image is too small for layer %d", net->name, w,
                    h, i);
        } else if (l->op == FNET_MAXPOOL) {
            ch /= 2, cw /= 2;
            FAIL_IF(ch < 1 || cw < 1, STYLE_ERR_INVALID_ARGUMENT,
                    "feature network '%s': a %dx%d image is too small for layer %d", net->name, w,
                    h, i);
        }
        run->out_h[i] = ch, run->out_w[i] = cw, run->out_c[i] = cc;
        run->fused[i] = i > 0 && net->layers[i - 1].op == FNET_CONV &&
                        (l->op == FNET_RELU || l->op == FNET_LEAKY_RELU) && !is_tap(net, i - 1);
    }
    for (int32_t i = last; i >= 0; i--) {
        size_t bytes = (size_t)n * run->out_h[i] * run->out_w[i] * run->out_c[i] * sizeof(float);
        if (i < last && run->fused[i + 1]) {
            /* The conv writes its activation's output directly. */
            run->out[i] = run->out[i + 1];
            run->diff[i] = run->diff[i + 1];
            continue;
        }
        run->out[i] = style__aligned_alloc(bytes);
        if (!forward_only) run->diff[i] = style__aligned_alloc(bytes);
        FAIL_IF(!run->out[i] || (!forward_only && !run->diff[i]), STYLE_ERR_NOMEM,
                "feature run: cannot allocate %zu bytes", bytes);
        if (!forward_only && is_tap(net, i)) {
            run->tap_grad[i] = style__aligned_alloc(bytes);
            FAIL_IF(!run->tap_grad[i], STYLE_ERR_NOMEM, "feature run: out of memory");
        }
        if (net->layers[i].op == FNET_MAXPOOL) {
            run->argmax[i] = style__malloc(bytes / sizeof(float));
            FAIL_IF(!run->argmax[i], STYLE_ERR_NOMEM, "feature run: out of memory");
        }
    }
    for (int32_t i = 0; i <= last; i++) {
        const fnet_layer *l = &net->layers[i];
        if (l->op != FNET_CONV) continue;
        bool fuse = i < last && run->fused[i + 1];
        float slope = !fuse                                ? -1.0f
                      : net->layers[i + 1].op == FNET_RELU ? 0.0f
                                                           : net->layers[i + 1].slope;
        conv_spec spec = {.in_channels = l->in_channels,
                          .out_channels = l->out_channels,
                          .kernel = l->kernel,
                          .stride = l->stride,
                          .pad_top = l->pad,
                          .pad_left = l->pad,
                          .pad_bottom = l->pad,
                          .pad_right = l->pad};
        int32_t in_h = i ? run->out_h[i - 1] : h, in_w = i ? run->out_w[i - 1] : w;
        bool diff_src = !forward_only && (i > 0 || need_input_grad);
        TRY(tconv_create_layout(&run->convs[i], dnn, &spec, slope, n, in_h, in_w, diff_src, true,
                                DNN_LAYOUT_NHWC, bf16));
        if (run->convs[i].scratchpad_bytes > scratch) scratch = run->convs[i].scratchpad_bytes;
        float *src = i ? run->out[i - 1] : run->input;
        float *diff_src_buf = !diff_src ? NULL : i ? run->diff[i - 1] : run->diff_input;
        TRY(tconv_bind(&run->convs[i], dnn, l->weight, l->bias, NULL, NULL, src, run->out[i],
                       diff_src_buf, run->diff[i]));
    }
    TRY(dnn_scratchpad_create(&run->scratchpad, dnn, scratch, "feature network"));
    return STYLE_OK;
fail:
    feature_run_destroy(run);
    return status;
}

style_status feature_run_create(feature_run *run, const feature_net *net, dnn_context *dnn,
                                int32_t n, int32_t h, int32_t w, int32_t last, bool need_input_grad,
                                bool bf16)
{
    return run_create(run, net, dnn, n, h, w, last, need_input_grad, false, bf16);
}

style_status feature_run_create_forward(feature_run *run, const feature_net *net, dnn_context *dnn,
                                        int32_t n, int32_t h, int32_t w, int32_t last, bool bf16)
{
    return run_create(run, net, dnn, n, h, w, last, false, true, bf16);
}

/* y = activation(x) over count floats. */
static void activation_forward(const float *x, float *y, size_t count, float slope)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        y[i] = x[i] > 0 ? x[i] : x[i] * slope;
}

style_status feature_run_forward(feature_run *run, dnn_context *dnn, const float *rgb)
{
    style_status status = STYLE_OK;
    const feature_net *net = run->net;
    const size_t pixels = (size_t)run->n * run->h * run->w;
    float scale[3], offset[3];
    for (int c = 0; c < 3; c++) {
        scale[c] = (float)(net->input_scale / net->input_std[c]);
        offset[c] = (float)(-net->input_mean[c] / net->input_std[c]);
    }
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < pixels; p++)
        for (int c = 0; c < 3; c++)
            run->input[p * 3 + c] = rgb[p * 3 + c] * scale[c] + offset[c];

    for (int32_t i = 0; i <= run->last; i++) {
        const fnet_layer *l = &net->layers[i];
        size_t count = (size_t)run->n * run->out_h[i] * run->out_w[i] * run->out_c[i];
        const float *prev = i ? run->out[i - 1] : run->input;
        if (run->tap_grad[i]) memset(run->tap_grad[i], 0, count * sizeof(float));
        if (run->fused[i]) continue;
        switch (l->op) {
        case FNET_CONV:
            TRY(tconv_forward(&run->convs[i], dnn, run->scratchpad));
            break;
        case FNET_RELU:
            activation_forward(prev, run->out[i], count, 0.0f);
            break;
        case FNET_LEAKY_RELU:
            activation_forward(prev, run->out[i], count, l->slope);
            break;
        case FNET_MAXPOOL: {
            int32_t ih = i ? run->out_h[i - 1] : run->h, iw = i ? run->out_w[i - 1] : run->w;
            size_t in_image = (size_t)ih * iw * run->out_c[i];
            size_t out_image = count / (size_t)run->n;
            for (int32_t b = 0; b < run->n; b++) {
                if (run->average_pooling)
                    avgpool2_forward_nhwc(prev + b * in_image, ih, iw, run->out_c[i],
                                          run->out[i] + b * out_image);
                else
                    maxpool2_forward_nhwc(prev + b * in_image, ih, iw, run->out_c[i],
                                          run->out[i] + b * out_image,
                                          run->argmax[i] + b * out_image);
            }
            break;
        }
        }
    }
    return STYLE_OK;
fail:
    return status;
}

float *feature_run_tap_grad(feature_run *run, int32_t layer)
{
    return layer >= 0 && layer <= run->last ? run->tap_grad[layer] : NULL;
}

const float *feature_run_output(const feature_run *run, int32_t layer)
{
    return layer >= 0 && layer <= run->last ? run->out[layer] : NULL;
}

static void add_into(float *dst, const float *src, size_t count)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        dst[i] += src[i];
}

static void activation_backward(const float *x, const float *dy, float *dx, size_t count,
                                float slope)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        dx[i] = x[i] > 0 ? dy[i] : dy[i] * slope;
}

style_status feature_run_backward(feature_run *run, dnn_context *dnn, const float **diff_rgb)
{
    style_status status = STYLE_OK;
    const feature_net *net = run->net;
    FAIL_IF(run->forward_only, STYLE_ERR_INTERNAL, "feature run: built for forward only");
    int32_t i = run->last;
    size_t last_count = (size_t)run->n * run->out_h[i] * run->out_w[i] * run->out_c[i];
    memset(run->diff[i], 0, last_count * sizeof(float));
    while (i >= 0) {
        const fnet_layer *l = &net->layers[i];
        size_t count = (size_t)run->n * run->out_h[i] * run->out_w[i] * run->out_c[i];
        if (run->tap_grad[i]) add_into(run->diff[i], run->tap_grad[i], count);
        /* Where this layer's input gradient goes (NULL: the image, not needed). */
        int32_t below = run->fused[i] ? i - 2 : i - 1;
        float *diff_below =
            below >= 0 ? run->diff[below] : (run->need_input_grad ? run->diff_input : NULL);
        const float *in = below >= 0 ? run->out[below] : run->input;
        if (run->fused[i] || l->op == FNET_CONV) {
            int32_t conv = run->fused[i] ? i - 1 : i;
            if (conv > 0 || run->need_input_grad)
                TRY(tconv_backward(&run->convs[conv], dnn, run->scratchpad));
        } else if (l->op == FNET_RELU || l->op == FNET_LEAKY_RELU) {
            if (diff_below)
                activation_backward(in, run->diff[i], diff_below, count,
                                    l->op == FNET_RELU ? 0.0f : l->slope);
        } else if (l->op == FNET_MAXPOOL && diff_below) {
            int32_t ih = below >= 0 ? run->out_h[below] : run->h;
            int32_t iw = below >= 0 ? run->out_w[below] : run->w;
            size_t in_image = (size_t)ih * iw * run->out_c[i], out_image = count / (size_t)run->n;
            for (int32_t b = 0; b < run->n; b++) {
                if (run->average_pooling)
                    avgpool2_backward_nhwc(run->diff[i] + b * out_image, ih, iw, run->out_c[i],
                                           diff_below + b * in_image);
                else
                    maxpool2_backward_nhwc(run->diff[i] + b * out_image,
                                           run->argmax[i] + b * out_image, ih, iw, run->out_c[i],
                                           diff_below + b * in_image);
            }
        }
        i = below;
    }
    if (run->need_input_grad) {
        const size_t pixels = (size_t)run->n * run->h * run->w;
        float scale[3];
        for (int c = 0; c < 3; c++)
            scale[c] = (float)(net->input_scale / net->input_std[c]);
#pragma omp parallel for schedule(static)
        for (size_t p = 0; p < pixels; p++)
            for (int c = 0; c < 3; c++)
                run->diff_rgb[p * 3 + c] = run->diff_input[p * 3 + c] * scale[c];
    }
    *diff_rgb = run->need_input_grad ? run->diff_rgb : NULL;
    return STYLE_OK;
fail:
    return status;
}

void feature_run_destroy(feature_run *run)
{
    if (!run) return;
    int32_t layers = run->out ? run->last + 1 : 0;
    for (int32_t i = layers - 1; i >= 0; i--) {
        if (run->convs) tconv_destroy(&run->convs[i]);
        if (run->tap_grad) style__aligned_free(run->tap_grad[i]);
        if (run->argmax) style__free(run->argmax[i]);
        /* Fused pairs share buffers: free each once, at the higher index. */
        if (i < run->last && run->fused && run->fused[i + 1]) continue;
        style__aligned_free(run->out[i]);
        if (run->diff) style__aligned_free(run->diff[i]);
    }
    style__free(run->out_h);
    style__free(run->out_w);
    style__free(run->out_c);
    style__free(run->out);
    style__free(run->diff);
    style__free(run->tap_grad);
    style__free(run->fused);
    style__free(run->convs);
    style__free(run->argmax);
    style__aligned_free(run->input);
    style__aligned_free(run->diff_input);
    style__aligned_free(run->diff_rgb);
    dnn_scratchpad_free(run->scratchpad);
    memset(run, 0, sizeof *run);
}
