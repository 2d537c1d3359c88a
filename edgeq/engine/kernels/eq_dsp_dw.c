/* edgeq compiled-C engine: DEPTHWISE_CONV_2D (depth multiplier 1) and ADD for cores with the DSP extension.
 *
 * Depthwise: four channels at a time in four register accumulators. A word of four input channels and the
 * word of their four filter taps are split by SXTB16 into int16 lanes (channels 0/2 and 1/3), which
 * SMLABB/SMLATT multiply lane by lane. The input offset is folded into the bias (bias + offset * sum(filter),
 * exact when every tap reads an input value), so a tap in the padding reads the input zero point instead
 * (zero-point bytes in `scratch`): its product with the filter cancels its share of the folded term. The
 * weights are re-laid out [channel group of 4][tap][4] at generation time. */
#include "eq_dsp.h"
#include "eq_dsp_kernels.h"

/* One tap for four channels: x and f point at four input and four filter bytes. */
#define EQ_DW_TAP(x, f)                                         \
    do {                                                        \
        const int32_t xv_ = eq_load4(x), fv_ = eq_load4(f);     \
        const int32_t xl_ = eq_sxtb16(xv_), fl_ = eq_sxtb16(fv_); \
        const int32_t xh_ = eq_sxtb16_ror8(xv_);                \
        const int32_t fh_ = eq_sxtb16_ror8(fv_);                \
        a0 = eq_smlabb(xl_, fl_, a0);                           \
        a2 = eq_smlatt(xl_, fl_, a2);                           \
        a1 = eq_smlabb(xh_, fh_, a1);                           \
        a3 = eq_smlatt(xh_, fh_, a3);                           \
    } while (0)

/* Requantization of one depthwise layer, gathered once per call. */
typedef struct {
    int32_t ch, offset, lo, hi, step;
    int fast;
} eq_dw_layer;

/* Every channel of one output pixel. taps[t] points at tap t's four-channel word for channel 0 (the input,
 * or the zero-point bytes for a padding tap); the weights are laid out [channel group of 4][tap][4]. */
static EQ_NOINLINE void eq_dw_pixel(const eq_dw_layer *l, const int8_t *const *taps, int32_t n_taps,
                                    const int8_t *w, const int32_t *bias, const int32_t *mult, const int8_t *shift,
                                    int8_t *EQ_RESTRICT out) {
    const int32_t ch = l->ch, offset = l->offset, lo = l->lo, hi = l->hi, step = l->step;
    const int fast = l->fast, full = lo == -128 && hi == 127;
    int32_t c, k;
    for (c = 0; c < ch; c += 4) {
        int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
        const int8_t *const *t = taps;
        if (n_taps % 3 == 0) {
            for (k = n_taps; k > 0; k -= 3, t += 3, w += 12) {
                EQ_DW_TAP(t[0] + c, w);
                EQ_DW_TAP(t[1] + c, w + 4);
                EQ_DW_TAP(t[2] + c, w + 8);
            }
        } else {
            for (k = n_taps; k > 0; --k, ++t, w += 4) {
                EQ_DW_TAP(*t + c, w);
            }
        }
        int32_t m0, m1, m2, m3, s0, s1, s2, s3;
        const int8_t *const group = shift + (c & -step); /* the group's shifts, or the layer's one entry */
        eq_channel_quant(mult + c, group, step, 0, &m0, &s0);
        eq_channel_quant(mult + c, group, step, 1, &m1, &s1);
        eq_channel_quant(mult + c, group, step, 2, &m2, &s2);
        eq_channel_quant(mult + c, group, step, 3, &m3, &s3);
        if (fast) {
            a0 = eq_requant_fast(a0, m0, s0);
            a1 = eq_requant_fast(a1, m1, s1);
            a2 = eq_requant_fast(a2, m2, s2);
            a3 = eq_requant_fast(a3, m3, s3);
        } else {
            a0 = eq_requant_general(a0, m0, s0);
            a1 = eq_requant_general(a1, m1, s1);
            a2 = eq_requant_general(a2, m2, s2);
            a3 = eq_requant_general(a3, m3, s3);
        }
        if (full) {
            out[c] = (int8_t)eq_ssat8(a0 + offset);
            out[c + 1] = (int8_t)eq_ssat8(a1 + offset);
            out[c + 2] = (int8_t)eq_ssat8(a2 + offset);
            out[c + 3] = (int8_t)eq_ssat8(a3 + offset);
        } else {
            out[c] = eq_clamp_fast(a0 + offset, lo, hi);
            out[c + 1] = eq_clamp_fast(a1 + offset, lo, hi);
            out[c + 2] = eq_clamp_fast(a2 + offset, lo, hi);
            out[c + 3] = eq_clamp_fast(a3 + offset, lo, hi);
        }
    }
}

