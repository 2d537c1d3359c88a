/* edgeq compiled-C engine: data movement and reductions (PAD, CONCATENATION, MEAN). */
#include <string.h>

#include "eq_fixedpoint.h"
#include "eq_kernels.h"

void eq_pad_8(const eq_pad_params *p, const void *in, void *out) {
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    const uint8_t value = (uint8_t)p->pad_value;
    const int32_t last = p->ndim - 1;
    const int32_t in_row = p->in_dims[last];
    const int32_t out_row = p->pad_before[last] + in_row + p->pad_after[last];
    int32_t out_dims[EQ_MAX_DIMS];
    int32_t idx[EQ_MAX_DIMS];
    int32_t rows = 1;
    int32_t d, r;
    for (d = 0; d < last; ++d) {
        out_dims[d] = p->pad_before[d] + p->in_dims[d] + p->pad_after[d];
        idx[d] = 0;
        rows *= out_dims[d];
    }
    for (r = 0; r < rows; ++r) {
        int inside = 1;
        for (d = 0; d < last; ++d) {
            if (idx[d] < p->pad_before[d] || idx[d] >= p->pad_before[d] + p->in_dims[d]) {
                inside = 0;
                break;
            }
        }
        if (!inside) {
            memset(dst, value, (size_t)out_row);
        } else {
            memset(dst, value, (size_t)p->pad_before[last]);
            memcpy(dst + p->pad_before[last], src, (size_t)in_row);
            memset(dst + p->pad_before[last] + in_row, value, (size_t)p->pad_after[last]);
            src += in_row;
        }
        dst += out_row;
        for (d = last - 1; d >= 0; --d) {
            if (++idx[d] < out_dims[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
}

void eq_concat(int32_t outer, int32_t count, const void *const *inputs, const int32_t *inner_bytes,
               void *out) {
    uint8_t *dst = (uint8_t *)out;
    int32_t o, k;
    for (o = 0; o < outer; ++o) {
        for (k = 0; k < count; ++k) {
            const uint8_t *src = (const uint8_t *)inputs[k] + (size_t)o * (size_t)inner_bytes[k];
            memcpy(dst, src, (size_t)inner_bytes[k]);
            dst += inner_bytes[k];
        }
    }
}

/* Advance a multi-index (index 0 innermost) by one and return `offset` moved by the matching strides. */
static int32_t eq_odometer_step(int32_t n, const int32_t *dims, const int32_t *strides, int32_t *idx,
                                int32_t offset) {
    int32_t d;
    for (d = 0; d < n; ++d) {
        offset += strides[d];
        if (++idx[d] < dims[d]) {
            break;
        }
        offset -= strides[d] * dims[d];
        idx[d] = 0;
    }
    return offset;
}

void eq_mean_s8(const eq_mean_params *p, const int8_t *in, int8_t *out) {
    int32_t kept_dims[EQ_MAX_DIMS], kept_strides[EQ_MAX_DIMS], kept_idx[EQ_MAX_DIMS];
    int32_t red_dims[EQ_MAX_DIMS], red_strides[EQ_MAX_DIMS], red_idx[EQ_MAX_DIMS];
    int32_t n_kept = 0, n_red = 0, n_out = 1, n_in = 1;
    int32_t stride = 1;
    int32_t d, o, r, base = 0;
    for (d = p->ndim - 1; d >= 0; --d) {
        if (p->reduced[d]) {
            red_dims[n_red] = p->dims[d];
            red_strides[n_red] = stride;
            red_idx[n_red] = 0;
            n_in *= p->dims[d];
            ++n_red;
        } else {
            kept_dims[n_kept] = p->dims[d];
            kept_strides[n_kept] = stride;
            kept_idx[n_kept] = 0;
            n_out *= p->dims[d];
            ++n_kept;
        }
        stride *= p->dims[d];
    }
    /* Index 0 of kept_ and red_ is the innermost dimension: both odometers step it first. */
    for (o = 0; o < n_out; ++o) {
        int32_t sum = 0;
        int32_t off = base;
        int32_t v;
        for (r = 0; r < n_in; ++r) {
            sum += in[off];
            off = eq_odometer_step(n_red, red_dims, red_strides, red_idx, off);
        }
        v = eq_mul_by_quantized_mul(sum - p->input_zero_point * p->count, p->mult, p->shift) +
            p->output_zero_point;
        out[o] = (int8_t)eq_clamp_i32(v, -128, 127);
        base = eq_odometer_step(n_kept, kept_dims, kept_strides, kept_idx, base);
    }
}
