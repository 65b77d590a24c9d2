//! Flash and RAM accounting of a linked firmware ELF, from its program
//! headers, plus the classic section split and the sized symbols.
//!
//! This module depends on `std` and `object` only, so that the fuzz target in
//! `fuzz/` compiles the very same file (`#[path]`); every function here takes
//! untrusted bytes and returns an [`Error`] instead of panicking.
//!
//! # Rules (ELF gABI, "Program Header" and "Sections")
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

use std::fmt;

use object::LittleEndian as LE;
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};

/// Why an ELF cannot be accounted: one human-readable sentence, without the
/// file name (the caller adds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

type Result<T> = std::result::Result<T, Error>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error(msg.into()))
}

/// A memory region: `origin` and `length` in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub origin: u64,
    pub length: u64,
}

impl Span {
    /// Whether `[start, start + len)` lies wholly inside the region.
    pub fn contains(&self, start: u64, len: u64) -> bool {
        start >= self.origin
            && start
                .checked_add(len)
                .is_some_and(|end| end <= self.origin.saturating_add(self.length))
    }
}

/// A board's flash and RAM regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryMap {
    pub flash: Span,
    pub ram: Span,
}

impl MemoryMap {
    /// The region holding address `addr`, if any.
    pub fn region_of(&self, addr: u64) -> Option<Region> {
        if self.flash.contains(addr, 1) {
            Some(Region::Flash)
        } else if self.ram.contains(addr, 1) {
            Some(Region::Ram)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Region {
    Flash,
    Ram,
}

impl Region {
    pub fn name(self) -> &'static str {
        match self {
            Self::Flash => "flash",
            Self::Ram => "ram",
        }
    }
}

/// The architectures whose firmware this module accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// `EM_ARM` (40): Cortex-M, Thumb code.
    Arm,
    /// `EM_RISCV` (243).
    RiscV,
}

impl Machine {
    pub fn name(self) -> &'static str {
        match self {
            Self::Arm => "EM_ARM",
            Self::RiscV => "EM_RISCV",
        }
    }
}

/// One `PT_LOAD` segment and what it costs, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

// e_ident offsets (ELF gABI, "ELF Identification").
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const EI_VERSION: usize = 6;
const EI_NIDENT: usize = 16;
const EHDR_SIZE: usize = 52;
const PHDR_SIZE: u64 = 32;
const SHDR_SIZE: u64 = 40;

/// Reads the identification and `e_machine` only: enough to pick a board.
///
/// Errors: the same header errors as [`account`].
pub fn machine(data: &[u8]) -> Result<Machine> {
    check_header(data)
}

