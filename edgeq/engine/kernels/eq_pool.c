/* edgeq compiled-C engine: AVERAGE_POOL_2D and MAX_POOL_2D for int8.
 * Windows are clipped to the input (padding is never averaged in), averages round half away from zero. */
#include "eq_fixedpoint.h"
#include "eq_kernels.h"

typedef struct {
    int32_t y0, x0, fy0, fy1, fx0, fx1;
} eq_window;

static eq_window eq_pool_window(const eq_pool_params *p, int32_t oy, int32_t ox) {
    eq_window w;
    w.y0 = oy * p->stride_h - p->pad_h;
    w.x0 = ox * p->stride_w - p->pad_w;
    w.fy0 = eq_max_i32(0, -w.y0);
    w.fy1 = eq_min_i32(p->k_h, p->in_h - w.y0);
    w.fx0 = eq_max_i32(0, -w.x0);
    w.fx1 = eq_min_i32(p->k_w, p->in_w - w.x0);
    return w;
}

void eq_avgpool_s8(const eq_pool_params *p, const int8_t *in, int8_t *out) {
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                const eq_window w = eq_pool_window(p, oy, ox);
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = 0;
                    int32_t count = 0;
                    for (fy = w.fy0; fy < w.fy1; ++fy) {
                        for (fx = w.fx0; fx < w.fx1; ++fx) {
                            acc += in_b[((w.y0 + fy) * p->in_w + (w.x0 + fx)) * p->channels + c];
                            ++count;
                        }
                    }
                    if (count > 0) {
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    *out++ = (int8_t)eq_clamp_i32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void eq_maxpool_s8(const eq_pool_params *p, const int8_t *in, int8_t *out) {
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                const eq_window w = eq_pool_window(p, oy, ox);
                for (c = 0; c < p->channels; ++c) {
                    int32_t best = -128;
                    for (fy = w.fy0; fy < w.fy1; ++fy) {
                        for (fx = w.fx0; fx < w.fx1; ++fx) {
                            const int32_t v = in_b[((w.y0 + fy) * p->in_w + (w.x0 + fx)) * p->channels + c];
                            best = v > best ? v : best;
                        }
                    }
                    *out++ = (int8_t)eq_clamp_i32(best, p->act_min, p->act_max);
                }
            }
        }
    }
}
