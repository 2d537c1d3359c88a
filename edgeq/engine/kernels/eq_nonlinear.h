/* Integer-only int8 SOFTMAX, LOGISTIC and TANH for the edgeq compiled-C engine.
 *
 * Bit-exact with TensorFlow Lite Micro's reference kernels: the same gemmlowp-style fixed-point
 * exp / logistic / tanh / reciprocal evaluated on the same integer inputs. The parameters are derived
 * at code-generation time by edgeq/engine/nonlinear.py (mirroring TFLM's Prepare step); the kernels
 * never touch floating point and never allocate. */
#ifndef EQ_NONLINEAR_H
#define EQ_NONLINEAR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* SOFTMAX int8 -> int8 (output scale 1/256, zero point -128). */
typedef struct eq_softmax_params {
    int32_t input_multiplier; /* beta * input_scale * 2^26 as a Q31 significand ... */
    int32_t input_left_shift; /* ... and its power-of-two exponent (>= 0) */
    int32_t diff_min;         /* differences from the row max below this contribute exactly 0 */
} eq_softmax_params;

/* LOGISTIC int8 -> int8 (output scale 1/256, zero point -128). */
typedef struct eq_logistic_params {
    int32_t input_zero_point;
    int32_t input_range_radius; /* |input - zero_point| >= radius saturates the output */
    int32_t input_multiplier;   /* input_scale * 2^27 as a Q31 significand ... */
    int32_t input_left_shift;   /* ... and its power-of-two exponent */
} eq_logistic_params;

/* TANH int8 -> int8 (output scale 1/128, zero point 0). */
typedef struct eq_tanh_params {
    int32_t input_zero_point;
    int32_t input_range_radius;
    int32_t input_multiplier;
    int32_t input_left_shift;
} eq_tanh_params;

/* Softmax over the innermost dimension: `rows` independent rows of `depth` values each. */
void eq_softmax_s8(const int8_t *in, int8_t *out, int32_t rows, int32_t depth, const eq_softmax_params *p);

/* Element-wise logistic (sigmoid) of `n` values. */
void eq_logistic_s8(const int8_t *in, int8_t *out, int32_t n, const eq_logistic_params *p);

/* Element-wise tanh of `n` values. */
void eq_tanh_s8(const int8_t *in, int8_t *out, int32_t n, const eq_tanh_params *p);

#ifdef __cplusplus
}
#endif

#endif /* EQ_NONLINEAR_H */
