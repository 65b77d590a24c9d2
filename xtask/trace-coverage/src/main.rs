//! `xtask-coverage`: line coverage from QEMU logs and DWARF. The contract
//! (arguments, output, exit status) is in the library's docs.

use std::{
    ffi::OsString,
    fs::File,
    io::BufReader,
    path::{Path, PathBuf},
    process::ExitCode,
};

use xtask_coverage::{Coverage, Image, SourcePaths, parse_qemu_log, write_atomic};

const USAGE: &str = "\
usage: xtask-coverage (--elf <ELF> --log <LOG>...)... [--strip-prefix <PREFIX>]...
                      [--source-root <DIR>]... [--lcov <FILE>] [--markdown <FILE>]
                      [--test-name <NAME>]";

const EXIT_EMPTY: u8 = 1;
const EXIT_ERROR: u8 = 2;

/// An image and the logs of its runs.
struct Runs {
    elf: PathBuf,
    logs: Vec<PathBuf>,
}

#[derive(Default)]
struct Options {
    runs: Vec<Runs>,
    strip: Vec<String>,
    roots: Vec<String>,
    lcov: Option<PathBuf>,
    markdown: Option<PathBuf>,
    test_name: String,
}

/// A failure, and the exit status it ends with.
struct Failure(u8, String);

fn main() -> ExitCode {
    let result = parse(std::env::args_os().skip(1)).and_then(|options| match options {
        Some(options) => run(&options),
        None => {
            println!("{USAGE}");
            Ok(())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            eprintln!("xtask-coverage: {message}");
            if code == EXIT_ERROR && message.starts_with("usage") {
                eprintln!("{USAGE}");
            }
            ExitCode::from(code)
        }
    }
}

/// The options, or `None` for `--help`.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Option<Options>, Failure> {
    use lexopt::prelude::*;
    let usage = |message: String| Failure(EXIT_ERROR, format!("usage: {message}"));
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options::default();
    while let Some(arg) = parser.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Long("elf") => options.runs.push(Runs {
                elf: value(&mut parser)?.into(),
                logs: Vec::new(),
            }),
            Long("log") => {
                let log = value(&mut parser)?.into();
                options
                    .runs
                    .last_mut()
                    .ok_or_else(|| usage("--log before any --elf".into()))?
                    .logs
                    .push(log);
            }
            Long("strip-prefix") => options.strip.push(string(value(&mut parser)?)?),
            Long("source-root") => options.roots.push(string(value(&mut parser)?)?),
            Long("lcov") => options.lcov = Some(value(&mut parser)?.into()),
            Long("markdown") => options.markdown = Some(value(&mut parser)?.into()),
            Long("test-name") => options.test_name = string(value(&mut parser)?)?,
            Short('h') | Long("help") => return Ok(None),
            other => return Err(usage(other.unexpected().to_string())),
        }
    }
    if options.runs.is_empty() {
        return Err(usage("no --elf given".into()));
    }
    if let Some(runs) = options.runs.iter().find(|r| r.logs.is_empty()) {
        return Err(usage(format!(
            "--elf {} has no --log after it",
            runs.elf.display()
        )));
    }
    Ok(Some(options))
}

fn value(parser: &mut lexopt::Parser) -> Result<OsString, Failure> {
    parser
        .value()
        .map_err(|e| Failure(EXIT_ERROR, format!("usage: {e}")))
}

/// Source paths are matched as text, so they must be UTF-8.
fn string(value: OsString) -> Result<String, Failure> {
    value
        .into_string()
        .map_err(|v| Failure(EXIT_ERROR, format!("usage: {v:?} is not UTF-8")))
}

fn run(options: &Options) -> Result<(), Failure> {
    let paths = SourcePaths::new(options.strip.clone(), options.roots.clone());
    let mut coverage = Coverage::default();
    for runs in &options.runs {
        let image = read_image(&runs.elf)?;
        for log in &runs.logs {
            let executed = File::open(log)
                .map_err(xtask_coverage::Error::from)
                .and_then(|file| parse_qemu_log(BufReader::new(file)))
                .and_then(|executed| image.check(&executed).map(|()| executed))
                .map_err(|e| error(log, e))?;
            warn(log, &executed);
            coverage.add_run(&image, &executed, &paths);
        }
    }
    let total = coverage.total();
    if total.found == 0 || total.hit == 0 {
        let what = if total.found == 0 {
            "no instrumented line"
        } else {
            "no line ran"
        };
        let roots = match options.roots.as_slice() {
            [] => String::new(),
            roots => format!(" under {}", roots.join(", ")),
        };
        return Err(Failure(
            EXIT_EMPTY,
            format!(
                "{what}{roots}: check --source-root, --strip-prefix and that each --log is a run of its --elf"
            ),
        ));
    }
    for (path, contents) in [
        (&options.lcov, coverage.to_lcov(&options.test_name)),
        (&options.markdown, coverage.to_markdown()),
    ] {
        if let Some(path) = path {
            write_atomic(path, contents.as_bytes()).map_err(|e| {
                Failure(EXIT_ERROR, format!("{}: cannot write: {e}", path.display()))
            })?;
        }
    }
    println!(
        "coverage: {}/{} lines ({:.1} %) in {} files",
        total.hit,
        total.found,
        total.percent(),
        coverage.files().len()
    );
    Ok(())
}

fn read_image(elf: &Path) -> Result<Image, Failure> {
    let bytes = std::fs::read(elf).map_err(|e| error(elf, e.into()))?;
    Image::from_elf(&bytes).map_err(|e| error(elf, e))
}

fn error(path: &Path, error: xtask_coverage::Error) -> Failure {
    Failure(EXIT_ERROR, format!("{}: {error}", path.display()))
}

fn warn(log: &Path, executed: &xtask_coverage::Executed) {
    let log = log.display();
    if executed.chained && executed.executions > 0 {
        eprintln!(
            "xtask-coverage: warning: {log}: blocks were chained, so counts are lower bounds \
             (add `nochain` to -d for exact counts)"
        );
    }
    if executed.truncated {
        eprintln!(
            "xtask-coverage: warning: {log}: the log ends inside a line (QEMU was killed \
             while writing it); that line is ignored"
        );
    }
    if executed.unmatched_executions > 0 {
        eprintln!(
            "xtask-coverage: warning: {log}: {} exec lines name blocks the log never translated \
             (is `in_asm` filtered differently?)",
            executed.unmatched_executions
        );
    }
}
