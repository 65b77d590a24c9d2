//! The library on real captures: the fixture images are built, booted in
//! QEMU, and their raw defmt streams decoded.

mod common;

use common::{Variant, fixture, plan};
use xtask_defmt::{Decoder, ElfErrorKind, FrameError, Problem, Record};

#[test]
fn transcripts_match_the_checked_in_files_and_defmt_print() {
    let defmt_print = common::find_on_path("defmt-print");
    if defmt_print.is_none() {
        // The checked-in transcripts were made with defmt-print 1.2.0 and
        // are compared below either way.
        println!(
            "skipped: defmt-print not installed (cargo install defmt-print --version 1.2.0 --locked)"
        );
    }
    for bin in common::TRANSCRIPTS {
        let Some(capture) = common::capture(Variant::Rzcobs, bin) else {
            return;
        };
        let (elf, stream) = (capture.elf_bytes, capture.stream);
        let ours = common::transcript(&common::decode(&elf, &stream));
        assert_eq!(
            ours,
            common::expected_transcript(bin),
            "{bin}: decoded vs tests/expected"
        );
        if let Some(defmt_print) = &defmt_print {
            let theirs = reference_decode(defmt_print, Variant::Rzcobs, bin, &stream);
            assert_eq!(ours, theirs, "{bin}: decoded vs defmt-print");
        }
    }
}

/// `defmt-print -e ELF` on `stream`.
fn reference_decode(tool: &std::path::Path, variant: Variant, bin: &str, stream: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let elf = fixture().unwrap().elf(variant, bin);
    let mut child = Command::new(tool)
        .arg("-e")
        .arg(&elf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stream).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "defmt-print failed on {bin}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_transcript_image_covers_every_kind_of_line() {
    let expected = common::expected_transcript("transcript");
    for needle in [
        "TRACE ",
        "DEBUG ",
        "INFO  ",
        "WARN  ",
        "ERROR ",    // levels, padded to 5
        "0.000001 ", // the firmware's timestamp
        "\ntranscript: start",
        "\nno level, 1 arguments", // println: no level, no timestamp
        "18446744073709551615",
        "-9223372036854775808", // integers
        "hello, {world}",
        "[0, 1, 127, 255]",
        "empty []",                                         // strings, {=[u8]} slices
        "panicked at 'assertion failed: `(left == right)`", // assert_eq!
    ] {
        assert!(
            format!("\n{expected}").contains(needle),
            "transcript lacks {needle:?}"
        );
    }
    assert!(common::expected_transcript("panic").contains("ERROR panicked at 'boom 7'"));
    assert!(common::expected_transcript("core_panic").contains("ERROR panicked at src/bin/"));
}

