// Trial of a compact 2:4 layout for Wanda 2:4 variants (issue 13): does a kernel that reads
// only the kept half of each block (values + their positions) beat the engine's dense Q4_0 and
// Q8_0 row kernels (Shared/CKernels/dot.c) on bytes and on decode speed?
//
// Compact block of 32 weights, 2:4 (two kept in every four consecutive inputs):
//   Q4_0-2:4: fp16 d, 8 bytes of nibbles (16 kept values, kept value 2g+k of group g in byte
//             g (k = 0 low, 1 high nibble)), 4 bytes of pattern codes (group g's pair of
//             kept positions, one of the 6 pairs, in 4 bits) = 14 bytes (dense Q4_0: 18).
//   Q8_0-2:4: fp16 d, 16 int8 kept values, 4 bytes of codes = 22 bytes (dense Q8_0: 34).
// The kernel gathers each block's 16 activations at the kept positions with one byte
// shuffle (indices from a table of the 36 pattern pairs), then multiplies 16 pairs where the
// dense kernel multiplies 32.
//
// Build and run (AVX2), from this folder:
//   cc -O3 -march=haswell -o /tmp/sparse24 sparse24_bench.c ../../../Shared/CKernels/dot.c
//      -I../../../Shared/CKernels/include && /tmp/sparse24
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "CKernels.h"

static const int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
// For a byte holding two groups' codes (low nibble: even group, high: odd group), the four
// shuffle indices of their kept activations within a 16-byte lane.
static uint32_t pair_indices[2][256];

static void make_tables(void) {
    for (int lane_pair = 0; lane_pair < 2; lane_pair++)
        for (int code = 0; code < 256; code++) {
            int a = code & 15, b = code >> 4;
            if (a > 5 || b > 5) continue;
            int base = lane_pair * 8;  // groups 0-1 at bytes 0-7 or groups 2-3 at 8-15 of a lane
            uint8_t idx[4] = {(uint8_t)(base + pairs[a][0]), (uint8_t)(base + pairs[a][1]),
                              (uint8_t)(base + 4 + pairs[b][0]), (uint8_t)(base + 4 + pairs[b][1])};
            memcpy(&pair_indices[lane_pair][code], idx, 4);
        }
}

static inline float half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline float horizontal_sum(__m256 acc) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    return _mm_cvtss_f32(s);
}

// Shuffle control: lane 0 gathers groups 0-3 of the block (activation bytes 0-15), lane 1
// groups 4-7 (bytes 16-31); each lane's 8 gathered bytes land in its low half.
static inline __m256i gather_control(const uint8_t *codes) {
    __m128i lane0 = _mm_set_epi32(-1, -1, (int)pair_indices[1][codes[1]], (int)pair_indices[0][codes[0]]);
    __m128i lane1 = _mm_set_epi32(-1, -1, (int)pair_indices[1][codes[3]], (int)pair_indices[0][codes[2]]);
    return _mm256_set_m128i(lane1, lane0);
}

// Q4_0-2:4 row · Q8 activations (same activation layout as the dense kernel: 32 int8 per block
// and a float scale per block).
static float dot_q4_0_24(const uint8_t *row, const int8_t *acts, const float *scales, int blocks) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *blk = row + (size_t)b * 14;
        __m256i a = _mm256_loadu_si256((const __m256i *)(acts + b * 32));
        __m256i gathered = _mm256_shuffle_epi8(a, gather_control(blk + 10));
        uint64_t nib;
        memcpy(&nib, blk + 2, 8);
        __m128i packed = _mm_set_epi64x(0, (long long)nib);
        __m128i lo = _mm_and_si128(packed, _mm_set1_epi8(0x0F));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
        // Kept value order within a lane: group g's two values are bytes 2g, 2g+1 of the
        // gathered lane; nibble layout stores (2g: low, 2g+1: high) of byte g.
        __m128i inter = _mm_unpacklo_epi8(lo, hi);  // 16 values in kept order
        __m256i w = _mm256_set_m128i(_mm_srli_si128(inter, 8), inter);
        __m256i ws = _mm256_sub_epi8(w, _mm256_set1_epi8(8));
        __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(ws, ws), _mm256_sign_epi8(gathered, ws));
        __m256i sum = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(half(blk) * scales[b]), acc);
    }
    return horizontal_sum(acc);
}

