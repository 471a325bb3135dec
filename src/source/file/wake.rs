//! Waking a follower early when a watched directory changes (Linux inotify).
//!
//! Only a hint: the follower stats every path on every pass anyway, so when
//! inotify is unavailable (limits, unsupported filesystem) or a directory
//! does not exist yet, following still works at the poll interval. The one
//! thing the hint saves is the search of rotated names for files never seen,
//! which a pass skips when every directory is watched and nothing happened
//! there (and still runs now and then, in case an event was missed).

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::inotify;

pub struct Wake {
    fd: OwnedFd,
    dirs: Vec<PathBuf>,
    watched: Vec<bool>,
    /// Whether every pattern's directory is literal (so can be watched).
    covers_all: bool,
    last_retry: Instant,
}

/// The directory a pattern's files live in, if it has no glob characters.
fn literal_dir(pattern: &str) -> Option<PathBuf> {
    let parent = Path::new(pattern).parent()?;
    let s = parent.to_str()?;
    if s.contains(['*', '?', '[']) {
        return None;
    }
    Some(if s.is_empty() {
        PathBuf::from(".")
    } else {
        parent.to_path_buf()
    })
}

impl Wake {
    pub fn new(patterns: &[String]) -> Option<Wake> {
        let fd =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).ok()?;
        let mut dirs: Vec<PathBuf> = patterns.iter().filter_map(|p| literal_dir(p)).collect();
        dirs.sort();
        dirs.dedup();
        let mut w = Wake {
            fd,
            watched: vec![false; dirs.len()],
            covers_all: patterns.iter().all(|p| literal_dir(p).is_some()),
            dirs,
            last_retry: Instant::now(),
        };
        w.add_watches();
        Some(w)
    }

    fn add_watches(&mut self) {
        let flags = inotify::WatchFlags::MODIFY
            | inotify::WatchFlags::CREATE
            | inotify::WatchFlags::DELETE
            | inotify::WatchFlags::MOVED_FROM
            | inotify::WatchFlags::MOVED_TO
            | inotify::WatchFlags::ATTRIB
            | inotify::WatchFlags::CLOSE_WRITE
            | inotify::WatchFlags::DELETE_SELF
            | inotify::WatchFlags::MOVE_SELF;
        for (dir, watched) in self.dirs.iter().zip(self.watched.iter_mut()) {
            if !*watched {
                *watched = inotify::add_watch(&self.fd, dir, flags).is_ok();
            }
        }
        self.last_retry = Instant::now();
    }

    /// Whether every directory the patterns name has a watch: only then
    /// does a wait without events mean that nothing changed there.
    pub fn complete(&self) -> bool {
        self.watched.iter().all(|w| *w) && self.covers_all
    }

    /// Blocks until an event arrives or `timeout` passes, then discards all
    /// pending events (one pass handles them all). Returns whether any
    /// event arrived.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        if self.watched.iter().any(|w| !*w) && self.last_retry.elapsed() >= timeout {
            // A directory that did not exist may exist now.
            self.add_watches();
        }
        let ts = Timespec {
            tv_sec: timeout.as_secs() as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        if poll(&mut fds, Some(&ts)).unwrap_or(0) == 0 {
            return false;
        }
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(self.fd.as_fd(), &mut buf);
        while let Ok(ev) = reader.next() {
            if ev.events().intersects(inotify::ReadFlags::IGNORED) {
                // The directory went away; watch it again when it is back.
                self.watched.iter_mut().for_each(|w| *w = false);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_dirs() {
        assert_eq!(
            literal_dir("/var/log/mail.log"),
            Some(PathBuf::from("/var/log"))
        );
        assert_eq!(
            literal_dir("/var/log/gw/*.log"),
            Some(PathBuf::from("/var/log/gw"))
        );
        assert_eq!(literal_dir("/var/log/*/gw.log"), None);
        assert_eq!(literal_dir("gw.log"), Some(PathBuf::from(".")));
    }
}
