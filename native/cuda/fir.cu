// Q15 FIR over a batch of independent frames: the arithmetic of the `dsp`
// crate (see its docs), bit for bit. Kernel only: no host code, so the
// fatbin needs no CUDA runtime and is loaded through the driver API.
//
// One thread per output sample, grid-stride. The taps live in shared memory;
// the input window of a block is read through the L1/texture path, which
// serves the T-fold reuse of each sample, so global traffic stays at about
// 2 bytes read and 2 bytes written per sample.

#define FIR_MAX_TAPS 256

extern "C" __global__ void fir_q15(const short *__restrict__ taps,
                                   unsigned int ntaps,
                                   const short *__restrict__ input,
                                   short *__restrict__ output,
                                   unsigned int frame_len,
                                   unsigned long long total) {
    __shared__ short h[FIR_MAX_TAPS];
    for (unsigned int k = threadIdx.x; k < ntaps; k += blockDim.x) {
        h[k] = taps[k];
    }
    __syncthreads();

    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
         i < total; i += stride) {
        unsigned int n = (unsigned int)(i % frame_len);
        const short *x = input + i;  // x[-k] is sample n - k of this frame
        unsigned int last = n < ntaps - 1 ? n : ntaps - 1;
        long long acc = 0;
        for (unsigned int k = 0; k <= last; ++k) {
            // |h·x| <= 2^30: the product is exact in 32 bits; the sum needs 64.
            acc += (long long)((int)h[k] * (int)__ldg(x - k));
        }
        long long r = (acc + (1LL << 14)) >> 15;
        r = r > 32767 ? 32767 : (r < -32768 ? -32768 : r);
        output[i] = (short)r;
    }
}
