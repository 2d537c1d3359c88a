/* edgeq compiled-C engine: element-wise int8 ops (ADD, SUB, MUL with broadcasting; RELU, RELU6,
 * 8-bit requantization). In-place use (out == in1) is safe: each output is written after its inputs
 * at the same index are read. */
#include "eq_fixedpoint.h"
#include "eq_kernels.h"

/* One output value of a binary op from its two input values, given the op's parameter struct. */
typedef int8_t (*eq_binary_fn)(const void *params, int32_t x1, int32_t x2);

/* out[i] = fn(in1[j1], in2[j2]) for every output index i, with the inputs' element offsets j1, j2 stepped
 * by an odometer over the output dims (or equal to i when nothing broadcasts). */
static void eq_binary(const eq_broadcast *b, int32_t n, const int8_t *in1, const int8_t *in2, int8_t *out,
                      eq_binary_fn fn, const void *params) {
    int32_t idx[EQ_MAX_DIMS];
    int32_t i, d, j1 = 0, j2 = 0;
    if (b == 0 || b->ndim == 0) {
        for (i = 0; i < n; ++i) {
            out[i] = fn(params, in1[i], in2[i]);
        }
        return;
    }
    for (d = 0; d < b->ndim; ++d) {
        idx[d] = 0;
    }
    for (i = 0; i < n; ++i) {
        out[i] = fn(params, in1[j1], in2[j2]);
        for (d = b->ndim - 1; d >= 0; --d) {
            ++idx[d];
            j1 += b->stride1[d];
            j2 += b->stride2[d];
            if (idx[d] < b->dims[d]) {
                break;
            }
            j1 -= b->stride1[d] * b->dims[d];
            j2 -= b->stride2[d] * b->dims[d];
            idx[d] = 0;
        }
    }
}

/* ADD (sign +1) and SUB (sign -1): both inputs shifted left and rescaled to a common scale, combined,
 * then rescaled to the output. */
static inline int8_t eq_add_sub(const eq_add_params *p, int32_t x1, int32_t x2, int32_t sign) {
    const int32_t a = eq_shl_wrap(p->input1_offset + x1, (int)p->left_shift);
    const int32_t b = eq_shl_wrap(p->input2_offset + x2, (int)p->left_shift);
    const int32_t sa = eq_mul_by_quantized_mul_smaller_than_one(a, p->input1_mult, p->input1_shift);
    const int32_t sb = eq_mul_by_quantized_mul_smaller_than_one(b, p->input2_mult, p->input2_shift);
    const int32_t raw = sign > 0 ? sa + sb : sa - sb;
    const int32_t v = eq_mul_by_quantized_mul_smaller_than_one(raw, p->output_mult, p->output_shift) +
                      p->output_offset;
    return (int8_t)eq_clamp_i32(v, p->act_min, p->act_max);
}

static int8_t eq_add_one(const void *params, int32_t x1, int32_t x2) {
    return eq_add_sub((const eq_add_params *)params, x1, x2, 1);
}

static int8_t eq_sub_one(const void *params, int32_t x1, int32_t x2) {
    return eq_add_sub((const eq_add_params *)params, x1, x2, -1);
}

static int8_t eq_mul_one(const void *params, int32_t x1, int32_t x2) {
    const eq_mul_params *p = (const eq_mul_params *)params;
    const int32_t product = (p->input1_offset + x1) * (p->input2_offset + x2);
    const int32_t v = p->output_offset + eq_mul_by_quantized_mul(product, p->output_mult, p->output_shift);
    return (int8_t)eq_clamp_i32(v, p->act_min, p->act_max);
}

void eq_add_s8(const eq_add_params *p, const eq_broadcast *b, int32_t n, const int8_t *in1,
               const int8_t *in2, int8_t *out) {
    eq_binary(b, n, in1, in2, out, eq_add_one, p);
}

void eq_sub_s8(const eq_add_params *p, const eq_broadcast *b, int32_t n, const int8_t *in1,
               const int8_t *in2, int8_t *out) {
    eq_binary(b, n, in1, in2, out, eq_sub_one, p);
}

void eq_mul_s8(const eq_mul_params *p, const eq_broadcast *b, int32_t n, const int8_t *in1,
               const int8_t *in2, int8_t *out) {
    eq_binary(b, n, in1, in2, out, eq_mul_one, p);
}

void eq_requantize_8(const eq_requant_params *p, int32_t n, const void *in, void *out) {
    const int8_t *in_s = (const int8_t *)in;
    const uint8_t *in_u = (const uint8_t *)in;
    int8_t *out_s = (int8_t *)out;
    uint8_t *out_u = (uint8_t *)out;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t x = p->input_unsigned ? (int32_t)in_u[i] : (int32_t)in_s[i];
        const int32_t v = eq_clamp_i32(
            p->output_offset + eq_mul_by_quantized_mul(x - p->input_offset, p->mult, p->shift), p->act_min,
            p->act_max);
        if (p->output_unsigned) {
            out_u[i] = (uint8_t)v;
        } else {
            out_s[i] = (int8_t)v;
        }
    }
}

void eq_clamp_s8(const int8_t *in, int8_t *out, int32_t n, int32_t lo, int32_t hi) {
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = (int8_t)eq_clamp_i32(in[i], lo, hi);
    }
}
