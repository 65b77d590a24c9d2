//! Intel HEX images of the `.bin` (Intel, "Hexadecimal Object File Format
//! Specification", rev. A, 1988), written and read with the `ihex` crate.
//!
//! A `.hex` is the `.bin`'s bytes at its load address in 32-bit linear
//! form (I32HEX): an extended linear address record (type 04) wherever the
//! upper 16 address bits change (none below 64 KiB), 16-byte data records
//! (type 00) as `objcopy -O ihex` writes them, aligned to 16 bytes so that
//! none crosses a 64 KiB boundary, one start linear address record
//! (type 05) with the ELF entry point, and the end-of-file record (type
//! 01), one record per LF-terminated line. `objcopy` writes 8086 segment
//! records (types 02, 03) for addresses below 1 MiB; these images never
//! hold them, so a 32-bit flasher reads the same addresses everywhere.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use ihex::{ReaderError, Record};

use super::archive::{Members, read_checked};
use super::flash::FlashImage;
use super::manifest::{Artifact, ArtifactKind, ImageEntry};

/// Data bytes per record, as `objcopy -O ihex` writes them.
const RECORD_BYTES: u64 = 16;
/// The span one extended linear address covers.
const SEGMENT: u64 = 1 << 16;

/// The Intel HEX text of `image`.
///
/// Errors: the image ends above 4 GiB or its entry point does not fit 32
/// bits, which I32HEX cannot address.
pub fn encode(image: &FlashImage) -> Result<String> {
    let end = image.load_address + image.bin.len() as u64;
    if end > 1 << 32 {
        bail!(
            "the image [{:#x}, {end:#x}) ends above 4 GiB, which Intel HEX cannot address",
            image.load_address
        );
    }
    let entry = u32::try_from(image.entry)
        .map_err(|_| anyhow!("entry point {:#x} does not fit 32 bits", image.entry))?;
    let mut records = Vec::with_capacity(image.bin.len() / RECORD_BYTES as usize + 3);
    let (mut addr, mut upper, mut rest) = (image.load_address, 0, image.bin.as_slice());
    while !rest.is_empty() {
        if addr / SEGMENT != upper {
            upper = addr / SEGMENT;
            // `end` is at most 4 GiB, so the upper half fits 16 bits.
            records.push(Record::ExtendedLinearAddress(upper as u16));
        }
        let len = (RECORD_BYTES - addr % RECORD_BYTES).min(rest.len() as u64) as usize;
        let (value, tail) = rest.split_at(len);
        records.push(Record::Data {
            offset: (addr % SEGMENT) as u16,
            value: value.to_vec(),
        });
        (addr, rest) = (addr + len as u64, tail);
    }
    records.push(Record::StartLinearAddress(entry));
    records.push(Record::EndOfFile);
    ihex::create_object_file_representation(&records)
        .map_err(|e| anyhow!("cannot write Intel HEX: {e}"))
}

/// Checks that the archive member `image.hex` decodes to exactly the member
/// `image.bin` at the manifest's `load_address`, with its `entry` as the
/// start address.
///
/// Errors: a member is missing, the manifest's addresses do not parse, or
/// the `.hex` is wrong; the message names the member and the line.
pub fn check_member(members: &Members, image: &ImageEntry) -> Result<()> {
    let member = |path: &str| {
        members
            .get(path)
            .with_context(|| format!("manifest.json lists `{path}`, which is not in the archive"))
    };
    let (hex, bin) = (member(&image.hex.path)?, member(&image.bin.path)?);
    let load_address = address("load_address", &image.load_address)?;
    let entry = address("entry", &image.entry)?;
    decode_matches(hex, bin, load_address, entry).with_context(|| format!("`{}`", image.hex.path))
}

