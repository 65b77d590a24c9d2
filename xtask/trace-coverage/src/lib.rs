//! Line coverage of firmware without instrumentation: QEMU logs which guest
//! code it translated and ran, and the image's DWARF line table maps those
//! addresses to source lines.
//!
//! This crate is kept out of xtask's own build (DWARF parsing is heavy):
//! xtask builds it with `cargo build -p xtask-coverage` the first time a run
//! needs it and runs the `xtask-coverage` binary as a child process. The
//! library is the same computation, for tests and other hosts.
//!
//! # Tracing a run
//!
//! Add to the QEMU command line (QEMU 7.2 and 10.0 alike):
//!
//! - `-d in_asm -D <log>`: QEMU lists every block it translates, with each
//!   instruction's address and encoding. Cheap: the log grows with the code
//!   that ran, not with run time. Counts are translations (1 for most code).
//! - `-d in_asm,exec,nochain -D <log>`: also one line per block execution,
//!   with chaining off so that none is missed, for execution counts. Costly:
//!   the log grows with run time (hundreds of MB, many seconds, for an RTOS
//!   image that spins in an idle loop), so it is for short runs.
//!
//! `-dfilter <ranges>` limits both to guest address ranges.
//!
//! # What counts as executed
//!
//! QEMU translates a block when the guest is about to run its first
//! instruction, so every translated block was entered. A block runs straight
//! through, from its first instruction to the branch or exception that ends
//! it, so an instruction counts as **executed** when a translated block
//! lists it. The exceptions, which this counts as executed: instructions
//! after one that faults in the middle of a block; and Thumb instructions in
//! an `IT` block whose condition failed (a predicated instruction is
//! translated as part of its block; line coverage of `if` bodies compiled
//! without branches says "hit" for both arms).
//!
//! An instruction's **count** is, summed over the translated blocks that
//! list it, the block's `exec` lines, or 1 for a block with none (no `exec`
//! logging, or a chained block when `nochain` is missing).
//!
//! Before anything is counted, each executed instruction's encoding in the
//! log is compared with the image's bytes at that address (where the image
//! has any): a log from another image is an error, not a wrong report.
//!
//! # From addresses to lines
//!
//! Every row of the DWARF line program covers an address range (to the next
//! row) and names a file and a line. A line is **instrumented** (lcov `DA`
//! line, counted in `LF`) when any row maps to it, and **hit** when an
//! executed instruction overlaps one of its rows' ranges; its count is the
//! largest count of those instructions. Rows of line 0 and sequences outside
//! executable sections (code the linker removed) are ignored. Runs and
//! images are merged by report path: the DWARF path with the longest
//! matching strip prefix removed and `.`/`..` folded, so builds from
//! different directories or with `--remap-path-prefix` meet on the same
//! keys; the counts of a line add up across runs.
//!
//! # CLI contract (`xtask-coverage`)
//!
//! ```text
//! xtask-coverage (--elf <ELF> --log <LOG>...)... [--strip-prefix <PREFIX>]...
//!                [--source-root <DIR>]... [--lcov <FILE>] [--markdown <FILE>]
//!                [--test-name <NAME>]
//! ```
//!
//! - `--elf <ELF>`: an image with DWARF line information; the `--log`s that
//!   follow it, up to the next `--elf`, are QEMU logs of runs of it. Give
//!   `--elf` again for each image (each board, each test binary); every
//!   `--elf` needs at least one `--log`.
//! - `--log <LOG>`: a log written with `-d in_asm[,exec,nochain] -D <LOG>`.
//! - `--strip-prefix <PREFIX>` (repeatable): removed from the start of
//!   source paths, whole components only, longest match first, e.g. the
//!   workspace root for builds without remapping, or the `TO` of
//!   `--remap-path-prefix FROM=TO`. `--remap-path-prefix <root>=.` needs
//!   none: `./a/b.rs` becomes `a/b.rs` anyway.
//! - `--source-root <DIR>` (repeatable): report only files under `<DIR>`
//!   (a report path prefix, whole components), e.g. `firmware/kernel/src`.
//! - `--lcov <FILE>`, `--markdown <FILE>`: write the lcov tracefile
//!   ([`Coverage::to_lcov`]) and the per-file table
//!   ([`Coverage::to_markdown`]), each atomically (temporary file, rename),
//!   creating missing directories.
//! - `--test-name <NAME>`: the lcov `TN:` value (default: empty).
//!
//! stdout gets exactly one line on success,
//! `coverage: <hit>/<found> lines (<percent> %) in <files> files`, with
//! `<percent>` to one decimal, and nothing otherwise. stderr gets warnings,
//! `xtask-coverage: warning: <LOG>: …` (counts that are lower bounds,
//! executions of untranslated blocks, a log cut inside its last line as
//! when QEMU is killed at a timeout, whose partial line is ignored), and one
//! error line:
//! `xtask-coverage: <FILE>: …` for unusable input,
//! `xtask-coverage: usage: …` (followed by the usage text) for bad
//! arguments, `xtask-coverage: no instrumented line…` or
//! `xtask-coverage: no line ran…` for an empty result.
//!
//! Exit status: **0** when the report was computed and written; **1** when
//! it would be empty: no instrumented line under the source roots, or no
//! line hit at all (a run that tested nothing is not a pass; nothing is
//! written); **2** for usage errors and unusable input: an unreadable file,
//! an ELF without DWARF line information, a log with no `in_asm` blocks or
//! an unparsable log line (named by number), or a log whose instructions do
//! not match its ELF.

mod error;
mod image;
mod paths;
mod report;
mod trace;

pub use error::Error;
pub use image::{Image, Row};
pub use paths::SourcePaths;
pub use report::{Counts, Coverage, write_atomic};
pub use trace::{Executed, Insn, parse_qemu_log};