#[test]
fn random_frames_survive_capture_and_decoding() {
    let Some(capture) = common::capture(Variant::Rzcobs, "random") else {
        return;
    };
    let decoded = capture.records();
    assert_eq!(decoded.len() as u32, plan::FRAMES + 1);
    let ours: String = decoded.iter().map(|r| format!("{}\n", r.text)).collect();
    let expected = common::expected_random();
    if ours != expected {
        let (n, (a, b)) = ours
            .lines()
            .zip(expected.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .expect("same lines, different length");
        panic!("line {n} differs:\n decoded: {a}\nexpected: {b}");
    }
}

#[test]
fn chunk_sizes_do_not_change_the_output() {
    for bin in ["random", "transcript"] {
        let Some(capture) = common::capture(Variant::Rzcobs, bin) else {
            return;
        };
        let (elf, stream) = (capture.elf_bytes, capture.stream);
        let whole = common::decode(&elf, &stream);
        let bytewise = common::decode_in_chunks(&elf, &stream, &mut || 1);
        let mut rng = plan::Rng::new(0x5eed);
        let random =
            common::decode_in_chunks(&elf, &stream, &mut || rng.next_u32() as usize % 97 + 1);
        assert!(whole.iter().all(Result::is_ok), "{bin} decodes cleanly");
        assert_eq!(whole, bytewise, "{bin}: all at once vs byte by byte");
        assert_eq!(whole, random, "{bin}: all at once vs random chunks");
    }
}

#[test]
fn a_raw_encoded_stream_decodes_like_rzcobs() {
    let Some(capture) = common::capture(Variant::Raw, "transcript") else {
        return;
    };
    let (elf, stream) = (capture.elf_bytes, capture.stream);
    let decoder = Decoder::from_elf(&elf).unwrap().unwrap();
    assert_eq!(decoder.encoding(), xtask_defmt::Encoding::Raw);
    let bytewise = common::decode_in_chunks(&elf, &stream, &mut || 1);
    assert_eq!(
        common::transcript(&bytewise),
        common::expected_transcript("transcript")
    );
}

/// The clean records of the `random` capture and the capture itself.
fn random_capture() -> Option<(Vec<u8>, Vec<u8>, Vec<Record>)> {
    let capture = common::capture(Variant::Rzcobs, "random")?;
    let clean = capture.records();
    Some((capture.elf_bytes, capture.stream, clean))
}

/// `stream` with the wire bytes of `record` replaced by `bytes`.
fn replace_frame(stream: &[u8], record: &Record, bytes: &[u8]) -> Vec<u8> {
    let start = record.offset as usize;
    [&stream[..start], bytes, &stream[start + record.len..]].concat()
}

/// The unencoded bytes of `record`'s frame (index, arguments).
fn message(stream: &[u8], record: &Record) -> Vec<u8> {
    let start = record.offset as usize;
    rzcobs::decode(&stream[start..start + record.len]).unwrap()
}

/// Asserts that `decoded` is `clean` with `corrupt` replaced by one error at
/// its offset, and returns that error. Records after it keep their text;
/// their offsets move by `shift` bytes.
fn assert_one_error(
    decoded: &[Result<Record, FrameError>],
    clean: &[Record],
    corrupt: usize,
    shift: i64,
) -> FrameError {
    assert_eq!(decoded.len(), clean.len(), "one result per frame");
    for (i, (got, want)) in decoded.iter().zip(clean).enumerate() {
        if i == corrupt {
            continue;
        }
        let got = got.as_ref().unwrap_or_else(|e| panic!("frame {i}: {e}"));
        assert_eq!(got.text, want.text, "frame {i}");
        let moved = if i > corrupt { shift } else { 0 };
        assert_eq!(got.offset as i64, want.offset as i64 + moved, "frame {i}");
    }
    let error = decoded[corrupt]
        .clone()
        .expect_err("the corrupted frame is an error");
    assert_eq!(
        error.offset, clean[corrupt].offset,
        "the error names the frame's offset"
    );
    assert!(error.resumes);
    assert!(
        error.to_string().starts_with(&format!(
            "malformed defmt frame at byte {}: ",
            clean[corrupt].offset
        )),
        "{error}"
    );
    error
}

#[test]
fn a_flipped_index_byte_is_reported_and_decoding_resumes() {
    let Some((elf, stream, clean)) = random_capture() else {
        return;
    };
    let k = 100;
    let mut bytes = message(&stream, &clean[k]);
    bytes[1] ^= 0xff;
    let index = u16::from_le_bytes([bytes[0], bytes[1]]);
    let encoded = rzcobs::encode(&bytes);
    let shift = encoded.len() as i64 - clean[k].len as i64;
    let corrupted = replace_frame(&stream, &clean[k], &encoded);
    let error = assert_one_error(&common::decode(&elf, &corrupted), &clean, k, shift);
    assert_eq!(error.problem, Problem::UnknownIndex(index));
}

#[test]
fn a_truncated_frame_is_reported_and_decoding_resumes() {
    let Some((elf, stream, clean)) = random_capture() else {
        return;
    };
    // An `ints` frame: index, u32, i32, u8 (11 bytes). Losing 7 of them is
    // more than rzCOBS's zero padding (at most 6 bytes) can hide.
    let k = clean
        .iter()
        .position(|r| r.text.contains(" ints "))
        .unwrap();
    let bytes = message(&stream, &clean[k]);
    let encoded = rzcobs::encode(&bytes[..bytes.len() - 7]);
    let shift = encoded.len() as i64 - clean[k].len as i64;
    let corrupted = replace_frame(&stream, &clean[k], &encoded);
    let error = assert_one_error(&common::decode(&elf, &corrupted), &clean, k, shift);
    assert!(
        matches!(error.problem, Problem::Truncated { .. }),
        "{error}"
    );
}

#[test]
fn garbage_between_frames_is_reported_and_decoding_resumes() {
    let Some((elf, stream, clean)) = random_capture() else {
        return;
    };
    let k = 500;
    let at = clean[k].offset as usize;
    // `0x01` claims six data bytes that are not there.
    let garbage = [0x01, 0x02, 0x03, 0x00];
    let corrupted = [&stream[..at], &garbage, &stream[at..]].concat();
    let decoded = common::decode(&elf, &corrupted);
    assert_eq!(decoded.len(), clean.len() + 1);
    let error = decoded[k].clone().expect_err("the garbage is an error");
    assert_eq!((error.offset, error.len), (at as u64, 3));
    assert_eq!(error.problem, Problem::InvalidRzcobs);
    let rest: Vec<_> = decoded
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != k)
        .collect();
    for ((i, got), want) in rest.into_iter().zip(&clean) {
        assert_eq!(
            got.unwrap_or_else(|e| panic!("frame {i}: {e}")).text,
            want.text
        );
    }
}

