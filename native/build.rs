//! Embeds the CUDA fatbin that `cargo xtask native` builds with nvcc. xtask
//! passes its path in `NATIVE_CUDA_FATBIN`; without it the CUDA backend is
//! compiled without a kernel image and probes as `NotBuilt`. No CUDA tool or
//! library is used here, so the crate builds on any host.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rustc-check-cfg=cfg(native_cuda_fatbin)");
    println!("cargo:rerun-if-env-changed=NATIVE_CUDA_FATBIN");
    let Some(src) = std::env::var_os("NATIVE_CUDA_FATBIN").filter(|s| !s.is_empty()) else {
        return;
    };
    let src = PathBuf::from(src);
    println!("cargo:rerun-if-changed={}", src.display());
    let out =
        Path::new(&std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("fir.fatbin");
    if let Err(err) = std::fs::copy(&src, &out) {
        panic!(
            "NATIVE_CUDA_FATBIN={} cannot be read ({err}); run `cargo xtask native`, which builds it",
            src.display()
        );
    }
    println!("cargo:rustc-cfg=native_cuda_fatbin");
}
