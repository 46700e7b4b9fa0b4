/* nnx_bf16ops.h -- the bf16 instructions nnx's bf16 kernels are written against, each twice: the
 * instruction itself (native) and a portable C definition that follows its documented semantics
 * bit for bit, so the same kernel compiled against the portable one runs, and is tested, on any CPU.
 *
 *   vdpbf16ps (AVX512_BF16)      nnx_dpbf16(acc, a, b): 16 fp32 lanes; a and b hold 16 bf16 pairs
 *   ldtilecfg / tilezero / tileloadd / tilestored / tdpbf16ps / tilerelease (AMX-TILE, AMX-BF16)
 *                                NNX_TILE_* below, on the 8 tiles of palette 1
 *
 * A bf16 pair is one 32-bit word: the element of even index in its low half, the odd one in its
 * high half (memory order). Vectors are GCC vector types (nnx_v16f: 16 floats, nnx_v16u: 16
 * pairs); the native definitions cast them to the intrinsics' types, the portable ones index them.
 *
 * vdpbf16ps, lane i (Intel SDM; and measured: shared/tools/vdpbf16ps_probe.c, and
 * tests/test_bf16_kernels.py against this CPU's instruction where it has one):
 *     lane = fma(a.bf16[2i], b.bf16[2i], fma(a.bf16[2i+1], b.bf16[2i+1], acc))
 * the odd pair first, each fused multiply-add rounded once to nearest even; bf16 inputs and acc
 * that are denormal read as zero (DAZ, the sign kept); a result that is tiny after rounding, as if
 * the exponent range were unbounded, becomes a zero of its sign (FTZ). MXCSR plays no part. A NaN
 * operand of an fma gives that NaN quieted, a's before b's before acc's (measured: the same
 * probe's inputs with NaNs in every position).
 * tdpbf16ps (Intel SDM pseudocode), for each row m and column n of the destination:
 *     e = o = +0; for each pair k of the row: e = fma(a[m].bf16[2k], b[k].bf16[2n], e),
 *                                             o = fma(a[m].bf16[2k+1], b[k].bf16[2n+1], o)
 *     dst[m][n] = dst[m][n] + (e + o)
 * every operation with DAZ, FTZ and round to nearest even as above. (Whether a real AMX unit
 * rounds this way is checked by the native-vs-portable test on a CPU with AMX.)
 *
 * The portable fma: bf16 values have 8-bit significands, so a product of two is exact in double
 * (16 bits, and no bf16 exponent leaves double's range); the sum with a float is rounded once to
 * double's 53 bits and then to float's 24, and double rounding is innocuous when the wider format
 * has at least 2p + 2 bits for p-bit operands (Figueroa, 1995: 53 >= 2 * 24 + 2): the result is
 * the correctly rounded fma. Tininess is judged on the result rounded to 24 bits as if the exponent
 * were unbounded (the value scaled by 2^64 into float's normal range, then rounded).
 */
#ifndef NNX_BF16OPS_H
#define NNX_BF16OPS_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* 64-byte vectors by value between inlined functions of a baseline build: gcc warns that the
 * ABI of such a call would differ from an AVX-512 build's; these are never called across builds */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float nnx_v16f __attribute__((vector_size(64)));
typedef float nnx_v16f_u __attribute__((vector_size(64), aligned(4)));
typedef uint32_t nnx_v16u __attribute__((vector_size(64)));
typedef uint32_t nnx_v16u_u __attribute__((vector_size(64), aligned(4)));

