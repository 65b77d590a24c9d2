//! A firmware ELF turned into what a flasher needs: the raw image of its
//! file-backed `PT_LOAD` segments placed at their load addresses (LMA,
//! `p_paddr`), as `objcopy -O binary` writes it, plus flash/RAM usage as
//! `cargo xtask size-check` accounts it (ELF gABI, "Program Header").

use anyhow::{Result, anyhow, bail};

use crate::boards::MemoryMap;
use crate::elf::{self, Elf};

/// The flashable image of one ELF.
#[derive(Debug, PartialEq, Eq)]
pub struct FlashImage {
    /// Bytes from `load_address` on; gaps between segments are zero-filled.
    pub bin: Vec<u8>,
    /// Where `bin[0]` goes, in bytes from address 0 (the lowest segment LMA).
    pub load_address: u64,
    /// `e_entry`.
    pub entry: u64,
    /// Flash used, bytes, as `cargo xtask size-check` counts it.
    pub flash_bytes: u64,
    /// RAM used, bytes, as `cargo xtask size-check` counts it.
    pub ram_bytes: u64,
}

/// Extracts the flash image of `bytes` for a board with memory map `map`.
/// `what` names the ELF in errors.
///
/// Errors: not an ELF, an ELF size-check cannot account (a segment outside
/// the file or the memory map), overlapping segments, or no file-backed
/// segment at all.
pub fn flash_image(what: &str, bytes: &[u8], map: &MemoryMap) -> Result<FlashImage> {
    let elf = Elf::parse(bytes).map_err(|e| anyhow!("{what} is not a valid ELF file: {e}"))?;
    let usage = elf::account(&elf, map).map_err(|e| anyhow!("{what}: {e}"))?;
    let mut segments = Vec::new();
    for seg in elf.load_segments().filter(|s| s.filesz > 0) {
        let data = elf.file_bytes(&seg).ok_or_else(|| {
            anyhow!(
                "{what}: PT_LOAD at offset {:#x} ({} bytes) lies outside the file",
                seg.offset,
                seg.filesz
            )
        })?;
        if !map.flash.contains(seg.paddr, seg.filesz) {
            bail!(
                "{what}: PT_LOAD with LMA {:#x} ({} bytes) is outside the board's flash \
                 [{:#x}, {:#x})",
                seg.paddr,
                seg.filesz,
                map.flash.origin,
                map.flash.end()
            );
        }
        segments.push((seg.paddr, data));
    }
    segments.sort_by_key(|&(lma, _)| lma);
    let mut end = 0;
    for &(lma, data) in &segments {
        if lma < end {
            bail!("{what}: PT_LOAD segments overlap at LMA {lma:#x}");
        }
        end = lma + data.len() as u64;
    }
    let Some(&(start, _)) = segments.first() else {
        bail!("{what} has no file-backed PT_LOAD segment: nothing to flash");
    };
    // Every segment lies in the flash region checked above, so the span fits usize.
    let mut bin = vec![0u8; (end - start) as usize];
    for (lma, data) in &segments {
        let at = (lma - start) as usize;
        bin[at..at + data.len()].copy_from_slice(data);
    }
    Ok(FlashImage {
        bin,
        load_address: start,
        entry: elf.entry,
        flash_bytes: usage.flash_bytes,
        ram_bytes: usage.ram_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boards::Span;

    const MEMORY: MemoryMap = MemoryMap {
        flash: Span {
            origin: 0x1000,
            length: 0x1000,
        },
        ram: Span {
            origin: 0x8000,
            length: 0x100,
        },
    };

    /// A little-endian ELF32 executable with the given `(vaddr, paddr,
    /// data, memsz)` PT_LOAD segments, laid out as a linker would.
    fn elf32(segments: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let phoff = 52u32;
        let data_off = phoff + 32 * segments.len() as u32;
        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0");
        out.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
        out.extend_from_slice(&40u16.to_le_bytes()); // e_machine: EM_ARM
        // e_version, e_entry, e_phoff, e_shoff, e_flags
        for word in [1u32, 0x1001, phoff, 0, 0] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        for half in [52u16, 32, segments.len() as u16, 40, 0, 0] {
            out.extend_from_slice(&half.to_le_bytes());
        }
        let mut off = data_off;
        for (vaddr, paddr, data, memsz) in segments {
            for word in [1, off, *vaddr, *paddr, data.len() as u32, *memsz, 5, 4] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            off += data.len() as u32;
        }
        for (_, _, data, _) in segments {
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn places_data_copy_at_its_lma_and_fills_gaps_with_zero() {
        let elf = elf32(&[
            (0x1000, 0x1000, b"TEXT", 4),
            (0x8000, 0x1008, b"DA", 0x10), // .data + .bss: VMA in RAM, LMA in flash
        ]);
        let img = flash_image("t.elf", &elf, &MEMORY).unwrap();
        assert_eq!(img.load_address, 0x1000);
        assert_eq!(img.entry, 0x1001);
        assert_eq!(img.bin, b"TEXT\0\0\0\0DA");
        assert_eq!((img.flash_bytes, img.ram_bytes), (6, 0x10));
    }

    #[test]
    fn rejects_lma_outside_flash_and_overlaps_and_garbage() {
        let outside = elf32(&[(0x8000, 0x8000, b"D", 1)]);
        let err = flash_image("t.elf", &outside, &MEMORY).unwrap_err();
        assert!(
            err.to_string().contains("outside the board's flash"),
            "{err}"
        );
        let overlap = elf32(&[(0x1000, 0x1000, b"AAAA", 4), (0x1002, 0x1002, b"B", 1)]);
        let err = flash_image("t.elf", &overlap, &MEMORY).unwrap_err();
        assert!(err.to_string().contains("overlap"), "{err}");
        let err = flash_image("t.elf", b"not an elf", &MEMORY).unwrap_err();
        assert!(
            err.to_string().contains("t.elf is not a valid ELF"),
            "{err}"
        );
    }
}
