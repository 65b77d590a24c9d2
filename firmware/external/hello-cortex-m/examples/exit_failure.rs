//! Reports a failed check and exits with `EXIT_FAILURE` (`SYS_EXIT` with
//! `ADP_Stopped_RunTimeErrorUnknown`, which QEMU turns into exit status 1).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;

#[entry]
fn main() -> ! {
    hprintln!("check failed: 2 + 2 != 5");
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