static inline float nnx_u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t nnx_f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* DAZ: a denormal float (or bf16, in a float's high half) reads as a zero of its sign */
static inline float nnx_daz(float f)
{
    uint32_t u = nnx_f2u(f);
    return (u & 0x7f800000u) == 0 ? nnx_u2f(u & 0x80000000u) : f;
}

/* round(s) to float with round to nearest even, flushed to a zero of its sign when tiny after
 * rounding with an unbounded exponent (s: an exact or once-rounded double, see above) */
static inline float nnx_ftz_round(double s)
{
    if (!(fabs(s) < 0x1p-100))  /* normal (or inf/NaN) as a float: one rounding */
        return (float)s;
    float r = (float)(s * 0x1p64); /* 24 bits, in float's normal range */
    if (fabsf(r) < 0x1p-62f)
        return copysignf(0.0f, r);
    return r * 0x1p-64f; /* exact: the result is normal */
}

/* A NaN operand gives that NaN, quieted: the first of a, b, c that is one (as x86's FMA); an
 * invalid operation on numbers (inf * 0, inf - inf) gives the default NaN, as double's does. */
static inline float nnx_quiet(float f) { return nnx_u2f(nnx_f2u(f) | 0x00400000u); }

/* fma(a, b, c) of the bf16 instructions: DAZ on a, b and c, FTZ on the result */
static inline float nnx_bf16_fma(float a, float b, float c)
{
    if (isnan(a) || isnan(b) || isnan(c))
        return nnx_quiet(isnan(a) ? a : isnan(b) ? b : c);
    return nnx_ftz_round((double)nnx_daz(a) * (double)nnx_daz(b) + (double)nnx_daz(c));
}

/* a + b of tdpbf16ps's final steps: DAZ on both, FTZ on the result */
static inline float nnx_bf16_add(float a, float b)
{
    if (isnan(a) || isnan(b))
        return nnx_quiet(isnan(a) ? a : b);
    return nnx_ftz_round((double)nnx_daz(a) + (double)nnx_daz(b));
}

/* the bf16 halves of a pair as floats */
static inline float nnx_pair_lo(uint32_t p) { return nnx_u2f(p << 16); }
static inline float nnx_pair_hi(uint32_t p) { return nnx_u2f(p & 0xffff0000u); }

/* one vdpbf16ps lane */
static inline float nnx_dpbf16_lane(float acc, uint32_t a, uint32_t b)
{
    return nnx_bf16_fma(nnx_pair_lo(a), nnx_pair_lo(b), nnx_bf16_fma(nnx_pair_hi(a), nnx_pair_hi(b), acc));
}

/* vdpbf16ps, portable */
static inline __attribute__((always_inline)) nnx_v16f nnx_dpbf16_soft(nnx_v16f acc, nnx_v16u a, nnx_v16u b)
{
    nnx_v16f r;
    for (int i = 0; i < 16; i++) r[i] = nnx_dpbf16_lane(acc[i], a[i], b[i]);
    return r;
}

/* ---- AMX, portable: the tile registers and configuration of one thread ----------------------
 * Palette 1: 8 tiles of up to 16 rows x 64 bytes. The configuration is per thread as on the CPU
 * (each OpenMP thread configures its own before use). */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed, aligned(64))) nnx_tilecfg;

typedef struct {
    nnx_tilecfg cfg;
    uint8_t t[8][16][64];
} nnx_soft_tiles;

static __thread nnx_soft_tiles nnx_tiles_soft;

static inline void nnx_soft_tile_loadconfig(const nnx_tilecfg *cfg)
{
    memcpy(&nnx_tiles_soft.cfg, cfg, sizeof *cfg);
    memset(nnx_tiles_soft.t, 0, sizeof nnx_tiles_soft.t);
}

static inline void nnx_soft_tile_release(void)
{
    memset(&nnx_tiles_soft, 0, sizeof nnx_tiles_soft);
}

static inline void nnx_soft_tile_zero(int t)
{
    memset(nnx_tiles_soft.t[t], 0, sizeof nnx_tiles_soft.t[t]);
}

/* tileloadd: rows x colsb bytes from base + r * stride; the rest of the tile reads as zeros */
static inline void nnx_soft_tile_load(int t, const void *base, ptrdiff_t stride)
{
    int rows = nnx_tiles_soft.cfg.rows[t], colsb = nnx_tiles_soft.cfg.colsb[t];
    memset(nnx_tiles_soft.t[t], 0, sizeof nnx_tiles_soft.t[t]);
    for (int r = 0; r < rows; r++)
        memcpy(nnx_tiles_soft.t[t][r], (const uint8_t *)base + r * stride, colsb);
}

static inline void nnx_soft_tile_store(int t, void *base, ptrdiff_t stride)
{
    int rows = nnx_tiles_soft.cfg.rows[t], colsb = nnx_tiles_soft.cfg.colsb[t];
    for (int r = 0; r < rows; r++)
        memcpy((uint8_t *)base + r * stride, nnx_tiles_soft.t[t][r], colsb);
}

/* tdpbf16ps dst, a, b (the pseudocode above); dst rows x (colsb / 4) floats, a's colsb / 4 pairs
 * per row, b's rows the pairs (b's colsb / 4 = dst's columns) */
static inline void nnx_soft_tdpbf16ps(int dst, int a, int b)
{
    nnx_soft_tiles *s = &nnx_tiles_soft;
    int rows = s->cfg.rows[dst], ncols = s->cfg.colsb[dst] / 4, npairs = s->cfg.colsb[a] / 4;
    for (int m = 0; m < rows; m++) {
        float e[16], o[16];
        for (int n = 0; n < 16; n++) e[n] = o[n] = 0.0f;
        for (int k = 0; k < npairs; k++) {
            uint32_t ap;
            memcpy(&ap, &s->t[a][m][4 * k], 4);
            for (int n = 0; n < ncols; n++) {
                uint32_t bp;
                memcpy(&bp, &s->t[b][k][4 * n], 4);
                e[n] = nnx_bf16_fma(nnx_pair_lo(ap), nnx_pair_lo(bp), e[n]);
                o[n] = nnx_bf16_fma(nnx_pair_hi(ap), nnx_pair_hi(bp), o[n]);
            }
        }
        for (int n = 0; n < ncols; n++) {
            float d;
            memcpy(&d, &s->t[dst][m][4 * n], 4);
            d = nnx_bf16_add(d, nnx_bf16_add(e[n], o[n]));
            memcpy(&s->t[dst][m][4 * n], &d, 4);
        }
    }
}

