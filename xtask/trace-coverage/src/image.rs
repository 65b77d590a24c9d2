//! An ELF image's DWARF line table (DWARF 5 §6.2, "Line Number
//! Information") and the code bytes a log is checked against.

use std::{borrow::Cow, collections::HashMap, ops::Range};

use gimli::{EndianSlice, RunTimeEndian};
use object::{Object, ObjectSection, SectionKind};

use crate::{Error, Executed};

/// One row range of a line program: the instructions at
/// `start..end` (bytes) were generated for `line` of `files[file]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub start: u64,
    pub end: u64,
    pub file: usize,
    pub line: u32,
}

/// An allocated section's addresses and bytes.
struct Section {
    range: Range<u64>,
    data: Vec<u8>,
}

/// What coverage needs of one ELF: its line rows and its code.
pub struct Image {
    rows: Vec<Row>,
    files: Vec<String>,
    /// Allocated sections with contents.
    sections: Vec<Section>,
    little_endian: bool,
}

impl Image {
    /// Reads `elf` (the whole file).
    ///
    /// Rows are taken from every compilation unit's line program: each row
    /// covers the addresses from its own to the next row's, up to the
    /// sequence's `end_sequence` row; rows for line 0 (code without a source
    /// line) are dropped. A sequence that does not lie inside an executable
    /// section (`SHF_EXECINSTR`) is dropped whole: linkers point the line
    /// programs of code removed by `--gc-sections` at address 0 (a
    /// "tombstone"), where they would otherwise overlap real code. File
    /// paths are the compilation directory, the file's include directory
    /// and its name joined (`DW_AT_comp_dir`, `include_directories`,
    /// `file_names`), exactly as the DWARF holds them, so remapped paths
    /// (`--remap-path-prefix`) stay remapped.
    ///
    /// # Errors
    ///
    /// [`Error::Elf`] when `elf` is not an ELF file, has no `.debug_line`
    /// section (built without debug info), or its DWARF does not parse.
    pub fn from_elf(elf: &[u8]) -> Result<Image, Error> {
        let file = object::File::parse(elf).map_err(|e| Error::Elf(format!("not an ELF: {e}")))?;
        if file.format() != object::BinaryFormat::Elf {
            return Err(Error::Elf(format!("not an ELF but {:?}", file.format())));
        }
        if file.section_by_name(".debug_line").is_none() {
            return Err(Error::Elf(
                "no DWARF line information (.debug_line): build the image with debug info \
                 (`debug = true` or `debug = \"line-tables-only\"` in its profile)"
                    .into(),
            ));
        }
        let sections = gimli::DwarfSections::load(|id| section_data(&file, id.name()))?;
        let endian = if file.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let dwarf = sections.borrow(|data| EndianSlice::new(data, endian));
        let text: Vec<Range<u64>> = file
            .sections()
            .filter(|s| s.kind() == SectionKind::Text)
            .map(|s| s.address()..s.address() + s.size())
            .collect();
        let mut lines = LineReader {
            text,
            ..LineReader::default()
        };
        lines
            .read(&dwarf)
            .map_err(|e| Error::Elf(format!("DWARF: {e}")))?;
        lines.rows.sort_by_key(|row| (row.start, row.end));
        Ok(Image {
            rows: lines.rows,
            files: lines.files,
            sections: code_sections(&file)?,
            little_endian: file.is_little_endian(),
        })
    }

    /// The line rows, by address.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Source file paths, indexed by [`Row::file`].
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Checks that every executed instruction inside one of the image's
    /// sections has the bytes the image has there. Instructions outside
    /// them (boot ROM code, for instance) are not checked; neither are
    /// big-endian images, whose log encoding units this crate does not
    /// reorder.
    ///
    /// # Errors
    ///
    /// [`Error::Mismatch`] for the first instruction that differs.
    pub fn check(&self, executed: &Executed) -> Result<(), Error> {
        if !self.little_endian {
            return Ok(());
        }
        for (&address, insn) in executed.insns() {
            let end = address + insn.bytes.len() as u64;
            let Some(section) = self
                .sections
                .iter()
                .find(|s| s.range.start <= address && end <= s.range.end)
            else {
                continue;
            };
            let at = (address - section.range.start) as usize;
            let image = &section.data[at..at + insn.bytes.len()];
            if image != insn.bytes.as_slice() {
                return Err(Error::Mismatch {
                    address,
                    traced: insn.bytes.clone(),
                    image: image.to_vec(),
                });
            }
        }
        Ok(())
    }
}

fn section_data<'a>(file: &object::File<'a>, name: &str) -> Result<Cow<'a, [u8]>, Error> {
    match file.section_by_name(name) {
        Some(section) => section
            .uncompressed_data()
            .map_err(|e| Error::Elf(format!("section {name}: {e}"))),
        None => Ok(Cow::Borrowed(&[])),
    }
}

