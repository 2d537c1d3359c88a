/* edgeq compiled-C engine: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED for int8.
 *
 * acc = sum(filter * (input + input_offset)) + bias over the taps that fall inside the input (padding
 * contributes nothing), then requantized per output channel, offset and clamped: the TFLite int8 spec.
 * Where a window lies wholly inside the input, the offset term is taken out of the loop as
 * input_offset * filter_sums[c]; integer addition makes both forms give the same accumulator. */
#include "eq_fixedpoint.h"
#include "eq_kernels.h"

/* First tap index t in [0, k) with origin + t * dilation >= 0, and one past the last with
 * origin + t * dilation < size: the taps of a window that lie inside the input. */
static void eq_tap_range(int32_t origin, int32_t dilation, int32_t k, int32_t size, int32_t *start,
                         int32_t *end) {
    int32_t s = 0;
    int32_t e;
    if (origin < 0) {
        s = (-origin + dilation - 1) / dilation;
    }
    if (origin >= size) {
        e = 0;
    } else {
        e = (size - origin + dilation - 1) / dilation;
    }
    if (e > k) {
        e = k;
    }
    *start = s;
    *end = e < s ? s : e;
}

static int8_t eq_requant_out(int32_t acc, int32_t mult, int32_t shift, int32_t output_offset,
                             int32_t act_min, int32_t act_max) {
    int32_t v = eq_mul_by_quantized_mul(acc, mult, shift) + output_offset;
    return (int8_t)eq_clamp_i32(v, act_min, act_max);
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
    const int32_t groups = p->in_c / p->filter_in_c;
    const int32_t per_group = p->out_c / groups;
    const int32_t filter_stride = p->k_h * p->k_w * p->filter_in_c;
    /* With one group and no horizontal dilation, a filter row meets k_w * in_c contiguous input bytes. */
    const int32_t row_run = (groups == 1 && p->dilation_w == 1) ? p->k_w * p->in_c : 0;
    int32_t b, oy, ox, oc, fy, fx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            eq_tap_range(y0, p->dilation_h, p->k_h, p->in_h, &fy0, &fy1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                int inside;
                eq_tap_range(x0, p->dilation_w, p->k_w, p->in_w, &fx0, &fx1);
                inside = filter_sums != 0 && fy0 == 0 && fy1 == p->k_h && fx0 == 0 && fx1 == p->k_w;
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int32_t channel_base = (oc / per_group) * p->filter_in_c;
                    const int8_t *f_oc = filter + oc * filter_stride;
                    const int32_t ch = p->per_channel ? oc : 0;
                    int32_t acc = 0;
                    for (fy = fy0; fy < fy1; ++fy) {
                        const int32_t iy = y0 + fy * p->dilation_h;
                        const int8_t *src_row = in_b + iy * p->in_w * p->in_c + channel_base;
                        const int8_t *f_row = f_oc + fy * p->k_w * p->filter_in_c;
                        if (inside && row_run > 0) {
                            acc += eq_dot_s8(f_row, src_row + x0 * p->in_c, row_run);
                            continue;
                        }
                        for (fx = fx0; fx < fx1; ++fx) {
                            const int8_t *src = src_row + (x0 + fx * p->dilation_w) * p->in_c;
                            const int8_t *f = f_row + fx * p->filter_in_c;
                            acc += inside ? eq_dot_s8(f, src, p->filter_in_c)
                                          : eq_dot_offset_s8(f, src, p->filter_in_c, p->input_offset);
                        }
                    }
                    if (inside) {
                        acc += p->input_offset * filter_sums[oc];
                    }
                    if (bias != 0) {
                        acc += bias[oc];
                    }
                    *out++ = eq_requant_out(acc, mult[ch], shift[ch], p->output_offset, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* Depthwise with one output per input channel: channels innermost, a block at a time, so that every
 * tap reads contiguous input and filter bytes. */
#define EQ_DW_BLOCK 16

static void eq_dwconv_m1(const eq_dwconv_params *p, const int8_t *in_b, const int8_t *filter,
                         const int32_t *bias, const int32_t *filter_sums, const int32_t *mult,
                         const int32_t *shift, int8_t *out) {
    int32_t acc[EQ_DW_BLOCK];
    int32_t oy, ox, c0, c, fy, fx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        int32_t fy0, fy1;
        eq_tap_range(y0, p->dilation_h, p->k_h, p->in_h, &fy0, &fy1);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            int32_t fx0, fx1;
            int inside;
            eq_tap_range(x0, p->dilation_w, p->k_w, p->in_w, &fx0, &fx1);
            inside = filter_sums != 0 && fy0 == 0 && fy1 == p->k_h && fx0 == 0 && fx1 == p->k_w;
            for (c0 = 0; c0 < p->in_c; c0 += EQ_DW_BLOCK) {
                const int32_t n = eq_min_i32(EQ_DW_BLOCK, p->in_c - c0);
                for (c = 0; c < n; ++c) {
                    acc[c] = 0;
                }
                for (fy = fy0; fy < fy1; ++fy) {
                    const int32_t iy = y0 + fy * p->dilation_h;
                    for (fx = fx0; fx < fx1; ++fx) {
                        const int32_t ix = x0 + fx * p->dilation_w;
                        const int8_t *x = in_b + (iy * p->in_w + ix) * p->in_c + c0;
                        const int8_t *f = filter + (fy * p->k_w + fx) * p->out_c + c0;
                        if (inside) {
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
                    const int32_t oc = c0 + c;
                    const int32_t ch = p->per_channel ? oc : 0;
                    int32_t a = acc[c];
                    if (inside) {
                        a += p->input_offset * filter_sums[oc];
                    }
                    if (bias != 0) {
                        a += bias[oc];
                    }
                    out[oc] = eq_requant_out(a, mult[ch], shift[ch], p->output_offset, p->act_min, p->act_max);
                }
            }
            out += p->out_c;
        }
    }
}

void eq_dwconv_s8(const eq_dwconv_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
                  const int32_t *filter_sums, const int32_t *mult, const int32_t *shift, int8_t *out) {
    int32_t b, oy, ox, ic, m, fy, fx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
        if (p->depth_multiplier == 1) {
            eq_dwconv_m1(p, in_b, filter, bias, filter_sums, mult, shift, out);
            out += p->out_h * p->out_w * p->out_c;
            continue;
        }
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            eq_tap_range(y0, p->dilation_h, p->k_h, p->in_h, &fy0, &fy1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                int32_t offset;
                int inside;
                eq_tap_range(x0, p->dilation_w, p->k_w, p->in_w, &fx0, &fx1);
                inside = filter_sums != 0 && fy0 == 0 && fy1 == p->k_h && fx0 == 0 && fx1 == p->k_w;
                offset = inside ? 0 : p->input_offset;
                for (ic = 0; ic < p->in_c; ++ic) {
                    for (m = 0; m < p->depth_multiplier; ++m) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        const int32_t ch = p->per_channel ? oc : 0;
                        int32_t acc = 0;
                        for (fy = fy0; fy < fy1; ++fy) {
                            const int32_t iy = y0 + fy * p->dilation_h;
                            const int32_t row = iy * p->in_w * p->in_c + ic;
                            const int8_t *f = filter + fy * p->k_w * p->out_c + oc;
                            for (fx = fx0; fx < fx1; ++fx) {
                                const int32_t x = in_b[row + (x0 + fx * p->dilation_w) * p->in_c];
                                acc += (int32_t)f[fx * p->out_c] * (x + offset);
                            }
                        }
                        if (inside) {
                            acc += p->input_offset * filter_sums[oc];
                        }
                        if (bias != 0) {
                            acc += bias[oc];
                        }
                        *out++ = eq_requant_out(acc, mult[ch], shift[ch], p->output_offset, p->act_min,
                                                p->act_max);
                    }
                }
            }
        }
    }
}

void eq_fc_s8(const eq_fc_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
              const int32_t *filter_sums, const int32_t *mult, const int32_t *shift, int8_t *out) {
    /* The folded form needs a zero filter offset (the int8 spec's symmetric weights). */
    const int fold = filter_sums != 0 && p->filter_offset == 0;
    int32_t r, o, d;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * p->depth;
        for (o = 0; o < p->out_depth; ++o) {
            const int8_t *w = filter + o * p->depth;
            const int32_t ch = p->per_channel ? o : 0;
            int32_t acc = 0;
            if (fold) {
                acc = eq_dot_s8(w, x, p->depth) + p->input_offset * filter_sums[o];
            } else {
                for (d = 0; d < p->depth; ++d) {
                    acc += ((int32_t)w[d] + p->filter_offset) * ((int32_t)x[d] + p->input_offset);
                }
            }
            if (bias != 0) {
                acc += bias[o];
            }
            *out++ = eq_requant_out(acc, mult[ch], shift[ch], p->output_offset, p->act_min, p->act_max);
        }
    }
}
