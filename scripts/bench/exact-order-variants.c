// What the exact per-lane order costs the batched Q4_1 kernel: the packed kernel as served
// (Shared/CKernels/packed_dot.c, 16 tokens) against two other orders of the same integer
// sums, on SmolLM2's 1536 x 576 gate/up shape. Not a kernel Tessera runs: both variants give
// other bits than the Swift oracle (printed: their largest relative difference).
//   A: a block's low- and high-nibble sums chained in one int32 lane set (4 lanes per row
//      and block instead of 8), then one convert and one FMA per block and token;
//   B: A, then each row's four lanes summed as integers for four tokens at a time (a 4 x 4
//      transpose by unpacks and adds): one convert, multiply and FMA per 4 rows x 4 tokens.
// Needs AVX-512 VNNI. Build and run:
//   clang -O3 -march=native -I Shared/CKernels/include scripts/bench/exact-order-variants.c \
//     Shared/CKernels/*.c -lm -o /tmp/exact-order-variants && /tmp/exact-order-variants
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include "CKernels.h"
#define VNNI512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,f16c,fma")))

// Variant A: the low and high nibbles' sums chained in one int32 lane set (exact), then one
// convert and one FMA per block and token (4 lanes per row instead of 8).
VNNI512 static void q4_1_group_8_a(const uint8_t *quants, const uint8_t *scales, int blocks,
    const int8_t *acts, const float *act_scales, const float *scaled_sums, float *out, size_t out_stride) {
    enum { TOKENS = 8 };
    __m512 acc[TOKENS]; __m128 offsets[TOKENS];
    for (int t = 0; t < TOKENS; t++) { acc[t] = _mm512_setzero_ps(); offsets[t] = _mm_setzero_ps(); }
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    const __m512i spread = _mm512_setr_epi32(0,0,0,0,1,1,1,1,2,2,2,2,3,3,3,3);
    const size_t token_values = (size_t)blocks * 32;
    for (int b = 0; b < blocks; b++) {
        const __m512i packed = _mm512_load_si512((const void *)(quants + (size_t)b * 64));
        const __m512i lo = _mm512_and_si512(packed, nibble);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), nibble);
        const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + (size_t)b * 16)));
        const __m512 d = _mm512_permutexvar_ps(spread, _mm512_castps256_ps512(dm));
        const __m128 m = _mm256_extractf128_ps(dm, 1);
        for (int t = 0; t < TOKENS; t++) {
            const int8_t *a = acts + t * token_values + (size_t)b * 32;
            const size_t at = (size_t)t * blocks + b;
            const __m512i a_lo = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)a));
            const __m512i a_hi = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(a + 16)));
            const __m512i sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, a_lo), hi, a_hi);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(d, _mm512_set1_ps(act_scales[at])), acc[t]);
            offsets[t] = _mm_fmadd_ps(m, _mm_set1_ps(scaled_sums[at]), offsets[t]);
        }
    }
    for (int t = 0; t < TOKENS; t++) {
        float v[16]; _mm512_storeu_ps(v, acc[t]); float o[4]; _mm_storeu_ps(o, offsets[t]);
        for (int k = 0; k < 4; k++) out[t * out_stride + k] = (v[4*k] + v[4*k+2]) + (v[4*k+1] + v[4*k+3]) + o[k];
    }
}

// Variant B: A, then each row's four lanes summed as integers across four tokens at a time
// (a transpose by permutes and adds), so one convert, one multiply and one FMA cover 4 rows x 4 tokens.
VNNI512 static void q4_1_group_8_b(const uint8_t *quants, const uint8_t *scales, int blocks,
    const int8_t *acts, const float *act_scales, const float *scaled_sums, float *out, size_t out_stride) {
    __m512 acc[2]; __m512 off[2];
    acc[0] = acc[1] = off[0] = off[1] = _mm512_setzero_ps();
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    const size_t token_values = (size_t)blocks * 32;
    // lane 4k+j after the reduction holds (row k, token j)
    const __m512i rowsel = _mm512_setr_epi32(0,0,0,0,1,1,1,1,2,2,2,2,3,3,3,3);
    for (int b = 0; b < blocks; b++) {
        const __m512i packed = _mm512_load_si512((const void *)(quants + (size_t)b * 64));
        const __m512i lo = _mm512_and_si512(packed, nibble);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), nibble);
        const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + (size_t)b * 16)));
        const __m512 d = _mm512_permutexvar_ps(rowsel, _mm512_castps256_ps512(dm));
        const __m512 m = _mm512_permutexvar_ps(_mm512_add_epi32(rowsel, _mm512_set1_epi32(4)), _mm512_castps256_ps512(dm));
        for (int g = 0; g < 2; g++) {
            __m512i s[4];
            for (int j = 0; j < 4; j++) {
                const int t = g * 4 + j;
                const int8_t *a = acts + t * token_values + (size_t)b * 32;
                const __m512i a_lo = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)a));
                const __m512i a_hi = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(a + 16)));
                s[j] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, a_lo), hi, a_hi);
            }
            // 4x4 transpose-add within each 128-bit row chunk: lanes (k, 0..3) of s[j] -> sum in lane (k, j)
            __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[0], s[1]), _mm512_unpackhi_epi32(s[0], s[1]));
            __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[2], s[3]), _mm512_unpackhi_epi32(s[2], s[3]));
            __m512i sum = _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
            const size_t at0 = (size_t)(g * 4) * blocks + b;
            const __m128 sc = _mm_setr_ps(act_scales[at0], act_scales[at0 + blocks], act_scales[at0 + 2*blocks], act_scales[at0 + 3*blocks]);
            const __m128 ss = _mm_setr_ps(scaled_sums[at0], scaled_sums[at0 + blocks], scaled_sums[at0 + 2*blocks], scaled_sums[at0 + 3*blocks]);
            const __m512 s4 = _mm512_broadcast_f32x4(sc);
            acc[g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(d, s4), acc[g]);
            off[g] = _mm512_fmadd_ps(m, _mm512_broadcast_f32x4(ss), off[g]);
        }
    }
    for (int g = 0; g < 2; g++) {
        float v[16], o[16]; _mm512_storeu_ps(v, acc[g]); _mm512_storeu_ps(o, off[g]);
        for (int k = 0; k < 4; k++) for (int j = 0; j < 4; j++) out[(g*4+j) * out_stride + k] = v[4*k+j] + o[4*k+j];
    }
}

