/* nnx_clones.h -- compile one kernel family once per instruction-set level, and its dispatch table.
 *
 * A family header (nnx_act.h, ...) has two parts: the header proper, read once, and its clone
 * body, read once per clone with NNX_FN(name) naming that clone's copy of each function:
 *
 *     #ifndef NNX_FN                       -- the header proper
 *     ... types and helpers shared by every clone ...
 *     #define NNX_CLONE_FILE "nnx_act.h"
 *     #include "nnx_clones.h"              -- reads this file three times, as below
 *     NNX_TABLE(nnx_act, NNX_ACT_FNS)      -- one table: a row of function pointers per clone
 *     #define nnx_sigmoid_f32 NNX_CALL(nnx_act, nnx_sigmoid_f32)
 *     #else                                -- the clone body
 *     static void NNX_FN(nnx_sigmoid_f32)(const float *x, float *y, ptrdiff_t n) { ... }
 *     #endif
 *
 * Clone 0 is the baseline (the compiler's default target: x86-64 SSE2, or whatever the platform
 * is), 1 is x86-64-v3 (AVX2 + FMA), 2 is x86-64-v4 (AVX-512), each through
 * `#pragma GCC target`, so the portable C vector code in the bodies becomes 4-, 8- or 16-lane
 * code. NNX_ISA (0, 1, 2) lets a body choose a tile shape per clone. The caller names a function
 * as before (nnx_sigmoid_f32(x, y, n)); NNX_CALL reads the row of the level in force
 * (nnx_cpu.h's nnx_isa), which nnx.kernels.compiled sets once when it is imported: one decision,
 * from one CPU model, that NNX_CPU_LEVEL can cap. (This replaces gcc's target_clones, whose
 * resolver picks a clone from the CPU alone, so no lower clone could ever run on a newer CPU.)
 * Compilers without `#pragma GCC target` for x86-64 (clang, or another architecture) build the
 * baseline only; every row then holds it, and show_config says so.
 */
#ifndef NNX_CLONE_FILE
#error "define NNX_CLONE_FILE (the family header) before including nnx_clones.h"
#endif

#ifndef NNX_CLONES_ONCE
#define NNX_CLONES_ONCE
#include "nnx_cpu.h" /* nnx_isa, NNX_HAVE_CLONES */

/* NNX_TABLE(fam, LIST): LIST(X) expands X(ret, name, params) for each function of the family */
#define NNX_TFIELD(ret, name, params) ret (*name) params;
#define NNX_T0(ret, name, params) name##_c0,
#if NNX_HAVE_CLONES
#define NNX_T1(ret, name, params) name##_c1,
#define NNX_T2(ret, name, params) name##_c2,
#else
#define NNX_T1 NNX_T0
#define NNX_T2 NNX_T0
#endif
#define NNX_TABLE(fam, LIST)                                                                  \
    struct fam##_fns { LIST(NNX_TFIELD) };                                                    \
    static const struct fam##_fns fam##_table[3] __attribute__((unused)) = {                  \
        {LIST(NNX_T0)}, {LIST(NNX_T1)}, {LIST(NNX_T2)}};
#define NNX_CALL(fam, name) (fam##_table[nnx_isa].name)
#endif /* NNX_CLONES_ONCE */

#define NNX_FN(f) f##_c0
#define NNX_ISA 0
#include NNX_CLONE_FILE
#undef NNX_ISA
#undef NNX_FN

#if NNX_HAVE_CLONES
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define NNX_FN(f) f##_c1
#define NNX_ISA 1
#include NNX_CLONE_FILE
#undef NNX_ISA
#undef NNX_FN
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#define NNX_FN(f) f##_c2
#define NNX_ISA 2
#include NNX_CLONE_FILE
#undef NNX_ISA
#undef NNX_FN
#pragma GCC pop_options
#endif

#undef NNX_CLONE_FILE
