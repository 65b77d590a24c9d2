//! The guest's console as the harness sees it: which stream a byte came
//! from, what is compared, how, and which lines end a run.
//!
//! QEMU gives the guest four outputs (Arm semihosting specification §6.1,
//! QEMU `semihosting/arm-compat-semi.c`, which RISC-V shares):
//!
//! - the UART (`serial_hd(0)`), on a chardev of its own ([`Stream::Uart`]);
//! - semihosting `SYS_WRITE` to the `:tt` handle opened for writing, which
//!   QEMU writes to its own stdout whatever `-semihosting-config chardev=`
//!   says, and `SYS_WRITEC`/`SYS_WRITE0`, which follow `chardev=`: both are
//!   [`Stream::Semihosting`];
//! - semihosting `SYS_WRITE` to `:tt` opened for appending, which QEMU
//!   writes to its own stderr ([`Stream::GuestStderr`]), between QEMU's own
//!   messages ([`Stream::Qemu`]), told apart by [`is_qemu_message`].

use std::fmt;

use regex::bytes::Regex;

/// Where a line came from. The label is what logs and reports print in
/// brackets: `[uart] PASS sched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stream {
    /// The first UART.
    Uart,
    /// Semihosting stdout (`:tt` for writing) and console (`SYS_WRITEC`,
    /// `SYS_WRITE0`).
    Semihosting,
    /// Semihosting stderr (`:tt` for appending).
    GuestStderr,
    /// QEMU's own messages on its stderr.
    Qemu,
    /// The defmt decoder's report of a frame that did not decode.
    Defmt,
}

impl Stream {
    /// `uart`, `semihosting`, `guest-stderr`, `qemu`, `defmt`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Uart => "uart",
            Self::Semihosting => "semihosting",
            Self::GuestStderr => "guest-stderr",
            Self::Qemu => "qemu",
            Self::Defmt => "defmt",
        }
    }

    /// Whether the guest wrote it (so failure markers apply to it).
    pub fn is_guest(self) -> bool {
        matches!(self, Self::Uart | Self::Semihosting | Self::GuestStderr)
    }
}

/// Which of the guest's console streams a transcript is compared with:
/// manifest field `console`, `--console`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Console {
    Uart,
    Semihosting,
    /// The UART's output followed by semihosting's (not interleaved: the
    /// two arrive on separate pipes, so their relative order is not
    /// known). The default: the project's images write only to the UART,
    /// and firmware that prints with semihosting only to that.
    #[default]
    Both,
}

impl Console {
    /// The streams compared, in the order they are concatenated.
    pub fn streams(self) -> &'static [Stream] {
        match self {
            Self::Uart => &[Stream::Uart],
            Self::Semihosting => &[Stream::Semihosting],
            Self::Both => &[Stream::Uart, Stream::Semihosting],
        }
    }

    /// The stream that carries defmt frames when the image logs with
    /// defmt: the UART for `uart`, else semihosting stdout, where
    /// defmt-semihosting writes and defmt's own `qemu-run` reads them. The
    /// other stream stays text (e.g. a kernel's panic line on the UART).
    pub fn defmt_streams(self) -> &'static [Stream] {
        match self {
            Self::Uart => &[Stream::Uart],
            Self::Semihosting | Self::Both => &[Stream::Semihosting],
        }
    }
}

/// How a transcript is compared: manifest field `match`, `--match`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    /// Line by line: `\r\n` and `\n` end a line alike, and a final line
    /// needs no newline.
    #[default]
    Lines,
    /// Byte for byte.
    Exact,
}

/// How the guest's console is read: manifest field `log_format`,
/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// defmt when the ELF has a `.defmt` section, else text.
    #[default]
    Auto,
    /// defmt frames, decoded with the ELF's table.
    Defmt,
    /// Bytes as the guest wrote them.
    Text,
}

/// The failure markers when no manifest, test or board sets `fail_regex`:
/// the kernel's crash lines (README, "Kernel") and Rust's panic message as
/// panic-semihosting, panic-probe and defmt print it.
pub const DEFAULT_FAIL_REGEX: [&str; 4] = [
    r"^\*\*\* PANIC",
    r"^\*\*\* FAULT",
    r"^\*\*\* STACK OVERFLOW",
    "panicked at",
];

/// Regexes that fail a run when a guest line matches one.
#[derive(Debug, Clone)]
pub struct FailMarkers(pub Vec<Regex>);

impl FailMarkers {
    /// [`DEFAULT_FAIL_REGEX`].
    pub fn defaults() -> Self {
        Self::compile(&DEFAULT_FAIL_REGEX).expect("the default markers are valid regexes")
    }

