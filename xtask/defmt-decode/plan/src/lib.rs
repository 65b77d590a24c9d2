//! The pseudo-random frames of xtask-defmt's `random` test image. The
//! firmware and the host tests both depend on this crate: both sides run the
//! same generator from the same seed, so the host knows every frame the
//! firmware sent without a copy of them being stored anywhere.
#![no_std]

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
            Payload::Text { buf, len, .. } => {
                core::str::from_utf8(&buf[..*len]).expect("built from whole UTF-8 pieces")
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
