// Q15 FIR over a batch of independent frames: the arithmetic of the `dsp`
// crate (see its docs), bit for bit, from kernels/fir_q15.h. Kernel only: no
// host code, so the fatbin needs no CUDA runtime and is loaded through the
// driver API.
//
// One thread per output sample, grid-stride. The taps live in shared memory
// (a broadcast read per tap); the T-fold reuse of each input sample is
// served by L1 through the read-only path, so DRAM traffic stays at about
// 2 bytes read and 2 bytes written per sample.

#include "../kernels/fir_q15.h"

extern "C" __global__ void fir_q15(const short *__restrict__ taps,
                                   unsigned int ntaps,
                                   const short *__restrict__ input,
                                   short *__restrict__ output,
                                   unsigned int frame_len,
                                   unsigned long long total) {
    __shared__ short h[FIR_Q15_MAX_TAPS];
    for (unsigned int k = threadIdx.x; k < ntaps; k += blockDim.x) {
        h[k] = taps[k];
    }
    __syncthreads();
    fir_q15_grid_stride(h, ntaps, input, output, frame_len,
                        (fir_u64)blockIdx.x * blockDim.x + threadIdx.x,
                        (fir_u64)gridDim.x * blockDim.x, total);
}