/// Allocated sections that hold bytes (not `SHT_NOBITS`).
fn code_sections(file: &object::File<'_>) -> Result<Vec<Section>, Error> {
    let mut sections = Vec::new();
    for section in file.sections() {
        let loaded = matches!(
            section.kind(),
            SectionKind::Text
                | SectionKind::Data
                | SectionKind::ReadOnlyData
                | SectionKind::ReadOnlyString
        );
        if !loaded {
            continue;
        }
        let data = section
            .data()
            .map_err(|e| Error::Elf(format!("section {:?}: {e}", section.name())))?;
        sections.push(Section {
            range: section.address()..section.address() + data.len() as u64,
            data: data.to_vec(),
        });
    }
    Ok(sections)
}

type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// Collects rows and interns file paths while walking the line programs.
#[derive(Default)]
struct LineReader {
    text: Vec<Range<u64>>,
    rows: Vec<Row>,
    files: Vec<String>,
    file_ids: HashMap<String, usize>,
}

impl LineReader {
    fn read(&mut self, dwarf: &gimli::Dwarf<Reader<'_>>) -> gimli::Result<()> {
        let mut units = dwarf.units();
        while let Some(header) = units.next()? {
            let unit = dwarf.unit(header)?;
            if let Some(program) = unit.line_program.clone() {
                self.read_program(dwarf, &unit, program)?;
            }
        }
        Ok(())
    }

    fn read_program(
        &mut self,
        dwarf: &gimli::Dwarf<Reader<'_>>,
        unit: &gimli::Unit<Reader<'_>>,
        program: gimli::IncompleteLineProgram<Reader<'_>>,
    ) -> gimli::Result<()> {
        // File index → interned path, per program.
        let mut paths: HashMap<u64, usize> = HashMap::new();
        // The current sequence: (address, file id and line of the row).
        let mut sequence: Vec<(u64, Option<(usize, u32)>)> = Vec::new();
        let mut rows = program.rows();
        while let Some((header, row)) = rows.next_row()? {
            if row.end_sequence() {
                self.end_sequence(&sequence, row.address());
                sequence.clear();
                continue;
            }
            let location = match (row.line(), row.file(header)) {
                (Some(line), Some(file)) => {
                    let id = match paths.get(&row.file_index()) {
                        Some(&id) => id,
                        None => {
                            let id = self.intern(render_path(dwarf, unit, header, file)?);
                            paths.insert(row.file_index(), id);
                            id
                        }
                    };
                    Some((id, u32::try_from(line.get()).unwrap_or(u32::MAX)))
                }
                _ => None,
            };
            sequence.push((row.address(), location));
        }
        Ok(())
    }

    fn end_sequence(&mut self, sequence: &[(u64, Option<(usize, u32)>)], end: u64) {
        let Some(&(start, _)) = sequence.first() else {
            return;
        };
        let in_text = self.text.iter().any(|t| t.start <= start && end <= t.end);
        if !in_text || end <= start {
            return;
        }
        let ends = sequence.iter().skip(1).map(|(addr, _)| *addr).chain([end]);
        for (&(row_start, location), row_end) in sequence.iter().zip(ends) {
            if let (Some((file, line)), true) = (location, row_start < row_end) {
                self.rows.push(Row {
                    start: row_start,
                    end: row_end,
                    file,
                    line,
                });
            }
        }
    }

    fn intern(&mut self, path: String) -> usize {
        if let Some(&id) = self.file_ids.get(&path) {
            return id;
        }
        let id = self.files.len();
        self.file_ids.insert(path.clone(), id);
        self.files.push(path);
        id
    }
}

/// `comp_dir / include_directory / name`, where a later absolute part
/// replaces what came before (as addr2line renders paths).
fn render_path(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    unit: &gimli::Unit<Reader<'_>>,
    header: &gimli::LineProgramHeader<Reader<'_>>,
    file: &gimli::FileEntry<Reader<'_>>,
) -> gimli::Result<String> {
    let mut path = unit
        .comp_dir
        .map(|dir| dir.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Directory 0 is the compilation directory (DWARF 5 §6.2.4.1).
    if file.directory_index() != 0
        && let Some(dir) = file.directory(header)
    {
        push_path(&mut path, &dwarf.attr_string(unit, dir)?.to_string_lossy());
    }
    push_path(
        &mut path,
        &dwarf.attr_string(unit, file.path_name())?.to_string_lossy(),
    );
    Ok(path)
}

fn push_path(path: &mut String, part: &str) {
    if part.starts_with('/') || path.is_empty() {
        *path = part.to_owned();
    } else {
        if !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(part);
    }
}
