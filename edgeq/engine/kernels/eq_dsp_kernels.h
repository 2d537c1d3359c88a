/* edgeq compiled-C engine: int8 kernels for cores with the Armv7E-M DSP extension (Cortex-M4, M7, M33, M55).
 *
 * edgeq selects these at generation time for target profiles with `dsp = true`; their weights are re-laid out
 * at generation time, the input offset is folded into the bias, and each output channel has TFLite's int32
 * multiplier and shift, packed as eq_channel_quant (eq_dsp.h) reads them: `mult` words and a `shift` table of
 * one entry (shift_step 0) or one per channel (shift_step 1). Bit-exact with TFLM like the portable kernels.
 * Parameters are int16 (flash: one struct per operator). On other compilers' targets the same C runs with
 * C versions of the instructions (eq_dsp.h), which is how the host tests check them. */
#ifndef EQ_DSP_KERNELS_H
#define EQ_DSP_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CONV_2D with one group. Weights: output channels in pairs (an odd count gets a zero channel), the two
 * channels' K = k_h * k_w * in_c values interleaved four at a time, K padded to kp (a multiple of 4) with
 * zeros. direct: 1x1 with in_c % 4 == 0: from 16 channels on `scratch` (word-aligned) holds two pixels split
 * into int16 lanes (4 * kp bytes), read by every channel pair, below that the pixels are read in place (no
 * scratch); otherwise `scratch` holds two im2col columns (2 * kp bytes). fast_requant: eq_requant_fast is exact for every channel (eq_dsp.h). */
typedef struct {
    const int8_t *w;
    const int32_t *bias, *mult;
    const int8_t *shift;
    int16_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
    int16_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w, kp, direct;
    int16_t input_zero_point, output_offset, act_min, act_max, fast_requant, shift_step;
} eq_conv_dsp_params;

void eq_conv_dsp_s8(const eq_conv_dsp_params *p, const int8_t *in, int8_t *scratch, int8_t *out);

#define EQ_DW_MAX_TAPS 25 /* k_h * k_w of eq_dwconv_dsp_s8 */

/* DEPTHWISE_CONV_2D with depth multiplier 1, channels % 4 == 0 and at most EQ_DW_MAX_TAPS taps. Weights laid out [channels / 4][k_h * k_w]
 * [4] (each group of four channels' taps in order). `scratch` holds `channels` bytes of the input zero point, read by padding taps. */
typedef struct {
    const int8_t *w;
    const int32_t *bias, *mult;
    const int8_t *shift;
    int16_t batches, in_h, in_w, channels, out_h, out_w, k_h, k_w;
    int16_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
    int16_t input_zero_point, output_offset, act_min, act_max, fast_requant, shift_step;
} eq_dwconv_dsp_params;

void eq_dwconv_dsp_s8(const eq_dwconv_dsp_params *p, const int8_t *in, int8_t *scratch, int8_t *out);

/* The same for a 3x3 filter with dilation 1 and stride_w 1 or 2, weights laid out [channels][9] followed by 3
 * padding bytes: `scratch` (word-aligned) holds a 32-byte entry per channel and then
 * 3 * channels * EQ_DW3_COLS(out_w, stride_w) int16 values. */
#define EQ_DW3_COLS(out_w, stride_w) ((((out_w) - 1) * (stride_w) + 5) / 2 * 2)

void eq_dwconv3x3_dsp_s8(const eq_dwconv_dsp_params *p, const int8_t *in, int8_t *scratch, int8_t *out);

/* FULLY_CONNECTED (filter offset 0). Weights: output channels in fours (zero channels pad the last group), the
 * four channels' depth values interleaved four at a time, depth padded to kp with zeros; when depth != kp,
 * `scratch` holds one input row padded to kp bytes. per_channel 0: mult[0] and shift[0] for every channel. */
typedef struct {
    const int8_t *w;
    const int32_t *bias, *mult;
    const int8_t *shift;
    int32_t rows, depth, out_depth, kp;
    int16_t per_channel, output_offset, act_min, act_max, fast_requant, shift_step;
} eq_fc_dsp_params;

void eq_fc_dsp_s8(const eq_fc_dsp_params *p, const int8_t *in, int8_t *scratch, int8_t *out);

/* ADD of two same-shape int8 tensors (no broadcasting), TFLite's arithmetic with left shift 20; edgeq uses it
 * when both input shifts are <= 0 and the output shift <= -1 (else eq_add_s8). out may alias in1 or in2. */
typedef struct {
    int32_t input1_mult, input2_mult, output_mult;
    int16_t input1_offset, input2_offset, output_offset, input1_shift, input2_shift, output_shift;
    int16_t act_min, act_max;
} eq_add_dsp_params;

void eq_add_dsp_s8(const eq_add_dsp_params *p, int32_t n, const int8_t *in1, const int8_t *in2, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EQ_DSP_KERNELS_H */
