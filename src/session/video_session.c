/*
 * Video sessions (include/libstyle.h): a session plus the instance-norm statistics smoothed
 * over the frames of a stream (norm_ema.h).
 */
#include "arch/arch.h"
#include "model/model.h"
#include "session/norm_ema.h"
#include "session/temporal_blend.h"

#include <math.h>

struct style_video {
    style_session *session;
    norm_ema_store stats;
    float blend_weight; /* temporal_blend */
    temporal_state previous;
    uint64_t frames;
};

style_status style_video_create(style_model *model, const style_video_settings *settings,
                                style_video **out)
{
    style_status status = STYLE_OK;
    style_video *video = NULL;
    if (out) *out = NULL;
    FAIL_IF(!model || !out, STYLE_ERR_INVALID_ARGUMENT, "video_create: NULL argument");
    FAIL_IF(settings && settings->struct_size < sizeof(size_t), STYLE_ERR_INVALID_ARGUMENT,
            "video_create: settings.struct_size is not set");
    float weight = STYLE_DEFAULT_NORM_SMOOTHING;
    if (settings)
        weight = settings->struct_size >= offsetof(style_video_settings, norm_smoothing) +
                                              sizeof settings->norm_smoothing
                     ? settings->norm_smoothing
                     : 0.0f;
    FAIL_IF(!(weight >= 0.0f && weight < 1.0f), STYLE_ERR_INVALID_ARGUMENT,
            "video_create: norm_smoothing %g is not in [0, 1)", (double)weight);
    float blend = STYLE_DEFAULT_TEMPORAL_BLEND;
    if (settings && settings->struct_size >= offsetof(style_video_settings, temporal_blend) +
                                                 sizeof settings->temporal_blend)
        blend = settings->temporal_blend;
    FAIL_IF(!(blend >= 0.0f && blend < 1.0f), STYLE_ERR_INVALID_ARGUMENT,
            "video_create: temporal_blend %g is not in [0, 1)", (double)blend);
    FAIL_IF(weight > 0.0f && !model->arch->smooths_norms(model), STYLE_ERR_UNSUPPORTED,
            "video_create: smoothing the norm statistics needs a model with instance norms "
            "(arch %s has none); use norm_smoothing 0",
            model->arch_name);
    video = style__calloc(1, sizeof *video);
    FAIL_IF(!video, STYLE_ERR_NOMEM, "video_create: out of memory");
    norm_ema_store_init(&video->stats, weight);
    video->blend_weight = blend;
    TRY(style_session_create(model, &video->session));
    style__session_set_norm_ema(video->session, &video->stats);
    *out = video;
    return STYLE_OK;
fail:
    style_video_free(video);
    return status;
}

style_session *style_video_session(style_video *video)
{
    return video ? video->session : NULL;
}

style_status style_video_push_frame(style_video *video, const style_image *frame,
                                    style_image *output)
{
    if (!video)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "video_push_frame: NULL video session");
    style_status status = style_session_stylize(video->session, frame, output);
    if (status == STYLE_OK && video->blend_weight > 0.0f)
        status = temporal_blend_apply(&video->previous, video->blend_weight, frame, output);
    if (status != STYLE_OK) {
        norm_ema_store_reset(&video->stats); /* a frame may have updated some of the norms */
        temporal_state_reset(&video->previous);
        return status;
    }
    video->frames++;
    return STYLE_OK;
}

style_status style_video_reset(style_video *video)
{
    if (!video) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "video_reset: NULL video session");
    norm_ema_store_reset(&video->stats);
    temporal_state_reset(&video->previous);
    return STYLE_OK;
}

uint64_t style_video_frame_count(const style_video *video)
{
    return video ? video->frames : 0;
}

void style_video_free(style_video *video)
{
    if (!video) return;
    style_session_free(video->session);
    norm_ema_store_destroy(&video->stats);
    temporal_state_release(&video->previous);
    style__free(video);
}
