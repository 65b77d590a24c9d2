//! Reading QEMU's `-d in_asm[,exec,nochain]` logs into the set of executed
//! instructions.
//!
//! Formats (QEMU 7.2 and 10.0 print the same shapes):
//!
//! - `in_asm`, once per translated block (`accel/tcg/translator.c`,
//!   `translator_loop`): a `----------------` line, `IN: <symbol>`, possibly
//!   other lines (`Priv: 3; Virt: 0` on RISC-V), one line per instruction,
//!   `0x<address>:  <encoding>  <mnemonic> <operands>` (`disas/capstone.c`
//!   `cap_dump_insn` for Arm, `disas/riscv.c` for RISC-V; the encoding is
//!   one or more hex groups separated by single spaces, each a little-endian
//!   unit: `f852 3b04` is the bytes `52 f8 04 3b`), then an empty line;
//! - `exec`, before each executed block (`accel/tcg/cpu-exec.c`,
//!   `log_cpu_exec`): `Trace <cpu>: <host pointer> [<cs_base>/<pc>/<flags>/<cflags>] <symbol>`,
//!   the pc in 8 (7.2, 32-bit guests) or 16 (10.0) hex digits;
//! - `exec` also logs `Linking TBs …` when blocks are chained, i.e. when
//!   `nochain` is missing and chained executions are not logged.

use std::{
    collections::{BTreeMap, HashMap},
    io::BufRead,
    ops::Range,
};

use crate::Error;

/// The longest instruction any QEMU target has (x86: 15 bytes), bounding how
/// far before an address an overlapping instruction can start.
const MAX_INSN_LEN: u64 = 16;

/// One executed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insn {
    /// Its encoding as the log shows it, in memory order.
    pub bytes: Vec<u8>,
    /// How often it ran: the sum, over the translated blocks that contain
    /// it, of each block's logged executions, counting a block without
    /// `exec` lines once.
    pub count: u64,
}

/// What one QEMU run executed, keyed by guest address.
#[derive(Debug, Default, Clone)]
pub struct Executed {
    insns: BTreeMap<u64, Insn>,
    /// Translated blocks in the log.
    pub translations: u64,
    /// `exec` lines in the log.
    pub executions: u64,
    /// `exec` lines whose block was never translated in the log (e.g. cut
    /// off by `-dfilter`); they add nothing.
    pub unmatched_executions: u64,
    /// The log shows chained blocks (`Linking TBs`): `exec` lines miss the
    /// chained executions, so counts are lower bounds (the set is complete).
    pub chained: bool,
    /// The log's last line has no newline (QEMU was killed while writing
    /// it, e.g. at a timeout); it was ignored.
    pub truncated: bool,
}

impl Executed {
    /// The executed instructions, by address.
    pub fn insns(&self) -> &BTreeMap<u64, Insn> {
        &self.insns
    }

    /// The largest count of the instructions overlapping `range`, 0 if none
    /// does.
    pub fn max_count(&self, range: Range<u64>) -> u64 {
        self.insns
            .range(range.start.saturating_sub(MAX_INSN_LEN - 1)..range.end)
            .filter(|(addr, insn)| *addr + insn.bytes.len() as u64 > range.start)
            .map(|(_, insn)| insn.count)
            .max()
            .unwrap_or(0)
    }
}

/// A translated block: its instructions (address, encoding) and how often
/// `exec` lines show it ran.
struct Translation {
    pc: u64,
    insns: Vec<(u64, Vec<u8>)>,
    executions: u64,
}

#[derive(Default)]
struct Parser {
    translations: Vec<Translation>,
    /// The block being listed, from its `----------------` line on.
    listing: Option<Vec<(u64, Vec<u8>)>>,
    /// Translations whose first `exec` line has not been seen: the next
    /// `exec` of their pc binds its host pointer to them.
    unbound: HashMap<u64, usize>,
    by_host: HashMap<u64, usize>,
    latest_by_pc: HashMap<u64, usize>,
    executions: u64,
    unmatched: u64,
    chained: bool,
    truncated: bool,
}

