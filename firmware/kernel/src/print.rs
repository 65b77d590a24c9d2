//! A tiny console printer: strings, decimal and hexadecimal numbers, without
//! `core::fmt` (which costs kilobytes of flash).

/// Something the console can print.
pub trait Print {
    /// Writes `self` through `out`, in as many pieces as it likes.
    fn print(&self, out: &mut dyn FnMut(&[u8]));
}

impl Print for &str {
    fn print(&self, out: &mut dyn FnMut(&[u8])) {
        out(self.as_bytes());
    }
}

impl Print for u32 {
    fn print(&self, out: &mut dyn FnMut(&[u8])) {
        let mut buf = [0u8; 10];
        out(decimal(*self, &mut buf));
    }
}

impl Print for usize {
    fn print(&self, out: &mut dyn FnMut(&[u8])) {
        (*self as u32).print(out);
    }
}

impl Print for u8 {
    fn print(&self, out: &mut dyn FnMut(&[u8])) {
        u32::from(*self).print(out);
    }
}

impl Print for i32 {
    fn print(&self, out: &mut dyn FnMut(&[u8])) {
        if *self < 0 {
            out(b"-");
        }
        self.unsigned_abs().print(out);
    }
}

impl Print for char {
    fn print(&self, out: &mut dyn FnMut(&[u8])) {
        let mut buf = [0u8; 4];
        out(self.encode_utf8(&mut buf).as_bytes());
    }
}

/// Prints a `u32` as `0x` and eight lower-case hex digits.
#[derive(Clone, Copy, Debug)]
pub struct Hex(pub u32);

impl Print for Hex {
    fn print(&self, out: &mut dyn FnMut(&[u8])) {
        let mut buf = [0u8; 10];
        out(hex(self.0, &mut buf));
    }
}

/// Formats `v` in decimal at the end of `buf`; returns the digits.
pub fn decimal(mut v: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut start = buf.len();
    for digit in buf.iter_mut().rev() {
        *digit = b'0' + (v % 10) as u8;
        start -= 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // `get` rather than indexing: no panic path, so no `core::fmt`.
    buf.get(start..).unwrap_or_default()
}

/// Formats `v` as `0x` and eight hex digits.
pub fn hex(v: u32, buf: &mut [u8; 10]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    buf[0] = b'0';
    buf[1] = b'x';
    for i in 0..8 {
        buf[9 - i] = DIGITS[((v >> (4 * i)) & 0xF) as usize];
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(p: &dyn Print) -> std::string::String {
        let mut s = std::vec::Vec::new();
        p.print(&mut |b: &[u8]| s.extend_from_slice(b));
        std::string::String::from_utf8(s).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(render(&0u32), "0");
        assert_eq!(render(&4_294_967_295u32), "4294967295");
        assert_eq!(render(&-42i32), "-42");
        assert_eq!(render(&i32::MIN), "-2147483648");
        assert_eq!(render(&Hex(0x412)), "0x00000412");
        assert_eq!(render(&Hex(0xDEAD_BEEF)), "0xdeadbeef");
        assert_eq!(render(&"ok"), "ok");
    }
}
