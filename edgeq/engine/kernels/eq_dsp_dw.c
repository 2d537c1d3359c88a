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

/* ---- 3x3 depthwise, dilation 1, stride_w 1 or 2: SMLAD over two taps of one channel ----
 *
 * The input rows a row of windows reads are copied once into `scratch` as int16, channel-major: a ring of
 * three slots (input row iy in slot iy mod 3, so each row is copied once however many output rows read it),
 * each [channel][cols] over the columns the windows reach from input column -pad_w on; columns and rows
 * outside the input hold the input zero point. One word load then gives two horizontally adjacent taps of one
 * channel, (x[j], x[j + 1]), and with the window row's filter as the int16 pairs F01 = (f0, f1) and
 * F12 = (f1, f2), built once per channel and output row, stride 1 needs per window row and four pixels
 * j..j+3 three loads (X01, X23, X45) and eight multiplies for twelve MACs:
 *   p0 = SMLAD(X01, F01) + SMLABT(X23, F12)    p1 = SMLATB(X01, F01) + SMLAD(X23, F12)
 *   p2 = SMLAD(X23, F01) + SMLABT(X45, F12)    p3 = SMLATB(X23, F01) + SMLAD(X45, F12)
 * and stride 2 five loads (X0, X2, .., X8): p_k = SMLAD(X_2k, F01) + SMLABT(X_2k+2, F12). The padding is in
 * the copy, not the hot loop. Weights: [channel][9] (three padding bytes after the last channel's taps, which
 * the last row's word load reads and discards). */
typedef struct {
    int32_t ch, out_w, cols, stride_w, offset, lo, hi, step;
    int fast;
} eq_dw3_layer;

#define EQ_DW3_ENTRY 8 /* words per channel in the table at the start of scratch */

