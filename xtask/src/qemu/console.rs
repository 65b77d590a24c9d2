//! Console lines: what QEMU itself prints (kept out of transcripts) and the
//! firmware's fault markers.

/// Line prefixes the firmware prints when it crashes (see the console
/// contract in the README): a panic, a HardFault or RISC-V trap, a stack
/// overflow. Each is followed by the task name and pc.
pub const FAULT_MARKERS: [&str; 3] = ["*** PANIC", "*** FAULT", "*** STACK OVERFLOW"];

/// Whether `line` is a fault marker line.
pub fn is_fault(line: &str) -> bool {
    FAULT_MARKERS.iter().any(|m| line.starts_with(m))
}

/// Whether `line` comes from QEMU rather than the guest: its diagnostics
/// (`qemu-system-arm: warning: …`), the SIGTERM notice (`qemu-system-arm:
/// terminating on signal 15 from pid …`), and the `QEMU <version> monitor`
/// banner.
pub fn is_qemu_noise(line: &str) -> bool {
    if let Some(rest) = line.strip_prefix("qemu-system-") {
        // `qemu-system-<arch>: …`
        return rest
            .split_once(": ")
            .is_some_and(|(arch, _)| !arch.is_empty() && !arch.contains(' '));
    }
    line.starts_with("qemu: ")
        || line.starts_with("QEMU: ")
        || line.starts_with("QEMU ") && line.contains(" monitor")
}

/// One console line: trailing `\r` and `\n` removed (CRLF normalisation),
/// invalid UTF-8 replaced.
pub fn normalise(raw: &[u8]) -> String {
    let mut end = raw.len();
    while end > 0 && matches!(raw[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_recognised() {
        assert!(is_qemu_noise(
            "qemu-system-arm: terminating on signal 15 from pid 42 (xtask)"
        ));
        assert!(is_qemu_noise("qemu-system-riscv32: warning: bad"));
        assert!(is_qemu_noise("QEMU 10.0.2 monitor - type 'help'"));
        assert!(!is_qemu_noise("PASS sched"));
        assert!(!is_qemu_noise("qemu-system-arm is great: yes"));
    }

    #[test]
    fn crlf_is_normalised() {
        assert_eq!(normalise(b"tick 1\r\n"), "tick 1");
        assert_eq!(normalise(b"tick 1\n"), "tick 1");
        assert_eq!(normalise(b"partial"), "partial");
    }

    #[test]
    fn markers() {
        assert!(is_fault("*** PANIC in task idle at pc=0x00000412: boom"));
        assert!(is_fault("*** STACK OVERFLOW in task a at pc=0x1"));
        assert!(!is_fault(" *** PANIC"));
    }
}
