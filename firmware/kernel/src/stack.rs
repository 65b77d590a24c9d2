//! Stack painting, guard words and high-water marks, on plain word slices.
//!
//! A task stack is painted with [`PAINT`] before the task first runs; its
//! lowest [`GUARD_WORDS`] words hold [`GUARD`]. The arch port checks the
//! guard of the outgoing task on every switch: a clobbered guard word, or a
//! saved stack pointer inside the guard, is a stack overflow. The high-water
//! mark is the highest word that no longer holds the paint.

use crate::config::GUARD_WORDS;

/// Fill pattern of unused stack words.
pub const PAINT: u32 = 0x5AA5_5AA5;
/// Pattern of the guard words at the low end of a stack.
pub const GUARD: u32 = 0xDEAD_C0DE;

/// Paints `stack` (lowest address first) and writes its guard words.
pub fn paint(stack: &mut [u32]) {
    for (i, w) in stack.iter_mut().enumerate() {
        *w = if i < GUARD_WORDS { GUARD } else { PAINT };
    }
}

/// Whether the stack based at `lo` is intact: `sp` lies above the guard and
/// the guard words (`guard(i)` reads word `i`) still hold [`GUARD`].
#[inline(always)]
pub fn intact(lo: usize, sp: usize, mut guard: impl FnMut(usize) -> u32) -> bool {
    // The lowest and the highest guard word (all of them with the
    // configured two): no loop on the switch path.
    sp >= lo + 4 * GUARD_WORDS && guard(0) == GUARD && guard(GUARD_WORDS - 1) == GUARD
}

/// Bytes of a stack ever used, given its words from the lowest address up:
/// from the top down to the lowest word that no longer holds the paint
/// (guard words excluded).
pub fn used_bytes(words: impl ExactSizeIterator<Item = u32>) -> usize {
    let body = words.len().saturating_sub(GUARD_WORDS);
    let untouched = words.skip(GUARD_WORDS).take_while(|&w| w == PAINT).count();
    4 * (body - untouched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painted_stack_is_intact_and_unused() {
        let mut s = [0u32; 32];
        paint(&mut s);
        let lo = 0x1000;
        assert!(intact(lo, lo + 4 * 32, |i| s[i]));
        assert_eq!(used_bytes(s.iter().copied()), 0);
    }

    #[test]
    fn high_water_counts_from_the_lowest_touched_word() {
        let mut s = [0u32; 32];
        paint(&mut s);
        s[20] = 7;
        s[31] = 1;
        assert_eq!(used_bytes(s.iter().copied()), 4 * (32 - 20));
    }

    #[test]
    fn clobbered_guard_or_low_sp_is_an_overflow() {
        let mut s = [0u32; 16];
        paint(&mut s);
        let lo = 0x2000;
        assert!(!intact(lo, lo + 4 * GUARD_WORDS - 4, |i| s[i]));
        s[GUARD_WORDS - 1] = 0;
        assert!(!intact(lo, lo + 64, |i| s[i]));
    }
}
