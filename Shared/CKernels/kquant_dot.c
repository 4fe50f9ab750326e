// K-quant rows (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) dotted with Q8_K activations.
//
// Each weight row is first unpacked into one planar form shared by all five types:
// int8 quants (one per column), int8 scale and min per 16 columns, float d and dmin per
// super-block of 256, so that value = d * scale * q - dmin * min. The row is unpacked once
// and then dotted with every token of the call, so a token's result never depends on the
// others. Per super-block the kernel computes two exact integers,
//   S = sum_g scale_g * sum_{i in g} q_i * a_i   and   M = sum_g min_g * bsum_g,
// and then, in this order, acc = fmaf(d * da, S, acc), mins = fmaf(dmin * da, M, mins);
// the result is acc - mins. Shared/Kernels/Quantized/KQuantDotKernels.swift does the same
// operations, so both give the same bits.
#include "CKernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline float kq_half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    // Exact half -> float conversion without F16C (subnormals, infinities and NaN included).
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        int shift = 0;
        while (!(mantissa & 0x400)) { mantissa <<= 1; shift++; }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((mantissa & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// Q4_K / Q5_K packing of eight 6-bit scales and mins in 12 bytes.
static inline void kq_scale_min(const uint8_t *s, int j, int8_t *scale, int8_t *min) {
    if (j < 4) {
        *scale = (int8_t)(s[j] & 63);
        *min = (int8_t)(s[j + 4] & 63);
    } else {
        *scale = (int8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *min = (int8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// Low two bits of the Q2_K / Q3_K layout: per half of 128, byte l holds l, l+32, l+64, l+96.
static inline void kq_two_bits(const uint8_t *restrict qs, int8_t *restrict q) {
    for (int half = 0; half < 2; half++)
        for (int quarter = 0; quarter < 4; quarter++)
            for (int l = 0; l < 32; l++)
                q[half * 128 + quarter * 32 + l] = (int8_t)((qs[half * 32 + l] >> (2 * quarter)) & 3);
}

// Loops run over 32 contiguous bytes with no branches so that they vectorize (a data-dependent
// branch per value cost Q3_K 15x).
static void kq_unpack_block(int type, const uint8_t *restrict b, int8_t *restrict q,
                            int8_t *restrict sc, int8_t *restrict mn, float *d, float *dmin) {
    switch (type) {
    case 10: /* Q2_K: scales[16] qs[64] d dmin */
        for (int g = 0; g < 16; g++) { sc[g] = (int8_t)(b[g] & 0xF); mn[g] = (int8_t)(b[g] >> 4); }
        kq_two_bits(b + 16, q);
        *d = kq_half(b + 80);
        *dmin = kq_half(b + 82);
        break;
    case 11: /* Q3_K: hmask[32] qs[64] scales[12] d */
        kq_two_bits(b + 32, q);
        for (int bit = 0; bit < 8; bit++) /* hmask: a clear bit means minus 4 */
            for (int l = 0; l < 32; l++)
                q[bit * 32 + l] = (int8_t)(q[bit * 32 + l] - 4 + (((b[l] >> bit) & 1) << 2));
        for (int g = 0; g < 16; g++) {
            int low = g < 8 ? (b[96 + g] & 0xF) : (b[96 + g - 8] >> 4);
            int high = (b[96 + 8 + (g & 3)] >> (2 * (g >> 2))) & 3;
            sc[g] = (int8_t)((low | (high << 4)) - 32);
            mn[g] = 0;
        }
        *d = kq_half(b + 108);
        *dmin = 0;
        break;
    case 12: /* Q4_K: d dmin scales[12] qs[128] */
    case 13: /* Q5_K: d dmin scales[12] qh[32] qs[128] */ {
        const uint8_t *nibbles = b + (type == 12 ? 16 : 48);
        for (int pair = 0; pair < 4; pair++)
            for (int l = 0; l < 32; l++) {
                q[pair * 64 + l] = (int8_t)(nibbles[pair * 32 + l] & 0xF);
                q[pair * 64 + 32 + l] = (int8_t)(nibbles[pair * 32 + l] >> 4);
            }
        if (type == 13)
            for (int bit = 0; bit < 8; bit++)
                for (int l = 0; l < 32; l++)
                    q[bit * 32 + l] = (int8_t)(q[bit * 32 + l] | (((b[16 + l] >> bit) & 1) << 4));
        for (int j = 0; j < 8; j++) {
            int8_t s, m;
            kq_scale_min(b + 4, j, &s, &m);
            sc[2 * j] = sc[2 * j + 1] = s;
            mn[2 * j] = mn[2 * j + 1] = m;
        }
        *d = kq_half(b);
        *dmin = kq_half(b + 2);
        break;
    }
    default: /* 14, Q6_K: ql[128] qh[64] scales[16] d */
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = b + half * 64, *qh = b + 128 + half * 32;
            int8_t *o = q + half * 128;
            for (int l = 0; l < 32; l++) {
                o[l] = (int8_t)(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
                o[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        for (int g = 0; g < 16; g++) { sc[g] = (int8_t)b[192 + g]; mn[g] = 0; }
        *d = kq_half(b + 208);
        *dmin = 0;
        break;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

// S of one super-block: exact, whatever the lane order.
static inline int kq_block_sum_avx2(const int8_t *q, const int8_t *a, const int8_t *sc) {
    __m256i acc = _mm256_setzero_si256();
    for (int g = 0; g < 16; g += 2) {
        __m256i w = _mm256_loadu_si256((const __m256i *)(q + g * 16));
        __m256i x = _mm256_loadu_si256((const __m256i *)(a + g * 16));
        // |w| <= 63 and |x| <= 127: pair sums <= 16002, no saturation.
        __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
        __m256i scales = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, scales));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

int tessera_kquant_dot_rows(int type, const uint8_t *weights, size_t row_bytes, int row_begin,
                            int row_end, int columns, const int8_t *activations,
                            const float *scales, const int16_t *block_sums, int tokens,
                            float *out, size_t out_stride) {
    if (type < 10 || type > 14 || tessera_dot_level() == 0 || columns % 256 != 0) return 0;
    const int blocks = columns / 256;
    const size_t block_bytes = row_bytes / (size_t)blocks;
    // One allocation per call: quants, then scales and mins per 16, then d and dmin.
    int8_t *q = malloc((size_t)columns + 2 * (size_t)(columns / 16) + 2 * sizeof(float) * blocks);
    if (!q) return 0;
    int8_t *sc = q + columns, *mn = sc + columns / 16;
    float *dd = (float *)(void *)(mn + columns / 16), *dm = dd + blocks;
    for (int r = row_begin; r < row_end; r++) {
        const uint8_t *row = weights + (size_t)r * row_bytes;
        for (int b = 0; b < blocks; b++)
            kq_unpack_block(type, row + (size_t)b * block_bytes, q + b * 256, sc + b * 16,
                            mn + b * 16, &dd[b], &dm[b]);
        for (int t = 0; t < tokens; t++) {
            const int8_t *a = activations + (size_t)t * columns;
            const int16_t *bsum = block_sums + (size_t)t * (columns / 16);
            const float *da = scales + (size_t)t * blocks;
            float acc = 0, mins = 0;
            for (int b = 0; b < blocks; b++) {
                int s = kq_block_sum_avx2(q + b * 256, a + b * 256, sc + b * 16);
                int m = 0;
                for (int g = 0; g < 16; g++) m += mn[b * 16 + g] * bsum[b * 16 + g];
                acc = fmaf(dd[b] * da[b], (float)s, acc);
                mins = fmaf(dm[b] * da[b], (float)m, mins);
            }
            out[(size_t)t * out_stride + r] = acc - mins;
        }
    }
    free(q);
    return 1;
}

#else

int tessera_kquant_dot_rows(int type, const uint8_t *weights, size_t row_bytes, int row_begin,
                            int row_end, int columns, const int8_t *activations,
                            const float *scales, const int16_t *block_sums, int tokens,
                            float *out, size_t out_stride) {
    (void)type; (void)weights; (void)row_bytes; (void)row_begin; (void)row_end; (void)columns;
    (void)activations; (void)scales; (void)block_sums; (void)tokens; (void)out; (void)out_stride;
    (void)kq_unpack_block;
    return 0;
}

#endif
