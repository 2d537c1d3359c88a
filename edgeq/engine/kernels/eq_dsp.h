/* edgeq compiled-C engine: the SIMD operations of the DSP-extension kernels (eq_dsp_*.c).
 *
 * On a core with the Armv7E-M DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7, M33, M55) they are the
 * ACLE intrinsics of arm_acle.h, plus two single instructions ACLE has no intrinsic for (SMMULR and SXTB16
 * with a rotation; GCC does not fold a rotate into SXTB16). Elsewhere (the host, for testing) they are C
 * with the same results bit for bit, so the DSP kernels can be checked against TFLM anywhere.
 *
 * The requantization these kernels use, eq_requant_fast, equals TFLite's MultiplyByQuantizedMultiplier
 * (eq_mul_by_quantized_mul) exactly when the right shift e = -shift is at least 1 and |acc| < 2^30:
 *   SaturatingRoundingDoublingHighMul(acc, m) with m > 0 is floor((acc * m + 2^30) / 2^31), which is
 *   SMMULR(2 * acc, m) = floor((2 * acc * m + 2^31) / 2^32);
 *   RoundingDivideByPOT(y, e) (halves away from zero) is ((y + (y < 0 ? -1 : 0)) >> (e - 1)) + 1) >> 1.
 * edgeq checks both conditions per layer at generation time and selects the exact general form otherwise. */
#ifndef EQ_DSP_H
#define EQ_DSP_H

#include <stdint.h>
#include <string.h>

#include "eq_fixedpoint.h"

#if defined(__GNUC__) || defined(__clang__)
#define EQ_NOINLINE __attribute__((noinline))
#define EQ_RESTRICT __restrict__
#define EQ_COMPILER_BARRIER() __asm__ volatile("" ::: "memory")
#else
#define EQ_NOINLINE
#define EQ_RESTRICT
#define EQ_COMPILER_BARRIER() ((void)0)
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>

/* Two sign-extended int16 lanes from bytes 0 and 2 (eq_sxtb16) or 1 and 3 (eq_sxtb16_ror8). */
static inline int32_t eq_sxtb16(int32_t x) { return (int32_t)__sxtb16(x); }
static inline int32_t eq_sxtb16_ror8(int32_t x) {
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/* acc + lo(a) * lo(b) + hi(a) * hi(b) over int16 lanes (wrapping). */
static inline int32_t eq_smlad(int32_t a, int32_t b, int32_t acc) { return (int32_t)__smlad(a, b, acc); }
static inline int32_t eq_smlabb(int32_t a, int32_t b, int32_t acc) { return (int32_t)__smlabb(a, b, acc); }
static inline int32_t eq_smlatt(int32_t a, int32_t b, int32_t acc) { return (int32_t)__smlatt(a, b, acc); }
static inline int32_t eq_smlabt(int32_t a, int32_t b, int32_t acc) { return (int32_t)__smlabt(a, b, acc); }
static inline int32_t eq_smlatb(int32_t a, int32_t b, int32_t acc) { return (int32_t)__smlatb(a, b, acc); }
/* round(a * b / 2^32), halves up: the high word of a * b + 2^31. */
static inline int32_t eq_smmulr(int32_t a, int32_t b) {
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* v saturated to [-128, 127]. */
static inline int32_t eq_ssat8(int32_t v) { return __ssat(v, 8); }
/* Two consecutive words from an 8-byte-aligned address in one LDRD (GCC splits a 64-bit load into two LDRs). */
static inline void eq_load2w(const int32_t *p, int32_t *lo, int32_t *hi) {
    int32_t a, b;
    __asm__("ldrd %0, %1, [%2]" : "=r"(a), "=r"(b) : "r"(p), "m"(*(const int32_t(*)[2])p));
    *lo = a;
    *hi = b;
}
/* The int16 pair (bottom of a, bottom of b): PKHBT with LSL #16; (bottom of a, top of b): plain PKHBT. */
static inline int32_t eq_pack_bb(int32_t a, int32_t b) {
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t eq_pack_bt(int32_t a, int32_t b) {
    int32_t r;
    __asm__("pkhbt %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#else
static inline int32_t eq_lo16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t eq_hi16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t eq_sxtb16(int32_t x) {
    const uint32_t u = (uint32_t)x;
    return (int32_t)(((uint32_t)(int32_t)(int8_t)(uint8_t)(u & 0xFFu) & 0xFFFFu) |
                     ((uint32_t)(int32_t)(int8_t)(uint8_t)((u >> 16) & 0xFFu) << 16));
}
static inline int32_t eq_sxtb16_ror8(int32_t x) {
    return eq_sxtb16((int32_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24)));
}
static inline int32_t eq_smlad(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(eq_lo16(a) * eq_lo16(b)) + (uint32_t)(eq_hi16(a) * eq_hi16(b)));
}
static inline int32_t eq_smlabb(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(eq_lo16(a) * eq_lo16(b)));
}
static inline int32_t eq_smlatt(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(eq_hi16(a) * eq_hi16(b)));
}
static inline int32_t eq_smlabt(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(eq_lo16(a) * eq_hi16(b)));
}
static inline int32_t eq_smlatb(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(eq_hi16(a) * eq_lo16(b)));
}
static inline int32_t eq_smmulr(int32_t a, int32_t b) {
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 31)) >> 32);
}
static inline int32_t eq_ssat8(int32_t v) { return v < -128 ? -128 : (v > 127 ? 127 : v); }
static inline void eq_load2w(const int32_t *p, int32_t *lo, int32_t *hi) {
    *lo = p[0];
    *hi = p[1];
}
static inline int32_t eq_pack_bb(int32_t a, int32_t b) {
    return (int32_t)(((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16));
}
static inline int32_t eq_pack_bt(int32_t a, int32_t b) {
    return (int32_t)(((uint32_t)a & 0xFFFFu) | ((uint32_t)b & 0xFFFF0000u));
}
#endif

/* Four bytes from any address as one word (a single LDR on cores that allow unaligned loads). */
static inline int32_t eq_load4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void eq_store4(int8_t *p, int32_t v) { memcpy(p, &v, 4); }

/* n bytes, a word at a time (newlib-nano's memcpy copies bytewise). */
static inline void eq_copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        eq_store4(dst, eq_load4(src));
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
}

