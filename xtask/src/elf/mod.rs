//! The one ELF reader: header, program headers, sections and symbols of a
//! linked firmware image, read with goblin, and the flash/RAM accounting of
//! [`account`]. Every function takes untrusted bytes and returns an
//! [`Error`] instead of panicking: what goblin does not check (table offsets
//! and counts against the file, string table bounds) is checked here first,
//! so no table is read past the end of the file and nothing is allocated
//! beyond what the file holds.
//!
//! # Rules (ELF gABI, "ELF Header", "Program Header" and "Sections")
//!
//! Only little-endian `ELFCLASS32` executables for `EM_ARM` (40) and
//! `EM_RISCV` (243) are accepted. Memory is what the `PT_LOAD` segments
//! occupy; each one is assigned to the board's regions:
//!
//! - **RAM**: a segment whose VMA extent `[p_vaddr, p_vaddr + p_memsz)` lies
//!   in the RAM region uses `p_memsz` bytes of RAM (its `p_memsz - p_filesz`
//!   tail is zero-filled at start-up: `.bss`, `.stack`, `.heap`, `.uninit`).
//! - **Flash**: a segment with file bytes (`p_filesz > 0`) stores them at its
//!   load address `[p_paddr, p_paddr + p_filesz)` when that LMA differs from
//!   the VMA (a copy made at start-up, like `.data`) or when the VMA itself
//!   lies in flash (code and read-only data used in place). That load copy
//!   must lie in the flash region. So `.data` counts once in flash (its
//!   initial values) and once in RAM (its run-time copy).
//! - A segment with `p_memsz == 0` occupies nothing. Any other segment whose
//!   VMA is outside every region, or whose load copy is outside flash, is an
//!   error: the image was linked for another memory map.
//!
//! Sections (`SHF_ALLOC` only) are split the way `size` does it: `text`
//! (`SHF_EXECINSTR`), `rodata` (neither executable nor writable), `data`
//! (writable `PROGBITS`), `bss` (`NOBITS`), and `reserved`: `NOBITS` sections
//! named `.stack`, `.heap` or `.uninit` (or `.uninit.*`), which reserve RAM
//! without holding any variable, so users see why RAM looks full.
//!
//! Symbols are the `STT_FUNC` and `STT_OBJECT` entries of `.symtab` with a
//! non-zero `st_size`. On Arm, bit 0 of a function's address marks Thumb code
//! (ELF for the Arm Architecture, "Symbol Values") and is cleared.

mod account;
mod header;

use std::fmt;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::program_header::PT_LOAD;
use goblin::elf::section_header::{SHT_NOBITS, SHT_SYMTAB};
use goblin::elf::sym::{STT_FUNC, STT_OBJECT};
use goblin::elf::{ProgramHeader, SectionHeader, Symtab};

pub use account::{Section, SectionKind, Segment, Usage, account, place_segments};

use crate::boards::{MemoryMap, Region};

/// Why an ELF cannot be read or accounted: one human-readable sentence,
/// without the file name (the caller adds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error(msg.into()))
}

/// The architectures whose firmware this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Machine {
    /// `EM_ARM` (40): Cortex-M, Thumb code.
    Arm,
    /// `EM_RISCV` (243).
    RiscV,
}

impl Machine {
    /// `EM_ARM` or `EM_RISCV`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Arm => "EM_ARM",
            Self::RiscV => "EM_RISCV",
        }
    }
}

/// One `PT_LOAD` program header; addresses and sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSegment {
    /// Index in the program header table.
    pub index: usize,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    /// `p_flags` (`PF_R` = 4, `PF_W` = 2, `PF_X` = 1).
    pub flags: u32,
}

/// A sized symbol from `.symtab`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// The raw (mangled) name, lossily decoded as UTF-8.
    pub name: String,
    /// Address with the Thumb bit cleared.
    pub addr: u64,
    /// `st_size`, in bytes.
    pub size: u64,
    pub is_function: bool,
    /// The region the symbol lives in at run time, if any.
    pub region: Option<Region>,
}

