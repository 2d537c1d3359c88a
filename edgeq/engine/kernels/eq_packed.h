/* edgeq compiled-C engine: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with packed filters, decoded inside
 * the kernel one output channel at a time into a scratch buffer of that channel's weights (never the whole
 * filter): TFLM's LUT compression (b-bit indices, most significant bit first, into per-channel or per-tensor
 * int8 value tables: what its TFLM_DECODE op decodes) and kTfLiteInt4 (two values a byte, low nibble first). */
#ifndef EQ_PACKED_H
#define EQ_PACKED_H

#include <stdint.h>

#include "eq_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EQ_PACKED_LUT 0
#define EQ_PACKED_INT4 1

typedef struct {
    int32_t kind;           /* EQ_PACKED_LUT or EQ_PACKED_INT4 */
    int32_t bits;           /* LUT: index width, 1..7 */
    int32_t stride;         /* LUT: entries per value table */
    int32_t per_channel;    /* LUT: one table per output channel (else one for the tensor) */
    const uint8_t *data;    /* the packed indices or nibbles, in the filter's element order */
    const int8_t *tables;   /* LUT: the value tables, `stride` entries each; NULL for int4 */
} eq_packed_filter;

/* scratch: k_h * k_w * filter_in_c bytes. */
void eq_conv_packed_s8(const eq_conv_params *p, const int8_t *in, const eq_packed_filter *f, const int32_t *bias,
                       const int32_t *mult, const int32_t *shift, int8_t *out, int8_t *scratch);
/* scratch: k_h * k_w bytes. */
void eq_dwconv_packed_s8(const eq_dwconv_params *p, const int8_t *in, const eq_packed_filter *f,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out,
                         int8_t *scratch);
/* scratch: depth bytes. */
void eq_fc_packed_s8(const eq_fc_params *p, const int8_t *in, const eq_packed_filter *f, const int32_t *bias,
                     const int32_t *mult, const int32_t *shift, int8_t *out, int8_t *scratch);

#ifdef __cplusplus
}
#endif

#endif /* EQ_PACKED_H */
