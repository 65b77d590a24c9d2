//! Semihosting calls the program makes, on either architecture (Arm
//! semihosting specification §6: `SYS_WRITE0` 0x04, `SYS_EXIT` 0x18).

use core::ffi::CStr;

use crate::arch::semihosting;

const SYS_WRITE0: usize = 0x04;
const SYS_EXIT: usize = 0x18;

/// Writes `text` to the host's console (QEMU: its stderr).
// Not inlined, so that each call site keeps a line row of its own.
#[inline(never)]
pub fn write0(text: &CStr) {
    semihosting(SYS_WRITE0, text.as_ptr() as usize);
}

/// `SYS_EXIT` with `ADP_Stopped_ApplicationExit` (QEMU exits 0) or
/// `ADP_Stopped_RunTimeErrorUnknown` (QEMU exits 1). On 32-bit Arm and RV32
/// the reason is the parameter itself.
#[inline(never)]
pub fn exit(ok: bool) -> ! {
    semihosting(SYS_EXIT, if ok { 0x2_0026 } else { 0x2_0023 });
    loop {}
}

pub fn read_volatile(value: &u32) -> u32 {
    // SAFETY: a reference is valid for reads.
    unsafe { core::ptr::read_volatile(value) }
}
