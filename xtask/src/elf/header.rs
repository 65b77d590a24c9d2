//! The checks made before goblin reads anything: the identification byte by
//! byte (ELF gABI, "ELF Identification"), the header fields, and the bounds
//! of the program and section header tables, so that each kind of damage
//! gets its own message and no table is read past the end of the file.

use goblin::elf::header::{
    ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, ELFMAG, EM_ARM, EM_RISCV, ET_DYN, ET_EXEC,
    EV_CURRENT, Header,
};
use goblin::elf::section_header::SHN_XINDEX;

use super::{CTX, Error, Machine, Result, err};

const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const EI_VERSION: usize = 6;
const EI_NIDENT: usize = 16;
const EHDR_SIZE: usize = 52;
const PHDR_SIZE: u64 = 32;
const SHDR_SIZE: u64 = 40;
/// `e_phnum` value that moves the real count to section 0's `sh_info`.
const PN_XNUM: u16 = 0xffff;

/// What [`check`] established about the file.
pub(super) struct Layout {
    pub machine: Machine,
    pub entry: u64,
    pub phoff: u64,
    /// The real count, after `PN_XNUM`.
    pub phnum: u64,
    /// `(e_shoff, count)` when there is a section header table.
    pub sections: Option<(u64, u64)>,
    /// The real index, after `SHN_XINDEX`.
    pub shstrndx: u32,
}

/// Validates the identification, the header and the table bounds.
pub(super) fn check(data: &[u8]) -> Result<Layout> {
    ident(data)?;
    let header =
        goblin::elf::Elf::parse_header(data).map_err(|e| Error(format!("ELF header: {e}")))?;
    let machine = match header.e_machine {
        EM_ARM => Machine::Arm,
        EM_RISCV => Machine::RiscV,
        m => {
            return err(format!(
                "foreign machine e_machine = {m}; size-check accounts EM_ARM (40) and EM_RISCV (243) images"
            ));
        }
    };
    if header.e_type != ET_EXEC && header.e_type != ET_DYN {
        return err(format!(
            "e_type = {} is not an executable (ET_EXEC); link the image first",
            header.e_type
        ));
    }
    if header.e_phoff == 0 || header.e_phnum == 0 {
        return err("no program headers (e_phnum = 0): not a linked image");
    }
    if u64::from(header.e_phentsize) != PHDR_SIZE {
        return err(format!(
            "e_phentsize = {}, expected {PHDR_SIZE} for ELF32",
            header.e_phentsize
        ));
    }
    let section0 = section_zero(data, &header)?;
    let sections = section0
        .as_ref()
        .map(|s0| -> Result<(u64, u64)> {
            // e_shnum = 0 with e_shoff set means the count is in section 0.
            let count = match header.e_shnum {
                0 => s0.sh_size,
                n => u64::from(n),
            };
            section_table(data, header.e_shoff, count)?;
            Ok((header.e_shoff, count))
        })
        .transpose()?;
    let phnum = match (header.e_phnum, &section0) {
        (PN_XNUM, Some(s0)) => u64::from(s0.sh_info),
        (PN_XNUM, None) => {
            return err(
                "e_phnum = PN_XNUM (0xffff) but there is no section 0 holding the real count",
            );
        }
        (n, _) => u64::from(n),
    };
    check_table(
        data.len(),
        "program header",
        "e_phoff",
        header.e_phoff,
        phnum,
        PHDR_SIZE,
    )?;
    let shstrndx = match (u32::from(header.e_shstrndx), &section0) {
        (SHN_XINDEX, Some(s0)) => s0.sh_link,
        (i, _) => i,
    };
    Ok(Layout {
        machine,
        entry: header.e_entry,
        phoff: header.e_phoff,
        phnum,
        sections,
        shstrndx,
    })
}

/// Magic, class, data encoding, version and length, in that order.
fn ident(data: &[u8]) -> Result<()> {
    let len = data.len();
    if len < ELFMAG.len() {
        if ELFMAG.starts_with(data) {
            return err(format!(
                "truncated: {len} B, too short for an ELF identification"
            ));
        }
        return err("not an ELF file (no \\x7fELF magic)");
    }
    if data[..4] != ELFMAG[..] {
        return err("not an ELF file (no \\x7fELF magic)");
    }
    if len < EI_NIDENT {
        return err(format!(
            "truncated: {len} B, shorter than the 16-byte ELF identification"
        ));
    }
    match data[EI_CLASS] {
        ELFCLASS32 => {}
        ELFCLASS64 => {
            return err(
                "64-bit ELF (ELFCLASS64); firmware images for Cortex-M and RV32 are ELFCLASS32",
            );
        }
        c => return err(format!("invalid ELF class {c} in e_ident[EI_CLASS]")),
    }
    match data[EI_DATA] {
        ELFDATA2LSB => {}
        ELFDATA2MSB => {
            return err(
                "big-endian ELF (ELFDATA2MSB); Cortex-M and RISC-V firmware is little-endian",
            );
        }
        d => return err(format!("invalid ELF data encoding {d} in e_ident[EI_DATA]")),
    }
    if data[EI_VERSION] != EV_CURRENT {
        return err(format!(
            "unsupported ELF version {} in e_ident[EI_VERSION]",
            data[EI_VERSION]
        ));
    }
    if len < EHDR_SIZE {
        return err(format!(
            "truncated: {len} B, shorter than the 52-byte ELF32 header"
        ));
    }
    Ok(())
}

/// Section 0 (which may hold the real `e_shnum`, `e_phnum` and
/// `e_shstrndx`), after checking `e_shentsize` and that it lies in the file.
fn section_zero(data: &[u8], header: &Header) -> Result<Option<goblin::elf::SectionHeader>> {
    if header.e_shoff == 0 {
        return Ok(None);
    }
    if u64::from(header.e_shentsize) != SHDR_SIZE {
        return err(format!(
            "e_shentsize = {}, expected {SHDR_SIZE} for ELF32",
            header.e_shentsize
        ));
    }
    section_table(data, header.e_shoff, u64::from(header.e_shnum.max(1)))?;
    let mut first = goblin::elf::SectionHeader::parse(data, header.e_shoff as usize, 1, CTX)
        .map_err(|e| Error(format!("section headers: {e}")))?;
    Ok(first.pop())
}

/// The section header table of `count` entries at `e_shoff` lies in the file.
fn section_table(data: &[u8], shoff: u64, count: u64) -> Result<()> {
    check_table(
        data.len(),
        "section header",
        "e_shoff",
        shoff,
        count,
        SHDR_SIZE,
    )
}

/// `count` entries of `entsize` bytes from `off` must end inside the file.
pub(super) fn check_table(
    len: usize,
    what: &str,
    field: &str,
    off: u64,
    count: u64,
    entsize: u64,
) -> Result<()> {
    let end = off.saturating_add(count.saturating_mul(entsize));
    if end > len as u64 {
        return err(format!(
            "{what} table ({field} = {off:#x}, {count} entries × {entsize} B) ends at byte {end}, past the end of the file ({len} B)"
        ));
    }
    Ok(())
}
