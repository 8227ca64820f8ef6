/*
 * Time of the temporal blend (motion both ways, checks, blend) on two real frames, for
 * docs/video.md. Not built by CMake; from the repository root, after building:
 *
 *   ffmpeg -v error -i ../shared/datasets/video/cityCC0.mpg -frames:v 2 /tmp/frame%d.png
 *   gcc -O2 -Isrc -Iinclude tests/bench/temporal_blend_time.c build/libstyle_internal.a \
 *       -o /tmp/temporal_blend_time $(pkg-config --libs libpng libturbojpeg jansson libexif \
 *       libwebp libcrypto kissfft-float) -ldnnl -lm -fopenmp
 *   /tmp/temporal_blend_time /tmp/frame1.png /tmp/frame2.png
 */
#include "session/temporal_blend.h"

#include <stdio.h>
#include <time.h>

int main(int argc, char **argv)
{
    style_image a = {0}, b = {0}, out = {0};
    if (argc != 3 || style_image_load(argv[1], 0, &a) != STYLE_OK ||
        style_image_load(argv[2], 0, &b) != STYLE_OK || a.width != b.width ||
        a.height != b.height ||
        style_image_alloc(&out, a.width, a.height, 3, STYLE_SAMPLE_U8) != STYLE_OK) {
        fprintf(stderr, "usage: temporal_blend_time FRAME1 FRAME2 (two images of one size)\n");
        return 2;
    }
    temporal_state state = {0};
    enum { RUNS = 5 };
    if (temporal_blend_apply(&state, 0.7f, &a, &out) != STYLE_OK) return 1;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < RUNS; i++)
        if (temporal_blend_apply(&state, 0.7f, i % 2 ? &a : &b, &out) != STYLE_OK) return 1;
    clock_gettime(CLOCK_MONOTONIC, &end);
    const double ms =
        ((double)(end.tv_sec - start.tv_sec) * 1e3 + (double)(end.tv_nsec - start.tv_nsec) / 1e6) /
        RUNS;
    printf("%dx%d: %.1f ms a frame (motion both ways, checks, blend), %.2f of it blended\n",
           (int)a.width, (int)a.height, ms, state.reliable);
    temporal_state_release(&state);
    style_image_release(&a);
    style_image_release(&b);
    style_image_release(&out);
    return 0;
}
