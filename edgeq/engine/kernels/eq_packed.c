/* edgeq compiled-C engine: windowed and matrix kernels over packed (LUT-indexed or int4) filters.
 *
 * The accumulator is the same integer as the int8 kernels': sum(filter * (input + input_offset)) over the taps
 * inside the input, plus bias, requantized per output channel, offset and clamped. Output channels are the
 * outer loop, so each channel's weights are decoded once; the output is written channel by channel, which is
 * why these kernels never share bytes between their input and output. */
#include "eq_packed.h"

#include "eq_fixedpoint.h"
#include "eq_window.h"

/* `count` weights of output channel `channel`, elements first, first + step, ... (row-major in the filter), into
 * dst; returns their sum (for folding the input offset out of the inner loops). An index of b <= 7 bits spans
 * at most two bytes; the second is read only when the index reaches into it (never past the data's end). */
static int32_t eq_packed_decode(const eq_packed_filter *f, int32_t first, int32_t count, int32_t step,
                                int32_t channel, int8_t *dst) {
    int32_t i, sum = 0;
    if (f->kind == EQ_PACKED_INT4) {
        int32_t element = first;
        for (i = 0; i < count; ++i, element += step) {
            const uint32_t byte = f->data[element >> 1];
            const int32_t nibble = (int32_t)((element & 1) ? (byte >> 4) : (byte & 0x0Fu));
            dst[i] = (int8_t)(nibble >= 8 ? nibble - 16 : nibble);
            sum += dst[i];
        }
    } else {
        const int8_t *table = f->tables + (f->per_channel ? channel : 0) * f->stride;
        const uint32_t bits = (uint32_t)f->bits, mask = (1u << bits) - 1u, advance = (uint32_t)step * bits;
        uint32_t bit = (uint32_t)first * bits;
        for (i = 0; i < count; ++i, bit += advance) {
            const uint32_t offset = bit & 7u;
            uint32_t window = (uint32_t)f->data[bit >> 3] << 8;
            if (offset + bits > 8u) {
                window |= f->data[(bit >> 3) + 1];
            }
            dst[i] = table[(window >> (16u - offset - bits)) & mask];
            sum += dst[i];
        }
    }
    return sum;
}

