//! The firmware half of the bit-exactness check: the `fir` test image filters
//! `dsp::testvec::FIRMWARE` on each QEMU board and prints
//! `fir digest=0x<8 hex digits>`; the digest parsed from each transcript must
//! equal the host's CPU reference.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::boards::{Board, Boards};
use crate::cargo::{Profile, build_images};
use crate::qemu;
use crate::workspace::Workspace;

pub const PACKAGE: &str = "fw-tests";
pub const IMAGE: &str = "fir";

/// The digest the firmware must print: FNV-1a of the CPU reference output.
pub fn reference_digest() -> u32 {
    let spec = dsp::testvec::FIRMWARE;
    let mut taps = vec![0; spec.taps];
    let mut input = vec![0; spec.len()];
    spec.fill(&mut taps, &mut input);
    let mut out = vec![0; input.len()];
    // FIRMWARE is a valid shape (checked by dsp's tests).
    dsp::fir_q15(&taps, spec.frame_len, &input, &mut out).expect("valid firmware vector");
    dsp::digest(&out)
}

/// The digest from a `fir` transcript, which must also end with `PASS fir`.
///
/// Errors: no `fir digest=0x…` line, more than one, or no `PASS fir` last line.
pub fn parse_digest(transcript: &str) -> Result<u32> {
    let mut digests = transcript
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("fir digest=0x"));
    let hex = digests
        .next()
        .context("the transcript has no `fir digest=0x…` line")?;
    if digests.next().is_some() {
        bail!("the transcript has more than one `fir digest=` line");
    }
    if hex.len() != 8 {
        bail!("`fir digest=0x{hex}`: expected 8 hex digits");
    }
    let digest =
        u32::from_str_radix(hex, 16).with_context(|| format!("`fir digest=0x{hex}` is not hex"))?;
    let last = transcript.lines().rfind(|l| !l.trim().is_empty());
    if last.map(str::trim_end) != Some("PASS fir") {
        bail!("the transcript does not end with `PASS fir`");
    }
    Ok(digest)
}

/// One board's result.
pub struct BoardDigest {
    pub board: String,
    pub digest: u32,
}

/// Why the check could not run, or the digests it compared.
pub enum Outcome {
    Skipped(String),
    Matched(Vec<BoardDigest>),
}

/// Builds `fir` for every board (release profile, as shipped), runs it in
/// QEMU and compares each digest with [`reference_digest`].
///
/// Errors: the build fails, QEMU fails or times out, the transcript has no
/// digest, or a digest differs from the reference.
pub fn check(ws: &Workspace) -> Result<Outcome> {
    let has_image = ws.metadata.workspace_packages().iter().any(|p| {
        p.name.as_str() == PACKAGE && p.targets.iter().any(|t| t.is_bin() && t.name == IMAGE)
    });
    if !has_image {
        return Ok(Outcome::Skipped(format!(
            "no `{IMAGE}` image in package `{PACKAGE}`"
        )));
    }
    let boards = Boards::load(ws)?;
    let selected: Vec<&Board> = boards.all().iter().collect();
    if let Some(b) = selected.iter().find(|b| which::which(&b.qemu).is_err()) {
        return Ok(Outcome::Skipped(format!(
            "{} not found (run `cargo xtask setup`)",
            b.qemu
        )));
    }
    let expected = reference_digest();
    let images = build_images(ws, &selected, &[Profile::Release])?;
    let mut results = Vec::new();
    for board in &selected {
        let image = images
            .iter()
            .find(|i| i.is(&board.name, PACKAGE, IMAGE))
            .with_context(|| format!("cargo built no `{IMAGE}` for {}", board.name))?;
        let transcript = run_qemu(board, &image.elf)?;
        let digest = parse_digest(&transcript)
            .with_context(|| format!("`{IMAGE}` on {}:\n{transcript}", board.name))?;
        if digest != expected {
            bail!(
                "`{IMAGE}` on {} printed digest 0x{digest:08x}; the CPU reference is 0x{expected:08x}",
                board.name
            );
        }
        results.push(BoardDigest {
            board: board.name.clone(),
            digest,
        });
    }
    Ok(Outcome::Matched(results))
}

/// Boots `elf` through the QEMU harness and returns the console.
///
/// Errors: QEMU cannot start, the run times out or faults, or the image
/// exits non-zero (its semihosting exit code).
fn run_qemu(board: &Board, elf: &Path) -> Result<String> {
    let run = qemu::run_elf(board, elf, qemu::DEFAULT_TIMEOUT)?;
    let transcript = run.console_text().join("\n");
    if run.exit_code() != Some(0) {
        bail!(
            "`{IMAGE}` on {} ended with {:?}:\n{}",
            board.name,
            run.end,
            run.tail(20).join("\n")
        );
    }
    Ok(transcript)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_digest_line() {
        let t = "boot\nfir digest=0x0123abcd\nPASS fir\n";
        assert_eq!(parse_digest(t).unwrap(), 0x0123_abcd);
        assert!(
            parse_digest("fir digest=0x0123abcd\n").is_err(),
            "no PASS line"
        );
        assert!(parse_digest("fir digest=0x123\nPASS fir\n").is_err());
        assert!(parse_digest("PASS fir\n").is_err());
        assert!(parse_digest("fir digest=0x00000000\nfir digest=0x00000000\nPASS fir\n").is_err());
    }

    /// The expected transcript that `cargo xtask qemu` compares against holds
    /// the CPU reference digest.
    #[test]
    fn expected_transcript_holds_the_reference() {
        let ws = Workspace::load().expect("workspace");
        let path = ws.qemu_dir().join("expected").join("fir.txt");
        let text = std::fs::read_to_string(&path).expect("qemu/expected/fir.txt");
        assert_eq!(parse_digest(&text).unwrap(), reference_digest());
    }

    /// The firmware built by the workspace, run in QEMU on every board.
    #[test]
    fn firmware_digests_equal_the_cpu_reference() {
        let ws = Workspace::load().expect("workspace");
        let all = Boards::load(&ws).expect("boards").all().len();
        match check(&ws).expect("fir runs and matches") {
            Outcome::Skipped(why) => eprintln!("skipped: {why}"),
            Outcome::Matched(boards) => assert_eq!(boards.len(), all),
        }
    }
}
