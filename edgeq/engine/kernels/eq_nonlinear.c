/* Integer-only int8 SOFTMAX, LOGISTIC and TANH, bit-exact with TFLM's reference kernels.
 *
 * The arithmetic follows the published gemmlowp fixed-point definitions: a value in format Qm has m
 * integer bits and 31 - m fractional bits in an int32; a product of Qa and Qb is a rounding doubling
 * high multiply in Q(a+b); changing the format is a rounding right shift or a saturating left shift.
 * Every step below must keep the exact operation order of the reference, because each rounding is
 * observable in the last bit of the int8 result.
 *
 * `out` may alias `in` in all three kernels: each output element depends only on its own input
 * element and on per-row values computed before any output is written. */
#include "eq_nonlinear.h"

#include "eq_fixedpoint.h"

#define EQ_NL_Q2_ONE ((int32_t)1 << 29) /* 1.0 in Q2 */

/* (a + b) / 2 rounded to nearest, halves away from zero, without int32 overflow. */
static int32_t eq_nl_rounding_half_sum(int32_t a, int32_t b) {
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2); /* C division truncates toward zero, as the reference's */
}

/* exp(a) for a in [-1/4, 0), a and the result in Q0: Taylor series around -1/8. */
static int32_t eq_nl_exp_quarter_interval(int32_t a) {
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0 */
    const int32_t one_third = 715827883;             /* 1/3 in Q0 */
    const int32_t x = a + ((int32_t)1 << 28);        /* a + 1/8 */
    const int32_t x2 = eq_srdhm(x, x);
    const int32_t x3 = eq_srdhm(x2, x);
    const int32_t x4 = eq_srdhm(x2, x2);
    const int32_t x4_over_4 = eq_rounding_divide_by_pot(x4, 2);
    /* x^4/24 + x^3/6 + x^2/2 == ((x^4/4 + x^3) / 3 + x^2) / 2 */
    const int32_t higher_terms =
        eq_rounding_divide_by_pot(eq_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return exp_minus_one_eighth + eq_srdhm(exp_minus_one_eighth, x + higher_terms);
}

/* exp(a) for a <= 0 given in Q(integer_bits); the result in Q0 (exp(0) saturates to INT32_MAX).
 * The argument is split into a part in [-1/4, 0) and a multiple of 1/4 whose set bits each
 * multiply the result by a constant exp(-2^k). */
static int32_t eq_nl_exp_on_negative_values(int32_t a, int integer_bits) {
    /* exp(-2^k) in Q0 for k = -2 .. 4 */
    static const int32_t exp_of_minus_pot[7] = {1672461947, 1302514674, 790015084, 290630308,
                                                39332535,   720401,     242};
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (one_quarter - 1)) - one_quarter;
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    int32_t result = eq_nl_exp_quarter_interval(
        eq_sat_rounding_mul_by_pot(a_mod_quarter_minus_quarter, integer_bits));
    int k;
    for (k = 0; k < 7; ++k) {
        const int exponent = k - 2;
        if (integer_bits > exponent &&
            (remainder & ((int32_t)1 << (fractional_bits + exponent))) != 0) {
            result = eq_srdhm(result, exp_of_minus_pot[k]);
        }
    }
    if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits))) {
        result = 0; /* below -32 the barrel shifter above runs out of bits */
    }
    if (a == 0) {
        result = EQ_INT32_MAX;
    }
    return result;
}

/* 1 / half_denominator for half_denominator in [1/2, 1) (Q0), result in Q2: three Newton-Raphson
 * steps from the 48/17 - 32/17 * d initial guess. */
static int32_t eq_nl_reciprocal_of_half_denominator(int32_t half_denominator) {
    const int32_t c48_over_17 = 1515870810;     /* Q2 */
    const int32_t c_neg_32_over_17 = -1010580540; /* Q2 */
    int32_t x = c48_over_17 + eq_srdhm(half_denominator, c_neg_32_over_17);
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = eq_srdhm(half_denominator, x); /* Q2 */
        const int32_t one_minus = EQ_NL_Q2_ONE - half_denominator_times_x;     /* Q2 */
        /* Q2 * Q2 is Q4; back to Q2 with a saturating doubling twice */
        x = x + eq_sat_rounding_mul_by_pot(eq_srdhm(x, one_minus), 2);
    }
    return x;
}

/* 1 / (1 + a) for a in [0, 1), Q0 in and out. */
static int32_t eq_nl_one_over_one_plus_x(int32_t a) {
    const int32_t x = eq_nl_reciprocal_of_half_denominator(eq_nl_rounding_half_sum(a, EQ_INT32_MAX));
    /* 1/(1+a) = (1/half_denominator) / 2: the same raw value read as Q1, then rescaled to Q0 */
    return eq_sat_rounding_mul_by_pot(x, 1);
}

/* (1 - a) / (1 + a) for a in [0, 1), Q0 in and out. */
static int32_t eq_nl_one_minus_x_over_one_plus_x(int32_t a) {
    const int32_t x = eq_nl_reciprocal_of_half_denominator(eq_nl_rounding_half_sum(a, EQ_INT32_MAX));
    return eq_sat_rounding_mul_by_pot(x - EQ_NL_Q2_ONE, 2); /* 1/half_denominator - 1, Q2 -> Q0 */
}

/* logistic(a) for a in Q4, result in Q0. */
static int32_t eq_nl_logistic_q4(int32_t a) {
    int32_t positive;
    if (a == 0) {
        return (int32_t)1 << 30; /* exactly 1/2 */
    }
    positive = eq_nl_one_over_one_plus_x(eq_nl_exp_on_negative_values(a > 0 ? -a : a, 4));
    return a > 0 ? positive : EQ_INT32_MAX - positive;
}