    /// Compiles `patterns`.
    ///
    /// Errors: the first pattern that is not a regex, with its index.
    pub fn compile<S: AsRef<str>>(patterns: &[S]) -> Result<Self, String> {
        patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Regex::new(p.as_ref())
                    .map_err(|e| format!("fail_regex[{i}] `{}` is not a regex: {e}", p.as_ref()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The first marker that `line` (of a guest stream) matches.
    pub fn find(&self, line: &[u8]) -> Option<&Regex> {
        self.0.iter().find(|re| re.is_match(line))
    }
}

/// One line of one stream: its bytes without the `\n`, a `\r` before it
/// kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub stream: Stream,
    pub bytes: Vec<u8>,
}

impl Line {
    /// The bytes without a trailing `\r` (lines-mode normalisation).
    pub fn normalised(&self) -> &[u8] {
        trim_cr(&self.bytes)
    }
}

impl fmt::Display for Line {
    /// `[uart] text`, the bytes escaped as in [`escape`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.stream.label(), escape(&self.bytes))
    }
}

/// `line` without one trailing `\r`.
pub fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Guest bytes as text for formats that need it (logs, JSON, JUnit): valid
/// UTF-8 stays as it is, except control characters other than tab, which
/// become `\r`, `\n`, `\0` or `\xNN`; bytes that are not UTF-8 become
/// `\xNN`. XML 1.0 cannot hold most control characters at all.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\t' => out.push(c),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '\0' => out.push_str("\\0"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Splits `bytes` into lines at `\n`; a final line without one counts.
pub fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.split(|&b| b == b'\n').collect()
}

/// Unprefixed lines QEMU prints with `fprintf(stderr, …)`: its ptimer's
/// warning (`hw/core/ptimer.c`), which QEMU 7.2 prints at boot on
/// lm3s6965evb.
const QEMU_UNPREFIXED: [&str; 1] = ["Timer with period zero, disabling"];

/// Whether a line of QEMU's stderr is QEMU's own rather than the guest's
/// semihosting stderr: `qemu-system-<arch>: …` (`error_report`, with
/// `warning:` and the SIGTERM notice, `util/error-report.c`), `qemu: …`,
/// the monitor banner, and the unprefixed messages QEMU is known to
/// print. A guest that prints one of these forms itself is counted as
/// QEMU's.
pub fn is_qemu_message(line: &[u8]) -> bool {
    let line = String::from_utf8_lossy(trim_cr(line));
    if let Some(rest) = line.strip_prefix("qemu-system-") {
        return rest
            .split_once(": ")
            .is_some_and(|(arch, _)| !arch.is_empty() && !arch.contains(' '));
    }
    line.starts_with("qemu: ")
        || line.starts_with("QEMU: ")
        || line.starts_with("QEMU ") && line.contains(" monitor")
        || QEMU_UNPREFIXED.contains(&line.as_ref())
}

/// Collects a pipe's bytes into complete lines as chunks arrive.
#[derive(Debug, Default)]
pub struct LineBuffer(Vec<u8>);

impl LineBuffer {
    /// Appends `chunk`; returns the lines it completed (without `\n`).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        self.0.extend_from_slice(chunk);
        let Some(last) = self.0.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let rest = self.0.split_off(last + 1);
        let done = std::mem::replace(&mut self.0, rest);
        split_lines(&done).into_iter().map(<[u8]>::to_vec).collect()
    }

    /// The final line, if the stream ended without a newline.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.0.is_empty()).then(|| std::mem::take(&mut self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_messages_are_recognised() {
        for line in [
            "qemu-system-arm: terminating on signal 15 from pid 42 (xtask)",
            "qemu-system-riscv32: warning: bad",
            "QEMU 10.0.2 monitor - type 'help'",
            "Timer with period zero, disabling\r",
        ] {
            assert!(is_qemu_message(line.as_bytes()), "{line}");
        }
        for line in ["PASS sched", "qemu-system-arm is great: yes", "ERR1"] {
            assert!(!is_qemu_message(line.as_bytes()), "{line}");
        }
    }

    #[test]
    fn lines_are_split_across_chunks() {
        let mut b = LineBuffer::default();
        assert!(b.push(b"tick").is_empty());
        assert_eq!(
            b.push(b" 1\r\ntick 2\nti"),
            [b"tick 1\r".to_vec(), b"tick 2".to_vec()]
        );
        assert_eq!(b.push(b"\n\n"), [b"ti".to_vec(), b"".to_vec()]);
        assert_eq!(b.finish(), None);
        b.push(b"partial");
        assert_eq!(b.finish().as_deref(), Some(&b"partial"[..]));
        assert_eq!(split_lines(b"a\n\nb"), [&b"a"[..], b"", b"b"]);
        assert!(split_lines(b"").is_empty());
        assert_eq!(split_lines(b"\n"), [&b""[..]]);
    }

    #[test]
    fn escaping_keeps_every_byte_visible() {
        assert_eq!(escape("tick 1 → λ\t".as_bytes()), "tick 1 → λ\t");
        assert_eq!(escape(b"a\r\0\x01\xff\xc3"), "a\\r\\0\\x01\\xff\\xc3");
        let line = Line {
            stream: Stream::GuestStderr,
            bytes: b"oops\r".to_vec(),
        };
        assert_eq!(line.to_string(), "[guest-stderr] oops\\r");
        assert_eq!(line.normalised(), b"oops");
    }

    #[test]
    fn default_markers() {
        let m = FailMarkers::defaults();
        for hit in [
            "*** PANIC in task idle at pc=0x00000412: boom",
            "*** STACK OVERFLOW in task a",
            "panicked at src/main.rs:3:5:",
            "ERROR panicked at 'boom 7'",
        ] {
            assert!(m.find(hit.as_bytes()).is_some(), "{hit}");
        }
        assert!(m.find(b" *** PANIC").is_none());
        let err = FailMarkers::compile(&["ok", "("]).unwrap_err();
        assert!(err.contains("fail_regex[1]"), "{err}");
    }
}
