/* edgeq compiled-C engine: windowed and matrix kernels over packed (LUT-indexed or int4) filters.
 *
 * The accumulator is the same integer as the int8 kernels': sum(filter * (input + input_offset)) over the taps
 * inside the input, plus bias, requantized per output channel, offset and clamped. Output channels are the
 * outer loop, so each channel's weights are decoded once; the output is written channel by channel, which is
 * why these kernels never share bytes between their input and output. */
#include "eq_packed.h"

#include "eq_fixedpoint.h"
#include "eq_window.h"

/* Element `element` (row-major in the filter) of output channel `channel`. An index of b <= 7 bits spans at
 * most two bytes; the second is read only when the index reaches into it (never past the data's end). */
static int8_t eq_packed_value(const eq_packed_filter *f, int32_t element, int32_t channel) {
    if (f->kind == EQ_PACKED_INT4) {
        const uint32_t byte = f->data[element >> 1];
        const int32_t nibble = (int32_t)((element & 1) ? (byte >> 4) : (byte & 0x0Fu));
        return (int8_t)(nibble >= 8 ? nibble - 16 : nibble);
    } else {
        const uint32_t bit = (uint32_t)element * (uint32_t)f->bits;
        const uint32_t offset = bit & 7u;
        uint32_t window = (uint32_t)f->data[bit >> 3] << 8;
        uint32_t index;
        if (offset + (uint32_t)f->bits > 8u) {
            window |= f->data[(bit >> 3) + 1];
        }
        index = (window >> (16u - offset - (uint32_t)f->bits)) & ((1u << f->bits) - 1u);
        return f->tables[(f->per_channel ? channel : 0) * f->stride + (int32_t)index];
    }
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
    int32_t oc, t, b, oy, ox, fy, fx, c;
    for (oc = 0; oc < p->out_c; ++oc) {
        const int32_t channel_base = (oc / per_group) * p->filter_in_c;
        for (t = 0; t < taps; ++t) { /* filter [out_c, k_h, k_w, filter_in_c]: the channel is contiguous */
            scratch[t] = eq_packed_value(f, oc * taps + t, oc);
        }
        for (b = 0; b < p->batches; ++b) {
            const int8_t *in_b = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
            for (oy = 0; oy < p->out_h; ++oy) {
                const eq_span ys = eq_window_span(oy, p->stride_h, p->pad_h, p->dilation_h, p->k_h, p->in_h);
                for (ox = 0; ox < p->out_w; ++ox) {
                    const eq_span xs = eq_window_span(ox, p->stride_w, p->pad_w, p->dilation_w, p->k_w, p->in_w);
                    int32_t acc = 0;
                    for (fy = ys.first; fy < ys.end; ++fy) {
                        const int8_t *row = in_b + (ys.origin + fy * p->dilation_h) * p->in_w * p->in_c + channel_base;
                        for (fx = xs.first; fx < xs.end; ++fx) {
                            const int8_t *x = row + (xs.origin + fx * p->dilation_w) * p->in_c;
                            const int8_t *w = scratch + (fy * p->k_w + fx) * p->filter_in_c;
                            for (c = 0; c < p->filter_in_c; ++c) {
                                acc += (int32_t)w[c] * ((int32_t)x[c] + p->input_offset);
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
    int32_t oc, t, b, oy, ox, fy, fx;
    for (oc = 0; oc < p->out_c; ++oc) {
        const int32_t ic = oc / p->depth_multiplier;
        for (t = 0; t < taps; ++t) { /* filter [1, k_h, k_w, out_c]: the channel is every out_c-th value */
            scratch[t] = eq_packed_value(f, t * p->out_c + oc, oc);
        }
        for (b = 0; b < p->batches; ++b) {
            const int8_t *in_b = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
            for (oy = 0; oy < p->out_h; ++oy) {
                const eq_span ys = eq_window_span(oy, p->stride_h, p->pad_h, p->dilation_h, p->k_h, p->in_h);
                for (ox = 0; ox < p->out_w; ++ox) {
                    const eq_span xs = eq_window_span(ox, p->stride_w, p->pad_w, p->dilation_w, p->k_w, p->in_w);
                    int32_t acc = 0;
                    for (fy = ys.first; fy < ys.end; ++fy) {
                        const int32_t row = (ys.origin + fy * p->dilation_h) * p->in_w * p->in_c + ic;
                        for (fx = xs.first; fx < xs.end; ++fx) {
                            const int32_t x = in_b[row + (xs.origin + fx * p->dilation_w) * p->in_c];
                            acc += (int32_t)scratch[fy * p->k_w + fx] * (x + p->input_offset);
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
        for (d = 0; d < p->depth; ++d) { /* filter [out_depth, depth]: a row per output */
            scratch[d] = eq_packed_value(f, o * p->depth + d, o);
        }
        for (r = 0; r < p->rows; ++r) {
            const int8_t *x = in + r * p->depth;
            int32_t acc = 0;
            for (d = 0; d < p->depth; ++d) {
                acc += ((int32_t)scratch[d] + p->filter_offset) * ((int32_t)x[d] + p->input_offset);
            }
            out[r * p->out_depth + o] = eq_packed_result(acc, bias, mult, shift, p->per_channel, o,
                                                         p->output_offset, p->act_min, p->act_max);
        }
    }
}
