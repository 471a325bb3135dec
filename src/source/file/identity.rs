//! What identifies a followed file, and how far it was read: the
//! [`FileMark`] a checkpoint stores. A file is its (device, inode) plus a
//! hash of its first bytes, because inodes are reused and copytruncate
//! rewrites a file in place; neither alone is an identity.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How many leading bytes identify a file's content besides its inode.
pub const HEAD_BYTES: usize = 256;

/// (device, inode).
pub type FileId = (u64, u64);

/// A file's identity and how far it has been read: what a checkpoint
/// stores per file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMark {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// How many leading bytes `head_hash` covers (fewer than
    /// [`HEAD_BYTES`] while the file was shorter): a file that has grown
    /// since is re-verified on that prefix.
    pub head_len: u32,
    /// FNV-1a (64 bit) of those bytes.
    pub head_hash: u64,
    /// Every line before this offset has been handed out.
    pub offset: u64,
}

impl FileMark {
    pub fn id(&self) -> FileId {
        (self.dev, self.ino)
    }
}

/// FNV-1a, 64 bit: stable across builds and platforms, unlike std's
/// hasher, which matters for a hash that is written to disk.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Reads from offset 0 until `buf` is full or the file ends.
pub(super) fn read_at_most(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether `file` starts with the bytes `head_len`/`head_hash` describe.
pub(super) fn head_matches(file: &File, head_len: u32, head_hash: u64) -> io::Result<bool> {
    let mut buf = [0u8; HEAD_BYTES];
    let want = (head_len as usize).min(HEAD_BYTES);
    let got = read_at_most(file, &mut buf[..want])?;
    Ok(got == want && fnv1a(&buf[..got]) == head_hash)
}
