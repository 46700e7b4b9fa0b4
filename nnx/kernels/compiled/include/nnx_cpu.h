/* nnx_cpu.h -- the compiled tier's one CPU model: what this CPU can run, and the level in force.
 *
 * Levels, each including the ones before it:
 *   0 baseline     x86-64 (SSE2), or any other architecture
 *   1 avx2         x86-64-v3: AVX, AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE (+ v2's SSE3..SSE4.2,
 *                  POPCNT, CX16, LAHF), and the OS saves the AVX registers (XCR0 bits 1, 2)
 *   2 avx512       x86-64-v4: AVX512 F, BW, CD, DQ, VL, and the OS saves the opmask and zmm
 *                  state (XCR0 bits 5, 6, 7)
 *   3 avx512_bf16  + AVX512_BF16 (CPUID.(7,1):EAX[5]): vdpbf16ps, vcvtne2ps2bf16
 *   4 amx          + AMX-TILE and AMX-BF16 (CPUID.(7,0):EDX[24], [22]), the OS saves the tile
 *                  state (XCR0 bits 17, 18) and grants this process the tile data
 *                  (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) succeeds; Linux >= 5.16)
 * A CPU flag without the OS support is not enough: an instruction whose registers the OS does
 * not save faults. nnx_cpu_detect() reads CPUID and XGETBV once; the Python side
 * (nnx/kernels/cpu.py) applies NNX_CPU_LEVEL and calls nnx_set_level() in every extension module
 * before any kernel runs. Each kernel family indexes its dispatch table (nnx_clones.h) with the
 * level in force, so a capped level runs exactly the code a CPU of that level would run.
 */
#ifndef NNX_CPU_H
#define NNX_CPU_H
#include <stdint.h>
#include <string.h>

enum { NNX_BASELINE = 0, NNX_AVX2 = 1, NNX_AVX512 = 2, NNX_AVX512_BF16 = 3, NNX_AMX = 4, NNX_NLEVELS = 5 };

/* The level in force in this extension module (each module has its own copy; all are set to the
 * same value when nnx.kernels.compiled is imported) and the clone index it selects: 0 baseline,
 * 1 x86-64-v3, 2 x86-64-v4 (the bf16 levels run the x86-64-v4 clones for float32 work). */
static int nnx_level __attribute__((unused)) = NNX_BASELINE;
static int nnx_isa __attribute__((unused)) = 0;

/* gcc on x86-64 builds the x86-64-v3 and -v4 clones of every family (nnx_clones.h); another
 * compiler or architecture builds the baseline only. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && (__GNUC__ >= 11)
#define NNX_HAVE_CLONES 1
#define NNX_CLONE_NAMES {"baseline", "x86-64-v3", "x86-64-v4"}
#else
#define NNX_HAVE_CLONES 0
#define NNX_CLONE_NAMES {"baseline", "baseline (no x86-64-v3 clone in this build)", \
                         "baseline (no x86-64-v4 clone in this build)"}
#endif
static const char *const nnx_clone_names[3] __attribute__((unused)) = NNX_CLONE_NAMES;
#define nnx_clone_name() (nnx_clone_names[nnx_isa])

static void __attribute__((unused)) nnx_set_level(int level)
{
    nnx_level = level < 0 ? 0 : level >= NNX_NLEVELS ? NNX_NLEVELS - 1 : level;
    nnx_isa = nnx_level >= NNX_AVX512 ? 2 : nnx_level >= NNX_AVX2 ? 1 : 0;
}

/* The facts behind the level, for show_config and the tests. */
typedef struct {
    int level;                      /* the highest level this CPU and OS support */
    int sse42, popcnt, cx16, lahf;  /* x86-64-v2 */
    int avx, avx2, fma, bmi1, bmi2, f16c, lzcnt, movbe, os_avx;   /* x86-64-v3 */
    int avx512f, avx512bw, avx512cd, avx512dq, avx512vl, os_avx512; /* x86-64-v4 */
    int avx512_bf16;
    int amx_tile, amx_bf16, os_amx, amx_permission;
} nnx_cpu_facts;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static __attribute__((unused)) uint64_t nnx_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Ask Linux for the AMX tile data state (a per-process permission; idempotent). */
static __attribute__((unused)) int nnx_request_amx(void)
{
#if defined(__linux__) && defined(SYS_arch_prctl)
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#else
    return 0;
#endif
}

static __attribute__((unused)) nnx_cpu_facts nnx_cpu_detect(void)
{
    nnx_cpu_facts f;
    unsigned a, b, c, d, max_leaf, ext_leaf;
    memset(&f, 0, sizeof f);
    max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1)
        return f;
    __cpuid(1, a, b, c, d);
    int sse3 = (c >> 0) & 1, ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1, osxsave = (c >> 27) & 1;
    f.sse42 = (c >> 20) & 1; f.popcnt = (c >> 23) & 1; f.cx16 = (c >> 13) & 1;
    f.fma = (c >> 12) & 1; f.movbe = (c >> 22) & 1; f.avx = (c >> 28) & 1; f.f16c = (c >> 29) & 1;
    ext_leaf = __get_cpuid_max(0x80000000u, NULL);
    if (ext_leaf >= 0x80000001u) {
        __cpuid(0x80000001u, a, b, c, d);
        f.lahf = c & 1; f.lzcnt = (c >> 5) & 1;
    }
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        unsigned subleaves = a;
        f.bmi1 = (b >> 3) & 1; f.avx2 = (b >> 5) & 1; f.bmi2 = (b >> 8) & 1;
        f.avx512f = (b >> 16) & 1; f.avx512dq = (b >> 17) & 1; f.avx512cd = (b >> 28) & 1;
        f.avx512bw = (b >> 30) & 1; f.avx512vl = (b >> 31) & 1;
        f.amx_bf16 = (d >> 22) & 1; f.amx_tile = (d >> 24) & 1;
        if (subleaves >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f.avx512_bf16 = (a >> 5) & 1;
        }
    }
    uint64_t xcr0 = osxsave ? nnx_xgetbv0() : 0;
    f.os_avx = (xcr0 & 0x6) == 0x6;
    f.os_avx512 = f.os_avx && (xcr0 & 0xe0) == 0xe0;
    f.os_amx = (xcr0 & 0x60000) == 0x60000;

    int v2 = sse3 && ssse3 && sse41 && f.sse42 && f.popcnt && f.cx16 && f.lahf;
    int v3 = v2 && f.avx && f.avx2 && f.fma && f.bmi1 && f.bmi2 && f.f16c && f.lzcnt && f.movbe && f.os_avx;
    int v4 = v3 && f.avx512f && f.avx512bw && f.avx512cd && f.avx512dq && f.avx512vl && f.os_avx512;
    f.level = NNX_BASELINE;
    if (v3) f.level = NNX_AVX2;
    if (v4) f.level = NNX_AVX512;
    if (v4 && f.avx512_bf16) f.level = NNX_AVX512_BF16;
    if (f.level == NNX_AVX512_BF16 && f.amx_tile && f.amx_bf16 && f.os_amx) {
        f.amx_permission = nnx_request_amx();
        if (f.amx_permission) f.level = NNX_AMX;
    }
    return f;
}
#else
static __attribute__((unused)) nnx_cpu_facts nnx_cpu_detect(void)
{
    nnx_cpu_facts f;
    memset(&f, 0, sizeof f);
    return f; /* not x86-64: the portable baseline build only */
}
#endif

#endif
