//! The pseudo-random defmt frames of the `random` test images (xtask-defmt's
//! test firmware, and `defmt_random`/`defmt_uart` in `fw-fixtures`). The
//! firmware and the host tests both depend on this crate: both sides run the
//! same generator from the same seed, so the host knows every frame the
//! firmware sent without a copy of them being stored anywhere. The firmware
//! logs them with [`send_frames!`]; the host expects [`Transcript`].
#![no_std]

use core::fmt;

/// Seed of the generator.
pub const SEED: u32 = 0x2545_f491;
/// How many frames the `random` image sends.
pub const FRAMES: u32 = 1500;

/// The generator: xorshift32 (G. Marsaglia, "Xorshift RNGs", J. Stat.
/// Softw. 8(14), 2003), with a bounded draw on top.
pub struct Rng(dsp::testvec::Xorshift32);

impl Rng {
    pub const fn new(seed: u32) -> Self {
        Rng(dsp::testvec::Xorshift32::new(seed))
    }

    pub fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next_u32() % n
    }
}

/// The defmt macro a frame is logged with; `Println` frames have no level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Println,
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Capacity of a text argument, in bytes.
pub const TEXT_CAP: usize = 32;
/// Capacity of a byte-slice argument, in bytes.
pub const BYTES_CAP: usize = 16;

/// The arguments of one frame; each variant is one format string.
pub enum Payload {
    Ints {
        a: u32,
        b: i32,
        c: u8,
    },
    Wide {
        w: u64,
        h: i16,
        x: u32,
    },
    Text {
        buf: [u8; TEXT_CAP],
        len: usize,
        flag: bool,
    },
    Bytes {
        buf: [u8; BYTES_CAP],
        len: usize,
    },
}

impl Payload {
    /// The text of a `Text` payload (empty for the others).
    pub fn text(&self) -> &str {
        match self {
            // Built from whole UTF-8 pieces, so never empty by mistake;
            // no panic path, which would pull `core::fmt` into the images.
            Payload::Text { buf, len, .. } => {
                core::str::from_utf8(buf.get(..*len).unwrap_or_default()).unwrap_or_default()
            }
            _ => "",
        }
    }
}

/// One frame: its sequence number, level and arguments.
pub struct Frame {
    pub n: u32,
    pub level: Level,
    pub payload: Payload,
}

/// Pieces text arguments are built from: ASCII, braces (data, not format
/// syntax), quotes, backslashes and multi-byte UTF-8.
const PIECES: [&str; 14] = [
    "a", "b", "Z", "0", "9", " ", "-", "{}", "é", "λ", "→", "\\", "\"", "🦀",
];

/// The `FRAMES` frames, in order.
pub fn frames() -> impl Iterator<Item = Frame> {
    let mut rng = Rng::new(SEED);
    (0..FRAMES).map(move |n| Frame {
        n,
        level: level(&mut rng),
        payload: payload(&mut rng),
    })
}

fn level(rng: &mut Rng) -> Level {
    match rng.below(6) {
        0 => Level::Println,
        1 => Level::Trace,
        2 => Level::Debug,
        3 => Level::Info,
        4 => Level::Warn,
        _ => Level::Error,
    }
}

fn payload(rng: &mut Rng) -> Payload {
    match rng.below(4) {
        0 => Payload::Ints {
            a: rng.next_u32(),
            b: rng.next_u32() as i32,
            c: rng.next_u32() as u8,
        },
        1 => Payload::Wide {
            w: (u64::from(rng.next_u32()) << 32) | u64::from(rng.next_u32()),
            h: rng.next_u32() as i16,
            x: rng.next_u32() >> rng.below(32),
        },
        2 => {
            let mut buf = [0; TEXT_CAP];
            let mut len = 0;
            for _ in 0..rng.below(12) {
                let piece = PIECES[rng.below(PIECES.len() as u32) as usize].as_bytes();
                if len + piece.len() > TEXT_CAP {
                    break;
                }
                buf[len..len + piece.len()].copy_from_slice(piece);
                len += piece.len();
            }
            Payload::Text {
                buf,
                len,
                flag: rng.below(2) == 1,
            }
        }
        _ => {
            let mut buf = [0; BYTES_CAP];
            let len = rng.below(BYTES_CAP as u32 + 1) as usize;
            for b in &mut buf[..len] {
                *b = rng.next_u32() as u8;
            }
            Payload::Bytes { buf, len }
        }
    }
}

/// Logs every frame of [`frames`] with the defmt macro of its level, then
/// `random: <FRAMES> frames sent` with `defmt::println!`. The calling crate
/// depends on `defmt`.
#[macro_export]
macro_rules! send_frames {
    () => {
        for frame in $crate::frames() {
            let n = frame.n;
            match &frame.payload {
                $crate::Payload::Ints { a, b, c } => $crate::__log!(
                    frame.level,
                    "#{=u32} ints a={=u32} b={=i32} c={=u8}",
                    n,
                    *a,
                    *b,
                    *c
                ),
                $crate::Payload::Wide { w, h, x } => $crate::__log!(
                    frame.level,
                    "#{=u32} wide w={=u64} h={=i16} x={=u32:#x}",
                    n,
                    *w,
                    *h,
                    *x
                ),
                $crate::Payload::Text { flag, .. } => $crate::__log!(
                    frame.level,
                    "#{=u32} text s={=str} flag={=bool}",
                    n,
                    frame.payload.text(),
                    *flag
                ),
                $crate::Payload::Bytes { buf, len } => {
                    $crate::__log!(frame.level, "#{=u32} bytes d={=[u8]}", n, &buf[..*len])
                }
            }
        }
        defmt::println!("random: {=u32} frames sent", $crate::FRAMES);
    };
}

/// Logs with the defmt macro of a [`Level`].
#[doc(hidden)]
#[macro_export]
macro_rules! __log {
    ($level:expr, $($args:tt)*) => {
        match $level {
            $crate::Level::Println => defmt::println!($($args)*),
            $crate::Level::Trace => defmt::trace!($($args)*),
            $crate::Level::Debug => defmt::debug!($($args)*),
            $crate::Level::Info => defmt::info!($($args)*),
            $crate::Level::Warn => defmt::warn!($($args)*),
            $crate::Level::Error => defmt::error!($($args)*),
        }
    };
}

impl fmt::Display for Frame {
    /// The line `defmt-print` prints for the frame [`send_frames!`] logs:
    /// the level padded to 5 characters and a space, unless it is a
    /// `println`, then the message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Println => None,
            Level::Trace => Some("TRACE"),
            Level::Debug => Some("DEBUG"),
            Level::Info => Some("INFO"),
            Level::Warn => Some("WARN"),
            Level::Error => Some("ERROR"),
        };
        if let Some(level) = level {
            write!(f, "{level:<5} ")?;
        }
        let n = self.n;
        match &self.payload {
            Payload::Ints { a, b, c } => write!(f, "#{n} ints a={a} b={b} c={c}"),
            Payload::Wide { w, h, x } => write!(f, "#{n} wide w={w} h={h} x={x:#x}"),
            Payload::Text { flag, .. } => {
                write!(f, "#{n} text s={} flag={flag}", self.payload.text())
            }
            Payload::Bytes { buf, len } => write!(f, "#{n} bytes d={:?}", &buf[..*len]),
        }
    }
}

/// What a decoder prints for everything [`send_frames!`] logs: one line
/// per frame and the closing line, each ending with `\n`.
pub struct Transcript;

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for frame in frames() {
            writeln!(f, "{frame}")?;
        }
        writeln!(f, "random: {FRAMES} frames sent")
    }
}
