//! What every fixture image shares: the defmt global logger (semihosting),
//! the panic handlers and the exit call.
#![no_std]

pub use defmt_plan as plan;

// cortex-m provides the critical-section implementation defmt-semihosting
// takes its lock with.
use cortex_m as _;
use defmt_semihosting as _;

/// Ends the QEMU run with `code` as its exit status (semihosting
/// `SYS_EXIT_EXTENDED`, Arm semihosting specification §6.5).
pub fn exit(code: i32) -> ! {
    semihosting::process::exit(code)
}

/// Exit status of an image that panicked.
pub const PANIC_EXIT: i32 = 101;

/// Called by `defmt::panic!` and failed `defmt::assert*!` after they have
/// logged their message.
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    exit(PANIC_EXIT)
}

/// A core panic is logged through defmt, as `panic-probe`'s `print-defmt`
/// feature does.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("{}", defmt::Display2Format(info));
    exit(PANIC_EXIT)
}