/// Reads a QEMU log written with `-d in_asm` (each block translated counts
/// once) or `-d in_asm,exec,nochain` (each block counts as often as it ran).
///
/// # Errors
///
/// [`Error::Log`] for a line that starts like a log record but does not
/// parse, or a log with no `in_asm` block at all; [`Error::Io`] when reading
/// fails.
///
/// A last line without a newline is ignored (see [`Executed::truncated`]).
pub fn parse_qemu_log(reader: impl BufRead) -> Result<Executed, Error> {
    let mut reader = reader;
    let mut parser = Parser::default();
    let mut number = 0;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        number += 1;
        let Some(line) = buf.strip_suffix(b"\n") else {
            // QEMU was killed while writing its last line (a run that hit
            // its timeout): that line is dropped, the rest counts.
            parser.truncated = true;
            break;
        };
        // Guest symbol names may be any bytes; the fields parsed are ASCII.
        let line = String::from_utf8_lossy(line);
        parser.line(line.trim_end_matches('\r'), number)?;
    }
    if parser.truncated && parser.listing.as_ref().is_some_and(Vec::is_empty) {
        // The cut came before the block's first instruction.
        parser.listing = None;
    }
    parser.end_listing(number)?;
    if parser.translations.is_empty() {
        return Err(Error::Log {
            line: number,
            message: "no translated blocks (`IN:` listings): run QEMU with \
                      `-d in_asm -D <log>` (or `-d in_asm,exec,nochain` for execution counts)"
                .into(),
        });
    }
    Ok(parser.finish())
}

impl Parser {
    fn line(&mut self, line: &str, number: u64) -> Result<(), Error> {
        let bad = |what: &str| Error::Log {
            line: number,
            message: format!("cannot parse {what}: {line:?}"),
        };
        if let Some(listing) = &mut self.listing {
            if line.is_empty() {
                return self.end_listing(number);
            }
            if line.starts_with("0x") {
                listing.push(parse_insn(line).ok_or_else(|| bad("the instruction line"))?);
            }
            // `IN: <symbol>`, `Priv: …`: nothing to take.
            return Ok(());
        }
        if line.starts_with("----------------") {
            self.listing = Some(Vec::new());
        } else if line.starts_with("Trace ") {
            let (host, pc) = parse_exec(line).ok_or_else(|| bad("the exec line"))?;
            self.execution(host, pc);
        } else if line.starts_with("Linking TBs") {
            self.chained = true;
        }
        Ok(())
    }

    fn end_listing(&mut self, number: u64) -> Result<(), Error> {
        let Some(insns) = self.listing.take() else {
            return Ok(());
        };
        let Some(&(pc, _)) = insns.first() else {
            return Err(Error::Log {
                line: number,
                message: "a translated block lists no instructions \
                          (was QEMU built without a disassembler?)"
                    .into(),
            });
        };
        let index = self.translations.len();
        self.translations.push(Translation {
            pc,
            insns,
            executions: 0,
        });
        self.unbound.insert(pc, index);
        self.latest_by_pc.insert(pc, index);
        Ok(())
    }

    fn execution(&mut self, host: u64, pc: u64) {
        self.executions += 1;
        if let Some(index) = self.unbound.remove(&pc) {
            self.by_host.insert(host, index);
        }
        let index = self
            .by_host
            .get(&host)
            .filter(|&&i| self.translations[i].pc == pc)
            .or_else(|| self.latest_by_pc.get(&pc));
        match index {
            Some(&i) => self.translations[i].executions += 1,
            None => self.unmatched += 1,
        }
    }

    fn finish(self) -> Executed {
        let mut insns: BTreeMap<u64, Insn> = BTreeMap::new();
        for translation in &self.translations {
            let count = translation.executions.max(1);
            for (addr, bytes) in &translation.insns {
                insns
                    .entry(*addr)
                    .or_insert_with(|| Insn {
                        bytes: bytes.clone(),
                        count: 0,
                    })
                    .count += count;
            }
        }
        Executed {
            insns,
            translations: self.translations.len() as u64,
            executions: self.executions,
            unmatched_executions: self.unmatched,
            chained: self.chained,
            truncated: self.truncated,
        }
    }
}