void eq_dwconv_dsp_s8(const eq_dwconv_dsp_params *p, const int8_t *in, int8_t *scratch, int8_t *out) {
    const int8_t *const w = p->w, *const shift = p->shift;
    const int32_t *const bias = p->bias, *const mult = p->mult;
    const int8_t *taps[EQ_DW_MAX_TAPS];
    int32_t offsets[EQ_DW_MAX_TAPS];
    eq_dw_layer l;
    const int32_t in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, n_taps = k_h * k_w;
    const int32_t dil_h = p->dilation_h, dil_w = p->dilation_w, out_h = p->out_h, out_w = p->out_w;
    const int32_t ch = p->channels, row_bytes = in_w * ch;
    int32_t b, oy, ox, fy, fx, k;
    l.ch = ch;
    l.offset = p->output_offset;
    l.lo = p->act_min;
    l.hi = p->act_max;
    l.fast = p->fast_requant;
    l.step = p->shift_step;
    eq_fill_bytes(scratch, (int8_t)p->input_zero_point, ch);
    for (fy = 0, k = 0; fy < k_h; ++fy) { /* each tap's byte offset from the window's first tap */
        for (fx = 0; fx < k_w; ++fx) {
            offsets[k++] = fy * dil_h * row_bytes + fx * dil_w * ch;
        }
    }
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * in_h * row_bytes;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int rows_in = y0 >= 0 && y0 + (k_h - 1) * dil_h < in_h;
            for (ox = 0; ox < out_w; ++ox, out += ch) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                if (rows_in && x0 >= 0 && x0 + (k_w - 1) * dil_w < in_w) {
                    const int8_t *origin = in_b + y0 * row_bytes + x0 * ch;
                    for (k = 0; k < n_taps; ++k) {
                        taps[k] = origin + offsets[k];
                    }
                } else {
                    const int8_t **t = taps;
                    for (fy = 0; fy < k_h; ++fy) {
                        const int32_t iy = y0 + fy * dil_h;
                        for (fx = 0; fx < k_w; ++fx) {
                            const int32_t ix = x0 + fx * dil_w;
                            *t++ = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w ? in_b + iy * row_bytes + ix * ch
                                                                                 : scratch;
                        }
                    }
                }
                eq_dw_pixel(&l, taps, n_taps, w, bias, mult, shift, out);
            }
        }
    }
}

/* x * m * 2^-e / 2^31 for a value shifted left by 20 (|x| < 2^28, so doubling it cannot overflow) and any
 * e >= 0: `half` is 2^(e-1) (0 for e == 0) and `neg` -1 (0 for e == 0), loop invariants. */
static inline int32_t eq_add_scale(int32_t x, int32_t m, int32_t e, int32_t half, int32_t neg) {
    const int32_t y = eq_smmulr(x, m);
    return (y + half + ((y >> 31) & neg)) >> e;
}

void eq_add_dsp_s8(const eq_add_dsp_params *p, int32_t n, const int8_t *in1, const int8_t *in2, int8_t *out) {
    const int32_t e1 = -p->input1_shift, e2 = -p->input2_shift, eo = -p->output_shift;
    const int32_t half1 = (int32_t)((1u << e1) >> 1), half2 = (int32_t)((1u << e2) >> 1);
    const int32_t neg1 = e1 > 0 ? -1 : 0, neg2 = e2 > 0 ? -1 : 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        /* (x + offset) << 20, doubled for SMMULR: << 21 (|x + offset| <= 255). */
        const int32_t a = eq_add_scale((int32_t)((uint32_t)(in1[i] + p->input1_offset) << 21), p->input1_mult, e1,
                                       half1, neg1);
        const int32_t b = eq_add_scale((int32_t)((uint32_t)(in2[i] + p->input2_offset) << 21), p->input2_mult, e2,
                                       half2, neg2);
        /* |a + b| < 2^29: the fast form is exact for the output shift (<= -1). */
        const int32_t v = eq_requant_fast(a + b, p->output_mult, -eo) + p->output_offset;
        out[i] = (int8_t)eq_clamp_i32(v, p->act_min, p->act_max);
    }
}
