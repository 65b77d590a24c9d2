//! Shared by the test binaries: builds the test firmware (`tests/firmware`)
//! once per binary, boots its images in QEMU and captures their raw stdout,
//! which is the defmt stream (defmt-semihosting writes to the `:tt` stdout
//! handle, which QEMU passes to its own stdout).
#![allow(dead_code)] // each test binary uses its own subset

pub use defmt_plan as plan;

use std::{
    env,
    ffi::OsString,
    fs,
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    thread,
    time::Duration,
};

use wait_timeout::ChildExt;
use xtask_defmt::{Decoder, FrameError, Record};

pub const QEMU: &str = "qemu-system-arm";
pub const TRIPLE: &str = "thumbv7m-none-eabi";
/// The images whose transcript is checked in as `tests/expected/<bin>.out`.
pub const TRANSCRIPTS: [&str; 3] = ["transcript", "panic", "core_panic"];
/// Exit status of a fixture image that panicked (`defmt_fixture::PANIC_EXIT`).
pub const PANIC_EXIT: i32 = 101;
const BINS: [&str; 4] = ["transcript", "panic", "core_panic", "random"];
const TIMEOUT: Duration = Duration::from_secs(30);

/// The defmt frame encodings the firmware is built with.
#[derive(Clone, Copy, Debug)]
pub enum Variant {
    Rzcobs,
    Raw,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Rzcobs => "rzcobs",
            Variant::Raw => "raw",
        }
    }

    fn features(self) -> &'static [&'static str] {
        match self {
            Variant::Rzcobs => &[],
            Variant::Raw => &["--features", "raw"],
        }
    }
}

/// The built images: `<dir>/<variant>/<bin>`.
pub struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    pub fn elf(&self, variant: Variant, bin: &str) -> PathBuf {
        self.dir.join(variant.name()).join(bin)
    }

    pub fn elf_bytes(&self, variant: Variant, bin: &str) -> Vec<u8> {
        let path = self.elf(variant, bin);
        fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// Builds the fixture (both encodings) on first use. `None`, after printing
/// `skipped: …`, when QEMU is not installed.
pub fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            if find_on_path(QEMU).is_none() {
                println!("skipped: {QEMU} not installed (`cargo xtask setup` installs it)");
                return None;
            }
            let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("defmt-fixture");
            let images = target.join("images");
            for variant in [Variant::Rzcobs, Variant::Raw] {
                build(variant, &target, &images.join(variant.name()));
            }
            Some(Fixture { dir: images })
        })
        .as_ref()
}

/// Builds every image of `variant` with cargo and copies them to `out`.
fn build(variant: Variant, target: &Path, out: &Path) {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/firmware");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let output = Command::new(cargo)
        .current_dir(&manifest_dir)
        .args([
            "build",
            "--release",
            "--locked",
            "--bins",
            "--target",
            TRIPLE,
        ])
        .args(variant.features())
        .env("CARGO_TARGET_DIR", target)
        .env("DEFMT_LOG", "trace")
        // Exactly these flags, whatever `.cargo/config.toml` above says.
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            "-Clink-arg=-Tlink.x\x1f-Clink-arg=-Tdefmt.x",
        )
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "building the {} fixture failed:\n{}",
        variant.name(),
        String::from_utf8_lossy(&output.stderr)
    );
    fs::create_dir_all(out).unwrap();
    let built = target.join(TRIPLE).join("release");
    for bin in BINS {
        fs::copy(built.join(bin), out.join(bin)).unwrap();
    }
}

pub fn find_on_path(tool: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
}

/// A finished QEMU run: its stdout bytes and exit status.
pub struct Run {
    pub stdout: Vec<u8>,
    pub code: Option<i32>,
}

/// The QEMU command line that boots `elf` with semihosting on stdout.
pub fn qemu_command(elf: &Path) -> Command {
    let mut command = Command::new(QEMU);
    command
        .args(["-cpu", "cortex-m3", "-machine", "lm3s6965evb", "-nographic"])
        .args([
            "-monitor",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
        ])
        .arg("-kernel")
        .arg(elf);
    command
}

/// Boots `elf` and captures its stdout (the defmt stream) byte for byte.
pub fn run_qemu(elf: &Path) -> Run {
    let mut child = qemu_command(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start QEMU");
    let mut stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).map(|_| bytes)
    });
    let Some(status) = child.wait_timeout(TIMEOUT).unwrap() else {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("{} did not exit within {TIMEOUT:?}", elf.display());
    };
    Run {
        stdout: reader.join().unwrap().unwrap(),
        code: status.code(),
    }
}

/// A boot of one fixture image: its ELF and the defmt stream it printed.
pub struct Capture {
    pub elf: PathBuf,
    pub elf_bytes: Vec<u8>,
    pub stream: Vec<u8>,
}

impl Capture {
    /// The stream's records; panics on a malformed frame.
    pub fn records(&self) -> Vec<Record> {
        records(decode(&self.elf_bytes, &self.stream))
    }
}

/// The exit status the fixture image `bin` ends with.
pub fn exit_status(bin: &str) -> i32 {
    if bin == "random" { 0 } else { PANIC_EXIT }
}

/// Boots `bin` of `variant` and checks its exit status; `None` when the
/// fixture is skipped.
pub fn capture(variant: Variant, bin: &str) -> Option<Capture> {
    let fixture = fixture()?;
    let elf = fixture.elf(variant, bin);
    let run = run_qemu(&elf);
    assert_eq!(run.code, Some(exit_status(bin)), "exit status of {bin}");
    assert!(!run.stdout.is_empty(), "{bin} printed nothing");
    Some(Capture {
        elf_bytes: fixture.elf_bytes(variant, bin),
        elf,
        stream: run.stdout,
    })
}

/// The records of `decoded`; panics on a malformed frame.
pub fn records(decoded: Vec<Result<Record, FrameError>>) -> Vec<Record> {
    decoded
        .into_iter()
        .map(|d| d.unwrap_or_else(|e| panic!("unexpected malformed frame: {e}")))
        .collect()
}

/// Decodes `stream` with `elf`'s table, fed in the chunks `sizes` yields
/// (cycled), then ends the stream.
pub fn decode_in_chunks(
    elf: &[u8],
    stream: &[u8],
    sizes: &mut dyn FnMut() -> usize,
) -> Vec<Result<Record, FrameError>> {
    let mut decoder = Decoder::from_elf(elf)
        .unwrap()
        .expect("ELF has a defmt table");
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(sizes().clamp(1, rest.len()));
        out.extend(decoder.feed(chunk));
        rest = tail;
    }
    out.extend(decoder.finish().map(Err));
    out
}

/// Decodes all of `stream` in one chunk.
pub fn decode(elf: &[u8], stream: &[u8]) -> Vec<Result<Record, FrameError>> {
    decode_in_chunks(elf, stream, &mut || usize::MAX)
}

/// The text of decoded records as the CLI prints it: each followed by `\n`.
/// Panics on a malformed frame.
pub fn transcript(decoded: &[Result<Record, FrameError>]) -> String {
    decoded
        .iter()
        .map(|d| match d {
            Ok(record) => format!("{}\n", record.text),
            Err(error) => panic!("unexpected malformed frame: {error}"),
        })
        .collect()
}

pub fn expected_transcript(bin: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(format!("{bin}.out"));
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the `random` image prints, regenerated from the plan it runs.
pub fn expected_random() -> String {
    plan::Transcript.to_string()
}