/// An ELF file whose header and tables have been checked against its size.
#[derive(Debug)]
pub struct Elf<'a> {
    data: &'a [u8],
    pub machine: Machine,
    /// `e_entry`.
    pub entry: u64,
    program_headers: Vec<ProgramHeader>,
    section_headers: Vec<SectionHeader>,
    /// The section name table (`e_shstrndx`); empty without one.
    shstrtab: &'a [u8],
}

/// ELF32, little-endian: the only layout accepted.
const CTX: Ctx = Ctx {
    container: Container::Little,
    le: Endian::Little,
};
/// `sizeof(Elf32_Sym)`.
const SYM_SIZE: u64 = 16;

impl<'a> Elf<'a> {
    /// Reads the header, the program headers, the section headers and the
    /// section name table.
    ///
    /// Errors: a damaged or foreign ELF (see the module docs for what is
    /// accepted), each with its own message: truncation, bad identification,
    /// foreign machine or type, table sizes or offsets past the end of the
    /// file, or a bad `e_shstrndx`.
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        let layout = header::check(data)?;
        let section_headers = match layout.sections {
            Some((off, count)) => SectionHeader::parse(data, off as usize, count as usize, CTX)
                .map_err(|e| Error(format!("section headers: {e}")))?,
            None => Vec::new(),
        };
        let program_headers =
            ProgramHeader::parse(data, layout.phoff as usize, layout.phnum as usize, CTX)
                .map_err(|e| Error(format!("program headers: {e}")))?;
        let mut elf = Self {
            data,
            machine: layout.machine,
            entry: layout.entry,
            program_headers,
            section_headers,
            shstrtab: &[],
        };
        elf.shstrtab = elf.name_table(layout.shstrndx)?;
        Ok(elf)
    }

    /// The file's bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The `PT_LOAD` program headers, in table order.
    pub fn load_segments(&self) -> impl Iterator<Item = LoadSegment> + '_ {
        self.program_headers
            .iter()
            .enumerate()
            .filter(|(_, ph)| ph.p_type == PT_LOAD)
            .map(|(index, ph)| LoadSegment {
                index,
                offset: ph.p_offset,
                vaddr: ph.p_vaddr,
                paddr: ph.p_paddr,
                filesz: ph.p_filesz,
                memsz: ph.p_memsz,
                flags: ph.p_flags,
            })
    }

    /// The file bytes of `segment` (`p_filesz` bytes from `p_offset`), or
    /// `None` when they lie past the end of the file.
    pub fn file_bytes(&self, segment: &LoadSegment) -> Option<&'a [u8]> {
        let start = usize::try_from(segment.offset).ok()?;
        let len = usize::try_from(segment.filesz).ok()?;
        self.data.get(start..start.checked_add(len)?)
    }

    /// The contents of the first section called `name`, if the ELF has one
    /// with file contents inside the file.
    pub fn section_data(&self, name: &str) -> Option<&'a [u8]> {
        self.section_headers
            .iter()
            .enumerate()
            .find(|(i, sh)| self.section_name(*i, sh).is_ok_and(|n| n == name))
            .and_then(|(_, sh)| self.section_bytes(sh))
    }

    /// Whether a section is called `name` (e.g. `.defmt`, which defmt's
    /// linker script emits).
    pub fn has_section(&self, name: &str) -> bool {
        self.section_headers
            .iter()
            .enumerate()
            .any(|(i, sh)| self.section_name(i, sh).is_ok_and(|n| n == name))
    }

    /// The bytes of a section that has file contents, if they lie in the file.
    fn section_bytes(&self, sh: &SectionHeader) -> Option<&'a [u8]> {
        if sh.sh_type == SHT_NOBITS {
            return Some(&[]);
        }
        let start = usize::try_from(sh.sh_offset).ok()?;
        let len = usize::try_from(sh.sh_size).ok()?;
        self.data.get(start..start.checked_add(len)?)
    }

    fn name_table(&self, shstrndx: u32) -> Result<&'a [u8]> {
        if self.section_headers.is_empty() || shstrndx == 0 {
            return Ok(&[]);
        }
        let count = self.section_headers.len();
        let Some(sh) = self.section_headers.get(shstrndx as usize) else {
            return err(format!(
                "section headers: e_shstrndx = {shstrndx} is not a section (e_shnum = {count})"
            ));
        };
        self.section_bytes(sh).ok_or_else(|| {
            Error(format!(
                "section headers: the section name table (section {shstrndx}, sh_offset = {:#x}, {} B) lies past the end of the file ({} B)",
                sh.sh_offset,
                sh.sh_size,
                self.data.len()
            ))
        })
    }

    /// The name of section `index`, lossily decoded.
    fn section_name(&self, index: usize, sh: &SectionHeader) -> Result<String> {
        c_str(self.shstrtab, sh.sh_name)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or_else(|| {
                Error(format!(
                    "section {index}: name: sh_name = {:#x} is not a string of the section name table ({} B)",
                    sh.sh_name,
                    self.shstrtab.len()
                ))
            })
    }

    /// The sized function and object symbols of `.symtab`, largest first,
    /// with the region of `map` each lives in. A stripped ELF has none.
    ///
    /// Errors: a symbol table or its string table past the end of the file,
    /// a bad `sh_link`, or a symbol name outside its string table.
    pub fn symbols(&self, map: &MemoryMap) -> Result<Vec<Symbol>> {
        let Some(symtab) = self
            .section_headers
            .iter()
            .find(|s| s.sh_type == SHT_SYMTAB)
        else {
            return Ok(Vec::new());
        };
        let count = symtab.sh_size / SYM_SIZE;
        if count == 0 {
            return Ok(Vec::new());
        }
        header::check_table(
            self.data.len(),
            "symbol table",
            "sh_offset",
            symtab.sh_offset,
            count,
            SYM_SIZE,
        )?;
        let strtab = self
            .section_headers
            .get(symtab.sh_link as usize)
            .and_then(|sh| self.section_bytes(sh))
            .ok_or_else(|| {
                Error(format!(
                    "symbol table: its string table (sh_link = {}) is not a section within the file",
                    symtab.sh_link
                ))
            })?;
        let table = Symtab::parse(self.data, symtab.sh_offset as usize, count as usize, CTX)
            .map_err(|e| Error(format!("symbol table: {e}")))?;
        let mut out = Vec::new();
        for (index, sym) in table.iter().enumerate() {
            let kind = sym.st_type();
            let is_function = kind == STT_FUNC;
            if sym.st_size == 0 || !(is_function || kind == STT_OBJECT) || sym.st_shndx == 0 {
                continue;
            }
            let name = c_str(strtab, sym.st_name).ok_or_else(|| {
                Error(format!(
                    "symbol {index}: name: st_name = {:#x} is not a string of the string table ({} B)",
                    sym.st_name,
                    strtab.len()
                ))
            })?;
            let mut addr = sym.st_value;
            if is_function && self.machine == Machine::Arm {
                addr &= !1;
            }
            out.push(Symbol {
                name: String::from_utf8_lossy(name).into_owned(),
                addr,
                size: sym.st_size,
                is_function,
                region: map.region_of(addr),
            });
        }
        out.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }
}

/// The NUL-terminated string at `offset` in a string table, without the NUL.
fn c_str(table: &[u8], offset: usize) -> Option<&[u8]> {
    let rest = table.get(offset..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_bounded() {
        assert_eq!(c_str(b"\0.text\0", 1), Some(&b".text"[..]));
        assert_eq!(c_str(b"\0.text", 1), None, "no terminating NUL");
        assert_eq!(c_str(b"\0", 7), None);
    }
}
