//! Model-based test of exactly-once following: random sequences of writes,
//! partial writes, rotations (rename, copytruncate, delete + recreate),
//! polls, checkpoints and restarts run against the real follower on real
//! files, and against a model that says what must have been counted: every
//! complete line written, once.
//!
//! A restart throws the follower and its count away and resumes from the
//! last checkpoint (marks and count taken together), as the exporter does
//! after SIGKILL.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::ops::ControlFlow;

use gateway_exporter::source::file::{FileId, FileMark, FollowConfig, Follower, StartAt};
use gateway_exporter::source::{Position, Sink};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Write(u8),
    WritePartial,
    Poll,
    Checkpoint,
    Restart,
    Rename,
    CopyTruncate,
    DeleteRecreate,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..20).prop_map(Op::Write),
        2 => Just(Op::WritePartial),
        5 => Just(Op::Poll),
        3 => Just(Op::Checkpoint),
        2 => Just(Op::Restart),
        2 => Just(Op::Rename),
        2 => Just(Op::CopyTruncate),
        1 => Just(Op::DeleteRecreate),
    ]
}

/// The pipeline's part: count lines and keep the latest mark per file.
#[derive(Default, Clone)]
struct Counter {
    lines: u64,
    marks: HashMap<FileId, FileMark>,
}

impl Sink for Counter {
    fn lines(&mut self, at: &Position, block: &[u8], _oversize: u64) -> ControlFlow<()> {
        self.lines += block.iter().filter(|b| **b == b'\n').count() as u64;
        if let Position::File(file) = at {
            self.marks.insert(file.id(), file.clone());
        }
        ControlFlow::Continue(())
    }
}

struct World {
    dir: PathBuf,
    log: PathBuf,
    next_line: u64,
    /// Half a line written, waiting for its end.
    partial: Option<String>,
    rotations: u32,
    written_complete: u64,
}

impl World {
    fn append(&self, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        self.next_line += 1;
        format!(
            "{:08} ERROR write: (57) Socket is not connected\n",
            self.next_line
        )
    }

    /// A writer finishes its line before the log is rotated.
    fn complete_partial(&mut self) {
        if let Some(rest) = self.partial.take() {
            self.append(&rest);
            self.written_complete += 1;
        }
    }

    fn rotated(&mut self) -> PathBuf {
        self.rotations += 1;
        self.dir.join(format!("gw.log.{}", self.rotations))
    }
}

fn config(log: &Path) -> FollowConfig {
    let mut cfg = FollowConfig::new(vec![log.display().to_string()]);
    cfg.rotated = vec![format!("{}.*", log.display())];
    cfg.start_at = StartAt::Beginning;
    cfg.drain_grace = Duration::from_secs(3600);
    cfg.poll_interval = Duration::from_millis(1);
    cfg
}

fn now() -> f64 {
    gateway_exporter::clock::unix_now()
}

fn run(ops: &[Op], case: usize) -> Result<(), TestCaseError> {
    let dir = std::env::temp_dir().join(format!("gwexp-model-{}-{case}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("gw.log");
    let mut w = World {
        dir: dir.clone(),
        log: log.clone(),
        next_line: 0,
        partial: None,
        rotations: 0,
        written_complete: 0,
    };
    w.append("");
    let mut follower = Follower::new(config(&log));
    let mut live = Counter::default();
    // The last checkpoint: count, marks, and the start of the last pass
    // completed before it.
    let mut saved: Option<(Counter, f64)>;
    let mut last_pass_start = 0.0;
    let poll = |f: &mut Follower, c: &mut Counter, last: &mut f64| {
        let t = now();
        let _ = f.poll_once(c);
        *last = t;
    };
    // The exporter checkpoints right after its first pass; before that
    // there is nothing to lose.
    poll(&mut follower, &mut live, &mut last_pass_start);
    saved = Some((live.clone(), last_pass_start));
    for op in ops {
        match op {
            Op::Write(n) => {
                let mut text = String::new();
                if let Some(rest) = w.partial.take() {
                    text.push_str(&rest);
                    w.written_complete += 1;
                }
                for _ in 0..*n {
                    text.push_str(&w.line());
                    w.written_complete += 1;
                }
                w.append(&text);
            }
            Op::WritePartial => {
                w.complete_partial();
                let l = w.line();
                let (head, tail) = l.split_at(l.len() / 2);
                w.append(head);
                w.partial = Some(tail.to_string());
            }
            Op::Poll => poll(&mut follower, &mut live, &mut last_pass_start),
            Op::Checkpoint => saved = Some((live.clone(), last_pass_start)),
            Op::Restart => {
                let (state, covered) = saved.clone().expect("saved at start");
                let marks = state.marks.values().cloned().collect();
                follower = Follower::resume(config(&log), marks, covered);
                live = state;
                last_pass_start = covered;
            }
            Op::Rename => {
                w.complete_partial();
                let to = w.rotated();
                if log.exists() {
                    std::fs::rename(&log, &to).unwrap();
                }
                w.append("");
            }
            Op::CopyTruncate => {
                w.complete_partial();
                let to = w.rotated();
                std::fs::copy(&log, &to).unwrap();
                std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&log)
                    .unwrap();
            }
            Op::DeleteRecreate => {
                // Deleting loses what nobody read: like logrotate's
                // delaycompress users, delete only what was read and
                // persisted.
                w.complete_partial();
                poll(&mut follower, &mut live, &mut last_pass_start);
                poll(&mut follower, &mut live, &mut last_pass_start);
                saved = Some((live.clone(), last_pass_start));
                std::fs::remove_file(&log).unwrap();
                w.append("");
            }
        }
    }
    w.complete_partial();
    for _ in 0..3 {
        poll(&mut follower, &mut live, &mut last_pass_start);
    }
    let _ = std::fs::remove_dir_all(&dir);
    prop_assert_eq!(live.lines, w.written_complete, "ops: {:?}", ops);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_complete_line_is_counted_exactly_once(ops in proptest::collection::vec(op(), 1..40)) {
        static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        run(&ops, case)?;
    }
}

/// Sequences that once failed, kept as regression tests.
#[test]
fn regressions() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, r: &log::Record<'_>) {
            eprintln!(
                "{} {:?}",
                r.args(),
                r.key_values()
                    .get(log::kv::Key::from("path"))
                    .map(|v| v.to_string())
            );
        }
        fn flush(&self) {}
    }
    let _ = log::set_logger(&Stderr);
    log::set_max_level(log::LevelFilter::Info);
    use Op::*;
    for (i, ops) in [
        vec![Write(2), Poll, CopyTruncate, Write(1), Rename],
        vec![DeleteRecreate, Restart, Poll, Write(1), CopyTruncate],
        vec![
            DeleteRecreate,
            Write(1),
            Poll,
            Checkpoint,
            Restart,
            CopyTruncate,
        ],
    ]
    .iter()
    .enumerate()
    {
        run(ops, 100_000 + i).unwrap();
    }
}
