//! `defmt::panic!` with an argument.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_fixture as _;

#[entry]
fn main() -> ! {
    defmt::info!("about to panic");
    defmt::panic!("boom {=u32}", core::hint::black_box(7))
}
