/*
 * Fuzz target: image decoding as the library does it (style_image_load_memory). Built three
 * times, with FUZZ_IMAGE_PNG 1 or 0 and FUZZ_IMAGE_WEBP 1 or 0: the PNG signature, the JPEG
 * SOI or WebP's "RIFF" is put in front of the input, so that each target spends its time
 * inside one decoder instead of mutating the signature (WebP's RIFF size and "WEBP" form
 * stay in the input, so that a wrong size is fuzzed too).
 * Seeds are therefore files without their first bytes (tests/fuzz/make_seeds.py).
 */
#include "libstyle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if FUZZ_IMAGE_WEBP
static const uint8_t magic[] = {'R', 'I', 'F', 'F'};
#elif FUZZ_IMAGE_PNG
static const uint8_t magic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
#else
static const uint8_t magic[] = {0xff, 0xd8}; /* JPEG SOI */
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(sizeof magic + size);
    if (!file) return 0;
    memcpy(file, magic, sizeof magic);
    if (size) memcpy(file + sizeof magic, data, size);
    style_image image;
    /* 4 megapixels: enough for any decoder path, small enough to keep inputs fast. */
    if (style_image_load_memory(file, sizeof magic + size, 4u << 20, &image) == STYLE_OK)
        style_image_release(&image);
    free(file);
    return 0;
}
