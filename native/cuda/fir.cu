// Q15 FIR over a batch of independent frames: the arithmetic of the `dsp`
// crate (see its docs), bit for bit. Kernel only: no host code, so the
// fatbin needs no CUDA runtime and is loaded through the driver API.
//
// One thread per output sample, grid-stride. The taps live in shared memory
// (a broadcast read per tap); the T-fold reuse of each input sample is
// served by L1 through the read-only path, so DRAM traffic stays at about
// 2 bytes read and 2 bytes written per sample.

#define FIR_MAX_TAPS 256  // dsp::MAX_TAPS

extern "C" __global__ void fir_q15(const short *__restrict__ taps,
                                   unsigned int ntaps,
                                   const short *__restrict__ input,
                                   short *__restrict__ output,
                                   unsigned int frame_len,
                                   unsigned long long total) {
    __shared__ int h[FIR_MAX_TAPS];
    for (unsigned int k = threadIdx.x; k < ntaps; k += blockDim.x) {
        h[k] = taps[k];
    }
    __syncthreads();

    const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) {
        return;
    }
    // The position in the frame advances by a constant modulo frame_len, so
    // the 64-bit division happens once per thread, not once per sample.
    const unsigned int step = (unsigned int)(stride % frame_len);
    unsigned int n = (unsigned int)(i % frame_len);
    for (; i < total; i += stride) {
        const short *x = input + i;  // x[-k] is sample n - k of this frame
        // |h·x| <= 2^30: a 32 x 32 -> 64-bit multiply-add (IMAD.WIDE) per
        // tap keeps the sum exact.
        long long acc = 0;
        if (n + 1 >= ntaps) {
#pragma unroll 4
            for (unsigned int k = 0; k < ntaps; ++k) {
                acc += (long long)h[k] * __ldg(x - k);
            }
        } else {
            for (unsigned int k = 0; k <= n; ++k) {
                acc += (long long)h[k] * __ldg(x - k);
            }
        }
        long long r = (acc + (1LL << 14)) >> 15;
        r = r > 32767 ? 32767 : (r < -32768 ? -32768 : r);
        output[i] = (short)r;
        n += step;
        if (n >= frame_len) {
            n -= frame_len;
        }
    }
}
