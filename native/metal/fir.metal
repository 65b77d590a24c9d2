// Q15 FIR over a batch of independent frames: the arithmetic of the `dsp`
// crate (see its docs), bit for bit, from kernels/fir_q15.h. Compiled at run
// time with newLibraryWithSource, which resolves no includes: the build
// script replaces the quoted #include below with the header's text. One
// thread per output sample, grid-stride.

#include <metal_stdlib>
#include "../kernels/fir_q15.h"
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
    fir_q15_grid_stride(taps, p.ntaps, input, output, p.frame_len, tid, threads, p.total);
}
