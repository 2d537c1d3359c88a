/* edgeq compiled-C engine: portable int8 kernels (TFLite quantization spec, bit-exact with TFLM).
 *
 * Every kernel takes a const parameter struct that edgeq fills in at code-generation time (shapes,
 * offsets, clamp bounds, requantization multipliers), so nothing is derived from floats at run time.
 * Tensors are NHWC, batch-major, row-major. No kernel allocates memory; none needs scratch space. */
#ifndef EQ_KERNELS_H
#define EQ_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EQ_MAX_DIMS 6

/* The windowed and matrix kernels take `filter_sums` (per output channel, the sum of its filter values,
 * computed at generation time) to fold the input offset out of the inner loop where a window lies wholly
 * inside the input: sum(f * (x + off)) == sum(f * x) + off * sum(f) exactly in integers. NULL disables it. */

/* CONV_2D. Filter [out_c, k_h, k_w, filter_in_c]; in_c / filter_in_c groups. */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, filter_in_c;
    int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
    int32_t input_offset, output_offset, act_min, act_max;
    int32_t per_channel; /* 0: mult[0]/shift[0] for every output channel */
} eq_conv_params;

void eq_conv_s8(const eq_conv_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
                const int32_t *filter_sums, const int32_t *mult, const int32_t *shift, int8_t *out);

/* DEPTHWISE_CONV_2D. Filter [1, k_h, k_w, out_c], out_c = in_c * depth_multiplier. */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c, depth_multiplier;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
    int32_t input_offset, output_offset, act_min, act_max;
    int32_t per_channel;
} eq_dwconv_params;

void eq_dwconv_s8(const eq_dwconv_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
                  const int32_t *filter_sums, const int32_t *mult, const int32_t *shift, int8_t *out);

/* FULLY_CONNECTED. Input [rows, depth], filter [out_depth, depth]. */
typedef struct {
    int32_t rows, depth, out_depth;
    int32_t input_offset, filter_offset, output_offset, act_min, act_max;
    int32_t per_channel;
} eq_fc_params;

void eq_fc_s8(const eq_fc_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
              const int32_t *filter_sums, const int32_t *mult, const int32_t *shift, int8_t *out);

/* AVERAGE_POOL_2D / MAX_POOL_2D. */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} eq_pool_params;

void eq_avgpool_s8(const eq_pool_params *p, const int8_t *in, int8_t *out);
void eq_maxpool_s8(const eq_pool_params *p, const int8_t *in, int8_t *out);

/* Broadcasting for binary element-wise ops: the output's dims and each input's element strides
 * over them (0 along a broadcast dimension). ndim == 0 means both inputs have the output's shape. */
typedef struct {
    int32_t ndim;
    int32_t dims[EQ_MAX_DIMS];
    int32_t stride1[EQ_MAX_DIMS];
    int32_t stride2[EQ_MAX_DIMS];
} eq_broadcast;

/* ADD / SUB: both inputs are rescaled to a common scale (left_shift, then a multiplier < 1). */
typedef struct {
    int32_t input1_offset, input2_offset, output_offset, left_shift;
    int32_t input1_mult, input1_shift, input2_mult, input2_shift, output_mult, output_shift;
    int32_t act_min, act_max;
} eq_add_params;

void eq_add_s8(const eq_add_params *p, const eq_broadcast *b, int32_t n, const int8_t *in1,
               const int8_t *in2, int8_t *out);
void eq_sub_s8(const eq_add_params *p, const eq_broadcast *b, int32_t n, const int8_t *in1,
               const int8_t *in2, int8_t *out);

/* MUL. */
typedef struct {
    int32_t input1_offset, input2_offset, output_offset, output_mult, output_shift;
    int32_t act_min, act_max;
} eq_mul_params;

void eq_mul_s8(const eq_mul_params *p, const eq_broadcast *b, int32_t n, const int8_t *in1,
               const int8_t *in2, int8_t *out);

/* out = clamp(output_offset + (in - input_offset) * M, act_min, act_max): RELU, and QUANTIZE between
 * two 8-bit integer types. The element type is 0 for int8, 1 for uint8. */
typedef struct {
    int32_t input_offset, output_offset, mult, shift, act_min, act_max;
    int32_t input_unsigned, output_unsigned;
} eq_requant_params;

void eq_requantize_8(const eq_requant_params *p, int32_t n, const void *in, void *out);

/* out = clamp(in, lo, hi): RELU6 (TFLM clamps in the input's own integers). */
void eq_clamp_s8(const int8_t *in, int8_t *out, int32_t n, int32_t lo, int32_t hi);

/* PAD with a constant 8-bit value, over up to EQ_MAX_DIMS dimensions. */
typedef struct {
    int32_t ndim, pad_value;
    int32_t in_dims[EQ_MAX_DIMS];
    int32_t pad_before[EQ_MAX_DIMS];
    int32_t pad_after[EQ_MAX_DIMS];
} eq_pad_params;

void eq_pad_8(const eq_pad_params *p, const void *in, void *out);

/* CONCATENATION: `outer` slabs; input k contributes inner_bytes[k] contiguous bytes to each. */
void eq_concat(int32_t outer, int32_t count, const void *const *inputs, const int32_t *inner_bytes,
               void *out);

/* MEAN over a set of axes. dims are the input's; reduced[d] != 0 for a reduced axis. */
typedef struct {
    int32_t ndim;
    int32_t dims[EQ_MAX_DIMS];
    int32_t reduced[EQ_MAX_DIMS];
    int32_t input_zero_point, output_zero_point, mult, shift, count;
} eq_mean_params;

void eq_mean_s8(const eq_mean_params *p, const int8_t *in, int8_t *out);

/* QUANTIZE from float and DEQUANTIZE to float (model I/O only; the int8 paths never touch floats). */
typedef struct {
    float scale;
    int32_t zero_point, qmin, qmax, output_unsigned;
} eq_quantize_params;

void eq_quantize_f32(const eq_quantize_params *p, int32_t n, const float *in, void *out);

typedef struct {
    double scale;
    int32_t zero_point, input_unsigned;
} eq_dequantize_params;

void eq_dequantize_f32(const eq_dequantize_params *p, int32_t n, const void *in, float *out);

#ifdef __cplusplus
}
#endif

#endif /* EQ_KERNELS_H */
