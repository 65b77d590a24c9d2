//! The `xtask-defmt` CLI contract (crate docs): output streams, the stderr
//! line for malformed frames, exit statuses, streaming.

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::Path,
    process::{Command, Output, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use common::{Variant, fixture};

const BIN: &str = env!("CARGO_BIN_EXE_xtask-defmt");

fn cli(args: &[&std::ffi::OsStr], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = thread::spawn(move || input.write_all(&stdin));
    let output = child.wait_with_output().unwrap();
    // The CLI reads all of stdin, even after errors, so a writer (QEMU)
    // never blocks or fails on it.
    writer.join().unwrap().expect("the CLI read all of stdin");
    output
}

fn decode_cli(elf: &Path, stdin: &[u8]) -> Output {
    cli(&[elf.as_os_str()], stdin)
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stderr.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `(offset, rest)` of a stderr line in the documented form
/// `malformed defmt frame at byte <N>: <rest>`.
fn parse_malformed(line: &str) -> (u64, &str) {
    let rest = line
        .strip_prefix("malformed defmt frame at byte ")
        .unwrap_or_else(|| panic!("not a malformed-frame line: {line}"));
    let (offset, why) = rest.split_once(": ").unwrap();
    (offset.parse().unwrap(), why)
}

#[test]
fn qemu_piped_into_the_cli_gives_the_transcript() {
    let Some(fixture) = fixture() else {
        return;
    };
    for bin in common::TRANSCRIPTS {
        let elf = fixture.elf(Variant::Rzcobs, bin);
        let mut qemu = common::qemu_command(&elf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // `colored` would colour the level for this; the decoder forces
        // colour off.
        let decoder = Command::new(BIN)
            .arg(&elf)
            .env("CLICOLOR_FORCE", "1")
            .stdin(qemu.stdout.take().unwrap())
            .output()
            .unwrap();
        assert_eq!(qemu.wait().unwrap().code(), Some(common::PANIC_EXIT));
        assert_eq!(decoder.status.code(), Some(0), "{bin}");
        assert_eq!(
            String::from_utf8(decoder.stdout).unwrap(),
            common::expected_transcript(bin)
        );
        assert!(
            decoder.stderr.is_empty(),
            "{bin}: {}",
            String::from_utf8_lossy(&decoder.stderr)
        );
    }
}

#[test]
fn malformed_frames_give_one_stderr_line_each_and_exit_1() {
    let Some(capture) = common::capture(Variant::Rzcobs, "random") else {
        return;
    };
    let (elf, stream, clean) = (&capture.elf, &capture.stream, capture.records());
    let (a, b) = (&clean[10], &clean[20]);
    // Invalid rzCOBS inserted before frames 10 and 20.
    let garbage = [0x01, 0x00];
    let (a_at, b_at) = (a.offset as usize, b.offset as usize);
    let corrupted = [
        &stream[..a_at],
        &garbage,
        &stream[a_at..b_at],
        &garbage,
        &stream[b_at..],
    ]
    .concat();
    let output = decode_cli(elf, &corrupted);
    assert_eq!(output.status.code(), Some(1));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(parse_malformed(&lines[0]).0, a.offset);
    assert_eq!(
        parse_malformed(&lines[1]).0,
        b.offset + garbage.len() as u64
    );
    assert_eq!(
        lines[0],
        format!(
            "malformed defmt frame at byte {0}: 1-byte frame not valid rzCOBS; \
             decoding resumes after its 0x00 separator at byte {1}",
            a.offset,
            a.offset + 1
        )
    );
    // Every real frame is still on stdout.
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        common::expected_random()
    );
}

#[test]
fn a_stream_cut_inside_a_frame_exits_1() {
    let Some(capture) = common::capture(Variant::Rzcobs, "panic") else {
        return;
    };
    let stream = &capture.stream;
    let output = decode_cli(&capture.elf, &stream[..stream.len() - 2]);
    assert_eq!(output.status.code(), Some(1));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (_, why) = parse_malformed(&lines[0]);
    assert!(why.ends_with("the stream ended inside this frame"), "{why}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "INFO  about to panic\n"
    );
}

#[test]
fn a_malformed_raw_frame_stops_the_cli_but_stdin_is_drained() {
    let Some(capture) = common::capture(Variant::Raw, "random") else {
        return;
    };
    let at = capture.records()[3].offset as usize;
    let mut stream = capture.stream.clone();
    stream[at..at + 2].copy_from_slice(&[0xff, 0xff]);
    let output = decode_cli(&capture.elf, &stream);
    assert_eq!(output.status.code(), Some(1));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (offset, why) = parse_malformed(&lines[0]);
    assert_eq!(offset, at as u64);
    assert!(why.contains("format string index 0xffff"), "{why}");
    assert!(why.ends_with("so nothing after it is decoded"), "{why}");
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 3);
}

#[test]
fn records_are_written_as_they_arrive() {
    let Some(capture) = common::capture(Variant::Rzcobs, "transcript") else {
        return;
    };
    let (elf, stream) = (&capture.elf, &capture.stream);
    let first = &capture.records()[0];
    let split = (first.offset as usize) + first.len + 1;

    let mut child = Command::new(BIN)
        .arg(elf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(&stream[..split]).unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        tx.send(line).unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        rest
    });
    // stdin is still open: the first record must come out anyway.
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the first record is printed before stdin is closed");
    assert_eq!(line, format!("{}\n", first.text));
    stdin.write_all(&stream[split..]).unwrap();
    drop(stdin);
    let rest = reader.join().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(line + &rest, common::expected_transcript("transcript"));
}

