/* edgeq compiled-C engine: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED for int8.
 *
 * acc = sum(filter * (input + input_offset)) + bias over the taps that fall inside the input (padding
 * contributes nothing), then requantized per output channel, offset and clamped: the TFLite int8 spec.
 * Where a window lies wholly inside the input, the offset term is taken out of the loop as
 * input_offset * filter_sums[c]; integer addition makes both forms give the same accumulator. */
#include "eq_fixedpoint.h"
#include "eq_kernels.h"
#include "eq_window.h"

/* Per output channel: the accumulator's offset fold, bias, requantization and clamp, shared by all three
 * kernels (their parameter structs differ, so the fields are gathered here once per call). */
typedef struct {
    const int32_t *bias, *filter_sums, *mult, *shift;
    int32_t per_channel, input_offset, output_offset, act_min, act_max;
} eq_channel_out;

static inline int8_t eq_channel_result(const eq_channel_out *q, int32_t acc, int32_t oc, int folded) {
    const int32_t ch = q->per_channel ? oc : 0;
    if (folded) {
        acc += q->input_offset * q->filter_sums[oc];
    }
    if (q->bias != 0) {
        acc += q->bias[oc];
    }
    return (int8_t)eq_clamp_i32(eq_mul_by_quantized_mul(acc, q->mult[ch], q->shift[ch]) + q->output_offset,
                                q->act_min, q->act_max);
}

/* An eq_channel_out initializer from a kernel's parameter struct (the three share these field names). */
#define EQ_CHANNEL_OUT(p, bias, filter_sums, mult, shift)                                                 \
    {(bias), (filter_sums), (mult), (shift), (p)->per_channel, (p)->input_offset, (p)->output_offset,     \
     (p)->act_min, (p)->act_max}

/* Whether the whole window lies inside the input, so the offset term can be folded (filter_sums given). */
static inline int eq_whole_window(const int32_t *filter_sums, eq_span ys, int32_t k_h, eq_span xs, int32_t k_w) {
    return filter_sums != 0 && ys.first == 0 && ys.end == k_h && xs.first == 0 && xs.end == k_w;
}

static int32_t eq_dot_s8(const int8_t *a, const int8_t *b, int32_t n) {
    /* Four independent sums: a dependency chain per sum, not per element (integer sums reassociate). */
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (int32_t)a[i] * (int32_t)b[i];
        s1 += (int32_t)a[i + 1] * (int32_t)b[i + 1];
        s2 += (int32_t)a[i + 2] * (int32_t)b[i + 2];
        s3 += (int32_t)a[i + 3] * (int32_t)b[i + 3];
    }
    for (; i < n; ++i) {
        s0 += (int32_t)a[i] * (int32_t)b[i];
    }
    return (s0 + s1) + (s2 + s3);
}

static int32_t eq_dot_offset_s8(const int8_t *f, const int8_t *x, int32_t n, int32_t offset) {
    int32_t acc = 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        acc += (int32_t)f[i] * ((int32_t)x[i] + offset);
    }
    return acc;
}

void eq_conv_s8(const eq_conv_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
                const int32_t *filter_sums, const int32_t *mult, const int32_t *shift, int8_t *out) {
    const eq_channel_out q = EQ_CHANNEL_OUT(p, bias, filter_sums, mult, shift);
    const int32_t groups = p->in_c / p->filter_in_c;
    const int32_t per_group = p->out_c / groups;
    const int32_t filter_stride = p->k_h * p->k_w * p->filter_in_c;
    /* With one group and no horizontal dilation, a filter row meets k_w * in_c contiguous input bytes. */
    const int32_t row_run = (groups == 1 && p->dilation_w == 1) ? p->k_w * p->in_c : 0;
    int32_t b, oy, ox, oc, fy, fx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const eq_span ys = eq_window_span(oy, p->stride_h, p->pad_h, p->dilation_h, p->k_h, p->in_h);
            for (ox = 0; ox < p->out_w; ++ox) {
                const eq_span xs = eq_window_span(ox, p->stride_w, p->pad_w, p->dilation_w, p->k_w, p->in_w);
                const int whole = eq_whole_window(filter_sums, ys, p->k_h, xs, p->k_w);
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int32_t channel_base = (oc / per_group) * p->filter_in_c;
                    const int8_t *f_oc = filter + oc * filter_stride;
                    int32_t acc = 0;
                    for (fy = ys.first; fy < ys.end; ++fy) {
                        const int32_t iy = ys.origin + fy * p->dilation_h;
                        const int8_t *src_row = in_b + iy * p->in_w * p->in_c + channel_base;
                        const int8_t *f_row = f_oc + fy * p->k_w * p->filter_in_c;
                        if (whole && row_run > 0) {
                            acc += eq_dot_s8(f_row, src_row + xs.origin * p->in_c, row_run);
                            continue;
                        }
                        for (fx = xs.first; fx < xs.end; ++fx) {
                            const int8_t *src = src_row + (xs.origin + fx * p->dilation_w) * p->in_c;
                            const int8_t *f = f_row + fx * p->filter_in_c;
                            acc += whole ? eq_dot_s8(f, src, p->filter_in_c)
                                         : eq_dot_offset_s8(f, src, p->filter_in_c, p->input_offset);
                        }
                    }
                    *out++ = eq_channel_result(&q, acc, oc, whole);
                }
            }
        }
    }
}

