//! Malformed and hostile ELFs: a corpus generated here (under the test's
//! scratch directory, also usable as a fuzzing seed corpus), each checked
//! in-process and through `cargo xtask size-check --elf`. Every one must give
//! a clear error naming the file and the problem: no panic, abort or hang.

mod size_common;

use size_common::*;
use xtask::boards::{MemoryMap, Span};
use xtask::elf::{self, Elf};

fn valid() -> Vec<u8> {
    firmware_like(EM_ARM, ARM_FLASH, ARM_RAM, 0x200).build()
}

fn with(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = valid();
    f(&mut v);
    v
}

/// (file name, bytes, what the error must say)
fn corpus() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let v = valid();
    let shoff = get32(&v, E_SHOFF) as usize;
    vec![
        ("empty.elf", Vec::new(), "truncated: 0 B"),
        ("magic-only.elf", b"\x7fEL".to_vec(), "truncated: 3 B"),
        (
            "truncated-header.elf",
            v[..30].to_vec(),
            "shorter than the 52-byte ELF32 header",
        ),
        (
            "truncated-tables.elf",
            v[..v.len() / 2].to_vec(),
            "past the end of the file",
        ),
        (
            "not-an-elf.elf",
            b"#!/bin/sh\necho not firmware\n".to_vec(),
            "not an ELF file",
        ),
        ("elf64.elf", with(|v| v[4] = 2), "64-bit ELF"),
        ("big-endian.elf", with(|v| v[5] = 2), "big-endian"),
        ("bad-class.elf", with(|v| v[4] = 9), "invalid ELF class 9"),
        (
            "bad-version.elf",
            with(|v| v[6] = 0),
            "unsupported ELF version 0",
        ),
        (
            "foreign-machine.elf",
            with(|v| set16(v, 18, 62)),
            "foreign machine e_machine = 62",
        ),
        (
            "relocatable.elf",
            with(|v| set16(v, 16, 1)),
            "not an executable",
        ),
        (
            "no-phdrs.elf",
            with(|v| set16(v, E_PHNUM, 0)),
            "no program headers",
        ),
        (
            "bad-phentsize.elf",
            with(|v| set16(v, E_PHENTSIZE, 56)),
            "e_phentsize = 56",
        ),
        (
            "phoff-past-eof.elf",
            with(|v| set32(v, E_PHOFF, 0xFFFF_FF00)),
            "program header table (e_phoff = 0xffffff00",
        ),
        (
            "shoff-past-eof.elf",
            with(|v| set32(v, E_SHOFF, 0x7FFF_0000)),
            "section header table (e_shoff = 0x7fff0000",
        ),
        (
            "absurd-phnum.elf",
            with(|v| set16(v, E_PHNUM, 0xFFF0)),
            "65520 entries",
        ),
        (
            "pn-xnum.elf",
            with(|v| {
                set16(v, E_PHNUM, 0xFFFF);
                set32(v, shoff + 28, 0x0FFF_FFFF);
            }),
            "268435455 entries",
        ),
        (
            "filesz-past-eof.elf",
            with(|v| set32(v, PHDR0 + 16, 0x0010_0000)),
            "PT_LOAD segment 0: file bytes",
        ),
        (
            "offset-past-eof.elf",
            with(|v| set32(v, PHDR0 + 4, 0xFFFF_FFF0)),
            "end past the end of the file",
        ),
        (
            "memsz-below-filesz.elf",
            with(|v| set32(v, PHDR0 + 20, 1)),
            "p_memsz = 1 B is smaller than p_filesz = 1024 B",
        ),
        (
            "vma-outside-regions.elf",
            with(|v| set32(v, PHDR0 + 8, 0x6000_0000)),
            "outside every region",
        ),
        (
            "lma-outside-flash.elf",
            with(|v| set32(v, PHDR0 + 2 * 32 + 12, 0x1000_0000)),
            "load copy (LMA) [0x10000000, 0x10000020) lies outside flash",
        ),
        (
            "vma-wraps.elf",
            with(|v| set32(v, PHDR0 + 8, 0xFFFF_FFF0)),
            "outside every region",
        ),
        (
            "bad-shstrndx.elf",
            with(|v| set16(v, E_SHSTRNDX, 200)),
            "section headers",
        ),
    ]
}

fn memory_map() -> MemoryMap {
    MemoryMap {
        flash: Span {
            origin: 0,
            length: 0x4_0000,
        },
        ram: Span {
            origin: 0x2000_0000,
            length: 0x1_0000,
        },
    }
}

fn account(data: &[u8]) -> elf::Result<elf::Usage> {
    elf::account(&Elf::parse(data)?, &memory_map())
}

fn symbols(data: &[u8]) -> elf::Result<Vec<elf::Symbol>> {
    Elf::parse(data)?.symbols(&memory_map())
}

#[test]
fn every_malformed_file_gets_a_clear_error_in_process() {
    for (name, bytes, expected) in corpus() {
        let e = account(&bytes).expect_err(name);
        assert!(e.0.contains(expected), "{name}: `{e}` lacks `{expected}`");
        // The symbol walk must not panic either, whatever it returns.
        let _ = symbols(&bytes);
    }
}

#[test]
fn every_malformed_file_fails_the_cli_with_its_name() {
    for (name, bytes, expected) in corpus() {
        let path = scratch("size-corpus", name, &bytes);
        let o = size_check(&["--elf", path.to_str().unwrap(), "--board", "lm3s6965evb"]);
        let (_, err) = text(&o);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{name}: exit {:?}, stderr {err}",
            o.status
        );
        assert!(
            err.contains(&format!("{name}:"))
                && err.contains(expected)
                && !err.contains("panicked"),
            "{name}: {err}"
        );
    }
}

#[test]
fn damaged_symbol_names_are_an_error_not_a_panic() {
    let v = valid();
    let shoff = get32(&v, E_SHOFF) as usize;
    // Section headers: 0 null, 1..=6 the image's, 7 .symtab; symbol 1's st_name.
    let symtab_off = get32(&v, shoff + 7 * 40 + 16) as usize;
    let mut bad = v.clone();
    set32(&mut bad, symtab_off + 16, 0x00FF_FFFF);
    let e = symbols(&bad).unwrap_err();
    assert!(e.0.contains("symbol 1: name"), "{e}");
    let path = scratch("size-corpus", "bad-symbol-name.elf", &bad);
    let o = size_check(&["--elf", path.to_str().unwrap(), "--symbols"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("bad-symbol-name.elf: symbol 1: name"), "{err}");
    // The sizes themselves do not depend on the symbol table.
    let o = size_check(&["--elf", path.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn every_prefix_of_a_valid_image_is_handled() {
    let v = valid();
    for len in 0..v.len() {
        let _ = account(&v[..len]);
        let _ = symbols(&v[..len]);
    }
    assert!(account(&v).is_ok());
}
