//! `xtask-defmt`: decodes a defmt stream on stdin with an ELF's table. The
//! contract (arguments, output, exit status) is in the library's docs.

use std::{
    ffi::OsString,
    io::{self, Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use xtask_defmt::{Decoder, FrameError};

const USAGE: &str = "\
usage: xtask-defmt <ELF>          decode the defmt stream on stdin to stdout
       xtask-defmt --check <ELF>  exit 0 if <ELF> has a usable defmt table, 3 if none
       xtask-defmt --help | --version";

/// Exit statuses, as documented in the crate docs.
const EXIT_MALFORMED: u8 = 1;
const EXIT_ERROR: u8 = 2;
const EXIT_NO_DEFMT: u8 = 3;

enum Command {
    Decode(PathBuf),
    Check(PathBuf),
    Help,
    Version,
}

fn main() -> ExitCode {
    let command = match parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("xtask-defmt: {message}\n{USAGE}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = match command {
        Command::Help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("xtask-defmt {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Check(elf) => open(&elf).map(|decoder| match decoder {
            Some(_) => ExitCode::SUCCESS,
            None => ExitCode::from(EXIT_NO_DEFMT),
        }),
        Command::Decode(elf) => open(&elf).and_then(|decoder| match decoder {
            Some(decoder) => decode(decoder),
            None => Err(format!(
                "{}: no .defmt section, so the firmware does not log with defmt; \
                 fix: read its output as text (`--check` tells the two apart)",
                elf.display()
            )),
        }),
    };
    result.unwrap_or_else(|message| {
        eprintln!("xtask-defmt: {message}");
        ExitCode::from(EXIT_ERROR)
    })
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut check = false;
    let mut elf = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("check") => check = true,
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Value(path) if elf.is_none() => elf = Some(PathBuf::from(path)),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let elf = elf.ok_or("missing <ELF>")?;
    Ok(if check {
        Command::Check(elf)
    } else {
        Command::Decode(elf)
    })
}

fn open(elf: &Path) -> Result<Option<Decoder>, String> {
    let bytes = std::fs::read(elf).map_err(|e| format!("{}: cannot read: {e}", elf.display()))?;
    Decoder::from_elf(&bytes).map_err(|e| format!("{}: {e}", elf.display()))
}

/// Decodes stdin until EOF; see the crate docs for what goes where.
fn decode(mut decoder: Decoder) -> Result<ExitCode, String> {
    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut malformed = false;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading stdin: {e}")),
        };
        for decoded in decoder.feed(&buf[..n]) {
            match decoded {
                Ok(record) => writeln!(stdout, "{}", record.text)
                    .and_then(|()| stdout.flush())
                    .map_err(|e| format!("writing stdout: {e}"))?,
                Err(error) => malformed |= report(&error),
            }
        }
    }
    if let Some(error) = decoder.finish() {
        malformed |= report(&error);
    }
    Ok(if malformed {
        ExitCode::from(EXIT_MALFORMED)
    } else {
        ExitCode::SUCCESS
    })
}

fn report(error: &FrameError) -> bool {
    eprintln!("{error}");
    true
}