static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }

int main(void) {
    const int rows = 1536, blocks = 18, tokens = 16;
    size_t row_bytes = blocks * 20;
    uint8_t *w = malloc(rows * row_bytes);
    srand(1);
    for (size_t i = 0; i < rows * row_bytes; i++) w[i] = rand();
    for (int r = 0; r < rows; r++) for (int b = 0; b < blocks; b++) {  // sane f16 scales
        uint16_t d = 0x2000 + (rand() & 0x3ff), m = 0xA000 + (rand() & 0x3ff);
        memcpy(w + r * row_bytes + b * 20, &d, 2); memcpy(w + r * row_bytes + b * 20 + 2, &m, 2);
    }
    uint8_t *q = aligned_alloc(64, tessera_packed_quant_bytes(3, rows, blocks));
    uint8_t *s = aligned_alloc(64, tessera_packed_scale_bytes(3, rows, blocks) + 64);
    tessera_pack_rows(3, w, row_bytes, rows, blocks, q, s);
    int8_t *acts = malloc(tokens * blocks * 32);
    for (int i = 0; i < tokens * blocks * 32; i++) acts[i] = (rand() % 255) - 127;
    float *as = malloc(tokens * blocks * 4), *ssum = malloc(tokens * blocks * 4);
    for (int i = 0; i < tokens * blocks; i++) { as[i] = 0.01f + (rand() % 100) * 1e-4f; ssum[i] = (rand() % 1000) * 1e-3f; }
    float *o0 = calloc(tokens * rows, 4), *o1 = calloc(tokens * rows, 4), *o2 = calloc(tokens * rows, 4);
    const int reps = 2000;
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) tessera_packed_dot_rows(3, q, s, blocks, 0, rows, acts, as, ssum, tokens, o0, rows);
        double t1 = now();
        for (int r = 0; r < reps; r++)
            for (int g = 0; g < rows / 4; g++)
                for (int t = 0; t < tokens; t += 8)
                    q4_1_group_8_a(q + (size_t)g * blocks * 64, s + (size_t)g * blocks * 16, blocks, acts + (size_t)t * blocks * 32, as + t * blocks, ssum + t * blocks, o1 + (size_t)t * rows + g * 4, rows);
        double t2 = now();
        for (int r = 0; r < reps; r++)
            for (int g = 0; g < rows / 4; g++)
                for (int t = 0; t < tokens; t += 8)
                    q4_1_group_8_b(q + (size_t)g * blocks * 64, s + (size_t)g * blocks * 16, blocks, acts + (size_t)t * blocks * 32, as + t * blocks, ssum + t * blocks, o2 + (size_t)t * rows + g * 4, rows);
        double t3 = now();
        double per = 1e9 / ((double)reps * rows * tokens);
        printf("16 tokens, ns per row*token: current %.3f  A (lo+hi as integers) %.3f  B (block as integers) %.3f\n",
               (t1 - t0) * per, (t2 - t1) * per, (t3 - t2) * per);
    }
    // Differences relative to the largest output (single outputs can cancel to near zero).
    double largest = 0, diff1 = 0, diff2 = 0;
    int differ1 = 0, differ2 = 0;
    for (int i = 0; i < tokens * rows; i++) {
        largest = fmax(largest, fabs(o0[i]));
        diff1 = fmax(diff1, fabs(o1[i] - o0[i]));
        diff2 = fmax(diff2, fabs(o2[i] - o0[i]));
        differ1 += o1[i] != o0[i];
        differ2 += o2[i] != o0[i];
    }
    printf("against the current kernel: A differs in %d of %d outputs (largest difference %.1e of the "
           "largest output), B in %d (%.1e)\n", differ1, tokens * rows, diff1 / largest, differ2, diff2 / largest);
    return 0;
}