static float dot_q8_0_24(const uint8_t *row, const int8_t *acts, const float *scales, int blocks) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *blk = row + (size_t)b * 22;
        __m256i a = _mm256_loadu_si256((const __m256i *)(acts + b * 32));
        __m256i gathered = _mm256_shuffle_epi8(a, gather_control(blk + 18));
        __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2));
        __m256i w = _mm256_set_m128i(_mm_srli_si128(v, 8), v);
        __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(gathered, w));
        __m256i sum = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(half(blk) * scales[b]), acc);
    }
    return horizontal_sum(acc);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    make_tables();
    // ffn_down-shaped rows (1536 inputs), enough rows that the weights (128 MB dense Q4_0, 240 MB Q8_0,
    // beyond any cache) stream from memory as in decode.
    const int columns = 1536, blocks = columns / 32, rows = 96 * 1536;
    srand(1);
    int8_t *acts = aligned_alloc(64, columns);
    float *scales = malloc(sizeof(float) * blocks), *sums = malloc(sizeof(float) * blocks);
    for (int i = 0; i < columns; i++) acts[i] = (int8_t)(rand() % 255 - 127);
    for (int b = 0; b < blocks; b++) {
        scales[b] = 0.01f;
        int s = 0;
        for (int i = 0; i < 32; i++) s += acts[b * 32 + i];
        sums[b] = s * scales[b];
    }
    // Dense Q4_0 rows whose blocks keep 2 of every 4 (the others are the zero code 8), and the
    // same values in the compact layout, so both kernels compute the same dot products.
    size_t dense_q4 = 18 * (size_t)blocks, dense_q8 = 34 * (size_t)blocks;
    size_t compact_q4 = 14 * (size_t)blocks, compact_q8 = 22 * (size_t)blocks;
    uint8_t *q4 = malloc(dense_q4 * rows), *q8 = malloc(dense_q8 * rows);
    uint8_t *c4 = malloc(compact_q4 * rows), *c8 = malloc(compact_q8 * rows);
    uint16_t one_half = _cvtss_sh(0.5f, 0);
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int b = 0; b < blocks; b++) {
            uint8_t *d4 = q4 + r * dense_q4 + b * 18, *d8 = q8 + r * dense_q8 + b * 34;
            uint8_t *k4 = c4 + r * compact_q4 + b * 14, *k8 = c8 + r * compact_q8 + b * 22;
            memcpy(d4, &one_half, 2); memcpy(d8, &one_half, 2);
            memcpy(k4, &one_half, 2); memcpy(k8, &one_half, 2);
            int8_t dense[32];
            uint8_t kept4[16];
            int8_t kept8[16];
            for (int g = 0; g < 8; g++) {
                int code = rand() % 6;
                if (g % 2 == 0) k4[10 + g / 2] = (uint8_t)code, k8[18 + g / 2] = (uint8_t)code;
                else k4[10 + g / 2] |= (uint8_t)(code << 4), k8[18 + g / 2] |= (uint8_t)(code << 4);
                for (int j = 0; j < 4; j++) dense[g * 4 + j] = 0;
                for (int k = 0; k < 2; k++) {
                    int v = rand() % 15 - 7;  // a Q4_0 value minus 8, never -8
                    dense[g * 4 + pairs[code][k]] = (int8_t)v;
                    kept4[g * 2 + k] = (uint8_t)(v + 8);
                    kept8[g * 2 + k] = (int8_t)v;
                }
            }
            for (int j = 0; j < 16; j++)
                d4[2 + j] = (uint8_t)((dense[j] + 8) | ((dense[j + 16] + 8) << 4));
            memcpy(d8 + 2, dense, 32);
            for (int g = 0; g < 8; g++) k4[2 + g] = (uint8_t)(kept4[2 * g] | (kept4[2 * g + 1] << 4));
            memcpy(k8 + 2, kept8, 16);
        }
    float *out = malloc(sizeof(float) * rows), *check = malloc(sizeof(float) * rows);
    const int reps = 20;
    double best[4] = {1e9, 1e9, 1e9, 1e9};
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now();
        tessera_dot_rows(2, q4, dense_q4, 0, rows, acts, scales, sums, blocks, 1, out, 1);
        double t1 = now();
        for (int r = 0; r < rows; r++) check[r] = dot_q4_0_24(c4 + (size_t)r * compact_q4, acts, scales, blocks);
        double t2 = now();
        tessera_dot_rows(8, q8, dense_q8, 0, rows, acts, scales, sums, blocks, 1, out + 0, 1);
        double t3 = now();
        for (int r = 0; r < rows; r++) check[r] = dot_q8_0_24(c8 + (size_t)r * compact_q8, acts, scales, blocks);
        double t4 = now();
        double t[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
        for (int i = 0; i < 4; i++) if (t[i] < best[i]) best[i] = t[i];
    }
    // Correctness: both layouts give the same dot products (Q4_0 dense vs compact, row 0..99).
    tessera_dot_rows(2, q4, dense_q4, 0, rows, acts, scales, sums, blocks, 1, out, 1);
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        float c = dot_q4_0_24(c4 + (size_t)r * compact_q4, acts, scales, blocks);
        double e = c - out[r]; if (e < 0) e = -e;
        if (e > worst) worst = e;
    }
    tessera_dot_rows(8, q8, dense_q8, 0, rows, acts, scales, sums, blocks, 1, out, 1);
    double worst8 = 0;
    for (int r = 0; r < rows; r++) {
        float c = dot_q8_0_24(c8 + (size_t)r * compact_q8, acts, scales, blocks);
        double e = c - out[r]; if (e < 0) e = -e;
        if (e > worst8) worst8 = e;
    }
    printf("native dot level %d; %d rows x %d columns, one token, one thread, best of %d\n",
           tessera_dot_level(), rows, columns, reps);
    const char *names[4] = {"Q4_0 dense", "Q4_0 2:4 compact", "Q8_0 dense", "Q8_0 2:4 compact"};
    size_t bytes[4] = {dense_q4, compact_q4, dense_q8, compact_q8};
    for (int i = 0; i < 4; i++)
        printf("%-18s %6.2f bits/weight %7.1f MB  %7.2f ms  %6.2f GB/s  %7.1f Mrows/s\n", names[i],
               bytes[i] * 8.0 / columns, bytes[i] * (double)rows / 1e6, best[i] * 1e3,
               bytes[i] * (double)rows / best[i] / 1e9, rows / best[i] / 1e6);
    printf("max |compact - dense|: Q4_0 %g, Q8_0 %g\n", worst, worst8);
    return 0;
}
