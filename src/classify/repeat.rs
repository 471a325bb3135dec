//! Telling a failure logged again from a new failure, across lines.
//!
//! Most repeats are recognisable from the line alone (Postfix's
//! `postfix/error` lines, Exim's address-level `defer`), and their rules say
//! so. Some are not: Postfix writes one status line per recipient of the
//! same queue file, journald holds HAProxy's stderr and syslog copies of one
//! message, .NET prints an inner exception after the outer one. For those,
//! rules capture a key, and this filter — one per source, fed every verdict
//! in order — turns an event whose key was seen recently into a repeat.
//!
//! The clock is the number of candidate lines (verdicts other than
//! `NoMatch`), which whole-buffer scanning and line-by-line explaining both
//! see identically, so both count the same.
//!
//! ```
//! use gateway_exporter::classify::{Classifier, RepeatFilter, Verdict};
//! let c = Classifier::builder().build().unwrap();
//! let mut f = RepeatFilter::default();
//! let copy1 = b"haproxy[1]: [WARNING] 271/091212 (1) : Server be/mx1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms.";
//! let copy2 = b"haproxy[1]: Server be/mx1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms.";
//! assert!(matches!(f.apply(c.classify(copy1)), Verdict::Event(_)));
//! assert!(matches!(f.apply(c.classify(copy2)), Verdict::Repeat { .. }));
//! ```

use std::collections::VecDeque;

use super::Verdict;

/// How many keys are remembered; the longest window must fit.
pub(crate) const REMEMBERED: usize = 64;

#[derive(Debug, Default, Clone)]
pub struct RepeatFilter {
    clock: u64,
    recent: VecDeque<(String, u64)>,
}

impl RepeatFilter {
    /// Passes `v` through, turning a recently witnessed event into a repeat.
    pub fn apply<'c>(&mut self, v: Verdict<'c>) -> Verdict<'c> {
        if matches!(v, Verdict::NoMatch) {
            return v;
        }
        self.clock += 1;
        let Verdict::Event(e) = &v else {
            return v;
        };
        let Some((key, spec)) = &e.witness else {
            return v;
        };
        let now = self.clock;
        let seen = self
            .recent
            .iter()
            .any(|(k, t)| k == key && now - t <= u64::from(spec.window));
        self.recent.retain(|(k, _)| k != key);
        self.recent.push_back((key.clone(), now));
        if self.recent.len() > REMEMBERED {
            self.recent.pop_front();
        }
        if spec.dedupes && seen {
            Verdict::Repeat { rule: e.rule }
        } else {
            v
        }
    }
}
