/* The sliding window shared by the edgeq compiled-C convolution and pooling kernels. */
#ifndef EQ_WINDOW_H
#define EQ_WINDOW_H

#include <stdint.h>

#include "eq_fixedpoint.h"

/* The taps t in [first, end) of a window whose first tap sits at `origin` (= output index * stride - pad)
 * that land inside [0, size) with the given dilation: padding contributes nothing. */
typedef struct {
    int32_t origin, first, end;
} eq_span;

static inline eq_span eq_window_span(int32_t index, int32_t stride, int32_t pad, int32_t dilation, int32_t k,
                                     int32_t size) {
    eq_span s;
    s.origin = index * stride - pad;
    s.first = s.origin < 0 ? (-s.origin + dilation - 1) / dilation : 0;
    s.end = s.origin >= size ? 0 : eq_min_i32(k, (size - s.origin + dilation - 1) / dilation);
    s.end = eq_max_i32(s.end, s.first);
    return s;
}

#endif /* EQ_WINDOW_H */
