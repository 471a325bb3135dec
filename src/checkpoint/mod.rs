//! What survives a restart: the on-disk [`state`] and the in-memory
//! [`Journal`] that feeds it.
//!
//! The journal keeps, per source, the latest [`Position`] of everything
//! being read, the start of the last complete pass, and a sequence number
//! that says whether anything changed since the last write. Source threads
//! count a block and record its position while holding
//! [`Journal::counting`] (a shared lock); a checkpoint takes the lock
//! exclusively, so it captures counts and positions of the same instant: a
//! line is counted before a crash or after it, never both, never neither.
//!
//! It knows nothing of metrics or sources' kinds: the counter values come
//! in through a closure at write time, and what a write did comes back as
//! a [`Persisted`] for the caller to report.
//!
//! ```
//! use gateway_exporter::checkpoint::{Journal, Persisted, SourceKey};
//! use gateway_exporter::source::Position;
//! let dir = std::env::temp_dir().join(format!("gwexp-doc-journal-{}", std::process::id()));
//! let key = SourceKey { name: "gw".into(), identity: "file:/var/log/gw.log".into() };
//! let (journal, restored) = Journal::open(Some(dir.clone()), vec![key]);
//! assert!(restored.error.is_none());
//! {
//!     let _counting = journal.counting();
//!     journal.record(0, &Position::Stream);
//! }
//! journal.persist_then(
//!     Default::default,
//!     |done| assert!(matches!(done, Persisted::Written { .. })),
//!     || (),
//! );
//! # std::fs::remove_dir_all(dir).unwrap();
//! ```

pub mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::Duration;

pub use state::{CheckpointError, SeriesValue, SourceState, State};

use crate::source::{Position, PositionKey};

/// How long a finished position (a rotated file read to its end) is kept:
/// a restart within that time still recognises the file and does not read
/// it again; past it, the file is older than any pass a restart resumes
/// from, and nothing would read it anyway. Positions still being read are
/// always kept, however many.
const FINISHED_KEPT_SECONDS: f64 = 86_400.0;

/// At most this many finished positions per source, the newest kept: a
/// bound on the state file whatever the rotation rate.
const FINISHED_KEPT: usize = 4096;

/// Counter values by source, as a checkpoint stores them.
pub type Counters = HashMap<String, Vec<SeriesValue>>;

/// A position, and when it was finished if it was.
struct Held {
    at: Position,
    finished_at: Option<f64>,
}

/// What a checkpoint found at start-up.
#[derive(Debug, Default)]
pub struct Restored {
    /// Per configured source, in order: its stored state, if any.
    pub sources: Vec<Option<SourceState>>,
    /// Why the stored state could not be used (the exporter starts fresh),
    /// and where the file was kept.
    pub error: Option<(CheckpointError, Option<PathBuf>)>,
    /// Sources whose stored state belongs to another configuration (same
    /// name, other inputs): dropped, not applied.
    pub mismatched: Vec<String>,
}

/// One configured source as a checkpoint knows it: its name, and what it
/// reads (`file:/var/log/gw.log`), so state written for other inputs under
/// the same name is never applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceKey {
    pub name: String,
    pub identity: String,
}

/// What [`Journal::persist_then`] did.
#[derive(Debug)]
pub enum Persisted {
    /// No state directory.
    Off,
    /// Nothing changed since the last write.
    Unchanged,
    /// Written; `recovered` after a run of failures.
    Written { recovered: bool },
    /// Not written; `first` for the first failure of a run.
    Failed { error: CheckpointError, first: bool },
}

pub struct Journal {
    dir: Option<PathBuf>,
    sources: Vec<SourceKey>,
    positions: Vec<Mutex<HashMap<PositionKey, Held>>>,
    covered: Vec<AtomicU64>,
    seq: AtomicU64,
    /// `seq` as of the last checkpoint written: when nothing was counted
    /// since, a scrape need not write one.
    persisted_seq: AtomicU64,
    /// Readers: source threads counting a block. Writer: a checkpoint.
    commit: RwLock<()>,
    failing: AtomicBool,
}

