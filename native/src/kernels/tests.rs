//! The GPU arithmetic without a GPU: `kernels/fir_q15.h` compiled for the
//! host by the system C compiler, as C11 and as C++14, with AddressSanitizer
//! and UBSan where they link, driven by `kernels/host_grid.c` over emulated
//! grids of threads and compared bit for bit with `dsp::fir_q15`. Also
//! checks that both kernels take their arithmetic from the header and that
//! the MSL the Metal backend embeds holds the header's text.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use dsp::testvec::Xorshift32;

use super::MSL;
use crate::conformance;

const HEADER: &str = include_str!("../../kernels/fir_q15.h");
const CUDA: &str = include_str!("../../cuda/fir.cu");
const METAL: &str = include_str!("../../metal/fir.metal");

/// One batch for the header, with the grid that filters it.
struct Case {
    what: String,
    taps: Vec<i16>,
    frame_len: usize,
    input: Vec<i16>,
    /// Threads in the grid: the kernels' grid-stride step.
    stride: u64,
}

impl Case {
    fn new(what: impl Into<String>, taps: Vec<i16>, frame_len: usize, input: Vec<i16>) -> Self {
        Self {
            what: what.into(),
            taps,
            frame_len,
            input,
            stride: 1,
        }
    }

    /// The record `host_grid` reads (see kernels/host_grid.c).
    fn record(&self) -> Vec<u8> {
        let mut r = Vec::with_capacity(24 + 2 * (self.taps.len() + self.input.len()));
        r.extend((self.taps.len() as u32).to_ne_bytes());
        r.extend((self.frame_len as u32).to_ne_bytes());
        r.extend((self.input.len() as u64).to_ne_bytes());
        r.extend(self.stride.to_ne_bytes());
        for s in self.taps.iter().chain(&self.input) {
            r.extend(s.to_ne_bytes());
        }
        r
    }

    fn reference(&self) -> Vec<i16> {
        let mut out = vec![0; self.input.len()];
        dsp::fir_q15(&self.taps, self.frame_len, &self.input, &mut out).expect("valid test shape");
        out
    }
}

/// Grids as the backends launch them and as they stress the grid-stride
/// loop: one thread; strides that are prime, or one block of 256; the CUDA
/// backend's grid on a 132-SM GPU (32 blocks of 256 per SM at most); one
/// thread per sample, as Metal dispatches up to 2^24; more threads than
/// samples.
fn strides(total: usize) -> [u64; 6] {
    let total = total as u64;
    let cuda = total.div_ceil(256).min(132 * 32) * 256;
    [1, 7, 256, cuda, total, total + 5]
}

/// The conformance vectors (see `conformance::specs`), each on every grid of
/// [`strides`].
fn conformance_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for spec in conformance::specs() {
        let (taps, input, _) = conformance::reference(&spec);
        for stride in strides(input.len()) {
            cases.push(Case {
                stride,
                ..Case::new(
                    format!("{spec:?} on {stride} threads"),
                    taps.clone(),
                    spec.frame_len,
                    input.clone(),
                )
            });
        }
    }
    cases
}

/// Constant batches at the edges of the arithmetic: (what, tap, taps,
/// frame length, sample, samples).
#[rustfmt::skip]
const EDGES: [(&str, i16, usize, usize, i16, usize); 4] = [
    // acc = 256 × 2^30 = 2^38, the largest sum: it needs all 64 bits.
    ("max taps, +saturation", i16::MIN, dsp::MAX_TAPS, 300, i16::MIN, 600),
    ("max taps, -saturation", i16::MAX, dsp::MAX_TAPS, 300, i16::MIN, 600),
    ("-1.0 × -1.0 gives +32767", i16::MIN, 1, 4, i16::MIN, 8),
    // No output sample has all 256 terms.
    ("taps longer than the frame", i16::MAX, dsp::MAX_TAPS, 100, i16::MAX, 400),
];