#[test]
fn check_tells_defmt_firmware_from_other_elfs() {
    let Some(fixture) = fixture() else {
        return;
    };
    let check = |path: &Path| cli(&["--check".as_ref(), path.as_os_str()], b"");
    let defmt = check(&fixture.elf(Variant::Rzcobs, "random"));
    assert_eq!(defmt.status.code(), Some(0));
    assert!(defmt.stdout.is_empty() && defmt.stderr.is_empty());
    let raw = check(&fixture.elf(Variant::Raw, "random"));
    assert_eq!(raw.status.code(), Some(0));

    let host = std::env::current_exe().unwrap();
    let plain = check(&host);
    assert_eq!(plain.status.code(), Some(3), "an ELF without .defmt");
    assert!(plain.stdout.is_empty());

    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let not_elf = check(&manifest);
    assert_eq!(not_elf.status.code(), Some(2));
    let message = String::from_utf8(not_elf.stderr).unwrap();
    assert!(message.starts_with(&format!("xtask-defmt: {}: not an ELF", manifest.display())));
}

#[test]
fn elf_and_usage_errors_exit_2_naming_the_file_and_the_fix() {
    let Some(fixture) = fixture() else {
        return;
    };
    let mut elf = fixture.elf_bytes(Variant::Rzcobs, "panic");
    let symbol = b"_defmt_version_ = 4";
    let at = elf.windows(symbol.len()).position(|w| w == symbol).unwrap();
    elf[at + symbol.len() - 1] = b'9';
    let patched = Path::new(env!("CARGO_TARGET_TMPDIR")).join("defmt-version-9.elf");
    std::fs::write(&patched, &elf).unwrap();
    for args in [vec!["--check"], vec![]] {
        let mut args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        args.push(patched.as_os_str());
        let output = cli(&args, b"");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let lines = stderr_lines(&output);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with(&format!("xtask-defmt: {}: ", patched.display())));
        assert!(lines[0].contains("version mismatch") && lines[0].contains("fix: "));
    }

    let host = std::env::current_exe().unwrap();
    let output = decode_cli(&host, b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_lines(&output)[0].contains("no .defmt section"));

    for args in [vec![], vec!["--bogus"], vec!["a", "b"]] {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        let output = cli(&args, b"");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8(output.stderr)
                .unwrap()
                .contains("usage: xtask-defmt")
        );
    }
}
