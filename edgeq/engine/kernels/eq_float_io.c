/* edgeq compiled-C engine: QUANTIZE from float and DEQUANTIZE to float, for models with float I/O.
 * These are the only kernels that use floating point, and only at the model's boundaries. */
#include "eq_kernels.h"

/* C's roundf (halves away from zero) without libm: exact for every float. */
static int32_t eq_round_clamped(float x, int32_t lo, int32_t hi) {
    int32_t t;
    float frac;
    if (!(x == x)) {
        return lo; /* NaN */
    }
    if (x <= (float)lo - 1.0f) {
        return lo;
    }
    if (x >= (float)hi + 1.0f) {
        return hi;
    }
    t = (int32_t)x; /* truncates toward zero; |x| is small here, so this is defined */
    frac = x - (float)t;
    if (frac >= 0.5f) {
        ++t;
    } else if (frac <= -0.5f) {
        --t;
    }
    return t < lo ? lo : (t > hi ? hi : t);
}

void eq_quantize_f32(const eq_quantize_params *p, int32_t n, const float *in, void *out) {
    int8_t *out_s = (int8_t *)out;
    uint8_t *out_u = (uint8_t *)out;
    /* round(x / scale) is clamped to [qmin - zp, qmax - zp] before the zero point is added. */
    const int32_t lo = p->qmin - p->zero_point;
    const int32_t hi = p->qmax - p->zero_point;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t q = eq_round_clamped(in[i] / p->scale, lo, hi) + p->zero_point;
        if (p->output_unsigned) {
            out_u[i] = (uint8_t)q;
        } else {
            out_s[i] = (int8_t)q;
        }
    }
}

void eq_dequantize_f32(const eq_dequantize_params *p, int32_t n, const void *in, float *out) {
    const int8_t *in_s = (const int8_t *)in;
    const uint8_t *in_u = (const uint8_t *)in;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t q = p->input_unsigned ? (int32_t)in_u[i] : (int32_t)in_s[i];
        out[i] = (float)(p->scale * (double)(q - p->zero_point));
    }
}
