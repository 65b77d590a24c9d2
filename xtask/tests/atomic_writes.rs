//! `workspace::write_atomic` under concurrency: writers of one file in one
//! directory never share a temporary name, so none fails and a reader only
//! ever sees one whole version.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use xtask::workspace::write_atomic;

const WRITERS: u8 = 8;
const WRITES: usize = 100;
const SIZE: usize = 64 * 1024;

#[test]
fn concurrent_writers_of_one_file_never_collide() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("atomic-writes");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.json");
    write_atomic(&path, &[0; SIZE]).unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let writers: Vec<_> = (1..=WRITERS)
            .map(|id| {
                let path = &path;
                s.spawn(move || {
                    // Each version is one byte value repeated; its length says
                    // whether it is whole.
                    let bytes = vec![id; SIZE + usize::from(id)];
                    (0..WRITES)
                        .map(|_| write_atomic(path, &bytes).map_err(|e| format!("{e:#}")))
                        .collect::<Result<Vec<()>, String>>()
                })
            })
            .collect();
        let reader = s.spawn(|| {
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) {
                let bytes = std::fs::read(&path).unwrap();
                let id = bytes[0];
                assert!(
                    bytes.len() == SIZE + usize::from(id) && bytes.iter().all(|&b| b == id),
                    "a reader saw a mixed or partial version: {} bytes starting with {id}",
                    bytes.len()
                );
                reads += 1;
            }
            reads
        });
        for w in writers {
            w.join().unwrap().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        assert!(reader.join().unwrap() > 0);
    });
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["report.json"], "temporary files were left");
    std::fs::remove_dir_all(&dir).unwrap();
}
