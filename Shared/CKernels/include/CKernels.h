// The innermost integer dot products of decode, written with the x86 instructions Swift's
// SIMD types do not emit (pmaddubsw on AVX2, vpdpbusd on AVX-512 VNNI), and the activation
// quantization that feeds them (quantize.c). Everything around them (threading, the rest of
// the engine) stays in Swift; the Swift scalar reference in Shared/Kernels/Reference and the
// Swift loops they replace are the test oracles.
//
// Weights are ggml blocks of 32 (Q4_0: fp16 d + 16 bytes of nibbles; Q4_1: fp16 d, fp16 m +
// 16 bytes; Q5_0/Q5_1: as Q4_0/Q4_1 plus 4 bytes of fifth bits; Q8_0: fp16 d + 32 int8),
// or K-quant super-blocks of 256 (kquant_dot.c). Activations are 8-bit blocks of 32 in natural order,
// with per block a scale and scale x (sum of the quantized values).
//
// Every path computes each block's integer sum exactly and then the same float operations
// in the same order, so the AVX2 and VNNI paths give identical bits, and a token's result
// does not depend on the other tokens of the call.
#ifndef TESSERA_CKERNELS_H
#define TESSERA_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// 0: no native kernels on this CPU or architecture (callers use the Swift ones);
/// 1: AVX2; 2: AVX-512 VNNI.
int tessera_dot_level(void);

/// ggml type ids: 2 = Q4_0, 3 = Q4_1, 6 = Q5_0, 7 = Q5_1, 8 = Q8_0. Returns 0 when `type` is not one of them.
/// out[token * out_stride + row] = row . activations[token] for rows in [row_begin, row_end).
int tessera_dot_rows(int type, const uint8_t *weights, size_t row_bytes, int row_begin,
                     int row_end, const int8_t *activations, const float *scales,
                     const float *scaled_sums, int blocks, int tokens, float *out,
                     size_t out_stride);

/// K-quant weight rows (ggml type ids 10 = Q2_K ... 14 = Q6_K; `columns` a multiple of 256)
/// dotted with Q8_K activations: `activations` tokens x columns int8, `scales` tokens x
/// (columns / 256) floats, `block_sums` tokens x (columns / 16) sums of 16 values.
/// out[token * out_stride + row] for rows in [row_begin, row_end). Returns 0 (and does
/// nothing) when the type is not one of these or the CPU has no AVX2.
int tessera_kquant_dot_rows(int type, const uint8_t *weights, size_t row_bytes, int row_begin,
                            int row_end, int columns, const int8_t *activations,
                            const float *scales, const int16_t *block_sums, int tokens,
                            float *out, size_t out_stride);

/// The repacked layout of packed_dot.c (AVX-512 VNNI only): rows interleaved four at a time,
/// block by block, quants and scales in two arrays (`quants` 64-byte aligned). Types: 3 = Q4_1,
/// 8 = Q8_0. 1 when the packed kernels run on this CPU for `type`.
int tessera_packed_supports(int type);
size_t tessera_packed_quant_bytes(int type, int rows, int blocks);
size_t tessera_packed_scale_bytes(int type, int rows, int blocks);
/// Copies `rows` ggml rows of `blocks` blocks into the packed arrays (sized by the two above).
void tessera_pack_rows(int type, const uint8_t *weights, size_t row_bytes, int rows, int blocks,
                       uint8_t *quants, uint8_t *scales);
/// As tessera_dot_rows, on packed rows: the same bits. Returns 0 when not supported here.
int tessera_packed_dot_rows(int type, const uint8_t *quants, const uint8_t *scales, int blocks,
                            int row_begin, int row_end, const int8_t *activations,
                            const float *act_scales, const float *scaled_sums, int tokens,
                            float *out, size_t out_stride);

/// Activation blocks of 32 for the dots above, as Q8Activations' Swift loop makes them (the
/// same bits): `blocks` consecutive blocks of `input`; per block 32 int8 in natural order in
/// `bytes`, the same values as int16, even-indexed then odd-indexed, in `values`, and the
/// full-precision scale and the integer sum of the values in `scales` and `sums` (the caller
/// rounds them to half precision). Returns 0 (and does nothing) without AVX2.
int tessera_quantize_q8(const float *input, int blocks, int16_t *values, int8_t *bytes,
                        float *scales, float *sums);

#endif
