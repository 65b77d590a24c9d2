//! Every kind of argument once, at every level, with a timestamp; ends with a
//! failing `defmt::assert_eq!`.
#![no_std]
#![no_main]

use core::{
    hint::black_box,
    sync::atomic::{AtomicU32, Ordering},
};

use cortex_m_rt::entry;
use defmt_fixture as _;

static TICKS: AtomicU32 = AtomicU32::new(0);

// One microsecond per frame, so the transcript does not depend on the host.
defmt::timestamp!("{=u32:us}", TICKS.fetch_add(1, Ordering::Relaxed));

#[derive(defmt::Format)]
struct Reading {
    sensor: u8,
    value: i16,
    ok: bool,
}

#[derive(defmt::Format)]
enum State {
    Idle,
    Busy(u32),
}

#[entry]
fn main() -> ! {
    defmt::println!("transcript: start");
    defmt::trace!("trace {=u8}", 1);
    defmt::debug!("debug {=i32}", -2);
    defmt::info!(
        "unsigned {=u8} {=u16} {=u32} {=u64}",
        255,
        65535,
        4_000_000_000,
        u64::MAX
    );
    defmt::info!(
        "signed {=i8} {=i16} {=i32} {=i64}",
        -128,
        -32768,
        i32::MIN,
        i64::MIN
    );
    defmt::info!(
        "hints {=u32:x} {=u32:#x} {=u8:#b} {=u16:#o}",
        0xdead_beef,
        0x1f,
        5,
        8
    );
    defmt::warn!(
        "str {=str} istr {=istr}",
        "hello, {world}",
        defmt::intern!("interned")
    );
    let bytes: &[u8] = black_box(&[0, 1, 127, 255]);
    let empty: &[u8] = black_box(&[]);
    defmt::error!(
        "bytes {=[u8]} empty {=[u8]} array {=[u8; 3]} hex {=[u8]:x}",
        bytes,
        empty,
        [1, 2, 3],
        bytes
    );
    defmt::info!(
        "bool {=bool} char {=char} f32 {=f32} f64 {=f64}",
        true,
        'λ',
        1.5,
        -0.25
    );
    defmt::info!(
        "derived {} {} {}",
        Reading {
            sensor: 3,
            value: -40,
            ok: true
        },
        State::Idle,
        State::Busy(7)
    );
    defmt::println!("no level, {=u32} arguments", 1);
    defmt::assert_eq!(black_box(2) + 2, 4, "arithmetic");
    defmt::assert!(black_box(true), "never printed");
    defmt::info!("asserts passed");
    defmt::assert_eq!(black_box(1), black_box(2), "left and right differ");
    defmt_fixture::exit(0)
}