/// Validates the ELF header field by field, so that each kind of damage gets
/// its own message; `object` then reads the tables that were checked here.
fn check_header(data: &[u8]) -> Result<Machine> {
    let len = data.len();
    if len < elf::ELFMAG.len() {
        if elf::ELFMAG.starts_with(data) {
            return err(format!(
                "truncated: {len} B, too short for an ELF identification"
            ));
        }
        return err("not an ELF file (no \\x7fELF magic)");
    }
    if data[..4] != elf::ELFMAG {
        return err("not an ELF file (no \\x7fELF magic)");
    }
    if len < EI_NIDENT {
        return err(format!(
            "truncated: {len} B, shorter than the 16-byte ELF identification"
        ));
    }
    match data[EI_CLASS] {
        c if c == elf::ELFCLASS32.0 => {}
        c if c == elf::ELFCLASS64.0 => {
            return err(
                "64-bit ELF (ELFCLASS64); firmware images for Cortex-M and RV32 are ELFCLASS32",
            );
        }
        c => return err(format!("invalid ELF class {c} in e_ident[EI_CLASS]")),
    }
    match data[EI_DATA] {
        d if d == elf::ELFDATA2LSB.0 => {}
        d if d == elf::ELFDATA2MSB.0 => {
            return err(
                "big-endian ELF (ELFDATA2MSB); Cortex-M and RISC-V firmware is little-endian",
            );
        }
        d => return err(format!("invalid ELF data encoding {d} in e_ident[EI_DATA]")),
    }
    if data[EI_VERSION] != elf::EV_CURRENT.0 {
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
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
    let e_type = u16_at(16);
    let e_machine = u16_at(18);
    let machine = match e_machine {
        m if m == elf::EM_ARM.0 => Machine::Arm,
        m if m == elf::EM_RISCV.0 => Machine::RiscV,
        m => {
            return err(format!(
                "foreign machine e_machine = {m}; size-check accounts EM_ARM (40) and EM_RISCV (243) images"
            ));
        }
    };
    if e_type != elf::ET_EXEC.0 && e_type != elf::ET_DYN.0 {
        return err(format!(
            "e_type = {e_type} is not an executable (ET_EXEC); link the image first"
        ));
    }
    let (phoff, phentsize, phnum) = (u64::from(u32_at(28)), u16_at(42), u16_at(44));
    let (shoff, shentsize, shnum) = (u64::from(u32_at(32)), u16_at(46), u16_at(48));
    if phoff == 0 || phnum == 0 {
        return err("no program headers (e_phnum = 0): not a linked image");
    }
    if u64::from(phentsize) != PHDR_SIZE {
        return err(format!(
            "e_phentsize = {phentsize}, expected {PHDR_SIZE} for ELF32"
        ));
    }
    if shoff != 0 {
        if u64::from(shentsize) != SHDR_SIZE {
            return err(format!(
                "e_shentsize = {shentsize}, expected {SHDR_SIZE} for ELF32"
            ));
        }
        // e_shnum = 0 with e_shoff set means the count is in section 0.
        check_table(
            len,
            "section header",
            "e_shoff",
            shoff,
            u64::from(shnum.max(1)),
            SHDR_SIZE,
        )?;
    }
    // PN_XNUM (0xffff) moves the real count to section 0's sh_info.
    let phnum = if phnum == elf::PN_XNUM {
        if shoff == 0 {
            return err(
                "e_phnum = PN_XNUM (0xffff) but there is no section 0 holding the real count",
            );
        }
        u64::from(u32_at(shoff as usize + 28))
    } else {
        u64::from(phnum)
    };
    check_table(len, "program header", "e_phoff", phoff, phnum, PHDR_SIZE)?;
    Ok(machine)
}

fn check_table(
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

fn parsed(data: &[u8]) -> Result<(Machine, &elf::FileHeader32<LE>)> {
    let machine = check_header(data)?;
    let header =
        elf::FileHeader32::<LE>::parse(data).map_err(|e| Error(format!("ELF header: {e}")))?;
    Ok((machine, header))
}

/// Accounts flash and RAM of the ELF in `data` against the board's `map`.
///
/// Errors: a damaged or foreign ELF (see the module docs for what is
/// accepted), a `PT_LOAD` segment whose file bytes lie past the end of the
/// file or whose `p_memsz < p_filesz`, a segment outside every region, and
/// damaged section headers or section names.
pub fn account(data: &[u8], map: &MemoryMap) -> Result<Usage> {
    let (machine, header) = parsed(data)?;
    let phdrs = header
        .program_headers(LE, data)
        .map_err(|e| Error(format!("program headers: {e}")))?;
    let len = data.len() as u64;
    let mut segments = Vec::new();
    let (mut flash_bytes, mut ram_bytes) = (0u64, 0u64);
    for (index, ph) in phdrs.iter().enumerate() {
        if ph.p_type(LE) != elf::PT_LOAD {
            continue;
        }
        let offset = u64::from(ph.p_offset(LE));
        let vaddr = u64::from(ph.p_vaddr(LE));
        let paddr = u64::from(ph.p_paddr(LE));
        let filesz = u64::from(ph.p_filesz(LE));
        let memsz = u64::from(ph.p_memsz(LE));
        if offset.saturating_add(filesz) > len {
            return err(format!(
                "PT_LOAD segment {index}: file bytes [{offset:#x}, {:#x}) (p_offset + p_filesz) end past the end of the file ({len} B)",
                offset.saturating_add(filesz)
            ));
        }
        if memsz < filesz {
            return err(format!(
                "PT_LOAD segment {index}: p_memsz = {memsz} B is smaller than p_filesz = {filesz} B"
            ));
        }
        if memsz == 0 {
            continue;
        }
        let in_flash = map.flash.contains(vaddr, memsz);
        let in_ram = map.ram.contains(vaddr, memsz);
        if !in_flash && !in_ram {
            return err(format!(
                "PT_LOAD segment {index}: VMA [{vaddr:#010x}, {:#010x}) lies outside every region (flash [{:#010x}, {:#010x}), ram [{:#010x}, {:#010x}))",
                vaddr.saturating_add(memsz),
                map.flash.origin,
                map.flash.origin + map.flash.length,
                map.ram.origin,
                map.ram.origin + map.ram.length,
            ));
        }
        let ram = if in_ram { memsz } else { 0 };
        let flash = if filesz > 0 && (paddr != vaddr || in_flash) {
            if !map.flash.contains(paddr, filesz) {
                return err(format!(
                    "PT_LOAD segment {index}: load copy (LMA) [{paddr:#010x}, {:#010x}) lies outside flash [{:#010x}, {:#010x})",
                    paddr.saturating_add(filesz),
                    map.flash.origin,
                    map.flash.origin + map.flash.length,
                ));
            }
            filesz
        } else {
            0
        };
        flash_bytes = flash_bytes.saturating_add(flash);
        ram_bytes = ram_bytes.saturating_add(ram);
        segments.push(Segment {
            index,
            vaddr,
            paddr,
            filesz,
            memsz,
            flags: ph.p_flags(LE).0,
            flash,
            ram,
        });
    }
    if segments.is_empty() {
        return err("no PT_LOAD segment with a non-zero p_memsz: nothing is loaded");
    }
    Ok(Usage {
        machine,
        flash_bytes,
        ram_bytes,
        segments,
        sections: sections(data, header)?,
    })
}

fn sections(data: &[u8], header: &elf::FileHeader32<LE>) -> Result<Vec<Section>> {
    let table = header
        .sections(LE, data)
        .map_err(|e| Error(format!("section headers: {e}")))?;
    let mut out = Vec::new();
    for (index, sh) in table.enumerate() {
        let flags = sh.sh_flags(LE).0;
        let size = u64::from(sh.sh_size(LE));
        if flags & elf::SHF_ALLOC.0 == 0 || size == 0 {
            continue;
        }
        let name = table
            .section_name(LE, sh)
            .map_err(|e| Error(format!("section {}: name: {e}", index.0)))?;
        let name = String::from_utf8_lossy(name).into_owned();
        let nobits = sh.sh_type(LE) == elf::SHT_NOBITS;
        let kind = if nobits && is_reserved(&name) {
            SectionKind::Reserved
        } else if nobits {
            SectionKind::Bss
        } else if flags & elf::SHF_EXECINSTR.0 != 0 {
            SectionKind::Text
        } else if flags & elf::SHF_WRITE.0 != 0 {
            SectionKind::Data
        } else {
            SectionKind::Rodata
        };
        out.push(Section {
            name,
            kind,
            addr: u64::from(sh.sh_addr(LE)),
            size,
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

/// The sized function and object symbols of `.symtab`, largest first.
/// A stripped ELF has none.
///
/// Errors: the header errors of [`account`], damaged section headers, a
/// symbol table or string table past the end of the file, or a symbol name
/// outside its string table.
pub fn symbols(data: &[u8], map: &MemoryMap) -> Result<Vec<Symbol>> {
    let (machine, header) = parsed(data)?;
    let table = header
        .sections(LE, data)
        .map_err(|e| Error(format!("section headers: {e}")))?;
    let symtab = table
        .symbols(LE, data, elf::SHT_SYMTAB)
        .map_err(|e| Error(format!("symbol table: {e}")))?;
    let mut out = Vec::new();
    for (index, sym) in symtab.enumerate() {
        let size = u64::from(sym.st_size(LE));
        let kind = sym.st_type();
        let is_function = kind == elf::STT_FUNC;
        if size == 0 || !(is_function || kind == elf::STT_OBJECT) || sym.is_undefined(LE) {
            continue;
        }
        let mut addr = u64::from(sym.st_value(LE));
        if is_function && machine == Machine::Arm {
            addr &= !1;
        }
        let name = symtab
            .symbol_name(LE, sym)
            .map_err(|e| Error(format!("symbol {}: name: {e}", index.0)))?;
        out.push(Symbol {
            name: String::from_utf8_lossy(name).into_owned(),
            addr,
            size,
            is_function,
            region: map.region_of(addr),
        });
    }
    out.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}
