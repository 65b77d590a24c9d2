//! The CUDA probe against this machine and against a stub driver.

use super::{DRIVER_LIBRARY, status_for_code};
use crate::{BackendKind, Context, Error, Probe, conformance, cuda_fatbin_embedded, probe};

/// Whether the CUDA driver library can be opened, found without cudarc.
fn driver_library_opens() -> bool {
    // SAFETY: loading the vendor library runs only its own initialisers.
    unsafe { libloading::Library::new(DRIVER_LIBRARY) }.is_ok()
}

/// The CUDA probe answers from this machine's real state: without an
/// embedded fatbin it is `NotBuilt`; without a driver `NoDriver`; with both
/// any device status, and when `Ready` the GPU output must equal the CPU's.
#[test]
fn cuda_probe_reflects_this_machine() {
    let report = probe(BackendKind::Cuda);
    let opened = Context::new(BackendKind::Cuda);
    if !cuda_fatbin_embedded() {
        assert_eq!(report.status, Probe::NotBuilt, "{report}");
    } else if !driver_library_opens() {
        assert_eq!(report.status, Probe::NoDriver, "{report}");
        assert!(report.detail.contains("libcuda.so.1"), "{report}");
    } else {
        assert_ne!(report.status, Probe::NotBuilt, "{report}");
        assert_ne!(report.status, Probe::NoDriver, "{report}");
    }
    match opened {
        Ok(mut ctx) => {
            assert_eq!(report.status, Probe::Ready);
            let summary = conformance::check(&mut ctx).expect("CUDA output equals the CPU's");
            eprintln!(
                "cuda: {} bit-exact on {}",
                summary.samples,
                ctx.device_name()
            );
        }
        Err(Error::Unavailable(r)) => {
            assert_eq!(r, report);
            eprintln!("skipped: cuda conformance: {r}");
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[test]
fn cuda_return_codes_map_to_statuses() {
    // "No usable device": CUDA_ERROR_INSUFFICIENT_DRIVER, NO_DEVICE,
    // SYSTEM_DRIVER_MISMATCH, COMPAT_NOT_SUPPORTED_ON_DEVICE.
    for code in [35, 100, 803, 804] {
        assert_eq!(status_for_code(code), Probe::NoDevice, "{code}");
    }
    assert_eq!(status_for_code(222), Probe::DriverTooOld);
    for code in [200, 209, 218, 221] {
        assert_eq!(status_for_code(code), Probe::NoKernelImage, "{code}");
    }
}

/// The CUDA driver steps of the probe against a stand-in `libcuda.so.1`,
/// built here with the system C compiler, whose `cuInit`,
/// `cuDriverGetVersion` and `cuDeviceGetCount` return what the environment
/// says. Each case runs `stub_child` in a child process, because the driver
/// library is opened once per process and found through `LD_LIBRARY_PATH`.
#[cfg(target_os = "linux")]
mod stub_driver {
    use std::path::Path;
    use std::process::Command;

    use crate::Probe;

    const STUB: &str = r#"
#include <stdlib.h>
static int env(const char *name, int fallback) {
    const char *v = getenv(name);
    return v ? atoi(v) : fallback;
}
int cuInit(unsigned int flags) { (void)flags; return env("STUB_CUINIT", 0); }
int cuDriverGetVersion(int *v) { *v = env("STUB_VERSION", 13000); return 0; }
int cuDeviceGetCount(int *n) { *n = env("STUB_DEVICES", 1); return 0; }
"#;

    #[test]
    #[ignore = "run by `statuses_from_a_stub_driver` in a child process"]
    fn stub_child() {
        let status = crate::cuda::driver().map_or_else(|r| r.status, |_| Probe::Ready);
        println!("STUB-STATUS {}", status.name());
    }

    fn child_status(dir: &Path, env: &[(&str, &str)]) -> String {
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "cuda::tests::stub_driver::stub_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("LD_LIBRARY_PATH", dir)
            .envs(env.iter().copied())
            .output()
            .expect("run the test binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .find_map(|l| l.split_once("STUB-STATUS ").map(|(_, s)| s.trim()))
            .unwrap_or_else(|| {
                panic!(
                    "no status from the child: {stdout}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
            .to_string()
    }

    #[test]
    fn statuses_from_a_stub_driver() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        let src = dir.join("stub.c");
        std::fs::write(&src, STUB).expect("write stub.c");
        let lib = dir.join("libcuda.so.1");
        let built = Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&lib)
            .arg(&src)
            .status();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("skipped: no C compiler (`cc`) to build a stub libcuda.so.1");
            return;
        }
        // cudarc tries `libcuda.so` before `libcuda.so.1`; shadow both.
        std::fs::copy(&lib, dir.join("libcuda.so")).expect("copy stub");
        // 35 is not in this list: it is the runtime API's
        // cudaErrorInsufficientDriver, which the driver API never returns
        // (and cudarc's `CUresult` enum cannot hold).
        let cases: [(&[(&str, &str)], Probe); 6] = [
            (&[], Probe::Ready),
            (&[("STUB_CUINIT", "100")], Probe::NoDevice),
            (&[("STUB_CUINIT", "803")], Probe::NoDevice),
            (&[("STUB_CUINIT", "804")], Probe::NoDevice),
            (&[("STUB_VERSION", "12080")], Probe::DriverTooOld),
            (&[("STUB_DEVICES", "0")], Probe::NoDevice),
        ];
        for (env, expected) in cases {
            assert_eq!(child_status(dir, env), expected.name(), "{env:?}");
        }
    }
}