impl Journal {
    /// Reads the state in `dir` (none when `dir` is `None`) for the
    /// sources given, in order. State of a source no longer configured, or
    /// configured with other inputs, is dropped: the next checkpoint no
    /// longer carries it. A state file that cannot be used is renamed
    /// aside, never overwritten (a newer version's state survives a
    /// downgrade).
    pub fn open(dir: Option<PathBuf>, sources: Vec<SourceKey>) -> (Journal, Restored) {
        let mut restored = Restored::default();
        let stored = match &dir {
            None => None,
            Some(d) => match state::load(d) {
                Ok(s) => s,
                Err(e) => {
                    let kept = state::keep_aside(d, crate::clock::unix_now());
                    restored.error = Some((e, kept));
                    None
                }
            },
        };
        Self::from_stored(dir, sources, stored, restored)
    }

    /// As [`Journal::open`], from a state handed over in memory (a reload:
    /// the previous journal's last [`Journal::final_state`]) instead of the
    /// file, so a reload resumes exactly where the old sources stopped,
    /// with or without a state directory.
    pub fn from_state(
        dir: Option<PathBuf>,
        sources: Vec<SourceKey>,
        state: State,
    ) -> (Journal, Restored) {
        Self::from_stored(dir, sources, Some(state), Restored::default())
    }

    /// The state as a checkpoint would write it now, `counters` included;
    /// taken while no source counts.
    pub fn final_state(&self, counters: impl FnOnce() -> Counters) -> State {
        let _exclusive = self.commit.write().unwrap_or_else(|p| p.into_inner());
        self.state(counters())
    }

    fn from_stored(
        dir: Option<PathBuf>,
        sources: Vec<SourceKey>,
        stored: Option<State>,
        mut restored: Restored,
    ) -> (Journal, Restored) {
        let now = crate::clock::unix_now();
        let mut positions = Vec::new();
        let mut covered = Vec::new();
        for key in &sources {
            let mut st = stored
                .as_ref()
                .and_then(|s| s.sources.get(&key.name))
                .cloned();
            // State written before identities were stored is taken as ours.
            if st
                .as_ref()
                .is_some_and(|s| !s.identity.is_empty() && s.identity != key.identity)
            {
                restored.mismatched.push(key.name.clone());
                st = None;
            }
            // Until a pass records them again, restored positions count as
            // finished: those of files still followed are recorded anew at
            // the first pass, the rest age out.
            let held: HashMap<PositionKey, Held> = st
                .iter()
                .flat_map(|s| &s.positions)
                .map(|p| {
                    (
                        p.key(),
                        Held {
                            at: p.clone(),
                            finished_at: Some(now),
                        },
                    )
                })
                .collect();
            positions.push(Mutex::new(held));
            covered.push(AtomicU64::new(
                st.as_ref().map_or(0.0, |s| s.covered_until).to_bits(),
            ));
            restored.sources.push(st);
        }
        let journal = Journal {
            dir,
            sources,
            positions,
            covered,
            seq: AtomicU64::new(1),
            persisted_seq: AtomicU64::new(0),
            commit: RwLock::new(()),
            failing: AtomicBool::new(false),
        };
        (journal, restored)
    }

    /// Held while counting a block and recording its position, so a
    /// checkpoint never sees one without the other.
    pub fn counting(&self) -> RwLockReadGuard<'_, ()> {
        self.commit.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Records where source `index` stands now. Returns how far its offset
    /// advanced since the position it replaces, when both have offsets.
    pub fn record(&self, index: usize, at: &Position) -> Option<u64> {
        self.seq.fetch_add(1, Ordering::Relaxed);
        if !at.is_stored() {
            return None;
        }
        let mut held = self.positions[index]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let advanced = match (held.get(&at.key()), at.offset()) {
            (Some(prev), Some(now)) => prev.at.offset().map(|p| now.saturating_sub(p)),
            _ => None,
        };
        held.insert(
            at.key(),
            Held {
                at: at.clone(),
                finished_at: None,
            },
        );
        advanced
    }