/* Depthwise with one output per input channel: channels innermost, a block at a time, so that every
 * tap reads contiguous input and filter bytes. */
#define EQ_DW_BLOCK 16

static void eq_dwconv_m1(const eq_dwconv_params *p, const eq_channel_out *q, const int8_t *in_b,
                         const int8_t *filter, int8_t *out) {
    int32_t acc[EQ_DW_BLOCK];
    int32_t oy, ox, c0, c, fy, fx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const eq_span ys = eq_window_span(oy, p->stride_h, p->pad_h, p->dilation_h, p->k_h, p->in_h);
        for (ox = 0; ox < p->out_w; ++ox) {
            const eq_span xs = eq_window_span(ox, p->stride_w, p->pad_w, p->dilation_w, p->k_w, p->in_w);
            const int whole = eq_whole_window(q->filter_sums, ys, p->k_h, xs, p->k_w);
            for (c0 = 0; c0 < p->in_c; c0 += EQ_DW_BLOCK) {
                const int32_t n = eq_min_i32(EQ_DW_BLOCK, p->in_c - c0);
                for (c = 0; c < n; ++c) {
                    acc[c] = 0;
                }
                for (fy = ys.first; fy < ys.end; ++fy) {
                    const int32_t iy = ys.origin + fy * p->dilation_h;
                    for (fx = xs.first; fx < xs.end; ++fx) {
                        const int32_t ix = xs.origin + fx * p->dilation_w;
                        const int8_t *x = in_b + (iy * p->in_w + ix) * p->in_c + c0;
                        const int8_t *f = filter + (fy * p->k_w + fx) * p->out_c + c0;
                        /* Two loops rather than adding a zero offset: one multiply-accumulate per tap. */
                        if (whole) {
                            for (c = 0; c < n; ++c) {
                                acc[c] += (int32_t)f[c] * (int32_t)x[c];
                            }
                        } else {
                            for (c = 0; c < n; ++c) {
                                acc[c] += (int32_t)f[c] * ((int32_t)x[c] + p->input_offset);
                            }
                        }
                    }
                }
                for (c = 0; c < n; ++c) {
                    out[c0 + c] = eq_channel_result(q, acc[c], c0 + c, whole);
                }
            }
            out += p->out_c;
        }
    }
}

void eq_dwconv_s8(const eq_dwconv_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
                  const int32_t *filter_sums, const int32_t *mult, const int32_t *shift, int8_t *out) {
    const eq_channel_out q = EQ_CHANNEL_OUT(p, bias, filter_sums, mult, shift);
    int32_t b, oy, ox, ic, m, fy, fx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
        if (p->depth_multiplier == 1) {
            eq_dwconv_m1(p, &q, in_b, filter, out);
            out += p->out_h * p->out_w * p->out_c;
            continue;
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            const eq_span ys = eq_window_span(oy, p->stride_h, p->pad_h, p->dilation_h, p->k_h, p->in_h);
            for (ox = 0; ox < p->out_w; ++ox) {
                const eq_span xs = eq_window_span(ox, p->stride_w, p->pad_w, p->dilation_w, p->k_w, p->in_w);
                const int whole = eq_whole_window(filter_sums, ys, p->k_h, xs, p->k_w);
                const int32_t offset = whole ? 0 : p->input_offset;
                for (ic = 0; ic < p->in_c; ++ic) {
                    for (m = 0; m < p->depth_multiplier; ++m) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        int32_t acc = 0;
                        for (fy = ys.first; fy < ys.end; ++fy) {
                            const int32_t iy = ys.origin + fy * p->dilation_h;
                            const int32_t row = iy * p->in_w * p->in_c + ic;
                            const int8_t *f = filter + fy * p->k_w * p->out_c + oc;
                            for (fx = xs.first; fx < xs.end; ++fx) {
                                const int32_t x = in_b[row + (xs.origin + fx * p->dilation_w) * p->in_c];
                                acc += (int32_t)f[fx * p->out_c] * (x + offset);
                            }
                        }
                        *out++ = eq_channel_result(&q, acc, oc, whole);
                    }
                }
            }
        }
    }
}

void eq_fc_s8(const eq_fc_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
              const int32_t *filter_sums, const int32_t *mult, const int32_t *shift, int8_t *out) {
    const eq_channel_out q = EQ_CHANNEL_OUT(p, bias, filter_sums, mult, shift);
    /* The folded form needs a zero filter offset (the int8 spec's symmetric weights). */
    const int fold = filter_sums != 0 && p->filter_offset == 0;
    int32_t r, o, d;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * p->depth;
        for (o = 0; o < p->out_depth; ++o) {
            const int8_t *w = filter + o * p->depth;
            int32_t acc = 0;
            if (fold) {
                acc = eq_dot_s8(w, x, p->depth);
            } else {
                for (d = 0; d < p->depth; ++d) {
                    acc += ((int32_t)w[d] + p->filter_offset) * ((int32_t)x[d] + p->input_offset);
                }
            }
            *out++ = eq_channel_result(&q, acc, o, fold);
        }
    }
}