static inline int32_t eq_load_pair(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The common case: eq_requant_fast is exact and the activation bounds are the int8 range. The rounding's +1
 * and the output offset are one addend, r = 1 + 2 * offset, before the final halving (exact: 2 * offset is
 * even): ((z >> (e - 1)) + 1) >> 1 + offset == ((z >> (e - 1)) + r) >> 1. e1 = e - 1. */
static inline int8_t eq_dw3_fast(int32_t acc2, int32_t m, int32_t e1, int32_t r) {
    const int32_t y = eq_smmulr(acc2, m); /* acc2 = 2 * acc (see eq_dw3_table) */
    return (int8_t)eq_ssat8((((y + (y >> 31)) >> e1) + r) >> 1);
}

/* Any other layer: the form and the bounds it needs. */
static inline int8_t eq_dw3_value(const eq_dw3_layer *l, int32_t acc, int32_t m, int32_t s) {
    const int32_t v = (l->fast ? eq_requant_fast(acc, m, s) : eq_requant_general(acc, m, s)) + l->offset;
    return eq_clamp_fast(v, l->lo, l->hi);
}

/* One window row for four pixels: x at the first pixel's first column, f01 and f12 the row's filter pairs. */
#define EQ_DW3_ROW_S1(x, f01, f12)                                               \
    do {                                                                         \
        const int32_t x01_ = eq_load_pair(x), x23_ = eq_load_pair((x) + 2);      \
        const int32_t x45_ = eq_load_pair((x) + 4);                              \
        a0 = eq_smlabt(x23_, f12, eq_smlad(x01_, f01, a0));                      \
        a1 = eq_smlad(x23_, f12, eq_smlatb(x01_, f01, a1));                      \
        a2 = eq_smlabt(x45_, f12, eq_smlad(x23_, f01, a2));                      \
        a3 = eq_smlad(x45_, f12, eq_smlatb(x23_, f01, a3));                      \
    } while (0)

#define EQ_DW3_ROW_S2(x, f01, f12)                                               \
    do {                                                                         \
        const int32_t x0_ = eq_load_pair(x), x2_ = eq_load_pair((x) + 2);        \
        const int32_t x4_ = eq_load_pair((x) + 4), x6_ = eq_load_pair((x) + 6);  \
        const int32_t x8_ = eq_load_pair((x) + 8);                               \
        a0 = eq_smlabt(x2_, f12, eq_smlad(x0_, f01, a0));                        \
        a1 = eq_smlabt(x4_, f12, eq_smlad(x2_, f01, a1));                        \
        a2 = eq_smlabt(x6_, f12, eq_smlad(x4_, f01, a2));                        \
        a3 = eq_smlabt(x8_, f12, eq_smlad(x6_, f01, a3));                        \
    } while (0)

/* Two pixels' window row: stride 1 shares X23 between them, stride 2 reads three pairs. */
#define EQ_DW3_ROW2_S1(x, f01, f12)                                              \
    do {                                                                         \
        const int32_t x01_ = eq_load_pair(x), x23_ = eq_load_pair((x) + 2);      \
        a0 = eq_smlabt(x23_, f12, eq_smlad(x01_, f01, a0));                      \
        a1 = eq_smlad(x23_, f12, eq_smlatb(x01_, f01, a1));                      \
    } while (0)

#define EQ_DW3_ROW2_S2(x, f01, f12)                                              \
    do {                                                                         \
        const int32_t x0_ = eq_load_pair(x), x2_ = eq_load_pair((x) + 2);        \
        const int32_t x4_ = eq_load_pair((x) + 4);                               \
        a0 = eq_smlabt(x2_, f12, eq_smlad(x0_, f01, a0));                        \
        a1 = eq_smlabt(x4_, f12, eq_smlad(x2_, f01, a1));                        \
    } while (0)

/* One pixel's window row (either stride): its first two taps as a pair, the third alone. */
#define EQ_DW3_ROW_1(x, f01, f12) (a0 = eq_smlabt(eq_load_pair((x) + 2), f12, eq_smlad(eq_load_pair(x), f01, a0)))

/* One output row, channel by channel, four pixels at a time (then one at a time). rows[fy] is the slot of
 * window row fy; t is the per-channel table (EQ_DW3_ENTRY words: the six filter pairs, multiplier, shift).
 * OUT(acc, k) stores pixel k of the pass (o + k * ch). One function per stride and requantization. */
#define EQ_DW3_ROW_FN(NAME, ROW4, ROW2, S, OUT, SCALE)                                                                  \
    static EQ_NOINLINE void NAME(const eq_dw3_layer *l, const int16_t *const *rows, const int32_t *t,       \
                                 const int32_t *bias, int8_t *EQ_RESTRICT out) {                            \
        const int32_t ch = l->ch, out_w = l->out_w, cols = l->cols, r = 1 + 2 * l->offset;                \
        const int16_t *x0 = rows[0], *x1 = rows[1], *x2 = rows[2];                                         \
        int32_t c, ox;                                                                                     \
        (void)r;                                                                                           \
        for (c = 0; c < ch; ++c, t += EQ_DW3_ENTRY, x0 += cols, x1 += cols, x2 += cols) {                  \
            const int32_t b = (SCALE) * bias[c], m = t[6], s = t[7], e1 = ~s;                              \
            const int16_t *y0 = x0, *y1 = x1, *y2 = x2;                                                    \
            int8_t *o = out + c;                                                                           \
            (void)e1;                                                                                      \
            for (ox = 0; ox + 4 <= out_w; ox += 4, y0 += 4 * (S), y1 += 4 * (S), y2 += 4 * (S), o += 4 * ch) { \
                int32_t a0 = b, a1 = b, a2 = b, a3 = b;                                                    \
                ROW4(y0, t[0], t[1]);                                                                      \
                ROW4(y1, t[2], t[3]);                                                                      \
                ROW4(y2, t[4], t[5]);                                                                      \
                OUT(a0, 0);                                                                                \
                OUT(a1, 1);                                                                                \
                OUT(a2, 2);                                                                                \
                OUT(a3, 3);                                                                                \
            }                                                                                              \
            if (ox + 2 <= out_w) {                                                                         \
                int32_t a0 = b, a1 = b;                                                                    \
                ROW2(y0, t[0], t[1]);                                                                      \
                ROW2(y1, t[2], t[3]);                                                                      \
                ROW2(y2, t[4], t[5]);                                                                      \
                OUT(a0, 0);                                                                                \
                OUT(a1, 1);                                                                                \
                ox += 2, y0 += 2 * (S), y1 += 2 * (S), y2 += 2 * (S), o += 2 * ch;                         \
            }                                                                                              \
            if (ox < out_w) {                                                                              \
                int32_t a0 = b;                                                                            \
                EQ_DW3_ROW_1(y0, t[0], t[1]);                                                              \
                EQ_DW3_ROW_1(y1, t[2], t[3]);                                                              \
                EQ_DW3_ROW_1(y2, t[4], t[5]);                                                              \
                OUT(a0, 0);                                                                                \
            }                                                                                              \
        }                                                                                                  \
    }
#define EQ_DW3_OUT_FAST(acc, k) (o[(k) * ch] = eq_dw3_fast(acc, m, e1, r))
#define EQ_DW3_OUT_ANY(acc, k) (o[(k) * ch] = eq_dw3_value(l, acc, m, s))
EQ_DW3_ROW_FN(eq_dw3_row_fast_s1, EQ_DW3_ROW_S1, EQ_DW3_ROW2_S1, 1, EQ_DW3_OUT_FAST, 2)
EQ_DW3_ROW_FN(eq_dw3_row_fast_s2, EQ_DW3_ROW_S2, EQ_DW3_ROW2_S2, 2, EQ_DW3_OUT_FAST, 2)
EQ_DW3_ROW_FN(eq_dw3_row_any_s1, EQ_DW3_ROW_S1, EQ_DW3_ROW2_S1, 1, EQ_DW3_OUT_ANY, 1)
EQ_DW3_ROW_FN(eq_dw3_row_any_s2, EQ_DW3_ROW_S2, EQ_DW3_ROW2_S2, 2, EQ_DW3_OUT_ANY, 1)
#undef EQ_DW3_OUT_ANY
#undef EQ_DW3_OUT_FAST
#undef EQ_DW3_ROW_FN
#undef EQ_DW3_ROW_1
#undef EQ_DW3_ROW2_S2
#undef EQ_DW3_ROW2_S1
#undef EQ_DW3_ROW_S2
#undef EQ_DW3_ROW_S1

/* The per-channel table: the filter pairs (f0, f1) and (f1, f2) of each window row, times `scale`, the
 * multiplier and the shift. The fast form's table holds the taps doubled (|2f| <= 256 fits an int16 lane) and
 * its pass starts from the doubled bias, so its accumulators are the 2 * acc that SMMULR takes (exact: the
 * fast form's bound keeps |acc| < 2^30). */
static void eq_dw3_table(const eq_dwconv_dsp_params *p, int32_t scale, int32_t *t) {
    const int8_t *w = p->w;
    int32_t c, fy, m, s;
    for (c = 0; c < p->channels; ++c, w += 9, t += EQ_DW3_ENTRY) {
        for (fy = 0; fy < 3; ++fy) {
            const uint32_t f0 = (uint32_t)(scale * w[3 * fy]) & 0xFFFFu, f1 = (uint32_t)(scale * w[3 * fy + 1]) & 0xFFFFu;
            const uint32_t f2 = (uint32_t)(scale * w[3 * fy + 2]) & 0xFFFFu;
            t[2 * fy] = (int32_t)(f0 | f1 << 16);
            t[2 * fy + 1] = (int32_t)(f1 | f2 << 16);
        }
        eq_channel_quant(p->mult, p->shift, p->shift_step, c, &m, &s);
        t[6] = m;
        t[7] = s;
    }
}

/* n int16 values (n even, slot word-aligned) set to v, a word at a time. */
static void eq_dw3_fill(int16_t *slot, int32_t v, int32_t n) {
    const int32_t pair = (int32_t)(((uint32_t)v & 0xFFFFu) * 0x10001u);
    int32_t *const words = (int32_t *)(void *)slot;
    int32_t k;
    for (k = 0; k < n / 2; ++k) {
        words[k] = pair;
    }
}

/* Input row iy into a slot as int16, channel-major; a row outside the input becomes the zero point. */
static void eq_dw3_load_row(const eq_dwconv_dsp_params *p, const int8_t *in_b, int32_t iy, int32_t cols,
                            int16_t *slot) {
    const int32_t ch = p->channels, pad = p->pad_w;
    const int32_t n = p->in_w < cols - pad ? p->in_w : cols - pad; /* input columns the windows reach */
    const int8_t *src;
    int32_t ix, c;
    if (iy < 0 || iy >= p->in_h) {
        eq_dw3_fill(slot, p->input_zero_point, ch * cols);
        return;
    }
    src = in_b + iy * p->in_w * ch;
    for (ix = 0; ix < n; ++ix, src += ch) {
        int16_t *dst = slot + ix + pad;
        for (c = 0; c < ch; c += 4, dst += 4 * cols) {
            const int32_t v = eq_load4(src + c);
            const int32_t even = eq_sxtb16(v), odd = eq_sxtb16_ror8(v);
            dst[0] = (int16_t)even;
            dst[cols] = (int16_t)odd;
            dst[2 * cols] = (int16_t)(even >> 16);
            dst[3 * cols] = (int16_t)(odd >> 16);
        }
    }
}

void eq_dwconv3x3_dsp_s8(const eq_dwconv_dsp_params *p, const int8_t *in, int8_t *scratch, int8_t *out) {
    const int32_t ch = p->channels, out_w = p->out_w, cols = EQ_DW3_COLS(out_w, p->stride_w);
    int32_t *const table = (int32_t *)(void *)scratch; /* the arena's scratch is word-aligned */
    int16_t *const ring = (int16_t *)(void *)(table + EQ_DW3_ENTRY * ch);
    const int fast = p->fast_requant && p->act_min == -128 && p->act_max == 127;
    const int16_t *rows[3];
    eq_dw3_layer l;
    int32_t b, oy, fy;
    l.ch = ch;
    l.out_w = out_w;
    l.cols = cols;
    l.stride_w = p->stride_w;
    l.offset = p->output_offset;
    l.lo = p->act_min;
    l.hi = p->act_max;
    l.step = p->shift_step;
    l.fast = p->fast_requant;
    eq_dw3_table(p, fast ? 2 : 1, table);
    eq_dw3_fill(ring, p->input_zero_point, 3 * ch * cols); /* the padding columns, for good */
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * ch;
        int32_t next = -p->pad_h; /* the first row not yet in the ring: windows move down only */
        for (oy = 0; oy < p->out_h; ++oy, out += out_w * ch) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (next = next > y0 ? next : y0; next < y0 + 3; ++next) {
                eq_dw3_load_row(p, in_b, next, cols, ring + (next + 3) % 3 * ch * cols);
            }
            for (fy = 0; fy < 3; ++fy) {
                rows[fy] = ring + (y0 + fy + 3) % 3 * ch * cols;
            }
            /* Direct calls, not a function pointer: a linker (and edgeq's size estimate) sees what is used. */
            if (fast) {
                if (l.stride_w == 1) {
                    eq_dw3_row_fast_s1(&l, rows, table, p->bias, out);
                } else {
                    eq_dw3_row_fast_s2(&l, rows, table, p->bias, out);
                }
            } else if (l.stride_w == 1) {
                eq_dw3_row_any_s1(&l, rows, table, p->bias, out);
            } else {
                eq_dw3_row_any_s2(&l, rows, table, p->bias, out);
            }
        }
    }
}
