//! `plan::FRAMES` pseudo-random frames of random levels and arguments, then a
//! closing line; exits 0.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_fixture::plan;

#[entry]
fn main() -> ! {
    plan::send_frames!();
    defmt_fixture::exit(0)
}
