//! `plan::FRAMES` pseudo-random frames of random levels and arguments, then a
//! closing line; exits 0.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_fixture::plan::{self, Level, Payload};

/// Logs with the defmt macro of `$level`.
macro_rules! log {
    ($level:expr, $($args:tt)*) => {
        match $level {
            Level::Println => defmt::println!($($args)*),
            Level::Trace => defmt::trace!($($args)*),
            Level::Debug => defmt::debug!($($args)*),
            Level::Info => defmt::info!($($args)*),
            Level::Warn => defmt::warn!($($args)*),
            Level::Error => defmt::error!($($args)*),
        }
    };
}

#[entry]
fn main() -> ! {
    for frame in plan::frames() {
        let n = frame.n;
        match &frame.payload {
            Payload::Ints { a, b, c } => {
                log!(
                    frame.level,
                    "#{=u32} ints a={=u32} b={=i32} c={=u8}",
                    n,
                    *a,
                    *b,
                    *c
                )
            }
            Payload::Wide { w, h, x } => {
                log!(
                    frame.level,
                    "#{=u32} wide w={=u64} h={=i16} x={=u32:#x}",
                    n,
                    *w,
                    *h,
                    *x
                )
            }
            Payload::Text { flag, .. } => {
                log!(
                    frame.level,
                    "#{=u32} text s={=str} flag={=bool}",
                    n,
                    frame.payload.text(),
                    *flag
                )
            }
            Payload::Bytes { buf, len } => {
                log!(frame.level, "#{=u32} bytes d={=[u8]}", n, &buf[..*len])
            }
        }
    }
    defmt::println!("random: {=u32} frames sent", plan::FRAMES);
    defmt_fixture::exit(0)
}
