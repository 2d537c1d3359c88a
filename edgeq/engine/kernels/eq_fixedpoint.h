/* Fixed-point helpers shared by the edgeq compiled-C kernels.
 *
 * Integer requantization as the TFLite quantization spec and gemmlowp define it (double rounding:
 * a rounding doubling high multiply, then a rounding right shift). Written so that no input value is
 * undefined behaviour in C99: shifts of negative values go through uint32_t. */
#ifndef EQ_FIXEDPOINT_H
#define EQ_FIXEDPOINT_H

#include <stdint.h>

#define EQ_INT32_MIN ((int32_t)(-2147483647 - 1))
#define EQ_INT32_MAX ((int32_t)2147483647)

static inline int32_t eq_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t eq_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t eq_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* x * 2^shift with two's-complement wrap-around, shift in [0, 31] (signed overflow would be UB). */
static inline int32_t eq_shl_wrap(int32_t x, int shift) {
    return (int32_t)((uint32_t)x << shift);
}

/* round(2 * a * b / 2^32) with halves away from zero; the one overflowing case saturates. */
static inline int32_t eq_srdhm(int32_t a, int32_t b) {
    int64_t ab;
    int64_t nudge;
    if (a == b && a == EQ_INT32_MIN) {
        return EQ_INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* C division truncates toward zero, which is what the reference definition relies on. */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent, rounded to nearest with halves away from zero; exponent in [0, 31]. */
static inline int32_t eq_rounding_divide_by_pot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^(shift - 31): TFLite's MultiplyByQuantizedMultiplier (multiplier from
 * QuantizeMultiplier, shift > 0 is a left shift before the multiply, shift < 0 a rounding right shift). */
static inline int32_t eq_mul_by_quantized_mul(int32_t x, int32_t multiplier, int32_t shift) {
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    return eq_rounding_divide_by_pot(eq_srdhm(eq_shl_wrap(x, left), multiplier), right);
}

/* The same for multipliers < 1 (left_shift <= 0): TFLite's MultiplyByQuantizedMultiplierSmallerThanOneExp. */
static inline int32_t eq_mul_by_quantized_mul_smaller_than_one(int32_t x, int32_t multiplier,
                                                               int32_t left_shift) {
    return eq_rounding_divide_by_pot(eq_srdhm(x, multiplier), (int)-left_shift);
}

/* x * 2^exponent saturated to int32 (exponent > 0), or a rounding divide (exponent < 0):
 * gemmlowp's SaturatingRoundingMultiplyByPOT for a run-time exponent in [-31, 30]. */
static inline int32_t eq_sat_rounding_mul_by_pot(int32_t x, int exponent) {
    int32_t threshold;
    if (exponent == 0) {
        return x;
    }
    if (exponent < 0) {
        return eq_rounding_divide_by_pot(x, -exponent);
    }
    threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) {
        return EQ_INT32_MAX;
    }
    if (x < -threshold) {
        return EQ_INT32_MIN;
    }
    return eq_shl_wrap(x, exponent);
}

#endif /* EQ_FIXEDPOINT_H */
