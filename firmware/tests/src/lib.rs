//! Helpers shared by the test images: checks that end the run with the
//! test-failure exit code, and the pass marker.
#![no_std]

use kernel::{exit_code, println};

/// Ends the run with `FAIL <what>` and exit code 1 unless `ok`.
pub fn check(ok: bool, what: &str) {
    if !ok {
        println!("FAIL ", what);
        kernel::exit(exit_code::FAIL);
    }
}

/// Prints the pass marker `PASS <image>` (the transcript's last line) and
/// exits 0.
pub fn pass(image: &str) -> ! {
    println!("PASS ", image);
    kernel::exit(exit_code::PASS)
}
