//! Shared by the size-check tests: a builder for little-endian ELF32 images
//! (ELF gABI layouts, written byte by byte so tests can damage any field) and
//! a runner for the `xtask` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

pub const EM_ARM: u16 = 40;
pub const EM_RISCV: u16 = 243;
pub const SHT_PROGBITS: u32 = 1;
pub const SHT_NOBITS: u32 = 8;
pub const SHF_WRITE: u32 = 1;
pub const SHF_ALLOC: u32 = 2;
pub const SHF_EXECINSTR: u32 = 4;

/// Byte offsets of header fields (ELF32).
pub const E_PHOFF: usize = 28;
pub const E_SHOFF: usize = 32;
pub const E_PHENTSIZE: usize = 42;
pub const E_PHNUM: usize = 44;
pub const E_SHSTRNDX: usize = 50;
/// The first program header starts right after the 52-byte ELF header.
pub const PHDR0: usize = 52;

/// A `PT_LOAD` segment: `data` is its file bytes (`p_filesz = data.len()`).
#[derive(Clone)]
pub struct Seg {
    pub vaddr: u32,
    pub paddr: u32,
    pub data: Vec<u8>,
    pub memsz: u32,
    pub flags: u32,
}

/// A section; PROGBITS sections point into segment `seg` at `addr - vaddr`.
#[derive(Clone)]
pub struct Sec {
    pub name: &'static str,
    pub sh_type: u32,
    pub flags: u32,
    pub addr: u32,
    pub size: u32,
    pub seg: Option<usize>,
}

/// A global symbol in section `shndx` (1-based index into the sections).
#[derive(Clone)]
pub struct SymSpec {
    pub name: String,
    pub value: u32,
    pub size: u32,
    pub func: bool,
    pub shndx: u16,
}

#[derive(Clone)]
pub struct ElfSpec {
    pub machine: u16,
    pub segs: Vec<Seg>,
    pub secs: Vec<Sec>,
    pub syms: Vec<SymSpec>,
}

fn align4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

pub fn set16(v: &mut [u8], at: usize, x: u16) {
    v[at..at + 2].copy_from_slice(&x.to_le_bytes());
}

pub fn set32(v: &mut [u8], at: usize, x: u32) {
    v[at..at + 4].copy_from_slice(&x.to_le_bytes());
}

pub fn get32(v: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]])
}

impl ElfSpec {
    /// The ELF file: header, program headers, segment bytes, `.shstrtab`,
    /// `.strtab`, `.symtab`, section headers.
    pub fn build(&self) -> Vec<u8> {
        let phnum = self.segs.len();
        let mut out = vec![0u8; 52 + 32 * phnum];
        let mut seg_off = Vec::new();
        for s in &self.segs {
            align4(&mut out);
            seg_off.push(out.len() as u32);
            out.extend_from_slice(&s.data);
        }
        // String tables and symbols.
        let mut shstr = vec![0u8];
        let name_of = |n: &str, t: &mut Vec<u8>| {
            let off = t.len() as u32;
            t.extend_from_slice(n.as_bytes());
            t.push(0);
            off
        };
        let sec_names: Vec<u32> = self
            .secs
            .iter()
            .map(|s| name_of(s.name, &mut shstr))
            .collect();
        let symtab_name = name_of(".symtab", &mut shstr);
        let strtab_name = name_of(".strtab", &mut shstr);
        let shstrtab_name = name_of(".shstrtab", &mut shstr);
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 16];
        for s in &self.syms {
            let n = name_of(&s.name, &mut strtab);
            put32(&mut symtab, n);
            put32(&mut symtab, s.value);
            put32(&mut symtab, s.size);
            symtab.push((1 << 4) | if s.func { 2 } else { 1 }); // STB_GLOBAL, STT_FUNC/OBJECT
            symtab.push(0);
            put16(&mut symtab, s.shndx);
        }
        align4(&mut out);
        let shstr_off = out.len() as u32;
        out.extend_from_slice(&shstr);
        let strtab_off = out.len() as u32;
        out.extend_from_slice(&strtab);
        align4(&mut out);
        let symtab_off = out.len() as u32;
        out.extend_from_slice(&symtab);
        align4(&mut out);
        let shoff = out.len() as u32;
        let nsec = self.secs.len() as u32;
        let mut sh = vec![0u8; 40];
        let mut shdr = |name, ty, flags, addr, off, size, link, info, entsize| {
            for x in [name, ty, flags, addr, off, size, link, info, 4, entsize] {
                put32(&mut sh, x);
            }
        };
        for (s, name) in self.secs.iter().zip(&sec_names) {
            let off = match s.seg {
                Some(i) if s.sh_type != SHT_NOBITS => seg_off[i] + (s.addr - self.segs[i].vaddr),
                _ => 0,
            };
            shdr(*name, s.sh_type, s.flags, s.addr, off, s.size, 0, 0, 0);
        }
        shdr(
            symtab_name,
            2,
            0,
            0,
            symtab_off,
            symtab.len() as u32,
            nsec + 2,
            1,
            16,
        );
        shdr(
            strtab_name,
            3,
            0,
            0,
            strtab_off,
            strtab.len() as u32,
            0,
            0,
            0,
        );
        shdr(
            shstrtab_name,
            3,
            0,
            0,
            shstr_off,
            shstr.len() as u32,
            0,
            0,
            0,
        );
        out.extend_from_slice(&sh);

