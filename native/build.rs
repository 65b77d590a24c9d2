//! Prepares the two GPU kernels for embedding. No CUDA or Metal tool is run
//! here, so the crate builds on any host.
//!
//! - CUDA: copies the fatbin that `cargo xtask native` builds with nvcc.
//!   xtask passes its path in `NATIVE_CUDA_FATBIN`; without it the CUDA
//!   backend is compiled without a kernel image and probes as `NotBuilt`.
//! - Metal: `newLibraryWithSource` compiles a string and resolves no
//!   includes, so each quoted `#include` of `metal/fir.metal` is replaced by
//!   the file it names (`kernels/fir_q15.h`), framed by `#line` directives so
//!   that compiler messages name the original file and line.

use std::path::{Path, PathBuf};

/// The MSL kernel, relative to the package root.
const MSL_SOURCE: &str = "metal/fir.metal";

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    embed_fatbin(&out_dir);
    inline_msl(&out_dir);
}

fn embed_fatbin(out_dir: &Path) {
    println!("cargo:rustc-check-cfg=cfg(native_cuda_fatbin)");
    println!("cargo:rerun-if-env-changed=NATIVE_CUDA_FATBIN");
    let Some(src) = std::env::var_os("NATIVE_CUDA_FATBIN").filter(|s| !s.is_empty()) else {
        return;
    };
    let src = PathBuf::from(src);
    println!("cargo:rerun-if-changed={}", src.display());
    if let Err(err) = std::fs::copy(&src, out_dir.join("fir.fatbin")) {
        panic!(
            "NATIVE_CUDA_FATBIN={} cannot be read ({err}); run `cargo xtask native`, which builds it",
            src.display()
        );
    }
    println!("cargo:rustc-cfg=native_cuda_fatbin");
}

/// Writes `$OUT_DIR/fir.metal`: [`MSL_SOURCE`] with its quoted includes
/// (paths relative to the including file, one level deep) inlined.
fn inline_msl(out_dir: &Path) {
    let source = Path::new(MSL_SOURCE);
    let text = read(source);
    let mut inlined = String::with_capacity(2 * text.len());
    for (index, line) in text.lines().enumerate() {
        let Some(name) = quoted_include(line) else {
            inlined.push_str(line);
            inlined.push('\n');
            continue;
        };
        let header = source.parent().unwrap_or(Path::new("")).join(name);
        let body = read(&header);
        inlined.push_str(&format!("#line 1 \"{name}\"\n"));
        inlined.push_str(&body);
        if !body.ends_with('\n') {
            inlined.push('\n');
        }
        inlined.push_str(&format!("#line {} \"{MSL_SOURCE}\"\n", index + 2));
    }
    let out = out_dir.join("fir.metal");
    if let Err(err) = std::fs::write(&out, inlined) {
        panic!("cannot write {} ({err})", out.display());
    }
}

/// `name` of a line `#include "name"`.
fn quoted_include(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start();
    let rest = rest.strip_prefix("include")?.trim();
    rest.strip_prefix('"')?.strip_suffix('"')
}

fn read(path: &Path) -> String {
    println!("cargo:rerun-if-changed={}", path.display());
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read native/{} ({err})", path.display()))
}
