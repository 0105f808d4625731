//! The variable-length parts of a [`super::MessageRecord`], held so that a
//! mailbox's records cost no allocation each: a file name is a slice of
//! one shared block (the snapshot's name section, read in one piece the
//! first time a name is needed), and a keyword list is shared by every
//! record with the same keywords. Cloning either is a reference count,
//! never a copy.

use std::cell::{OnceCell, RefCell};
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Deref;
use std::path::Path;
use std::rc::Rc;

/// A message's file name in the mailbox's `cur/` (or `tmp/`); empty for a
/// placeholder (a message expunged by another session, not yet reported).
#[derive(Clone)]
pub struct FileName {
    block: Rc<NameBlock>,
    start: u32,
    end: u32,
}

/// What a name reads as when its block cannot be read (a damaged index):
/// no file has this name (it holds a NUL), so opening it fails cleanly.
pub const UNREADABLE_NAME: &str = "\0unreadable-index-names";

/// The file names of a snapshot, read from it the first time one is
/// needed (most sessions never open a message file), or a name of its own.
pub struct NameBlock {
    len: u32,
    /// `None` once a read failed or did not match its checksum.
    text: OnceCell<Option<String>>,
    source: RefCell<Option<NameSource>>,
}

/// Where a block's names lie: the snapshot file as it was opened (a
/// compaction that replaces it later does not change this one).
pub struct NameSource {
    pub file: File,
    pub offset: u64,
    /// xxh3-64 of the names.
    pub sum: u64,
}

impl NameBlock {
    /// A block of `len` bytes whose source is attached once known.
    pub fn lazy(len: u32) -> Rc<NameBlock> {
        Rc::new(NameBlock {
            len,
            text: OnceCell::new(),
            source: RefCell::new(None),
        })
    }

    pub fn attach(&self, source: NameSource) {
        *self.source.borrow_mut() = Some(source);
    }

    /// The names, read on first use; `None` if they cannot be read.
    fn text(&self) -> Option<&str> {
        self.text
            .get_or_init(|| {
                let mut src = self.source.borrow_mut().take()?;
                let mut buf = vec![0; self.len as usize];
                src.file.seek(SeekFrom::Start(src.offset)).ok()?;
                src.file.read_exact(&mut buf).ok()?;
                if xxhash_rust::xxh3::xxh3_64(&buf) != src.sum {
                    return None;
                }
                String::from_utf8(buf).ok()
            })
            .as_deref()
    }

    /// Reads the names if not done yet: false if they cannot be read.
    pub fn readable(&self) -> bool {
        self.text().is_some()
    }
}

impl FileName {
    /// `block[start..start + len]`, if that is inside the block (whether
    /// it falls on character boundaries is seen when it is read).
    pub fn in_block(block: &Rc<NameBlock>, start: u32, len: u32) -> Option<FileName> {
        let end = start.checked_add(len)?;
        (end <= block.len).then(|| FileName {
            block: block.clone(),
            start,
            end,
        })
    }

    pub fn as_str(&self) -> &str {
        self.block
            .text()
            .and_then(|t| t.get(self.start as usize..self.end as usize))
            .unwrap_or(UNREADABLE_NAME)
    }

    /// A placeholder's name is empty (a real file's never is): known
    /// without reading the block, which most commands never need.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether the name can be read (see [`NameBlock::readable`]).
    pub fn readable(&self) -> bool {
        self.block.readable() && self.as_str() != UNREADABLE_NAME
    }

    /// The block this name is part of.
    pub fn block(&self) -> &Rc<NameBlock> {
        &self.block
    }
}

impl Default for FileName {
    fn default() -> FileName {
        FileName::from("")
    }
}

impl From<&str> for FileName {
    fn from(s: &str) -> FileName {
        FileName::from(s.to_string())
    }
}

impl From<String> for FileName {
    fn from(s: String) -> FileName {
        FileName {
            end: s.len() as u32,
            block: Rc::new(NameBlock {
                len: s.len() as u32,
                text: OnceCell::from(Some(s)),
                source: RefCell::new(None),
            }),
            start: 0,
        }
    }
}

impl Deref for FileName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for FileName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<Path> for FileName {
    fn as_ref(&self) -> &Path {
        Path::new(self.as_str())
    }
}

impl AsRef<OsStr> for FileName {
    fn as_ref(&self) -> &OsStr {
        OsStr::new(self.as_str())
    }
}

impl PartialEq for FileName {
    fn eq(&self, other: &FileName) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for FileName {}

impl std::hash::Hash for FileName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::borrow::Borrow<str> for FileName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for FileName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<String> for FileName {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl fmt::Debug for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message's keywords (rfc3501 2.3.2 atoms), sorted, case preserved;
/// shared between records that have the same ones.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Keywords(Option<Rc<[String]>>);

impl Keywords {
    pub fn as_slice(&self) -> &[String] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl From<Vec<String>> for Keywords {
    fn from(v: Vec<String>) -> Keywords {
        Keywords((!v.is_empty()).then(|| Rc::from(v)))
    }
}

impl Deref for Keywords {
    type Target = [String];
    fn deref(&self) -> &[String] {
        self.as_slice()
    }
}

impl PartialEq<Vec<String>> for Keywords {
    fn eq(&self, other: &Vec<String>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for Keywords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_a_block_are_read_once_when_needed_and_checked() {
        let t = tempfile::tempdir().unwrap();
        let names = "a.1:2,é.2:2,";
        let path = t.path().join("f");
        std::fs::write(&path, format!("head{names}tail")).unwrap();
        let source = || NameSource {
            file: File::open(&path).unwrap(),
            offset: 4,
            sum: xxhash_rust::xxh3::xxh3_64(names.as_bytes()),
        };
        let block = NameBlock::lazy(names.len() as u32);
        let a = FileName::in_block(&block, 0, 6).unwrap();
        // Out of the block: refused.
        assert!(FileName::in_block(&block, 7, 100).is_none());
        assert!(FileName::in_block(&block, u32::MAX, 2).is_none());
        let b = FileName::in_block(&block, 6, 7).unwrap();
        let cut = FileName::in_block(&block, 7, 1).unwrap();
        assert!(!a.is_empty() && FileName::in_block(&block, 3, 0).unwrap().is_empty());
        block.attach(source());
        // The file may change afterwards: it was read once, on first use.
        assert_eq!(a, *"a.1:2,");
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(b.as_str(), "é.2:2,");
        // Cutting a character in two: unreadable, never a panic.
        assert_eq!(cut.as_str(), UNREADABLE_NAME);
        assert!(!cut.readable() && a.readable());
        assert_eq!(Rc::strong_count(&block), 4);
        // Names that do not match their checksum are not used.
        std::fs::write(&path, format!("headA{}tail", &names[1..])).unwrap();
        let block = NameBlock::lazy(names.len() as u32);
        block.attach(source());
        let a = FileName::in_block(&block, 0, 6).unwrap();
        assert_eq!(a.as_str(), UNREADABLE_NAME);
        assert!(!block.readable() && !a.readable());
        assert!(FileName::default().is_empty());
        assert_eq!(Keywords::from(Vec::new()), Keywords::default());
        let k = Keywords::from(vec!["$Junk".to_string()]);
        assert_eq!(k.clone(), vec!["$Junk".to_string()]);
    }
}