        let mut h = Vec::new();
        h.extend_from_slice(b"\x7fELF");
        h.extend_from_slice(&[1, 1, 1, 0]); // ELFCLASS32, ELFDATA2LSB, EV_CURRENT, SYSV
        h.extend_from_slice(&[0; 8]);
        put16(&mut h, 2); // ET_EXEC
        put16(&mut h, self.machine);
        put32(&mut h, 1);
        put32(&mut h, self.segs.first().map_or(0, |s| s.vaddr));
        put32(&mut h, 52);
        put32(&mut h, shoff);
        put32(&mut h, 0);
        put16(&mut h, 52);
        put16(&mut h, 32);
        put16(&mut h, phnum as u16);
        put16(&mut h, 40);
        put16(&mut h, (nsec + 4) as u16);
        put16(&mut h, (nsec + 3) as u16);
        for (i, s) in self.segs.iter().enumerate() {
            for x in [
                1,
                seg_off[i],
                s.vaddr,
                s.paddr,
                s.data.len() as u32,
                s.memsz,
                s.flags,
                4,
            ] {
                put32(&mut h, x);
            }
        }
        out[..h.len()].copy_from_slice(&h);
        out
    }
}

pub const ARM_FLASH: u32 = 0x0000_0000;
pub const ARM_RAM: u32 = 0x2000_0000;
pub const RV_FLASH: u32 = 0x2001_0000;
pub const RV_RAM: u32 = 0x8000_0000;

/// Expected figures of [`firmware_like`], in bytes.
pub const FW_FLASH: u64 = 0x400 + 0x100 + 0x20;
pub const FW_RAM: u64 = 0x20 + 0x100 + 0x800;

/// A firmware-shaped image: vector table and code in flash, `.rodata`,
/// `.data` run in RAM and loaded from flash, `.bss`, and a `.stack`
/// reservation; `main_size` is the size of `fw_tests::main`.
pub fn firmware_like(machine: u16, flash: u32, ram: u32, main_size: u32) -> ElfSpec {
    let thumb = u32::from(machine == EM_ARM);
    let seg = |vaddr, paddr, filesz: usize, memsz, flags| Seg {
        vaddr,
        paddr,
        data: (0..filesz).map(|i| i as u8).collect(),
        memsz,
        flags,
    };
    let sec = |name, sh_type, flags, addr, size, seg| Sec {
        name,
        sh_type,
        flags,
        addr,
        size,
        seg,
    };
    let sym = |name: &str, value, size, func, shndx| SymSpec {
        name: name.to_string(),
        value,
        size,
        func,
        shndx,
    };
    ElfSpec {
        machine,
        segs: vec![
            seg(flash, flash, 0x400, 0x400, 5),
            seg(flash + 0x400, flash + 0x400, 0x100, 0x100, 4),
            seg(ram, flash + 0x500, 0x20, 0x20, 6),
            seg(ram + 0x20, ram + 0x20, 0, 0x100, 6),
            seg(ram + 0x120, ram + 0x120, 0, 0x800, 6),
        ],
        secs: vec![
            sec(
                ".vector_table",
                SHT_PROGBITS,
                SHF_ALLOC,
                flash,
                0x40,
                Some(0),
            ),
            sec(
                ".text",
                SHT_PROGBITS,
                SHF_ALLOC | SHF_EXECINSTR,
                flash + 0x40,
                0x3c0,
                Some(0),
            ),
            sec(
                ".rodata",
                SHT_PROGBITS,
                SHF_ALLOC,
                flash + 0x400,
                0x100,
                Some(1),
            ),
            sec(
                ".data",
                SHT_PROGBITS,
                SHF_ALLOC | SHF_WRITE,
                ram,
                0x20,
                Some(2),
            ),
            sec(
                ".bss",
                SHT_NOBITS,
                SHF_ALLOC | SHF_WRITE,
                ram + 0x20,
                0x100,
                Some(3),
            ),
            sec(
                ".stack",
                SHT_NOBITS,
                SHF_ALLOC | SHF_WRITE,
                ram + 0x120,
                0x800,
                Some(4),
            ),
        ],
        syms: vec![
            sym(
                "_ZN8fw_tests4main17h0123456789abcdefE",
                flash + 0x40 + thumb,
                main_size,
                true,
                2,
            ),
            sym(
                "_ZN4core3fmt5write17h0123456789abcdefE",
                flash + 0x240 + thumb,
                0x100,
                true,
                2,
            ),
            sym("memcpy", flash + 0x340 + thumb, 0x40, true, 2),
            sym(
                "_ZN6kernel5TASKS17h0123456789abcdefE",
                ram + 0x20,
                0x80,
                false,
                5,
            ),
        ],
    }
}

/// Writes `bytes` to a fresh file `name` under this test binary's scratch
/// directory `dir`.
pub fn scratch(dir: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs `cargo xtask size-check` (the built binary) with `args`.
pub fn size_check(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("size-check")
        .args(args)
        .output()
        .expect("xtask runs")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The first JSON object the run printed.
pub fn json(o: &Output) -> serde_json::Value {
    let (out, err) = text(o);
    let line = out
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no JSON; stderr: {err}"));
    serde_json::from_str(line).expect("JSON line")
}