/* tanh(a) for a in Q4, result in Q0. */
static int32_t eq_nl_tanh_q4(int32_t a) {
    int32_t magnitude;
    if (a == 0) {
        return 0;
    }
    /* exp(-2|a|): the raw -|a| read as Q5 is -2|a| */
    magnitude = eq_nl_one_minus_x_over_one_plus_x(eq_nl_exp_on_negative_values(a < 0 ? a : -a, 5));
    return a < 0 ? -magnitude : magnitude;
}

/* Leading zero bits of a 32-bit value (32 for 0). */
static int eq_nl_clz32(uint32_t x) {
#if defined(__GNUC__)
    return x == 0 ? 32 : __builtin_clz(x);
#else
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & 0x80000000u) == 0) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

/* exp(beta * input_scale * diff) in Q0 for diff = x - row max (diff in [diff_min, 0]). */
static int32_t eq_nl_softmax_exp(int32_t diff, const eq_softmax_params *p) {
    /* diff * 2^left_shift cannot overflow: |diff| <= -diff_min keeps it below 31 * 2^26. */
    const int32_t scaled = eq_srdhm(eq_shl_wrap(diff, (int)p->input_left_shift), p->input_multiplier);
    return eq_nl_exp_on_negative_values(scaled, 5); /* Q5: inputs down to -32 */
}

void eq_softmax_s8(const int8_t *in, int8_t *out, int32_t rows, int32_t depth, const eq_softmax_params *p) {
    int32_t r;
    for (r = 0; r < rows; ++r) {
        const int8_t *row_in = in + (int32_t)(r * depth);
        int8_t *row_out = out + (int32_t)(r * depth);
        int32_t max_in_row = -128;
        uint32_t sum_of_exps = 0; /* Q12; unsigned so that an (unreachable) overflow wraps */
        int headroom_plus_one;
        int32_t reciprocal;
        int exponent;
        int32_t c;
        if (depth <= 0) {
            return;
        }
        for (c = 0; c < depth; ++c) {
            max_in_row = row_in[c] > max_in_row ? row_in[c] : max_in_row;
        }
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)row_in[c] - max_in_row;
            if (diff >= p->diff_min) {
                sum_of_exps += (uint32_t)eq_rounding_divide_by_pot(eq_nl_softmax_exp(diff, p), 12);
            }
        }
        /* sum = 2^(12 - headroom_plus_one) * (1 + f) with f in [0, 1): reciprocal of (1 + f) in Q0.
         * The row max alone adds 2^19, so the sum is 0 only if 8192 equal values wrap it around
         * (undefined in the reference); the cap keeps even that case defined. */
        headroom_plus_one = eq_nl_clz32(sum_of_exps);
        headroom_plus_one = headroom_plus_one > 31 ? 31 : headroom_plus_one;
        reciprocal = eq_nl_one_over_one_plus_x(
            (int32_t)((sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31)));
        /* output = exp * reciprocal / 2^(bits over unit) * 256, in one rounding shift */
        exponent = (12 - headroom_plus_one) + 31 - 8;
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)row_in[c] - max_in_row;
            int32_t value = -128;
            if (diff >= p->diff_min) {
                const int32_t product = eq_srdhm(reciprocal, eq_nl_softmax_exp(diff, p));
                /* exponent > 31 needs a sum of exps >= 512 (depth >= 512); TFLM aborts there
                 * (TFLITE_CHECK), we return the correctly rounded 0 of a value below 2^31 / 2^32. */
                const int32_t unsaturated = exponent > 31 ? 0 : eq_rounding_divide_by_pot(product, exponent);
                value = eq_clamp_i32(unsaturated - 128, -128, 127);
            }
            row_out[c] = (int8_t)value;
        }
    }
}

/* LOGISTIC and TANH alike: inputs at or beyond the radius saturate, the rest are rescaled to Q4, mapped
 * by `f` to Q0 and rounded down to the output's steps (2^-output_bits) around `output_zero_point`.
 * Inlined with a constant `f`, so each kernel gets its own loop without an indirect call. */
static inline void eq_nl_pointwise(const int8_t *in, int8_t *out, int32_t n, int32_t input_zero_point,
                                   int32_t radius, int32_t multiplier, int32_t left_shift,
                                   int32_t (*f)(int32_t), int output_bits, int32_t output_zero_point) {
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t x = (int32_t)in[i] - input_zero_point;
        int32_t value;
        if (x <= -radius) {
            value = -128;
        } else if (x >= radius) {
            value = 127;
        } else {
            /* inside the radius |x| * 2^left_shift < 15 * 2^27: the Q4 input cannot overflow */
            const int32_t x_q4 = eq_mul_by_quantized_mul(x, multiplier, left_shift);
            value = eq_clamp_i32(eq_rounding_divide_by_pot(f(x_q4), 31 - output_bits) + output_zero_point,
                                 -128, 127);
        }
        out[i] = (int8_t)value;
    }
}

void eq_logistic_s8(const int8_t *in, int8_t *out, int32_t n, const eq_logistic_params *p) {
    /* 1/256 steps (Q0 >> 23) with zero point -128 */
    eq_nl_pointwise(in, out, n, p->input_zero_point, p->input_range_radius, p->input_multiplier,
                    p->input_left_shift, eq_nl_logistic_q4, 8, -128);
}

void eq_tanh_s8(const int8_t *in, int8_t *out, int32_t n, const eq_tanh_params *p) {
    /* 1/128 steps (Q0 >> 24) with zero point 0 */
    eq_nl_pointwise(in, out, n, p->input_zero_point, p->input_range_radius, p->input_multiplier,
                    p->input_left_shift, eq_nl_tanh_q4, 7, 0);
}
