//! A core panic (an out-of-bounds index), printed by the fixture's
//! `#[panic_handler]` through defmt.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_fixture as _;

#[entry]
fn main() -> ! {
    let table = [1u8, 2, 3];
    let index = core::hint::black_box(5);
    defmt::info!("reading index {=usize}", index);
    defmt::info!("value {=u8}", table[index]);
    defmt_fixture::exit(0)
}