    /// Source `index` will not advance `at` any more.
    pub fn finished(&self, index: usize, at: &Position) {
        self.seq.fetch_add(1, Ordering::Relaxed);
        let mut held = self.positions[index]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(h) = held.get_mut(&at.key()) {
            h.finished_at.get_or_insert(crate::clock::unix_now());
        }
    }

    /// Something a checkpoint carries changed without a new position (a
    /// counter such as rotations).
    pub fn changed(&self) {
        self.seq.fetch_add(1, Ordering::Relaxed);
    }

    /// Source `index` finished a pass that began at `began` (Unix seconds).
    pub fn covered(&self, index: usize, began: f64) {
        self.covered[index].store(began.to_bits(), Ordering::Release);
    }

    /// Writes a checkpoint (when there is a directory and something
    /// changed), tells `report` what it did, and runs `then` while no
    /// source can count, so `then` sees exactly the persisted values.
    pub fn persist_then<T>(
        &self,
        counters: impl FnOnce() -> Counters,
        report: impl FnOnce(Persisted),
        then: impl FnOnce() -> T,
    ) -> T {
        let _exclusive = self.commit.write().unwrap_or_else(|p| p.into_inner());
        let seq = self.seq.load(Ordering::Acquire);
        let done = match &self.dir {
            None => Persisted::Off,
            Some(_) if self.persisted_seq.load(Ordering::Acquire) == seq => Persisted::Unchanged,
            Some(dir) => match state::store(dir, &self.state(counters())) {
                Ok(()) => {
                    self.persisted_seq.store(seq, Ordering::Release);
                    Persisted::Written {
                        recovered: self.failing.swap(false, Ordering::AcqRel),
                    }
                }
                Err(error) => Persisted::Failed {
                    error,
                    first: !self.failing.swap(true, Ordering::AcqRel),
                },
            },
        };
        report(done);
        then()
    }

    fn state(&self, mut counters: Counters) -> State {
        let now = crate::clock::unix_now();
        let mut state = State {
            written_at: now,
            ..State::default()
        };
        for ((key, positions), covered) in
            self.sources.iter().zip(&self.positions).zip(&self.covered)
        {
            let mut held = positions.lock().unwrap_or_else(|p| p.into_inner());
            prune_finished(&mut held, now);
            state.sources.insert(
                key.name.clone(),
                SourceState {
                    identity: key.identity.clone(),
                    positions: held.values().map(|h| h.at.clone()).collect(),
                    counters: counters.remove(&key.name).unwrap_or_default(),
                    covered_until: f64::from_bits(covered.load(Ordering::Acquire)),
                },
            );
        }
        state
    }

    /// Whether checkpoints are written at all.
    pub fn enabled(&self) -> bool {
        self.dir.is_some()
    }
}

/// Drops finished positions older than [`FINISHED_KEPT_SECONDS`], and the
/// oldest beyond [`FINISHED_KEPT`].
fn prune_finished(held: &mut HashMap<PositionKey, Held>, now: f64) {
    held.retain(|_, h| {
        h.finished_at
            .is_none_or(|t| now - t < FINISHED_KEPT_SECONDS)
    });
    let mut finished: Vec<f64> = held.values().filter_map(|h| h.finished_at).collect();
    if finished.len() > FINISHED_KEPT {
        finished.sort_by(f64::total_cmp);
        let cut = finished[finished.len() - FINISHED_KEPT];
        held.retain(|_, h| h.finished_at.is_none_or(|t| t >= cut));
    }
}

/// Runs `tick` every `interval` on its own thread until `stop` is set: the
/// periodic checkpoint besides those of scrapes and shutdown.
pub fn every(
    interval: Duration,
    stop: Arc<AtomicBool>,
    tick: impl Fn() + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        // Short sleeps, so shutdown never waits for a whole interval.
        let step = Duration::from_millis(100).min(interval);
        let mut waited = Duration::ZERO;
        while !stop.load(Ordering::Acquire) {
            std::thread::sleep(step);
            waited += step;
            if waited >= interval {
                waited = Duration::ZERO;
                tick();
            }
        }
    })
}
