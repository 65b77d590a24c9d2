/*
 * The crate's tests compile this file with fir_q15.h for the host, as C11
 * and as C++14, to run the GPU kernels' arithmetic on the CPU.
 *
 *   host_grid --max-taps     prints FIR_Q15_MAX_TAPS
 *   host_grid CASES OUT      filters every case of CASES into OUT
 *
 * CASES is a run of records in native byte order: u32 ntaps, u32 frame_len,
 * u64 total, u64 stride, i16 taps[ntaps], i16 input[total]. For each record
 * it runs fir_q15_grid_stride once per thread of a grid of `stride` threads,
 * one after another (threads past `total` too, up to 64 of them, which must
 * write nothing), and appends the `total` output samples to OUT.
 * Exit status 1 with a message on stderr for unreadable or invalid input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fir_q15.h"

static int fail(const char *what) {
    fprintf(stderr, "host_grid: %s\n", what);
    return 1;
}

/* 1 when a whole record was filtered, 0 at the end of CASES, -1 on error. */
static int filter_one(FILE *cases, FILE *out) {
    unsigned int shape[2];
    fir_u64 sizes[2];
    if (fread(shape, sizeof shape, 1, cases) != 1) {
        return feof(cases) ? 0 : -1;
    }
    if (fread(sizes, sizeof sizes, 1, cases) != 1) {
        return -1;
    }
    const unsigned int ntaps = shape[0], frame_len = shape[1];
    const fir_u64 total = sizes[0], stride = sizes[1];
    if (ntaps < 1 || ntaps > FIR_Q15_MAX_TAPS || frame_len < 1 || stride < 1) {
        return -1;
    }
    short *taps = (short *)malloc(ntaps * sizeof(short));
    short *input = (short *)malloc((size_t)total * sizeof(short) + 1);
    short *output = (short *)malloc((size_t)total * sizeof(short) + 1);
    int ok = taps && input && output && fread(taps, sizeof(short), ntaps, cases) == ntaps &&
             fread(input, sizeof(short), (size_t)total, cases) == (size_t)total;
    if (ok) {
        for (fir_u64 i = 0; i < total; ++i) {
            output[i] = 0x5555; /* what a thread fails to write stays visible */
        }
        for (fir_u64 t = 0; t < stride && t < total + 64; ++t) {
            fir_q15_grid_stride(taps, ntaps, input, output, frame_len, t, stride, total);
        }
        ok = fwrite(output, sizeof(short), (size_t)total, out) == (size_t)total;
    }
    free(taps);
    free(input);
    free(output);
    return ok ? 1 : -1;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--max-taps") == 0) {
        printf("%d\n", FIR_Q15_MAX_TAPS);
        return 0;
    }
    if (argc != 3) {
        return fail("usage: host_grid --max-taps | host_grid CASES OUT");
    }
    FILE *cases = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (!cases || !out) {
        return fail("cannot open CASES or OUT");
    }
    int status;
    while ((status = filter_one(cases, out)) == 1) {
    }
    if (status < 0 || fclose(out) != 0) {
        return fail("a truncated or invalid record in CASES, or OUT cannot be written");
    }
    return 0;
}
