// Q15 FIR over a batch of independent frames: the arithmetic of the `dsp`
// crate (see its docs), bit for bit. Compiled at run time with
// newLibraryWithSource; one thread per output sample, grid-stride.

#include <metal_stdlib>
using namespace metal;

// Matches `Params` in src/metal.rs (repr(C), 16 bytes).
struct Params {
    uint ntaps;
    uint frame_len;
    ulong total;
};

kernel void fir_q15(device const short *taps [[buffer(0)]],
                    device const short *input [[buffer(1)]],
                    device short *output [[buffer(2)]],
                    constant Params &p [[buffer(3)]],
                    uint tid [[thread_position_in_grid]],
                    uint threads [[threads_per_grid]]) {
    ulong i = tid;
    if (i >= p.total) {
        return;
    }
    // The position in the frame advances by a constant modulo frame_len, so
    // the 64-bit division happens once per thread, not once per sample.
    const uint step = uint(ulong(threads) % p.frame_len);
    uint n = uint(i % p.frame_len);
    for (; i < p.total; i += threads) {
        uint last = min(n, p.ntaps - 1);
        // |h·x| <= 2^30: the product is exact in 32 bits; the sum needs 64.
        long acc = 0;
        for (uint k = 0; k <= last; ++k) {
            acc += long(int(taps[k]) * int(input[i - k]));
        }
        long r = (acc + (1l << 14)) >> 15;
        output[i] = short(clamp(r, -32768l, 32767l));
        n += step;
        if (n >= p.frame_len) {
            n -= p.frame_len;
        }
    }
}