/// [`EDGES`] and rounding ties, on one thread per sample.
fn edge_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = EDGES
        .iter()
        .map(|&(what, tap, ntaps, frame_len, sample, samples)| {
            Case::new(what, vec![tap; ntaps], frame_len, vec![sample; samples])
        })
        .collect();
    // t × 2^14 with t odd ends in a half LSB: ties, rounded toward +∞.
    let mut rng = Xorshift32::new(0x71E5);
    let odd = [1, -1, 3, -3, i16::MAX, -i16::MAX]
        .into_iter()
        .chain((0..26).map(|_| rng.next_q15() | 1));
    for t in odd {
        let input = vec![1 << 14, -(1 << 14), 1 << 14, 0];
        cases.push(Case::new(format!("tie, tap {t}"), vec![t], 2, input));
    }
    for c in &mut cases {
        c.stride = c.input.len() as u64;
    }
    cases
}

/// Random shapes, taps and full-scale signals on random grids.
fn random_cases() -> Vec<Case> {
    let mut rng = Xorshift32::new(0xF1A5_C0DE);
    let mut below = |n: u32| 1 + (rng.next_u32() % n) as usize;
    let shapes: Vec<(usize, usize, usize)> = (0..48)
        .map(|_| (below(dsp::MAX_TAPS as u32), below(700), below(4)))
        .collect();
    shapes
        .into_iter()
        .map(|(ntaps, frame_len, frames)| {
            let taps = (0..ntaps).map(|_| rng.next_q15()).collect();
            let input = (0..frame_len * frames).map(|_| rng.next_q15()).collect();
            let total = (frame_len * frames) as u32;
            Case {
                stride: u64::from(1 + rng.next_u32() % (2 * total)),
                ..Case::new(
                    format!("random {ntaps} taps, {frames} × {frame_len}"),
                    taps,
                    frame_len,
                    input,
                )
            }
        })
        .collect()
}

/// `host_grid` built for one host dialect.
struct Harness {
    dialect: &'static str,
    exe: PathBuf,
}

/// The dialects `host_grid.c` and the header are compiled as.
const DIALECTS: [(&str, &[&str]); 2] = [
    ("C11", &["-x", "c", "-std=c11"]),
    ("C++14", &["-x", "c++", "-std=c++14"]),
];

/// Sanitizers, where the compiler has their run-time libraries: an
/// out-of-bounds read or write, or signed overflow, fails the run.
const SANITIZE: [&str; 2] = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"];

/// Builds `host_grid` in `dir` for each of [`DIALECTS`] with the system C
/// compiler, with [`SANITIZE`] where it links. `None` when there is no `cc`:
/// a skip here, a failure under CI, where this test is the only check of the
/// GPU arithmetic.
///
/// Panics: the compiler rejects the header or the harness.
fn build_harnesses(dir: &Path) -> Option<Vec<Harness>> {
    let kernels = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let mut harnesses = Vec::new();
    for (dialect, flags) in DIALECTS {
        let exe = dir.join(format!("host_grid_{}", harnesses.len()));
        let cc = |extra: &[&str]| {
            Command::new("cc")
                .args(flags)
                .args(["-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"])
                .args(extra)
                .arg("-I")
                .arg(&kernels)
                .arg(kernels.join("host_grid.c"))
                .arg("-o")
                .arg(&exe)
                .output()
        };
        let out = match cc(&SANITIZE) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let why = "no C compiler (`cc`) to build kernels/fir_q15.h for the host";
                assert!(std::env::var_os("CI").is_none(), "{why}; CI needs one");
                eprintln!("skipped: {why}");
                return None;
            }
            Ok(o) if !o.status.success() => {
                eprintln!(
                    "note: host_grid ({dialect}) is built without sanitizers: cc refused them"
                );
                cc(&[])
            }
            other => other,
        };
        let out = out.unwrap_or_else(|e| panic!("cannot run cc: {e}"));
        assert!(
            out.status.success(),
            "cc ({dialect}) rejects kernels/fir_q15.h or host_grid.c:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        harnesses.push(Harness { dialect, exe });
    }
    Some(harnesses)
}

