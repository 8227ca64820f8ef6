/*
 * Conversions between float32 and the 16-bit float formats that weights files carry:
 * IEEE 754 binary16 ("F16") and bfloat16 ("BF16", the upper half of a float32).
 * Widening is exact for every input (subnormals, infinities, NaN payloads included);
 * narrowing rounds to nearest, ties to even, like PyTorch's .half() and .bfloat16().
 */
#ifndef STYLE_HALF_H
#define STYLE_HALF_H

#include <stdint.h>

float style__f16_to_f32(uint16_t bits);
uint16_t style__f32_to_f16(float value);

float style__bf16_to_f32(uint16_t bits);
uint16_t style__f32_to_bf16(float value);

#endif
