//! Flash and RAM accounting of a parsed ELF against a board's memory map,
//! and the `size`-style section split (rules in the module docs of
//! [`crate::elf`]).

use goblin::elf::section_header::{SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS};
use serde::Serialize;

use super::{Elf, LoadSegment, Machine, Result, err};
use crate::boards::MemoryMap;

/// One `PT_LOAD` segment and what it costs, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// Index in the program header table.
    pub index: usize,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    /// `p_flags` (`PF_R` = 4, `PF_W` = 2, `PF_X` = 1).
    pub flags: u32,
    /// Bytes of flash: `p_filesz` of the load copy, or 0.
    pub flash: u64,
    /// Bytes of RAM: `p_memsz`, or 0.
    pub ram: u64,
}

/// The `size`-style class of an allocated section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    Text,
    Rodata,
    Data,
    Bss,
    Reserved,
}

impl SectionKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Rodata => "rodata",
            Self::Data => "data",
            Self::Bss => "bss",
            Self::Reserved => "reserved",
        }
    }
}

/// One allocated (`SHF_ALLOC`) section with a non-zero size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub name: String,
    pub kind: SectionKind,
    /// `sh_addr` (VMA).
    pub addr: u64,
    /// `sh_size`, in bytes.
    pub size: u64,
}

/// The flash and RAM usage of one ELF, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub machine: Machine,
    pub flash_bytes: u64,
    pub ram_bytes: u64,
    pub segments: Vec<Segment>,
    pub sections: Vec<Section>,
}

impl Usage {
    /// Total bytes per section class.
    pub fn split(&self, kind: SectionKind) -> u64 {
        self.sections
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.size)
            .fold(0u64, u64::saturating_add)
    }
}

/// Places every `PT_LOAD` segment with a non-zero `p_memsz` in `map`, per
/// the module rules; what [`crate::boards::Boards::for_elf`] asks of a board.
///
/// Errors: a segment whose file bytes lie past the end of the file or whose
/// `p_memsz < p_filesz`, a VMA outside every region, a load copy outside
/// flash, or no segment that occupies memory.
pub fn place_segments(elf: &Elf<'_>, map: &MemoryMap) -> Result<Vec<Segment>> {
    let len = elf.data().len() as u64;
    let mut segments = Vec::new();
    for seg in elf.load_segments() {
        if let Some(s) = place(&seg, map, len)? {
            segments.push(s);
        }
    }
    if segments.is_empty() {
        return err("no PT_LOAD segment with a non-zero p_memsz: nothing is loaded");
    }
    Ok(segments)
}

fn place(seg: &LoadSegment, map: &MemoryMap, len: u64) -> Result<Option<Segment>> {
    let LoadSegment {
        index,
        offset,
        vaddr,
        paddr,
        filesz,
        memsz,
        flags,
    } = *seg;
    let file_end = offset.saturating_add(filesz);
    if file_end > len {
        return err(format!(
            "PT_LOAD segment {index}: file bytes [{offset:#x}, {file_end:#x}) (p_offset + p_filesz) end past the end of the file ({len} B)"
        ));
    }
    if memsz < filesz {
        return err(format!(
            "PT_LOAD segment {index}: p_memsz = {memsz} B is smaller than p_filesz = {filesz} B"
        ));
    }
    if memsz == 0 {
        return Ok(None);
    }
    let (flash, ram) = (map.flash, map.ram);
    let in_flash = flash.contains(vaddr, memsz);
    let in_ram = ram.contains(vaddr, memsz);
    if !in_flash && !in_ram {
        return err(format!(
            "PT_LOAD segment {index}: VMA [{vaddr:#010x}, {:#010x}) lies outside every region (flash [{:#010x}, {:#010x}), ram [{:#010x}, {:#010x}))",
            vaddr.saturating_add(memsz),
            flash.origin,
            flash.end(),
            ram.origin,
            ram.end(),
        ));
    }
    let stored = filesz > 0 && (paddr != vaddr || in_flash);
    if stored && !flash.contains(paddr, filesz) {
        return err(format!(
            "PT_LOAD segment {index}: load copy (LMA) [{paddr:#010x}, {:#010x}) lies outside flash [{:#010x}, {:#010x})",
            paddr.saturating_add(filesz),
            flash.origin,
            flash.end(),
        ));
    }
    Ok(Some(Segment {
        index,
        vaddr,
        paddr,
        filesz,
        memsz,
        flags,
        flash: if stored { filesz } else { 0 },
        ram: if in_ram { memsz } else { 0 },
    }))
}

/// Accounts flash and RAM of `elf` against the board's `map`.
///
/// Errors: those of [`place_segments`], and damaged section names.
pub fn account(elf: &Elf<'_>, map: &MemoryMap) -> Result<Usage> {
    let segments = place_segments(elf, map)?;
    let sum = |f: fn(&Segment) -> u64| segments.iter().map(f).fold(0u64, u64::saturating_add);
    Ok(Usage {
        machine: elf.machine,
        flash_bytes: sum(|s| s.flash),
        ram_bytes: sum(|s| s.ram),
        sections: sections(elf)?,
        segments,
    })
}

/// The allocated, non-empty sections, classified.
fn sections(elf: &Elf<'_>) -> Result<Vec<Section>> {
    let mut out = Vec::new();
    for (index, sh) in elf.section_headers.iter().enumerate() {
        let flags = sh.sh_flags;
        if flags & u64::from(SHF_ALLOC) == 0 || sh.sh_size == 0 {
            continue;
        }
        let name = elf.section_name(index, sh)?;
        let nobits = sh.sh_type == SHT_NOBITS;
        let kind = if nobits && is_reserved(&name) {
            SectionKind::Reserved
        } else if nobits {
            SectionKind::Bss
        } else if flags & u64::from(SHF_EXECINSTR) != 0 {
            SectionKind::Text
        } else if flags & u64::from(SHF_WRITE) != 0 {
            SectionKind::Data
        } else {
            SectionKind::Rodata
        };
        out.push(Section {
            name,
            kind,
            addr: sh.sh_addr,
            size: sh.sh_size,
        });
    }
    Ok(out)
}

fn is_reserved(name: &str) -> bool {
    ["stack", "heap", "uninit"].iter().any(|r| {
        name.strip_prefix('.')
            .and_then(|n| n.strip_prefix(r))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::is_reserved;

    #[test]
    fn reserved_sections() {
        for n in [".stack", ".heap", ".uninit", ".uninit.buf"] {
            assert!(is_reserved(n), "{n}");
        }
        for n in [".stacked", ".bss", "stack"] {
            assert!(!is_reserved(n), "{n}");
        }
    }
}
