/* edgeq compiled-C engine: CONV_2D and FULLY_CONNECTED for cores with the DSP extension (see eq_dsp.h).
 *
 * Both are matrix products of int8 weights, re-laid out by edgeq at generation time, with columns of int8
 * inputs, four values per word: SXTB16 splits a word into two pairs of int16 lanes and SMLAD multiplies and
 * accumulates a pair of lanes, two MACs per instruction.
 *
 * The input offset is folded into the bias at generation time (bias[c] + input_offset * sum(filter[c])), which
 * is exact when every tap reads a real input value; padding taps therefore read the input zero point, whose
 * product with the offset-free filter cancels the folded term exactly. The reduction dimension K is padded to
 * a multiple of 4 with zero weights. */
#include "eq_dsp.h"
#include "eq_dsp_kernels.h"

/* Two channels' next four weights (w, w + 4) times two columns' int16 lane words (x0l, x0h, x1l, x1h) into the
 * accumulators a00..a11: the multiply half of both 2x2 dot-product steps below. */
#define EQ_MAC_2X2()                                                  \
    do {                                                              \
        int32_t f = eq_load4(w);                                      \
        int32_t fl = eq_sxtb16(f), fh = eq_sxtb16_ror8(f);            \
        a00 = eq_smlad(fl, x0l, a00);                                 \
        a00 = eq_smlad(fh, x0h, a00);                                 \
        a01 = eq_smlad(fl, x1l, a01);                                 \
        a01 = eq_smlad(fh, x1h, a01);                                 \
        f = eq_load4(w + 4);                                          \
        fl = eq_sxtb16(f);                                            \
        fh = eq_sxtb16_ror8(f);                                       \
        a10 = eq_smlad(fl, x0l, a10);                                 \
        a10 = eq_smlad(fh, x0h, a10);                                 \
        a11 = eq_smlad(fl, x1l, a11);                                 \
        a11 = eq_smlad(fh, x1h, a11);                                 \
        w += 8;                                                       \
    } while (0)

/* 2 output channels x 2 columns (pixels): four accumulators in registers. `w` holds the two channels' weights
 * interleaved four at a time (w0[0..3] w1[0..3] w0[4..7] ...), kp bytes each. */