/// Checks that a release file that says it copies an archive member
/// (`copy_of`) holds the same bytes as that member, and that every
/// `intel-hex` file says so (its archive member is checked against the
/// `.bin`, the copy only against the member).
///
/// Errors: an `intel-hex` file without `copy_of`, the archive is not among
/// `files` or is unsafe to read, the member is missing, or the bytes differ.
pub fn check_copy(
    artifact: &Artifact,
    bytes: &[u8],
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let Some(copy) = &artifact.copy_of else {
        if artifact.kind == ArtifactKind::IntelHex {
            bail!("an intel-hex file must name the archive member it copies (copy_of)");
        }
        return Ok(());
    };
    let archive = files.get(&copy.archive).with_context(|| {
        format!(
            "is a copy of `{}` in `{}`, which is not in the release",
            copy.member, copy.archive
        )
    })?;
    let root = copy
        .archive
        .strip_suffix(".tar.gz")
        .unwrap_or(&copy.archive);
    let (members, _links) =
        read_checked(archive, root).with_context(|| format!("`{}`", copy.archive))?;
    match members.get(&copy.member) {
        None => bail!("`{}` holds no `{}` to copy", copy.archive, copy.member),
        Some(m) if m.as_slice() != bytes => bail!(
            "differs from `{}` in `{}`, of which it is a copy",
            copy.member,
            copy.archive
        ),
        Some(_) => Ok(()),
    }
}

/// A manifest address, `0x` and hex digits.
fn address(field: &str, text: &str) -> Result<u64> {
    text.strip_prefix("0x")
        .and_then(|digits| u64::from_str_radix(digits, 16).ok())
        .with_context(|| format!("manifest.json: {field} `{text}` is not a 0x-prefixed address"))
}

/// Decodes `hex` and requires exactly `bin` at `load_address`: contiguous
/// data records in address order, valid checksums, nothing outside
/// `[load_address, load_address + bin.len())`, one start address equal to
/// `entry`, and the end-of-file record last.
///
/// Errors name the 1-based line and what is wrong with it.
fn decode_matches(hex: &[u8], bin: &[u8], load_address: u64, entry: u64) -> Result<()> {
    let text = std::str::from_utf8(hex)
        .map_err(|e| anyhow!("not text: invalid UTF-8 at byte {}", e.valid_up_to()))?;
    let mut decoder = Decoder {
        bin,
        load_address,
        entry,
        upper: 0,
        next: load_address,
        start: None,
        eof: None,
    };
    // Blank lines carry no record, as `ihex::Reader` also treats them.
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        decoder
            .record(i + 1, line)
            .with_context(|| format!("line {}", i + 1))?;
    }
    decoder.finish()
}

/// What the records read so far have established.
struct Decoder<'a> {
    bin: &'a [u8],
    load_address: u64,
    entry: u64,
    /// Base address from the last extended linear address record.
    upper: u64,
    /// Where the next data record must start.
    next: u64,
    /// Line of the start linear address record.
    start: Option<usize>,
    /// Line of the end-of-file record.
    eof: Option<usize>,
}

