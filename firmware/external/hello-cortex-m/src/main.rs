//! Prints a transcript over semihosting and exits with `EXIT_SUCCESS`
//! (`SYS_EXIT` with `ADP_Stopped_ApplicationExit`, which QEMU turns into
//! exit status 0).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;

#[entry]
fn main() -> ! {
    hprintln!("hello from cortex-m-rt");
    let squares: u32 = (1..=10).map(|n| n * n).sum();
    hprintln!("sum of squares 1..=10 = {}", squares);
    debug::exit(debug::EXIT_SUCCESS);
    loop {}
}