static inline void eq_fill_bytes(int8_t *dst, int8_t value, int32_t n) {
    const int32_t word = (int32_t)((uint32_t)(uint8_t)value * 0x01010101u);
    for (; n >= 4; n -= 4, dst += 4) {
        eq_store4(dst, word);
    }
    for (; n > 0; --n) {
        *dst++ = value;
    }
}

/* acc * m * 2^shift / 2^31 with TFLite's rounding, for shift <= -1 and |acc| < 2^30 (see above). */
static inline int32_t eq_requant_fast(int32_t acc, int32_t m, int32_t shift) {
    const int32_t y = eq_smmulr((int32_t)((uint32_t)acc << 1), m);
    return (((y + (y >> 31)) >> ~shift) + 1) >> 1; /* ~shift == -shift - 1 == e - 1 */
}

/* clamp(v, lo, hi) as an int8 (lo <= hi within int8), written for conditional moves rather than branches. */
static inline int8_t eq_clamp_fast(int32_t v, int32_t lo, int32_t hi) {
    v = v < lo ? lo : v;
    return (int8_t)(v > hi ? hi : v);
}

/* The general form (eq_mul_by_quantized_mul) out of line: layers rarely need it, and inlined at every
 * output it would cost flash rather than instructions. Static in each kernel file (one copy per file): the
 * compiler then knows which registers it keeps, and the callers spill far less around the calls. */
static EQ_NOINLINE int32_t eq_requant_general(int32_t acc, int32_t m, int32_t shift) {
    return eq_mul_by_quantized_mul(acc, m, shift);
}

/* Channel c's multiplier and shift from one word and a shift table. TFLite's multipliers lie in [2^30, 2^31):
 * bits 0-29 of mult[c] hold the multiplier below its leading bit 30, bits 30-31 a shift increment. A layer
 * whose shifts span at most 4 values has a one-entry table (its smallest shift; step 0) and the increments in
 * the words, which saves a byte per channel; any other layer a table of every channel's shift (step 1). */
static inline void eq_channel_quant(const int32_t *mult, const int8_t *shift, int32_t step, int32_t c, int32_t *m,
                                    int32_t *s) {
    const uint32_t word = (uint32_t)mult[c];
    *m = (int32_t)((word & 0x3FFFFFFFu) | 0x40000000u);
    *s = shift[c * step] + (int32_t)(word >> 30);
}

/* One output value: requantized (fast or general form), offset, clamped. */
static inline int8_t eq_out_value(int32_t acc, int32_t m, int32_t shift, int fast, int32_t offset, int32_t lo,
                                  int32_t hi) {
    const int32_t v = fast ? eq_requant_fast(acc, m, shift) : eq_requant_general(acc, m, shift);
    return (int8_t)eq_clamp_i32(v + offset, lo, hi);
}

#endif /* EQ_DSP_H */
