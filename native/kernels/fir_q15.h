/*
 * The per-sample arithmetic of the Q15 FIR, written once for every compiler
 * that runs it: CUDA C++ (cuda/fir.cu includes it), Metal Shading Language
 * (the build script inlines it into metal/fir.metal, which is compiled at
 * run time from a string) and host C11 or C++ (the crate's tests compile it
 * and compare it bit for bit with `dsp::fir_q15`). The function bodies are
 * shared; only the qualifiers and integer type names below differ.
 *
 * Arithmetic (see the `dsp` crate docs): for a frame with zero history,
 *   acc  = sum_{k=0}^{min(n, T-1)} h[k] * x[n-k]   exact: |h*x| <= 2^30 fits
 *          32 bits, and |acc| <= 2^38 fits 64 bits for T <= FIR_Q15_MAX_TAPS
 *   y[n] = sat16((acc + 2^14) >> 15)               ">>" rounds toward -inf
 */
#ifndef FIR_Q15_H
#define FIR_Q15_H

/* dsp::MAX_TAPS: the size of the tap buffer a kernel may keep on chip. */
#define FIR_Q15_MAX_TAPS 256

#if defined(__CUDACC__)
/* Pointers are generic; the taps may sit in shared memory. */
#define FIR_FN static __device__ __forceinline__
#define FIR_MEM
/* Input samples are read through the read-only (texture) cache. */
#define FIR_LOAD(p) __ldg(p)
#define FIR_UNROLL _Pragma("unroll 4")
typedef long long fir_i64;
typedef unsigned long long fir_u64;
#elif defined(__METAL_VERSION__)
/* Every pointer names its address space; MSL has no `long long`, and its
 * `long` is 64 bits wide. */
#define FIR_FN inline
#define FIR_MEM device
#define FIR_LOAD(p) (*(p))
#define FIR_UNROLL
typedef long fir_i64;
typedef unsigned long fir_u64;
#else
#include <assert.h> /* static_assert in C11 */
#include <stdint.h>
#define FIR_FN static inline
#define FIR_MEM
#define FIR_LOAD(p) (*(p))
#define FIR_UNROLL
typedef int64_t fir_i64;
typedef uint64_t fir_u64;
#endif

static_assert(sizeof(short) == 2 && sizeof(int) == 4, "Q15 needs 16-bit short, 32-bit int");
static_assert(sizeof(fir_i64) == 8 && sizeof(fir_u64) == 8, "the accumulator needs 64 bits");

/* sum_{k < terms} h[k] * x[-k]; `x` points at the newest sample. */
FIR_FN fir_i64 fir_q15_dot(FIR_MEM const short *h, FIR_MEM const short *x, unsigned int terms) {
    fir_i64 acc = 0;
    FIR_UNROLL
    for (unsigned int k = 0; k < terms; ++k) {
        /* 32 x 32 -> 64-bit multiply-add: nvcc emits mul.wide.s32 (IMAD.WIDE). */
        acc += (fir_i64)((int)h[k] * (int)FIR_LOAD(x - k));
    }
    return acc;
}

/* sat16((acc + 2^14) >> 15): round to nearest, ties toward +inf. Every
 * compiler here shifts signed values arithmetically. */
FIR_FN short fir_q15_round_saturate(fir_i64 acc) {
    const fir_i64 r = (acc + ((fir_i64)1 << 14)) >> 15;
    return (short)(r > 32767 ? 32767 : (r < -32768 ? -32768 : r));
}

/* Output sample n of a frame with zero history, 1 <= ntaps <=
 * FIR_Q15_MAX_TAPS taps; `x` points at x[n] of that frame. */
FIR_FN short fir_q15_sample(FIR_MEM const short *h, unsigned int ntaps, FIR_MEM const short *x,
                            unsigned int n) {
    /* Past the first ntaps - 1 samples of a frame the trip count is the same
     * for every thread, and the compiler can unroll a loop of known bound. */
    const fir_i64 acc = n >= ntaps - 1 ? fir_q15_dot(h, x, ntaps) : fir_q15_dot(h, x, n + 1);
    return fir_q15_round_saturate(acc);
}

/*
 * What one thread of a grid of `stride` threads computes: output samples
 * first, first + stride, ... below `total` of a batch of frames of
 * `frame_len` (>= 1) samples each, frame after frame.
 */
FIR_FN void fir_q15_grid_stride(FIR_MEM const short *h, unsigned int ntaps,
                                FIR_MEM const short *input, FIR_MEM short *output,
                                unsigned int frame_len, fir_u64 first, fir_u64 stride,
                                fir_u64 total) {
    if (first >= total) {
        return;
    }
    /* The position in the frame advances by a constant modulo frame_len, so
     * the 64-bit division happens once per thread, not once per sample. */
    const unsigned int step = (unsigned int)(stride % frame_len);
    unsigned int n = (unsigned int)(first % frame_len);
    for (fir_u64 i = first; i < total; i += stride) {
        output[i] = fir_q15_sample(h, ntaps, input + i, n);
        /* n + step could pass 2^32 for frames over 2^31 samples. */
        n = n >= frame_len - step ? n - (frame_len - step) : n + step;
    }
}

#endif /* FIR_Q15_H */