/// `0x<addr>:  <hex groups>  <mnemonic…>` → (address, bytes in memory order).
fn parse_insn(line: &str) -> Option<(u64, Vec<u8>)> {
    let (addr, rest) = line.split_once(':')?;
    let addr = u64::from_str_radix(addr.strip_prefix("0x")?, 16).ok()?;
    // The encoding ends where two spaces start the mnemonic (or at the end
    // of a continuation line).
    let encoding = rest.trim_start().split("  ").next()?;
    let mut bytes = Vec::new();
    for group in encoding.split(' ') {
        if group.is_empty() || group.len() % 2 != 0 || group.len() > 16 {
            return None;
        }
        let unit = u64::from_str_radix(group, 16).ok()?;
        bytes.extend_from_slice(&unit.to_le_bytes()[..group.len() / 2]);
    }
    Some((addr, bytes))
}

/// `Trace <cpu>: <host ptr> [<cs_base>/<pc>/…` → (host pointer, pc).
fn parse_exec(line: &str) -> Option<(u64, u64)> {
    let (_, rest) = line.split_once(": ")?;
    let (host, fields) = rest.split_once(" [")?;
    let host = u64::from_str_radix(host.strip_prefix("0x")?, 16).ok()?;
    let pc = fields.split('/').nth(1)?;
    Some((host, u64::from_str_radix(pc, 16).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_lines_of_both_disassemblers() {
        // Arm (capstone): 16- and 32-bit Thumb.
        let thumb = parse_insn("0x000000ec:  4809       ldr      r0, [pc, #0x24]");
        assert_eq!(thumb, Some((0xec, vec![0x09, 0x48])));
        let thumb2 = parse_insn("0x000000f6:  f852 3b04  ldr      r3, [r2], #4");
        assert_eq!(thumb2, Some((0xf6, vec![0x52, 0xf8, 0x04, 0x3b])));
        // A mnemonic made of hex digits still ends the encoding.
        let add = parse_insn("0x00000084:  4404       add      r4, r0");
        assert_eq!(add, Some((0x84, vec![0x04, 0x44])));
        // RISC-V (disas/riscv.c): 32-bit and compressed.
        let rv = parse_insn(
            "0x20010000:  5fff1197          auipc                   gp,393201               # 0x80001000",
        );
        assert_eq!(rv, Some((0x2001_0000, vec![0x97, 0x11, 0xff, 0x5f])));
        let rvc = parse_insn("0x2001000c:  1141              addi                    sp,sp,-16");
        assert_eq!(rvc, Some((0x2001_000c, vec![0x41, 0x11])));
        assert_eq!(parse_insn("0x00000000:  OBJD-T: 0948"), None);
    }

    #[test]
    fn a_log_cut_inside_a_line_keeps_what_came_before() {
        let log = "----------------\nIN: main\n\
                   0x00000008:  b580       push     {r7, lr}\n\
                   0x0000000a:  466f       mov      r7, sp\n\
                   \n\
                   Trace 0: 0x7f0000000100 [00800400/0000000000000008/00000110/ff022000] main\n\
                   ----------------\nIN: main\n0x0000";
        let executed = parse_qemu_log(log.as_bytes()).unwrap();
        assert!(executed.truncated);
        assert_eq!(executed.translations, 1);
        let addresses: Vec<_> = executed.insns().keys().copied().collect();
        assert_eq!(addresses, [0x8, 0xa]);
        assert_eq!(executed.insns()[&0x8].count, 1);
        assert_eq!(executed.max_count(0x9..0xb), 1);
        assert_eq!(executed.max_count(0xc..0x10), 0);
    }

    #[test]
    fn exec_lines_of_qemu_7_2_and_10_0() {
        let v10 = "Trace 0: 0x7fb2b0000100 [00800400/00000000000000ec/00000110/ff022200] reset";
        assert_eq!(parse_exec(v10), Some((0x7fb2_b000_0100, 0xec)));
        let v72 = "Trace 0: 0x7f32d4000240 [00000000/20010000/00101003/ff020200] ";
        assert_eq!(parse_exec(v72), Some((0x7f32_d400_0240, 0x2001_0000)));
    }
}