/* The instructions under one name each; a kernel body chooses with NNX_BF16_NATIVE (1: the
 * instruction, compiled for a CPU level that has it; 0: the portable definition). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && (__GNUC__ >= 11)
#define NNX_HAVE_BF16_NATIVE 1
#include <immintrin.h>
#define NNX_DPBF16_NATIVE(acc, a, b) ((nnx_v16f)_mm512_dpbf16_ps((__m512)(acc), (__m512bh)(a), (__m512bh)(b)))
#define NNX_TILE_LOADCONFIG_NATIVE(cfg) _tile_loadconfig(cfg)
#define NNX_TILE_RELEASE_NATIVE() _tile_release()
#define NNX_TILE_ZERO_NATIVE(t) _tile_zero(t)
#define NNX_TILE_LOAD_NATIVE(t, base, stride) _tile_loadd(t, base, stride)
#define NNX_TILE_STORE_NATIVE(t, base, stride) _tile_stored(t, base, stride)
#define NNX_TDPBF16PS_NATIVE(dst, a, b) _tile_dpbf16ps(dst, a, b)
#else
#define NNX_HAVE_BF16_NATIVE 0
#endif

/* ---- the instructions on whole arrays, for the tests (tests/test_bf16_kernels.py) -----------
 * out[i] (16 lanes) := vdpbf16ps(acc[i], a[i], b[i]) for i < n, natively or portably. */
static void __attribute__((unused)) nnx_dpbf16_soft_n(ptrdiff_t n, const float *acc, const uint32_t *a,
                                                      const uint32_t *b, float *out)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        nnx_v16f r = nnx_dpbf16_soft(*(const nnx_v16f_u *)(acc + 16 * i), *(const nnx_v16u_u *)(a + 16 * i),
                                     *(const nnx_v16u_u *)(b + 16 * i));
        *(nnx_v16f_u *)(out + 16 * i) = r;
    }
}

/* dst (16 x 16 float32) := tdpbf16ps(dst, a (16 rows x 16 pairs), b (16 pair rows x 16 columns)),
 * all three tiles full size, through the portable tile state */
static void __attribute__((unused)) nnx_tdpbf16ps_soft_tile(float *dst, const uint32_t *a, const uint32_t *b)
{
    nnx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 3; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    nnx_soft_tile_loadconfig(&cfg);
    nnx_soft_tile_load(0, dst, 64);
    nnx_soft_tile_load(1, a, 64);
    nnx_soft_tile_load(2, b, 64);
    nnx_soft_tdpbf16ps(0, 1, 2);
    nnx_soft_tile_store(0, dst, 64);
    nnx_soft_tile_release();
}

#if NNX_HAVE_BF16_NATIVE
__attribute__((target("arch=x86-64-v4,avx512bf16"), unused))
static void nnx_dpbf16_native_n(ptrdiff_t n, const float *acc, const uint32_t *a, const uint32_t *b, float *out)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        nnx_v16f r = NNX_DPBF16_NATIVE(*(const nnx_v16f_u *)(acc + 16 * i), *(const nnx_v16u_u *)(a + 16 * i),
                                       *(const nnx_v16u_u *)(b + 16 * i));
        *(nnx_v16f_u *)(out + 16 * i) = r;
    }
}

__attribute__((target("arch=x86-64-v4,avx512bf16,amx-tile,amx-bf16"), unused))
static void nnx_tdpbf16ps_native_tile(float *dst, const uint32_t *a, const uint32_t *b)
{
    nnx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 3; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    NNX_TILE_LOADCONFIG_NATIVE(&cfg);
    NNX_TILE_LOAD_NATIVE(0, dst, 64);
    NNX_TILE_LOAD_NATIVE(1, a, 64);
    NNX_TILE_LOAD_NATIVE(2, b, 64);
    NNX_TDPBF16PS_NATIVE(0, 1, 2);
    NNX_TILE_STORE_NATIVE(0, dst, 64);
    NNX_TILE_RELEASE_NATIVE();
}
#else
static void __attribute__((unused)) nnx_dpbf16_native_n(ptrdiff_t n, const float *acc, const uint32_t *a,
                                                        const uint32_t *b, float *out)
{
    (void)n; (void)acc; (void)a; (void)b; (void)out;
}
static void __attribute__((unused)) nnx_tdpbf16ps_native_tile(float *dst, const uint32_t *a, const uint32_t *b)
{
    (void)dst; (void)a; (void)b;
}
#endif

#endif
