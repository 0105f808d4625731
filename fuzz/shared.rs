//! What the guest's and the host's fuzz target bodies share
//! (guest/src/fuzzing.rs, host/src/fuzzing.rs include this file with
//! `#[path]`): a scratch directory for a target's files, and the replay of
//! the committed corpora that `cargo test` runs on stable.

use std::path::PathBuf;

/// A directory of its own under `TMPDIR`, removed when dropped.
pub struct Tree(pub PathBuf);

impl Tree {
    pub fn new() -> Tree {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "imapd-fuzz-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Tree(dir)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `fuzz/` of this repository.
#[cfg(test)]
pub fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every committed corpus file and crash reproducer of `target`
/// (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) through `run`;
/// fails naming the first input that panics, or when there is none.
#[cfg(test)]
pub fn replay(target: &str, run: fn(&[u8])) {
    let root = fuzz_dir();
    let mut n = 0;
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let r = std::panic::catch_unwind(|| run(&data));
            assert!(r.is_ok(), "{target}: {} panics", f.display());
            n += 1;
        }
    }
    assert!(n > 0, "no corpus for {target} under {}", root.display());
}

/// Writes a seed unless a file of that name is there already.
#[cfg(test)]
pub fn write_new(path: &std::path::Path, data: &[u8]) {
    if !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}
