//! Probes each backend named on the command line (default: all) and, where
//! it is `Ready`, checks it bit for bit against the CPU reference. Prints one
//! line per backend, which `cargo xtask native` reads:
//!
//! ```text
//! selftest <backend> <probe status> <pass|fail|not-run> <detail>
//! ```
//!
//! Exits 1 when a backend that ran did not match, 2 on bad arguments.

use native::{BackendKind, Context, Probe, conformance};

fn main() -> std::process::ExitCode {
    let mut backends = Vec::new();
    for arg in std::env::args().skip(1) {
        match BackendKind::from_name(&arg) {
            Some(b) => backends.push(b),
            None => {
                eprintln!("selftest: unknown backend `{arg}`; expected cpu, cuda or metal");
                return std::process::ExitCode::from(2);
            }
        }
    }
    if backends.is_empty() {
        backends = BackendKind::ALL.to_vec();
    }
    let mut failed = false;
    for backend in backends {
        let report = native::probe(backend);
        let status = report.status.name();
        if report.status != Probe::Ready {
            println!("selftest {backend} {status} not-run {}", report.detail);
            continue;
        }
        let outcome = Context::new(backend)
            .map_err(|e| e.to_string())
            .and_then(|mut ctx| conformance::check(&mut ctx).map(|s| (s, ctx.device_name())));
        match outcome {
            Ok((s, device)) => println!(
                "selftest {backend} {status} pass {} samples in {} batches bit-exact, \
                 firmware vector digest 0x{:08x}, on {device}",
                s.samples, s.batches, s.firmware_digest
            ),
            Err(e) => {
                failed = true;
                println!("selftest {backend} {status} fail {e}");
            }
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
