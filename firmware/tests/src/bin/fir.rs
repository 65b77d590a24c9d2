//! Fixed-point signal processing on the target: filters `dsp`'s firmware
//! test vector (4 frames × 64 samples, 16 Q15 taps, saturating in both
//! directions) and prints the FNV-1a digest of the output. `cargo xtask
//! native` compares the digest from each board's transcript with the host
//! CPU reference, so Cortex-M3, RV32IMAC and the host agree bit for bit.
#![no_std]
#![no_main]

use dsp::testvec::FIRMWARE;
use kernel::print::Hex;
use kernel::println;

board::entry!(main);

const LEN: usize = FIRMWARE.frames * FIRMWARE.frame_len;

fn main() -> ! {
    let mut taps = [0i16; FIRMWARE.taps];
    let mut input = [0i16; LEN];
    let mut output = [0i16; LEN];
    FIRMWARE.fill(&mut taps, &mut input);
    let filtered = dsp::fir_q15(&taps, FIRMWARE.frame_len, &input, &mut output);
    fw_tests::check(filtered.is_ok(), "fir: the test vector has a valid shape");
    println!("fir digest=", Hex(dsp::digest(&output)));
    fw_tests::pass("fir")
}
