/* edgeq compiled-C engine: AVERAGE_POOL_2D and MAX_POOL_2D for int8.
 * Windows are clipped to the input (padding is never averaged in), averages round half away from zero. */
#include "eq_fixedpoint.h"
#include "eq_kernels.h"
#include "eq_window.h"

/* Both pools walk the same clipped windows; `is_max` is a constant at each call, so the compiler emits
 * one specialised loop per pool. */
static inline void eq_pool_s8(const eq_pool_params *p, const int8_t *in, int8_t *out, int is_max) {
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const eq_span ys = eq_window_span(oy, p->stride_h, p->pad_h, 1, p->k_h, p->in_h);
            for (ox = 0; ox < p->out_w; ++ox) {
                const eq_span xs = eq_window_span(ox, p->stride_w, p->pad_w, 1, p->k_w, p->in_w);
                const int32_t count = (ys.end - ys.first) * (xs.end - xs.first);
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = is_max ? -128 : 0;
                    for (fy = ys.first; fy < ys.end; ++fy) {
                        for (fx = xs.first; fx < xs.end; ++fx) {
                            const int32_t v = in_b[((ys.origin + fy) * p->in_w + (xs.origin + fx)) * p->channels + c];
                            acc = is_max ? eq_max_i32(acc, v) : acc + v;
                        }
                    }
                    if (!is_max && count > 0) {
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    *out++ = (int8_t)eq_clamp_i32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void eq_avgpool_s8(const eq_pool_params *p, const int8_t *in, int8_t *out) {
    eq_pool_s8(p, in, out, 0);
}

void eq_maxpool_s8(const eq_pool_params *p, const int8_t *in, int8_t *out) {
    eq_pool_s8(p, in, out, 1);
}
