/* nnx_bf16.h -- float32 -> bfloat16 rounding (the value kept in a float32), for bf16 autocast.
 *
 * bfloat16 is the top 16 bits of a float32. Rounding to nearest even: add 0x7fff plus the
 * lowest kept bit, then clear the low 16 bits; a carry into the exponent rounds up to the next
 * binade or to infinity, as IEEE rounding does. NaN is kept a NaN: quieted (bit 22 set, so
 * clearing the low bits cannot make it an infinity), sign and top payload kept.
 * Written without branches so the loop vectorises (the NaN case is a select).
 *
 * Why a float32 result and not uint16: the emulated bf16 path multiplies bf16 values in
 * float32 FMA (the product of two 8-bit significands is exact in float32's 24), so the rounded
 * operand is the float32 whose low 16 bits are zero; the GEMM rounds its packed panels in
 * place, in cache, right after packing them (no separate pass over memory).
 */
#ifndef NNX_FN
#ifndef NNX_BF16_H
#define NNX_BF16_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline __attribute__((always_inline)) uint32_t nnx_bf16_round_bits(uint32_t u)
{
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    uint32_t quiet = (u | 0x00400000u) & 0xffff0000u;
    uint32_t nan = 0u - (uint32_t)((u & 0x7fffffffu) > 0x7f800000u);
    return (rounded & ~nan) | (quiet & nan);
}

#define NNX_BF16_FNS(X) X(void, nnx_round_bf16_f32, (const float *x, float *y, ptrdiff_t n))
#define NNX_CLONE_FILE "nnx_bf16.h"
#include "nnx_clones.h"
NNX_TABLE(nnx_bf16, NNX_BF16_FNS)
#define nnx_round_bf16_f32 NNX_CALL(nnx_bf16, nnx_round_bf16_f32)
#endif
#else /* the clone body */

/* y[i] = x[i] rounded to bfloat16, i < n; y may be x. */
static void NNX_FN(nnx_round_bf16_f32)(const float *x, float *y, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        u = nnx_bf16_round_bits(u);
        memcpy(y + i, &u, 4);
    }
}

#endif
