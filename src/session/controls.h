/*
 * The user controls of a stylize run (strength, colour preservation, scale): the settings, their
 * checks and the scaled size; the operations on pixels are image/color.h's.
 */
#ifndef STYLE_CONTROLS_H
#define STYLE_CONTROLS_H

#include "core/common.h"

/* A session's control settings. */
typedef struct style_controls {
    float strength;      /* 0..1; 1 = the stylized output as the network makes it */
    bool preserve_color; /* keep the content's chroma */
    float scale;         /* the network runs at scale x the input size */
} style_controls;

/* The settings of a new session: strength 1, colours not preserved, scale 1. */
style_controls controls_default(void);

/* True when the controls change nothing (the run is the plain network run, bit for bit). */
bool controls_are_identity(const style_controls *controls);

/* Validation of the setters; messages name the setter and the value. */
style_status controls_check_strength(float strength);
style_status controls_check_scale(float scale);

/*
 * The size the network runs at for an input of `size` pixels: round(size * scale), at least 1.
 * Fails with STYLE_ERR_LIMIT when it would not fit in an int32_t.
 */
style_status controls_scaled_size(int32_t size, float scale, int32_t *out);

#endif
