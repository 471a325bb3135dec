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
//! use gateway_exporter::checkpoint::{Journal, Persisted};
//! use gateway_exporter::source::Position;
//! let dir = std::env::temp_dir().join(format!("gwexp-doc-journal-{}", std::process::id()));
//! let (journal, restored) = Journal::open(Some(dir.clone()), vec!["gw".into()]);
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

/// Positions kept per source in a checkpoint: the files being read and the
/// most recently finished ones (a rotated file must still be recognised
/// after a restart, so it is not read again).
const POSITIONS_KEPT: usize = 256;

/// Counter values by source, as a checkpoint stores them.
pub type Counters = HashMap<String, Vec<SeriesValue>>;

/// A position with the order in which it was last updated.
struct Held {
    at: Position,
    seq: u64,
}

/// What a checkpoint found at start-up.
#[derive(Debug, Default)]
pub struct Restored {
    /// Per configured source, in order: its stored state, if any.
    pub sources: Vec<Option<SourceState>>,
    /// Why the stored state could not be used (the exporter starts fresh).
    pub error: Option<CheckpointError>,
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
    names: Vec<String>,
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
    /// Reads the state in `dir` (none when `dir` is `None`) for the sources
    /// named, in order. State of a source no longer named is dropped: the
    /// next checkpoint no longer carries it.
    pub fn open(dir: Option<PathBuf>, names: Vec<String>) -> (Journal, Restored) {
        let mut restored = Restored::default();
        let stored = match &dir {
            None => None,
            Some(d) => match state::load(d) {
                Ok(s) => s,
                Err(e) => {
                    restored.error = Some(e);
                    None
                }
            },
        };
        let mut positions = Vec::new();
        let mut covered = Vec::new();
        for name in &names {
            let st = stored.as_ref().and_then(|s| s.sources.get(name)).cloned();
            let held: HashMap<PositionKey, Held> = st
                .iter()
                .flat_map(|s| &s.positions)
                .map(|p| {
                    (
                        p.key(),
                        Held {
                            at: p.clone(),
                            seq: 0,
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
            names,
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
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
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
                seq,
            },
        );
        advanced
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
        let mut state = State {
            written_at: crate::clock::unix_now(),
            ..State::default()
        };
        for ((name, positions), covered) in
            self.names.iter().zip(&self.positions).zip(&self.covered)
        {
            let mut held = positions.lock().unwrap_or_else(|p| p.into_inner());
            if held.len() > POSITIONS_KEPT {
                let mut seqs: Vec<u64> = held.values().map(|h| h.seq).collect();
                seqs.sort_unstable();
                let cut = seqs[seqs.len() - POSITIONS_KEPT];
                held.retain(|_, h| h.seq >= cut);
            }
            state.sources.insert(
                name.clone(),
                SourceState {
                    positions: held.values().map(|h| h.at.clone()).collect(),
                    counters: counters.remove(name).unwrap_or_default(),
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
