//! Opening followed files safely, and how many may stay open.
//!
//! A FIFO or a device under a followed or rotated name must never block a
//! source in `open()`: every open here is non-blocking, and the type is
//! checked on the descriptor itself, so nothing can swap the file between
//! the check and the read. An open that fails says why — the descriptor
//! limit, not a regular file, permission, absence — and a caller never
//! mistakes any of those for a rotation.
//!
//! [`DescriptorBudget`] is shared by every file source of the process: the
//! files followed beyond it are not held open but reopened at each pass
//! that sees them change, their identity checked again.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::fs::{Mode, OFlags};

use crate::source::ReadErrorReason;

/// Why a path could not be opened, with the OS error.
#[derive(Debug)]
pub struct OpenError {
    pub reason: ReadErrorReason,
    pub error: io::Error,
}

impl OpenError {
    pub fn of(error: io::Error) -> OpenError {
        OpenError {
            reason: ReadErrorReason::of(&error),
            error,
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::of(e)
    }
}

/// Opens `path` for reading without blocking, and only if it is a regular
/// file: a FIFO, socket, device or directory is refused as `not_regular`.
pub fn open_regular(path: &Path) -> Result<(File, std::fs::Metadata), OpenError> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty())
        .map_err(|e| OpenError::of(io::Error::from(e)))?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(OpenError {
            reason: ReadErrorReason::NotRegular,
            error: io::Error::other(format!("not a regular file ({})", file_type_name(&meta))),
        });
    }
    Ok((file, meta))
}

fn file_type_name(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// Whether a stat result names a regular file; the error to report if not.
pub fn require_regular(meta: &std::fs::Metadata) -> Result<(), OpenError> {
    if meta.is_file() {
        Ok(())
    } else {
        Err(OpenError {
            reason: ReadErrorReason::NotRegular,
            error: io::Error::other(format!("not a regular file ({})", file_type_name(meta))),
        })
    }
}

/// (device, inode) of a stat result.
pub fn id_of(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// How many followed files may hold a descriptor at once, across every
/// file source of the process.
#[derive(Debug)]
pub struct DescriptorBudget {
    limit: usize,
    held: AtomicUsize,
}

impl DescriptorBudget {
    /// A budget of `limit` descriptors.
    pub fn new(limit: usize) -> Arc<DescriptorBudget> {
        Arc::new(DescriptorBudget {
            limit,
            held: AtomicUsize::new(0),
        })
    }

    /// A budget that never runs out (tests, one-off tools).
    pub fn unlimited() -> Arc<DescriptorBudget> {
        Self::new(usize::MAX)
    }

    /// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns a
    /// budget of what is left after `reserve` descriptors (sockets, the
    /// state file, inotify): systemd's default soft limit of 1024 is far
    /// below what a host with many logs needs, and the hard limit is there
    /// to be used.
    pub fn from_rlimit(reserve: usize) -> (Arc<DescriptorBudget>, RlimitChange) {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let before = getrlimit(Resource::Nofile);
        let mut change = RlimitChange {
            soft_before: before.current,
            soft_now: before.current,
            error: None,
        };
        if before.current != before.maximum {
            let raised = Rlimit {
                current: before.maximum,
                maximum: before.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => change.soft_now = before.maximum,
                Err(e) => change.error = Some(io::Error::from(e)),
            }
        }
        let soft = change.soft_now.map_or(usize::MAX, |n| n as usize);
        (Self::new(soft.saturating_sub(reserve).max(1)), change)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes one descriptor if any is left.
    pub fn try_take(&self) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| {
                (h < self.limit).then_some(h + 1)
            })
            .is_ok()
    }

    pub fn give_back(&self) {
        let _ = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| h.checked_sub(1));
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// One descriptor, given back when the lease is dropped.
    pub fn lease(self: &Arc<Self>) -> Option<Lease> {
        self.try_take().then(|| Lease(Arc::clone(self)))
    }
}

/// A descriptor taken from a [`DescriptorBudget`].
#[derive(Debug)]
pub struct Lease(Arc<DescriptorBudget>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

/// What raising the descriptor limit did, for the start-up log.
#[derive(Debug)]
pub struct RlimitChange {
    pub soft_before: Option<u64>,
    pub soft_now: Option<u64>,
    pub error: Option<io::Error>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_directories_are_refused_without_blocking() {
        let d = std::env::temp_dir().join(format!("gwexp-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let fifo = d.join("r.log.1");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600)).unwrap();
        let e = open_regular(&fifo).unwrap_err();
        assert_eq!(e.reason, ReadErrorReason::NotRegular);
        assert!(e.error.to_string().contains("FIFO"), "{}", e.error);
        assert_eq!(
            open_regular(&d).unwrap_err().reason,
            ReadErrorReason::NotRegular
        );
        assert_eq!(
            open_regular(&d.join("none")).unwrap_err().reason,
            ReadErrorReason::NotFound
        );
        std::fs::write(d.join("ok.log"), "x\n").unwrap();
        assert!(open_regular(&d.join("ok.log")).is_ok());
    }

    #[test]
    fn the_budget_is_never_exceeded() {
        let b = DescriptorBudget::new(2);
        assert!(b.try_take() && b.try_take());
        assert!(!b.try_take());
        b.give_back();
        assert!(b.try_take());
        assert_eq!(b.held(), 2);
    }
}