impl Decoder<'_> {
    fn record(&mut self, line: usize, text: &str) -> Result<()> {
        if let Some(eof) = self.eof {
            bail!("record after the end-of-file record of line {eof}");
        }
        let record = Record::from_record_string(text).map_err(|e| match e {
            ReaderError::ChecksumMismatch(computed, stored) => anyhow!(
                "checksum mismatch: the record's checksum byte is {stored:02X}, its bytes \
                 give {computed:02X}"
            ),
            other => anyhow!("not an Intel HEX record: {other}"),
        })?;
        match record {
            Record::Data { offset, value } => self.data(self.upper + u64::from(offset), &value),
            Record::ExtendedLinearAddress(upper) => {
                self.upper = u64::from(upper) * SEGMENT;
                Ok(())
            }
            Record::StartLinearAddress(start) => {
                if let Some(first) = self.start.replace(line) {
                    bail!("second start linear address record (the first is on line {first})");
                }
                if u64::from(start) != self.entry {
                    bail!(
                        "start address {start:#010x} is not the manifest's entry point {:#010x}",
                        self.entry
                    );
                }
                Ok(())
            }
            Record::EndOfFile => {
                self.eof = Some(line);
                Ok(())
            }
            other => bail!(
                "record type {:02X} uses 8086 segment addressing; a 32-bit image holds only \
                 types 00, 01, 04 and 05",
                other.record_type()
            ),
        }
    }

    fn data(&mut self, addr: u64, value: &[u8]) -> Result<()> {
        let end = addr + value.len() as u64;
        let image_end = self.load_address + self.bin.len() as u64;
        if end > self.upper + SEGMENT {
            bail!(
                "data at {addr:#010x} ({} bytes) crosses a 64 KiB boundary",
                value.len()
            );
        }
        if addr < self.load_address || end > image_end {
            bail!(
                "data [{addr:#010x}, {end:#010x}) lies outside the image [{:#010x}, \
                 {image_end:#010x}) that the manifest and the .bin give",
                self.load_address
            );
        }
        if addr < self.next {
            bail!(
                "data at {addr:#010x} overlaps the bytes before {:#010x}, already given",
                self.next
            );
        }
        if addr > self.next {
            bail!(
                "gap: data resumes at {addr:#010x}, the previous data ended at {:#010x}",
                self.next
            );
        }
        let at = (addr - self.load_address) as usize;
        let expected = &self.bin[at..at + value.len()];
        if let Some(k) = (0..value.len()).find(|&k| value[k] != expected[k]) {
            bail!(
                "byte at {:#010x} is {:#04x}, the .bin has {:#04x}",
                addr + k as u64,
                value[k],
                expected[k]
            );
        }
        self.next = end;
        Ok(())
    }

    fn finish(self) -> Result<()> {
        if self.eof.is_none() {
            bail!("no end-of-file record (type 01) at the end");
        }
        let image_end = self.load_address + self.bin.len() as u64;
        if self.next != image_end {
            bail!(
                "data ends at {:#010x}, the .bin at {image_end:#010x}: {} bytes are missing",
                self.next,
                image_end - self.next
            );
        }
        if self.start.is_none() {
            bail!("no start linear address record (type 05) with the entry point");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(load_address: u64, len: usize) -> FlashImage {
        FlashImage {
            bin: (0..len).map(|i| (i * 7 + 3) as u8).collect(),
            load_address,
            entry: load_address + 1,
            flash_bytes: len as u64,
            ram_bytes: 0,
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn below_64_kib_there_is_no_extended_address_and_records_hold_16_bytes() {
        let img = image(0, 40);
        let hex = encode(&img).unwrap();
        let l = lines(&hex);
        assert_eq!(l.len(), 5, "{hex}");
        assert!(l[..3].iter().all(|r| &r[7..9] == "00"), "{hex}");
        assert_eq!((&l[0][..3], &l[2][..3]), (":10", ":08"));
        assert_eq!(l[3], ":0400000500000001F6");
        assert_eq!(l[4], ":00000001FF");
        assert!(hex.ends_with(":00000001FF\n"));
        decode_matches(hex.as_bytes(), &img.bin, 0, 1).unwrap();
    }

    #[test]
    fn the_hifive1_load_address_gets_an_extended_linear_address_record() {
        let img = image(0x2001_0000, 20);
        let hex = encode(&img).unwrap();
        // The record llvm-objcopy -O ihex writes for the same address.
        assert_eq!(lines(&hex)[0], ":020000042001D9");
        decode_matches(hex.as_bytes(), &img.bin, 0x2001_0000, 0x2001_0001).unwrap();
    }

    #[test]
    fn records_split_at_64_kib_boundaries_and_alignment() {
        let img = image(0x2000_FFF9, 30);
        let hex = encode(&img).unwrap();
        let l = lines(&hex);
        // 7 bytes to 0x2001_0000, then a new upper half, 16 + 7 bytes.
        assert_eq!(l[0], ":020000042000DA");
        assert_eq!(&l[1][..9], ":07FFF900");
        assert_eq!(l[2], ":020000042001D9");
        assert_eq!((&l[3][..9], &l[4][..9]), (":10000000", ":07001000"));
        decode_matches(hex.as_bytes(), &img.bin, img.load_address, img.entry).unwrap();
    }

    #[test]
    fn images_above_4_gib_are_refused() {
        let err = encode(&image(0xFFFF_FFF0, 17)).unwrap_err();
        assert!(err.to_string().contains("above 4 GiB"), "{err}");
    }

    /// Intel HEX text of `records`, as the crate writes it.
    fn hex(records: &[Record]) -> String {
        ihex::create_object_file_representation(records).unwrap()
    }

    fn data(offset: u16, value: &[u8]) -> Record {
        Record::Data {
            offset,
            value: value.to_vec(),
        }
    }

    /// The image the decoding tests check against: 8 bytes at 0x100.
    const BIN: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    /// The message `decode_matches` gives for `text` against [`BIN`] with
    /// entry 0x101.
    fn error_of(text: &str) -> String {
        let err =
            decode_matches(text.as_bytes(), &BIN, 0x100, 0x101).expect_err("accepted a bad .hex");
        format!("{err:#}")
    }

    #[test]
    fn decoding_names_the_line_and_the_problem() {
        let start = Record::StartLinearAddress(0x101);
        let eof = Record::EndOfFile;
        let (a, b) = (data(0x100, &[1, 2, 3, 4]), data(0x104, &[5, 6, 7, 8]));
        let good = hex(&[a.clone(), b.clone(), start.clone(), eof.clone()]);
        decode_matches(good.as_bytes(), &BIN, 0x100, 0x101).unwrap();
        for (records, want) in [
            (
                vec![b.clone(), a.clone(), start.clone(), eof.clone()],
                "line 1: gap",
            ),
            (
                vec![a.clone(), data(0x102, &[3, 4, 5, 6, 7, 8]), eof.clone()],
                "line 2: data at 0x00000102 overlaps",
            ),
            (
                vec![a.clone(), data(0x104, &[5, 6, 7, 8, 9]), eof.clone()],
                "line 2: data [0x00000104, 0x00000109) lies outside",
            ),
            (
                vec![data(0xFC, &[0; 4]), eof.clone()],
                "line 1: data [0x000000fc, 0x00000100) lies outside",
            ),
            (
                vec![a.clone(), data(0x104, &[5, 6, 0, 8]), eof.clone()],
                "line 2: byte at 0x00000106 is 0x00, the .bin has 0x07",
            ),
            (
                vec![a.clone(), eof.clone()],
                "data ends at 0x00000104, the .bin at 0x00000108: 4 bytes are missing",
            ),
            (
                vec![a.clone(), b.clone(), eof.clone()],
                "no start linear address record",
            ),
            (
                vec![
                    a.clone(),
                    b.clone(),
                    Record::StartLinearAddress(0x100),
                    eof.clone(),
                ],
                "line 3: start address 0x00000100 is not the manifest's entry point 0x00000101",
            ),
            (
                vec![
                    a.clone(),
                    b.clone(),
                    start.clone(),
                    start.clone(),
                    eof.clone(),
                ],
                "line 4: second start linear address record (the first is on line 3)",
            ),
            (
                vec![Record::ExtendedSegmentAddress(0), a.clone(), eof.clone()],
                "line 1: record type 02 uses 8086 segment addressing",
            ),
            (
                vec![Record::ExtendedLinearAddress(1), a.clone(), eof.clone()],
                "line 2: data [0x00010100, 0x00010104) lies outside",
            ),
        ] {
            let err = error_of(&hex(&records));
            assert!(err.contains(want), "want `{want}`, got `{err}`");
        }
        let missing_eof = good.replace(":00000001FF\n", "");
        assert!(error_of(&missing_eof).contains("no end-of-file record"));
        let after_eof = format!("{good}{}\n", good.lines().next().unwrap());
        let err = error_of(&after_eof);
        assert!(
            err.contains("line 5: record after the end-of-file record of line 4"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_checksum_is_reported_with_both_bytes() {
        let text = hex(&[data(0x100, &BIN), Record::EndOfFile]);
        // `:08010000` + data + checksum: replace the checksum byte.
        let first = text.lines().next().unwrap();
        let broken = text.replacen(first, &format!("{}00", &first[..first.len() - 2]), 1);
        let want = format!(
            "line 1: checksum mismatch: the record's checksum byte is 00, its bytes give {}",
            &first[first.len() - 2..]
        );
        let err = error_of(&broken);
        assert!(err.contains(&want), "{err}");
    }
}
