/* float32 <-> binary16 / bfloat16, bit by bit so the result never depends on the FPU mode. */
#include "core/half.h"

#include <string.h>

static float style__bits_to_f32(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static uint32_t style__f32_to_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

float style__f16_to_f32(uint16_t bits)
{
    uint32_t sign = (uint32_t)(bits & 0x8000u) << 16;
    uint32_t exponent = (bits >> 10) & 0x1fu;
    uint32_t mantissa = bits & 0x3ffu;

    if (exponent == 0x1f) /* inf or NaN: keep the payload, it fits in the wider mantissa */
        return style__bits_to_f32(sign | 0x7f800000u | (mantissa << 13));
    if (exponent != 0) /* normal: rebias the exponent from 15 to 127 */
        return style__bits_to_f32(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    if (mantissa == 0) return style__bits_to_f32(sign); /* +-0 */

    /* Subnormal: mantissa x 2^-24, which is a normal float32. Normalise by hand. */
    uint32_t shift = 0;
    while (!(mantissa & 0x400u)) {
        mantissa <<= 1;
        shift++;
    }
    /* 2^-14 has float32 exponent field 113; each shift halves the value. */
    return style__bits_to_f32(sign | ((113u - shift) << 23) | ((mantissa & 0x3ffu) << 13));
}

uint16_t style__f32_to_f16(float value)
{
    uint32_t bits = style__f32_to_bits(value);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t magnitude = bits & 0x7fffffffu;

    if (magnitude > 0x7f800000u) /* NaN: keep the top payload bits and make sure it stays NaN */
        return (uint16_t)(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
    /* 65520 (halfway between 65504 and 65536) and above round to infinity */
    if (magnitude >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);

    if (magnitude < 0x38800000u) { /* below 2^-14: a binary16 subnormal or zero */
        uint32_t exponent = magnitude >> 23;
        if (exponent < 102) return sign; /* below 2^-25: rounds to zero */
        uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - exponent; /* 14..24: value x 2^24 = mantissa >> shift */
        uint32_t result = mantissa >> shift;
        uint32_t rest = mantissa & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rest > half || (rest == half && (result & 1))) result++; /* may carry to 2^-14 */
        return (uint16_t)(sign | result);
    }

    /* Normal: rebias 127 -> 15 and drop 13 mantissa bits; a carry into the exponent is right. */
    uint32_t rebiased = magnitude - 0x38000000u;
    uint32_t result = rebiased >> 13;
    uint32_t rest = rebiased & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (result & 1))) result++;
    return (uint16_t)(sign | result);
}

float style__bf16_to_f32(uint16_t bits)
{
    return style__bits_to_f32((uint32_t)bits << 16);
}

uint16_t style__f32_to_bf16(float value)
{
    uint32_t bits = style__f32_to_bits(value);
    if ((bits & 0x7fffffffu) > 0x7f800000u) /* NaN: truncating could leave an infinity */
        return (uint16_t)((bits >> 16) | 0x40u);
    bits += 0x7fffu + ((bits >> 16) & 1u); /* round to nearest, ties to even */
    return (uint16_t)(bits >> 16);
}
