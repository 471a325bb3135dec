//! Rotation recovery: finishing files rotated away before they were read
//! to their end — while running (a rename or delete seen between passes, a
//! copytruncate copy) or while nobody was reading (found again after a
//! restart by inode, or by their first bytes for a copy) — and reading
//! rotated files never seen under a followed path at all.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Instant;

use super::identity::{FileId, FileMark, fnv1a, head_matches, read_at_most};
use super::open::{id_of, open_regular};
use super::paths::glob_files;
use super::tracked::Tracked;
use super::{Draining, Follower, PassSink};
use crate::source::RotationKind;

/// Whether `file`'s bytes so far agree with `head` (all of it, or as
/// much of it as the file holds yet: a copy being written).
fn starts_like(file: &File, head: &[u8]) -> io::Result<bool> {
    let mut buf = [0u8; super::identity::HEAD_BYTES];
    let want = head.len().min(buf.len());
    let got = read_at_most(file, &mut buf[..want])?;
    Ok(buf[..got] == head[..got])
}

/// How far before the covered time a rotated file without a mark still
/// counts as unseen (see `read_unseen_rotated`).
const UNSEEN_MARGIN_SECONDS: f64 = 2.0;

impl Follower {
    /// Reads, from their start, rotated files that appeared since we began
    /// covering the source and that we never saw. A copy of a file we
    /// follow is not one of them: it is finished from the original's
    /// offset when the original's truncation is seen.
    pub(super) fn read_unseen_rotated(
        &mut self,
        matched: &[(String, Vec<PathBuf>)],
        sink: &mut PassSink<'_>,
    ) {
        let main: HashSet<&PathBuf> = matched.iter().flat_map(|(_, paths)| paths).collect();
        let mut unseen = Vec::new();
        // A stat first: only a file changed since we began covering is
        // opened, so a pass over many old rotated files opens none.
        for (path, meta) in self.rotated_stats() {
            let changed = meta.mtime() as f64 + f64::from(meta.mtime_nsec() as u32) / 1e9;
            // Kernel timestamps come from a coarse clock (a tick behind);
            // a margin keeps a file written just before a pass began from
            // passing for history.
            if !main.contains(&path)
                && changed > self.resume_time - UNSEEN_MARGIN_SECONDS
                && !self.known.contains(&id_of(&meta))
            {
                unseen.push((changed, path));
            }
        }
        if unseen.is_empty() {
            return;
        }
        // The first bytes of every file being read: a rotated file that
        // starts with them is a copy (copytruncate), finished from the
        // original's offset when its truncation is seen. A copy still being
        // written may hold only part of them yet: a prefix counts too, and
        // such a file is looked at again once it changes.
        let live_heads: Vec<Vec<u8>> = self
            .tracked
            .values()
            .chain(self.draining.iter().map(|d| &d.t))
            .filter(|t| !t.head.is_empty())
            .map(|t| t.head.clone())
            .collect();
        let mut heads: Vec<(u32, u64)> = Vec::new();
        if let Some(resume) = &self.resume {
            heads.extend(resume.values().map(|m| (m.head_len, m.head_hash)));
        }
        unseen.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, path) in unseen {
            let Ok((file, meta)) = open_regular(&path) else {
                continue;
            };
            let id = id_of(&meta);
            if self.accounted_for(&file, id) {
                continue;
            }
            let is_copy = live_heads
                .iter()
                .any(|head| starts_like(&file, head).unwrap_or(false))
                || heads.iter().any(|(len, hash)| {
                    *len > 0 && head_matches(&file, *len, *hash).unwrap_or(false)
                });
            if is_copy {
                continue;
            }
            log::info!(path = path.display().to_string().as_str(); "reading a rotated file never seen under a followed path");
            self.drain_from(path, file, id, 0, sink);
        }
    }

    /// At the first pass after a restart: files that a checkpoint was
    /// reading but that no longer sit under a followed path, or that were
    /// truncated there, are looked for among the rotated-file patterns and
    /// finished from their marks.
    pub(super) fn finish_rotated_while_down(
        &mut self,
        matched: &[(String, Vec<PathBuf>)],
        sink: &mut PassSink<'_>,
    ) {
        let Some(resume) = self.resume.as_ref() else {
            return;
        };
        let mut live: HashSet<FileId> = HashSet::new();
        for path in matched.iter().flat_map(|(_, paths)| paths) {
            let Ok((file, meta)) = open_regular(path) else {
                continue;
            };
            let id = id_of(&meta);
            if let Some(m) = resume.get(&id) {
                // Still here and still the same content: resumed by visit().
                if meta.len() >= m.offset
                    && head_matches(&file, m.head_len, m.head_hash).unwrap_or(false)
                {
                    live.insert(id);
                }
            }
        }
        let lost: Vec<FileMark> = resume
            .values()
            .filter(|m| !live.contains(&m.id()))
            .cloned()
            .collect();
        // 1. Renamed and intact: the same inode and first bytes under a
        //    rotated name continue at their mark.
        let mut broken = Vec::new();
        for m in lost {
            let found = self.find_rotated(|_, id, _| Ok(id == m.id()));
            let intact = found.as_ref().is_some_and(|(_, file, _)| {
                file.metadata().is_ok_and(|md| md.len() >= m.offset)
                    && head_matches(file, m.head_len, m.head_hash).unwrap_or(false)
            });
            match found {
                Some((path, file, id)) if intact => {
                    log::info!(path = path.display().to_string().as_str(), offset = m.offset; "finishing a file rotated while stopped");
                    self.drain_from(path, file, id, m.offset, sink);
                }
                other => broken.push((m, other.map(|(path, _, id)| (path, id)))),
            }
        }
        // 2. Truncated (copytruncate) while we were down: the old content
        //    is finished from a copy that starts with the same bytes. This
        //    comes first, since a copy may sit on an inode that a stale
        //    mark also names.
        for (m, _) in &broken {
            self.finish_copy(m.head_len, m.head_hash, m.offset, m.id(), sink);
        }
        // 3. The inode under a rotated name now holds other content (the
        //    file rewritten in place, or the inode reused by a new file):
        //    all of it is new to us, unless step 2 took it as a copy.
        for (_, found) in broken {
            let Some((path, id)) = found else { continue };
            if self.known.contains(&id) {
                continue;
            }
            let Ok((file, _)) = open_regular(&path) else {
                continue;
            };
            log::info!(path = path.display().to_string().as_str(); "reading a rotated file whose content changed while stopped");
            self.drain_from(path, file, id, 0, sink);
        }
    }

    /// Opens `file` at `offset` and drains it as a rotated file.
    fn drain_from(
        &mut self,
        path: PathBuf,
        file: File,
        id: FileId,
        offset: u64,
        sink: &mut PassSink<'_>,
    ) {
        match Tracked::open(&path, file, id, offset, self.cfg.max_line_bytes, None) {
            Ok(t) => self.start_draining(t, sink),
            Err(e) => self.error(sink, &format!("path {}", path.display()), &e),
        }
    }

    /// Whether `file` is already accounted for: opened in this run, or the
    /// very file a checkpoint mark describes (same inode, same first bytes).
    pub(super) fn accounted_for(&self, file: &File, id: FileId) -> bool {
        self.known.contains(&id)
            || self.tracked.contains_key(&id)
            || self.draining.iter().any(|d| d.t.id == id)
            || self.start_marks.get(&id).is_some_and(|m| {
                // An empty file's mark (nothing read, no first bytes)
                // proves nothing: reading such a file from 0 loses nothing.
                m.head_len > 0 && head_matches(file, m.head_len, m.head_hash).unwrap_or(false)
            })
    }

    /// The regular files under the rotated-file patterns, by `stat` (which
    /// never blocks, whatever a path names).
    fn rotated_stats(&self) -> Vec<(PathBuf, std::fs::Metadata)> {
        let mut out = Vec::new();
        for pattern in &self.cfg.rotated {
            for path in glob_files(pattern).unwrap_or_default() {
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => out.push((path, meta)),
                    _ => {}
                }
            }
        }
        out
    }

    /// The regular files under the rotated-file patterns, opened without
    /// blocking (a FIFO planted under a rotated name is passed over).
    fn rotated_files(&self) -> Vec<(PathBuf, File, std::fs::Metadata)> {
        self.rotated_stats()
            .into_iter()
            .filter_map(|(path, _)| {
                let (file, meta) = open_regular(&path).ok()?;
                Some((path, file, meta))
            })
            .collect()
    }

    /// A followed file left its path (renamed, deleted, or another file
    /// took the path): finish it where it went. A file followed without a
    /// descriptor is looked for by inode under the rotated names; one not
    /// found there was deleted, and what it held past the last read is
    /// gone with it.
    pub(super) fn rotated_away(&mut self, mut t: Tracked, sink: &mut PassSink<'_>) {
        let old_path = t.path.clone();
        if t.is_held() {
            sink.rotated(&old_path, t.rotation_kind());
            self.start_draining(t, sink);
            return;
        }
        let id = t.id;
        match self.find_rotated(|_, other, _| Ok(other == id)) {
            Some((path, file, _)) => {
                sink.rotated(&old_path, RotationKind::Rename);
                match t.adopt(path, file) {
                    Ok(()) => self.start_draining(t, sink),
                    Err(e) => self.error(sink, &format!("path {}", old_path.display()), &e),
                }
            }
            None => {
                sink.rotated(&old_path, RotationKind::Recreate);
                t.close(sink);
                sink.finished(&t.mark());
            }
        }
    }

    /// The first file under the rotated-file patterns for which `is_it`
    /// holds (given the file, its identity and its length).
    fn find_rotated(
        &self,
        mut is_it: impl FnMut(&File, FileId, u64) -> io::Result<bool>,
    ) -> Option<(PathBuf, File, FileId)> {
        self.rotated_files()
            .into_iter()
            .find_map(|(path, file, meta)| {
                let id = id_of(&meta);
                is_it(&file, id, meta.len())
                    .unwrap_or(false)
                    .then_some((path, file, id))
            })
    }

    /// The followed file `id` was truncated (copytruncate): read it again
    /// from its start, and finish its old content from a copy if one exists.
    pub(super) fn truncated(&mut self, id: FileId, sink: &mut PassSink<'_>) -> io::Result<()> {
        let Some(mut t) = self.tracked.remove(&id) else {
            return Ok(());
        };
        let result = self.rewritten(&mut t, sink);
        self.tracked.insert(id, t);
        result
    }

    /// `t` was truncated and rewritten under us: start it over, finish its
    /// old content from a copy under a rotated name if one exists, and read
    /// its new content.
    fn rewritten(&mut self, t: &mut Tracked, sink: &mut PassSink<'_>) -> io::Result<()> {
        let (old_len, old_hash) = (t.head.len() as u32, fnv1a(&t.head));
        let old_offset = t.committed();
        t.restart(self.cfg.max_line_bytes)?;
        // The copy's mark is recorded before the original's new one, so
        // that any checkpoint holds either the original's old mark (and a
        // restart finds the copy again) or the copy's own.
        self.finish_copy(old_len, old_hash, old_offset, t.id, sink);
        sink.rotated(&t.path, RotationKind::Truncate);
        sink.lines(&t.mark(), &[], 0);
        // Rewritten once more meanwhile: the next pass sees to it.
        let _ = t.read_available(sink)?;
        Ok(())
    }

    /// After a truncation: if a copy of the old content (one that starts
    /// with the bytes `head_len`/`head_hash` describe) exists under a
    /// rotated name, reads it from where the original was left.
    fn finish_copy(
        &mut self,
        head_len: u32,
        head_hash: u64,
        offset: u64,
        not: FileId,
        sink: &mut PassSink<'_>,
    ) {
        if head_len == 0 {
            return;
        }
        let found = self.find_rotated(|file, id, len| {
            Ok(id != not
                && len >= offset
                && head_matches(file, head_len, head_hash)?
                && !self.accounted_for(file, id))
        });
        if let Some((path, file, id)) = found {
            log::info!(path = path.display().to_string().as_str(), offset = offset; "finishing the copy of a truncated file");
            self.drain_from(path, file, id, offset, sink);
        }
    }

    pub(super) fn start_draining(&mut self, mut t: Tracked, sink: &mut PassSink<'_>) {
        self.known.insert(t.id);
        // Known from now on, across a restart too.
        sink.lines(&t.mark(), &[], 0);
        // A file copytruncated and then renamed before we saw either.
        let result = match t.read_available(sink) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => self.rewritten(&mut t, sink),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let what = format!("path {}", t.path.display());
            self.error(sink, &what, &e);
        }
        self.draining.push(Draining {
            t,
            last_growth: Instant::now(),
        });
    }

    pub(super) fn drain_rotated(&mut self, sink: &mut PassSink<'_>) {
        let grace = self.cfg.drain_grace;
        let mut keep = Vec::new();
        for mut d in std::mem::take(&mut self.draining) {
            // The same file may have come back under a followed path.
            if self.tracked.contains_key(&d.t.id) {
                continue;
            }
            if sink.halted() {
                keep.push(d);
                continue;
            }
            let result = match d.t.read_available(sink) {
                Ok(Some(n)) => {
                    if n > 0 {
                        d.last_growth = Instant::now();
                    }
                    Ok(())
                }
                Ok(None) => {
                    d.last_growth = Instant::now();
                    self.rewritten(&mut d.t, sink)
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                let what = format!("path {}", d.t.path.display());
                self.error(sink, &what, &e);
            }
            // A stopped read may have left lines behind: not finished yet.
            if d.last_growth.elapsed() >= grace && !sink.halted() {
                d.t.close(sink);
                sink.finished(&d.t.mark());
            } else {
                keep.push(d);
            }
        }
        // Copies found while handling rewritten files joined meanwhile.
        keep.append(&mut self.draining);
        self.draining = keep;
    }
}