impl Harness {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.exe);
        // LeakSanitizer needs ptrace, which containers often deny.
        cmd.env("ASAN_OPTIONS", "detect_leaks=0");
        cmd
    }

    /// Every case's output, in order.
    fn filter(&self, dir: &Path, cases: &[Case]) -> Vec<Vec<i16>> {
        let (input, output) = (dir.join("cases.bin"), dir.join("out.bin"));
        std::fs::write(
            &input,
            cases.iter().flat_map(Case::record).collect::<Vec<_>>(),
        )
        .expect("write cases.bin");
        let out = self
            .command()
            .arg(&input)
            .arg(&output)
            .output()
            .expect("run host_grid");
        assert!(
            out.status.success(),
            "host_grid ({}) failed with {}:\n{}",
            self.dialect,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&output).expect("read out.bin");
        let mut samples = bytes
            .chunks_exact(2)
            .map(|b| i16::from_ne_bytes([b[0], b[1]]));
        cases
            .iter()
            .map(|c| samples.by_ref().take(c.input.len()).collect())
            .collect()
    }
}

#[test]
fn header_matches_dsp_bit_for_bit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(harnesses) = build_harnesses(dir.path()) else {
        return;
    };
    let mut cases = conformance_cases();
    cases.extend(edge_cases());
    cases.extend(random_cases());
    let samples: usize = cases.iter().map(|c| c.input.len()).sum();
    for harness in &harnesses {
        let max_taps = harness
            .command()
            .arg("--max-taps")
            .output()
            .expect("run host_grid");
        let max_taps = String::from_utf8_lossy(&max_taps.stdout);
        assert_eq!(
            max_taps.trim(),
            dsp::MAX_TAPS.to_string(),
            "FIR_Q15_MAX_TAPS"
        );
        let outputs = harness.filter(dir.path(), &cases);
        assert_eq!(outputs.len(), cases.len());
        for (case, got) in cases.iter().zip(&outputs) {
            let expected = case.reference();
            assert_eq!(
                got.len(),
                expected.len(),
                "{}: {}",
                harness.dialect,
                case.what
            );
            if let Some(at) = got.iter().zip(&expected).position(|(g, e)| g != e) {
                panic!(
                    "{}: {}: sample {at} (frame {}, n {}) is {}, dsp::fir_q15 gives {}",
                    harness.dialect,
                    case.what,
                    at / case.frame_len,
                    at % case.frame_len,
                    got[at],
                    expected[at]
                );
            }
        }
        eprintln!(
            "fir_q15.h ({}): {} cases, {samples} samples bit-exact",
            harness.dialect,
            cases.len()
        );
    }
}

/// The ties of [`edge_cases`] are ties: ±t/2 rounds toward +∞ in `dsp`.
#[test]
fn tie_cases_round_up() {
    let case = Case::new("tie", vec![3], 2, vec![1 << 14, -(1 << 14), 0, 0]);
    assert_eq!(case.reference(), [2, -1, 0, 0]);
}

#[test]
fn kernels_take_their_arithmetic_from_the_header() {
    assert!(CUDA.contains("#include \"../kernels/fir_q15.h\""));
    assert!(METAL.contains("#include \"../kernels/fir_q15.h\""));
    for (name, text) in [("cuda/fir.cu", CUDA), ("metal/fir.metal", METAL)] {
        assert!(text.contains("fir_q15_grid_stride("), "{name}");
        for own in [">>", "32767", "acc"] {
            assert!(
                !text.contains(own),
                "{name} has arithmetic of its own: `{own}`"
            );
        }
    }
}

#[test]
fn embedded_msl_holds_the_header() {
    assert!(MSL.contains(HEADER), "the header's text is not inlined");
    assert!(MSL.contains("#include <metal_stdlib>"));
    assert!(MSL.contains("kernel void fir_q15("));
    let quoted: Vec<&str> = MSL
        .lines()
        .filter(|l| l.trim_start().starts_with("#include \""))
        .collect();
    assert!(
        quoted.is_empty(),
        "includes left for Metal to resolve: {quoted:?}"
    );
    // The line after the header is numbered as in metal/fir.metal.
    let after = METAL
        .lines()
        .position(|l| l.starts_with("#include \""))
        .expect("the include")
        + 2;
    assert!(MSL.contains(&format!("#line {after} \"metal/fir.metal\"")));
}