static int32_t eq_packed_dot(const int8_t *a, const int8_t *b, int32_t n) {
    /* Four independent sums, as the int8 kernels' dot product (integer sums reassociate exactly). */
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

static inline int8_t eq_packed_result(int32_t acc, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                      int32_t per_channel, int32_t oc, int32_t output_offset, int32_t act_min,
                                      int32_t act_max) {
    const int32_t ch = per_channel ? oc : 0;
    if (bias != 0) {
        acc += bias[oc];
    }
    return (int8_t)eq_clamp_i32(eq_mul_by_quantized_mul(acc, mult[ch], shift[ch]) + output_offset, act_min,
                                act_max);
}

void eq_conv_packed_s8(const eq_conv_params *p, const int8_t *in, const eq_packed_filter *f, const int32_t *bias,
                       const int32_t *mult, const int32_t *shift, int8_t *out, int8_t *scratch) {
    const int32_t groups = p->in_c / p->filter_in_c;
    const int32_t per_group = p->out_c / groups;
    const int32_t taps = p->k_h * p->k_w * p->filter_in_c;
    int32_t oc, b, oy, ox, fy, fx, c;
    for (oc = 0; oc < p->out_c; ++oc) {
        const int32_t channel_base = (oc / per_group) * p->filter_in_c;
        /* filter [out_c, k_h, k_w, filter_in_c]: the channel is contiguous */
        const int32_t wsum = eq_packed_decode(f, oc * taps, taps, 1, oc, scratch);
        for (b = 0; b < p->batches; ++b) {
            const int8_t *in_b = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
            for (oy = 0; oy < p->out_h; ++oy) {
                const eq_span ys = eq_window_span(oy, p->stride_h, p->pad_h, p->dilation_h, p->k_h, p->in_h);
                for (ox = 0; ox < p->out_w; ++ox) {
                    const eq_span xs = eq_window_span(ox, p->stride_w, p->pad_w, p->dilation_w, p->k_w, p->in_w);
                    /* a whole window: sum(w * (x + off)) = sum(w * x) + off * sum(w) */
                    const int whole = ys.first == 0 && ys.end == p->k_h && xs.first == 0 && xs.end == p->k_w;
                    const int32_t offset = whole ? 0 : p->input_offset;
                    int32_t acc = whole ? p->input_offset * wsum : 0;
                    for (fy = ys.first; fy < ys.end; ++fy) {
                        const int8_t *row = in_b + (ys.origin + fy * p->dilation_h) * p->in_w * p->in_c + channel_base;
                        for (fx = xs.first; fx < xs.end; ++fx) {
                            const int8_t *x = row + (xs.origin + fx * p->dilation_w) * p->in_c;
                            const int8_t *w = scratch + (fy * p->k_w + fx) * p->filter_in_c;
                            if (whole) {
                                acc += eq_packed_dot(w, x, p->filter_in_c);
                                continue;
                            }
                            for (c = 0; c < p->filter_in_c; ++c) {
                                acc += (int32_t)w[c] * ((int32_t)x[c] + offset);
                            }
                        }
                    }
                    out[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] = eq_packed_result(
                        acc, bias, mult, shift, p->per_channel, oc, p->output_offset, p->act_min, p->act_max);
                }
            }
        }
    }
}

void eq_dwconv_packed_s8(const eq_dwconv_params *p, const int8_t *in, const eq_packed_filter *f,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out,
                         int8_t *scratch) {
    const int32_t taps = p->k_h * p->k_w;
    int32_t oc, b, oy, ox, fy, fx;
    for (oc = 0; oc < p->out_c; ++oc) {
        const int32_t ic = oc / p->depth_multiplier;
        /* filter [1, k_h, k_w, out_c]: the channel is every out_c-th value */
        const int32_t wsum = eq_packed_decode(f, oc, taps, p->out_c, oc, scratch);
        for (b = 0; b < p->batches; ++b) {
            const int8_t *in_b = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
            for (oy = 0; oy < p->out_h; ++oy) {
                const eq_span ys = eq_window_span(oy, p->stride_h, p->pad_h, p->dilation_h, p->k_h, p->in_h);
                for (ox = 0; ox < p->out_w; ++ox) {
                    const eq_span xs = eq_window_span(ox, p->stride_w, p->pad_w, p->dilation_w, p->k_w, p->in_w);
                    const int whole = ys.first == 0 && ys.end == p->k_h && xs.first == 0 && xs.end == p->k_w;
                    const int32_t offset = whole ? 0 : p->input_offset;
                    int32_t acc = whole ? p->input_offset * wsum : 0;
                    for (fy = ys.first; fy < ys.end; ++fy) {
                        const int32_t row = (ys.origin + fy * p->dilation_h) * p->in_w * p->in_c + ic;
                        for (fx = xs.first; fx < xs.end; ++fx) {
                            const int32_t x = in_b[row + (xs.origin + fx * p->dilation_w) * p->in_c];
                            acc += (int32_t)scratch[fy * p->k_w + fx] * (x + offset);
                        }
                    }
                    out[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] = eq_packed_result(
                        acc, bias, mult, shift, p->per_channel, oc, p->output_offset, p->act_min, p->act_max);
                }
            }
        }
    }
}

void eq_fc_packed_s8(const eq_fc_params *p, const int8_t *in, const eq_packed_filter *f, const int32_t *bias,
                     const int32_t *mult, const int32_t *shift, int8_t *out, int8_t *scratch) {
    int32_t o, d, r;
    for (o = 0; o < p->out_depth; ++o) {
        /* filter [out_depth, depth]: a row per output */
        const int32_t wsum = eq_packed_decode(f, o * p->depth, p->depth, 1, o, scratch);
        for (r = 0; r < p->rows; ++r) {
            const int8_t *x = in + r * p->depth;
            int32_t acc = 0;
            if (p->filter_offset == 0) { /* the int8 spec's symmetric weights: fold the input offset */
                acc = eq_packed_dot(scratch, x, p->depth) + p->input_offset * wsum;
            } else {
                for (d = 0; d < p->depth; ++d) {
                    acc += ((int32_t)scratch[d] + p->filter_offset) * ((int32_t)x[d] + p->input_offset);
                }
            }
            out[r * p->out_depth + o] = eq_packed_result(acc, bias, mult, shift, p->per_channel, o,
                                                         p->output_offset, p->act_min, p->act_max);
        }
    }
}