#[test]
fn every_flipped_byte_leaves_the_other_frames_intact() {
    let Some((elf, stream, clean)) = random_capture() else {
        return;
    };
    let (mut detected, mut undetected) = (0, 0);
    for (k, record) in clean.iter().enumerate().take(200) {
        let mut corrupted = stream.clone();
        // Any value but 0x00, which would split the frame in two.
        let at = record.offset as usize + record.len / 2;
        corrupted[at] = if corrupted[at] == 0xff {
            0x01
        } else {
            corrupted[at] ^ 0xff
        };
        let decoded = common::decode(&elf, &corrupted);
        assert_eq!(decoded.len(), clean.len(), "flip in frame {k}");
        for (i, (got, want)) in decoded.iter().zip(&clean).enumerate() {
            match got {
                Err(error) => {
                    assert_eq!(i, k, "flip in frame {k} broke frame {i}: {error}");
                    assert_eq!(error.offset, want.offset);
                    detected += 1;
                }
                Ok(got) if i == k => {
                    assert_eq!(got.offset, want.offset);
                    undetected += (got.text != want.text) as usize;
                }
                Ok(got) => assert_eq!(got.text, want.text, "flip in frame {k}, frame {i}"),
            }
        }
    }
    println!("flipped 200 frames: {detected} reported, {undetected} decoded to other values");
    assert!(detected > 0);
}

#[test]
fn a_stream_that_ends_inside_a_frame_is_reported() {
    let Some((elf, stream, clean)) = random_capture() else {
        return;
    };
    let last = clean.last().unwrap();
    let cut = &stream[..last.offset as usize + last.len / 2];
    let decoded = common::decode(&elf, cut);
    assert_eq!(decoded.len(), clean.len());
    let error = decoded.last().unwrap().clone().unwrap_err();
    assert_eq!(error.problem, Problem::EndOfStream);
    assert_eq!(error.offset, last.offset);
    assert!(
        error
            .to_string()
            .ends_with("the stream ended inside this frame"),
        "{error}"
    );
}

#[test]
fn a_malformed_raw_frame_stops_decoding_and_says_so() {
    let Some(capture) = common::capture(Variant::Raw, "transcript") else {
        return;
    };
    let clean = capture.records();
    let (elf, stream) = (capture.elf_bytes, capture.stream);
    let k = 4;
    let mut corrupted = stream.clone();
    let at = clean[k].offset as usize;
    corrupted[at..at + 2].copy_from_slice(&[0xff, 0xff]);
    let decoded = common::decode_in_chunks(&elf, &corrupted, &mut || 7);
    assert_eq!(decoded.len(), k + 1, "nothing after the malformed frame");
    for (got, want) in decoded.iter().zip(&clean[..k]) {
        assert_eq!(got.as_ref().unwrap(), want);
    }
    let error = decoded[k].clone().unwrap_err();
    assert_eq!(error.offset, at as u64);
    assert_eq!(error.problem, Problem::UnknownIndex(0xffff));
    assert!(!error.resumes);
    assert!(
        error.to_string().contains("nothing after it is decoded"),
        "{error}"
    );
}

#[test]
fn elf_problems_are_errors_that_name_the_fix() {
    let Some(fixture) = fixture() else {
        return;
    };
    let host = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(
        Decoder::from_elf(&host).unwrap().is_none(),
        "a host ELF has no .defmt"
    );

    let not_elf = Decoder::from_elf(b"MZ not an ELF").err().unwrap();
    assert_eq!(not_elf.kind(), ElfErrorKind::NotElf);

    // The same image claiming a wire format version the decoder lacks.
    let mut elf = fixture.elf_bytes(Variant::Rzcobs, "random");
    let symbol = b"_defmt_version_ = 4";
    let at = elf
        .windows(symbol.len())
        .position(|w| w == symbol)
        .expect("the ELF names its defmt version");
    elf[at + symbol.len() - 1] = b'9';
    let error = Decoder::from_elf(&elf).err().unwrap();
    assert_eq!(error.kind(), ElfErrorKind::VersionMismatch);
    let text = error.to_string();
    assert!(
        text.contains("firmware is using 9") && text.contains("fix: "),
        "{text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
}
