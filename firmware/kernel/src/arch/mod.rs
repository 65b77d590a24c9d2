//! The unsafe boundary of the kernel: the cells that hold shared kernel
//! state and task stacks, the ports that implement [`Port`](crate::Port)
//! for each CPU (context switch, timer, critical sections, semihosting
//! exit), the link-time binding of the board, and, for host tests, a
//! simulated port.
//!
//! Every `unsafe` block and every line of assembly of the kernel lives in
//! the modules under this one, each allowed `unsafe_code` by name; the rest
//! of the kernel is safe Rust under the workspace's `unsafe_code = "deny"`.

mod cell;
pub use cell::{Shared, Stack, StackRegion, stack_intact, stack_used_bytes};

#[cfg(all(target_os = "none", target_arch = "arm"))]
pub(crate) mod cortex_m;
/// The arch port of the build target.
#[cfg(all(target_os = "none", target_arch = "arm"))]
pub use cortex_m::{CortexM as Cpu, semihosting_exit};

#[cfg(all(target_os = "none", target_arch = "riscv32"))]
mod riscv32;
/// The arch port of the build target.
#[cfg(all(target_os = "none", target_arch = "riscv32"))]
pub use riscv32::{Riscv32 as Cpu, semihosting_exit};

#[cfg(target_os = "none")]
pub(crate) mod link;

#[cfg(test)]
pub(crate) mod sim;