static inline void eq_dot_2x2(const int8_t *w, const int8_t *x0, const int8_t *x1, int32_t kp, int32_t *acc) {
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int8_t *end = x0 + kp;
#define EQ_STEP_2X2()                                                 \
    do {                                                              \
        const int32_t v0 = eq_load4(x0), v1 = eq_load4(x1);           \
        const int32_t x0l = eq_sxtb16(v0), x0h = eq_sxtb16_ror8(v0);  \
        const int32_t x1l = eq_sxtb16(v1), x1h = eq_sxtb16_ror8(v1);  \
        EQ_MAC_2X2();                                                 \
        x0 += 4;                                                      \
        x1 += 4;                                                      \
    } while (0)
    /* Two steps per iteration: the loop's own compare and branch count once per 32 MACs. The barrier keeps
     * the compiler from hoisting the second step's loads into the first, which runs out of registers. */
    for (; end - x0 >= 8;) {
        EQ_STEP_2X2();
        EQ_COMPILER_BARRIER();
        EQ_STEP_2X2();
    }
    if (x0 < end) {
        EQ_STEP_2X2();
    }
#undef EQ_STEP_2X2
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* The same over two columns already split into int16 lanes (eq_split_column): per four K values a column holds
 * the words (x0, x2) and (x1, x3), which SMLAD takes as they are (one LDRD: the columns are 8-byte aligned
 * words in scratch, kp % 4 == 0). The split is done once per pixel and read by
 * every channel pair, so the inner step is two word loads per column, one load and two SXTB16 per channel. */
static inline void eq_dot_2x2_split(const int8_t *w, const int32_t *x0, const int32_t *x1, int32_t kp, int32_t *acc) {
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int32_t *end = x0 + kp / 2;
#define EQ_STEP_SPLIT()                                               \
    do {                                                              \
        int32_t x0l, x0h, x1l, x1h;                                   \
        eq_load2w(x0, &x0l, &x0h);                                    \
        eq_load2w(x1, &x1l, &x1h);                                    \
        EQ_MAC_2X2();                                                 \
        x0 += 2;                                                      \
        x1 += 2;                                                      \
    } while (0)
    for (; end - x0 >= 4;) {
        EQ_STEP_SPLIT();
        EQ_COMPILER_BARRIER();
        EQ_STEP_SPLIT();
    }
    if (x0 < end) {
        EQ_STEP_SPLIT();
    }
#undef EQ_STEP_SPLIT
#undef EQ_MAC_2X2
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* kp int8 values (kp % 4 == 0) as the int16 lane words eq_dot_2x2_split reads. */
static void eq_split_column(const int8_t *x, int32_t kp, int32_t *out) {
    const int8_t *const end = x + kp;
    for (; x < end; x += 4, out += 2) {
        const int32_t v = eq_load4(x);
        out[0] = eq_sxtb16(v);
        out[1] = eq_sxtb16_ror8(v);
    }
}

/* Requantization of one layer, gathered once per call. */
typedef struct {
    int32_t out_c, kp, offset, lo, hi, step;
    int fast;
} eq_conv_layer;

/* Every output channel of two pixels whose columns are x0 and x1 (for a single pixel, x1 == x0 and
 * out1 == out0: the same values are stored twice). An odd channel count ends with a pair whose second channel
 * is the zero channel edgeq added: computed, not stored. */
static EQ_NOINLINE void eq_conv_columns(const eq_conv_layer *l, const int8_t *x0, const int8_t *x1, const int8_t *w,
                                        const int32_t *bias, const int32_t *mult, const int8_t *shift, int8_t *out0,
                                        int8_t *out1, int split) {
    const int32_t kp = l->kp, step = l->step;
    const int8_t *const last = out0 + l->out_c - 1;
    for (; out0 <= last; out0 += 2, out1 += 2, bias += 2, mult += 2, shift += 2 * step, w += 2 * kp) {
        int32_t acc[4], m0, m1, s0, s1;
        acc[0] = acc[1] = bias[0];
        acc[2] = acc[3] = bias[1];
        if (split) { /* x0 and x1 point at eq_split_column words */
            eq_dot_2x2_split(w, (const int32_t *)(const void *)x0, (const int32_t *)(const void *)x1, kp, acc);
        } else {
            eq_dot_2x2(w, x0, x1, kp, acc);
        }
        /* Read before the stores below, which the compiler must assume may alias them. */
        eq_channel_quant(mult, shift, step, 0, &m0, &s0);
        eq_channel_quant(mult, shift, step, 1, &m1, &s1);
        if (l->fast) {
            acc[0] = eq_requant_fast(acc[0], m0, s0);
            acc[1] = eq_requant_fast(acc[1], m0, s0);
            acc[2] = eq_requant_fast(acc[2], m1, s1);
            acc[3] = eq_requant_fast(acc[3], m1, s1);
        } else {
            acc[0] = eq_requant_general(acc[0], m0, s0);
            acc[1] = eq_requant_general(acc[1], m0, s0);
            acc[2] = eq_requant_general(acc[2], m1, s1);
            acc[3] = eq_requant_general(acc[3], m1, s1);
        }
        {
            const int32_t offset = l->offset, lo = l->lo, hi = l->hi;
            if (lo == -128 && hi == 127) { /* no activation bound inside the int8 range: one saturation */
                acc[0] = eq_ssat8(acc[0] + offset);
                acc[1] = eq_ssat8(acc[1] + offset);
                acc[2] = eq_ssat8(acc[2] + offset);
                acc[3] = eq_ssat8(acc[3] + offset);
            } else {
                acc[0] = eq_clamp_fast(acc[0] + offset, lo, hi);
                acc[1] = eq_clamp_fast(acc[1] + offset, lo, hi);
                acc[2] = eq_clamp_fast(acc[2] + offset, lo, hi);
                acc[3] = eq_clamp_fast(acc[3] + offset, lo, hi);
            }
        }
        out1[0] = (int8_t)acc[1];
        out0[0] = (int8_t)acc[0];
        if (out0 < last) {
            out1[1] = (int8_t)acc[3];
            out0[1] = (int8_t)acc[2];
        }
    }
}

/* The im2col column of output pixel (oy, ox): its window's taps in filter order, padding taps set to the
 * input zero point. The kp - K tail bytes were zeroed by the caller and are never written. */
static void eq_fill_column(const eq_conv_dsp_params *p, const int8_t *in_b, int32_t oy, int32_t ox, int8_t *col) {
    const int32_t in_c = p->in_c;
    const int32_t y0 = oy * p->stride_h - p->pad_h;
    const int32_t x0 = ox * p->stride_w - p->pad_w;
    const int8_t zp = (int8_t)p->input_zero_point;
    int32_t fy, fx;
    for (fy = 0; fy < p->k_h; ++fy) {
        const int32_t iy = y0 + fy * p->dilation_h;
        if (iy < 0 || iy >= p->in_h) {
            eq_fill_bytes(col, zp, p->k_w * in_c);
            col += p->k_w * in_c;
            continue;
        }
        if (p->dilation_w == 1 && x0 >= 0 && x0 + p->k_w <= p->in_w) {
            eq_copy_bytes(col, in_b + (iy * p->in_w + x0) * in_c, p->k_w * in_c);
            col += p->k_w * in_c;
            continue;
        }
        for (fx = 0; fx < p->k_w; ++fx) {
            const int32_t ix = x0 + fx * p->dilation_w;
            if (ix < 0 || ix >= p->in_w) {
                eq_fill_bytes(col, zp, in_c);
            } else {
                eq_copy_bytes(col, in_b + (iy * p->in_w + ix) * in_c, in_c);
            }
            col += in_c;
        }
    }
}

void eq_conv_dsp_s8(const eq_conv_dsp_params *p, const int8_t *in, int8_t *scratch, int8_t *out) {
    const int8_t *const w = p->w, *const shift = p->shift;
    const int32_t *const bias = p->bias, *const mult = p->mult;
    const int32_t pixels = p->out_h * p->out_w;
    const int32_t kp = p->kp;
    eq_conv_layer l;
    int32_t b, px;
    l.out_c = p->out_c;
    l.kp = kp;
    l.offset = p->output_offset;
    l.lo = p->act_min;
    l.hi = p->act_max;
    l.fast = p->fast_requant;
    l.step = p->shift_step;
    if (!p->direct) {
        /* Two columns; the K..kp tails meet zero weights but must hold defined values. */
        eq_fill_bytes(scratch, 0, 2 * kp);
    }
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = out + b * pixels * p->out_c;
        for (px = 0; px < pixels; px += 2) {
            const int pair = px + 1 < pixels;
            const int32_t oy0 = px / p->out_w, ox0 = px % p->out_w;
            const int32_t oy1 = pair ? (px + 1) / p->out_w : oy0, ox1 = pair ? (px + 1) % p->out_w : ox0;
            const int8_t *x0, *x1;
            if (p->direct && kp < 16) { /* 1x1, few channels: the pixels are the columns, read in place */
                x0 = in_b + (oy0 * p->stride_h * p->in_w + ox0 * p->stride_w) * p->in_c;
                x1 = in_b + (oy1 * p->stride_h * p->in_w + ox1 * p->stride_w) * p->in_c;
            } else if (p->direct) { /* 1x1, in_c a multiple of 4: the pixels split into int16 lanes */
                int32_t *const s0 = (int32_t *)(void *)scratch, *const s1 = s0 + kp / 2; /* word-aligned */
                eq_split_column(in_b + (oy0 * p->stride_h * p->in_w + ox0 * p->stride_w) * p->in_c, kp, s0);
                eq_split_column(in_b + (oy1 * p->stride_h * p->in_w + ox1 * p->stride_w) * p->in_c, kp, s1);
                x0 = scratch;
                x1 = (const int8_t *)(const void *)s1;
            } else {
                eq_fill_column(p, in_b, oy0, ox0, scratch);
                if (pair) {
                    eq_fill_column(p, in_b, oy1, ox1, scratch + kp);
                }
                x0 = scratch;
                x1 = pair ? scratch + kp : scratch;
            }
            eq_conv_columns(&l, x0, x1, w, bias, mult, shift, out_b + px * p->out_c,
                            out_b + (pair ? px + 1 : px) * p->out_c, p->direct && kp >= 16);
        }
    }
}

/* 4 output channels x 1 row: `w` holds the four channels' weights interleaved four at a time. */
static inline void eq_dot_4x1(const int8_t *w, const int8_t *x, int32_t kp, int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *end = x + kp;
    while (x < end) {
        const int32_t v = eq_load4(x);
        const int32_t xl = eq_sxtb16(v), xh = eq_sxtb16_ror8(v);
        int32_t f = eq_load4(w);
        a0 = eq_smlad(eq_sxtb16(f), xl, a0);
        a0 = eq_smlad(eq_sxtb16_ror8(f), xh, a0);
        f = eq_load4(w + 4);
        a1 = eq_smlad(eq_sxtb16(f), xl, a1);
        a1 = eq_smlad(eq_sxtb16_ror8(f), xh, a1);
        f = eq_load4(w + 8);
        a2 = eq_smlad(eq_sxtb16(f), xl, a2);
        a2 = eq_smlad(eq_sxtb16_ror8(f), xh, a2);
        f = eq_load4(w + 12);
        a3 = eq_smlad(eq_sxtb16(f), xl, a3);
        a3 = eq_smlad(eq_sxtb16_ror8(f), xh, a3);
        w += 16;
        x += 4;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

void eq_fc_dsp_s8(const eq_fc_dsp_params *p, const int8_t *in, int8_t *scratch, int8_t *EQ_RESTRICT out) {
    const int8_t *const w = p->w, *const shift = p->shift;
    const int32_t *const bias = p->bias, *const mult = p->mult;
    const int32_t kp = p->kp, out_depth = p->out_depth, offset = p->output_offset, lo = p->act_min;
    const int32_t hi = p->act_max, step = p->per_channel ? 1 : 0, shift_step = p->shift_step;
    const int fast = p->fast_requant;
    int32_t r, o, k;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * p->depth;
        if (kp != p->depth) { /* a depth that is not a multiple of 4: the row padded to kp bytes */
            eq_copy_bytes(scratch, x, p->depth);
            eq_fill_bytes(scratch + p->depth, 0, kp - p->depth);
            x = scratch;
        }
        for (o = 0; o < out_depth; o += 4) {
            int32_t acc[4];
            for (k = 0; k < 4; ++k) {
                acc[k] = bias[o + k];
            }
            eq_dot_4x1(w + o * kp, x, kp, acc);
            for (k = 0; k < 4 && o + k < out_depth; ++k) {
                int32_t m, s;
                eq_channel_quant(mult, shift, shift_step, (o + k) * step, &m, &s);
                out[o + k] = eq_out_value(acc[k], m, s, fast, offset, lo, hi);
            }
        }
        out += out_depth;
    }
}
