//! Shared by the release tests: what a release archive holds.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Every regular file of a `.tar.gz`, by path.
pub fn members(archive: &Path) -> BTreeMap<String, Vec<u8>> {
    let file = std::fs::File::open(archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.insert(entry.path().unwrap().display().to_string(), data);
        }
    }
    out
}
