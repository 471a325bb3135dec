//! A matcher for the shape rule patterns have: literals, repeated classes,
//! alternations, optional parts, captures, `\b`, `^` and `$`. At one
//! anchored start it walks the line in the pattern's preference order
//! instead of running a regex engine, which was the largest part of a
//! counted line's cost.
//!
//! Owns the matching at one start position and nothing else: which rules
//! run, where they start and what a match means stay in `rule` and the
//! classifier. It must give the regex's answer or none at all:
//!
//! - A pattern outside the shape (a repeated group, a multi-line anchor,
//!   more groups than the stack holds) gets no matcher ([`Linear::new`] is
//!   `None`); its rule keeps the regex.
//! - Alternatives are tried in the pattern's order and repetitions from
//!   the longest (the shortest, when lazy), each followed by the rest of
//!   the pattern: that is the order in which leftmost-first semantics
//!   prefers matches, so the first match found is the regex's, groups
//!   included. Where nothing that may follow a greedy repetition can begin
//!   with a byte it holds (and no `\b` or `^` comes first), a shorter
//!   length cannot lead to a match, and only the longest is tried.
//! - Each search has a step budget proportional to the line; a line that
//!   would make it backtrack past it is answered [`Outcome::Declined`], as
//!   is one where the answer needs Unicode (a non-ASCII byte under a class
//!   that holds non-ASCII characters, or beside a Unicode `\b`). The
//!   caller then asks the regex, whose backtracker is bounded.
//!
//! A unit test compares it with the regex at every start of every line of
//! the fixtures; the classifier's differential tests compare verdicts.

use memchr::memchr;
use regex_automata::util::primitives::NonMaxUsize;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::op::is_word_byte;

/// The compiled matcher of one pattern.
#[derive(Debug, Clone)]
pub struct Linear {
    seq: Vec<Item>,
    /// Slots the pattern's groups fill: two per group, the match first.
    slots: usize,
}

/// What a search at one start found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A match starts here; the slots hold its groups.
    Match,
    /// No match starts here.
    NoMatch,
    /// The line needs Unicode to decide: ask the regex.
    Declined,
}

#[derive(Debug, Clone)]
enum Item {
    Bytes(Box<[u8]>),
    Run(Run),
    Assert(Assert),
    /// Sets a slot to the current position.
    Slot(usize),
    /// Branches tried in order, each followed by the rest of the pattern.
    Alt(Vec<Vec<Item>>),
}

/// A class repeated `min..=max` times. `only_longest`: greedy, and no
/// shorter length can lead to a match. Otherwise each length is tried, but
/// only where the rest can begin: on a byte of `then` (the bytes the rest
/// can begin with), or anywhere when `then_empty` (the rest may consume
/// nothing). The last three are set by [`mark_exact`]. `dot`: the set is
/// `.`, decided once here rather than at every visit.
#[derive(Debug, Clone)]
struct Run {
    set: Set,
    dot: bool,
    min: u32,
    max: u32,
    greedy: bool,
    only_longest: bool,
    then: Set,
    then_empty: bool,
}

impl Run {
    fn item(set: Set, min: u32, max: u32, greedy: bool) -> Item {
        Item::Run(Run {
            dot: set.is_dot(),
            set,
            min,
            max,
            greedy,
            only_longest: min == max,
            then: Set {
                bits: [0; 4],
                wide: false,
            },
            then_empty: true,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Assert {
    Start,
    End,
    Word { unicode: bool, negate: bool },
}

/// Bytes a class matches as one character. `wide`: the class also holds
/// non-ASCII characters, which take more than a byte to tell.
#[derive(Debug, Clone, Copy)]
struct Set {
    bits: [u64; 4],
    wide: bool,
}

impl Set {
    fn has(&self, b: u8) -> bool {
        self.bits[usize::from(b / 64)] & (1 << (b % 64)) != 0
    }

    /// Whether this is `.`: every character but a newline.
    fn is_dot(&self) -> bool {
        self.wide && self.bits == [!(1 << b'\n'), u64::MAX, 0, 0]
    }

    /// The bytes a match of one character can begin with.
    fn first(&self) -> [u64; 4] {
        let mut f = self.bits;
        if self.wide {
            f[2] = u64::MAX;
            f[3] = u64::MAX;
        }
        f
    }

    fn of_byte(b: u8) -> Set {
        let mut bits = [0; 4];
        bits[usize::from(b / 64)] |= 1 << (b % 64);
        Set { bits, wide: false }
    }

    fn of_class(c: &Class) -> Set {
        let mut bits = [0u64; 4];
        let mut wide = false;
        let mut add = |lo: u32, hi: u32, limit: u32| {
            for b in lo..=hi.min(limit) {
                bits[(b / 64) as usize] |= 1 << (b % 64);
            }
        };
        match c {
            Class::Unicode(u) => {
                for r in u.ranges() {
                    let (lo, hi) = (u32::from(r.start()), u32::from(r.end()));
                    if lo < 0x80 {
                        add(lo, hi, 0x7f);
                    }
                    wide |= hi >= 0x80;
                }
            }
            Class::Bytes(b) => {
                for r in b.ranges() {
                    add(u32::from(r.start()), u32::from(r.end()), 0xff);
                }
            }
        }
        Set { bits, wide }
    }
}

fn union(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    std::array::from_fn(|i| a[i] | b[i])
}

fn overlaps(a: [u64; 4], b: [u64; 4]) -> bool {
    a.iter().zip(&b).any(|(x, y)| x & y != 0)
}

/// What may come after a point of the pattern, up to its end.
#[derive(Debug, Clone, Copy)]
struct Follow {
    /// Bytes a non-empty continuation can begin with.
    first: [u64; 4],
    /// A `\b` or `^` may be met before the next byte is read.
    looks: bool,
    /// The rest may match without consuming a byte.
    empty: bool,
}

const END: Follow = Follow {
    first: [0; 4],
    looks: false,
    empty: true,
};

fn follow_of(seq: &[Item], after: Follow) -> Follow {
    seq.iter().rev().fold(after, |f, item| match item {
        Item::Bytes(b) => Follow {
            first: Set::of_byte(b[0]).bits,
            looks: false,
            empty: false,
        },
        Item::Run(r) if r.min > 0 => Follow {
            first: r.set.first(),
            looks: false,
            empty: false,
        },
        Item::Run(r) => Follow {
            first: union(r.set.first(), f.first),
            ..f
        },
        // `$` cannot hold where a shorter repetition would leave bytes
        // still to read, so it needs no care; `\b` and `^` might.
        Item::Assert(Assert::End) | Item::Slot(_) => f,
        Item::Assert(_) => Follow { looks: true, ..f },
        Item::Alt(branches) => {
            let mut out = Follow {
                first: [0; 4],
                looks: false,
                empty: false,
            };
            for b in branches {
                let g = follow_of(b, f);
                out.first = union(out.first, g.first);
                out.looks |= g.looks;
                out.empty |= g.empty;
            }
            out
        }
    })
}

/// Marks the greedy repetitions in `seq` that can only end where their
/// class stops holding the line's bytes (see the module docs).
fn mark_exact(seq: &mut [Item], after: Follow) {
    for i in 0..seq.len() {
        let f = follow_of(&seq[i + 1..], after);
        match &mut seq[i] {
            Item::Run(r) => {
                r.only_longest =
                    r.min == r.max || (r.greedy && !f.looks && !overlaps(f.first, r.set.first()));
                r.then.bits = f.first;
                r.then_empty = f.empty;
            }
            Item::Alt(branches) => {
                for b in branches {
                    mark_exact(b, f);
                }
            }
            _ => {}
        }
    }
}

fn flatten(h: &Hir, out: &mut Vec<Item>) -> Option<()> {
    match h.kind() {
        HirKind::Empty => {}
        HirKind::Literal(l) => out.push(Item::Bytes(l.0.clone())),
        HirKind::Class(c) => out.push(Run::item(Set::of_class(c), 1, 1, true)),
        HirKind::Look(look) => out.push(Item::Assert(match look {
            Look::Start => Assert::Start,
            Look::End => Assert::End,
            Look::WordAscii
            | Look::WordAsciiNegate
            | Look::WordUnicode
            | Look::WordUnicodeNegate => Assert::Word {
                unicode: matches!(look, Look::WordUnicode | Look::WordUnicodeNegate),
                negate: matches!(look, Look::WordAsciiNegate | Look::WordUnicodeNegate),
            },
            _ => return None,
        })),
        HirKind::Repetition(r) => {
            let max = r.max.unwrap_or(u32::MAX);
            let set = match r.sub.kind() {
                HirKind::Class(c) => Some(Set::of_class(c)),
                HirKind::Literal(l) if l.0.len() == 1 => Some(Set::of_byte(l.0[0])),
                _ => None,
            };
            match set {
                Some(set) => out.push(Run::item(set, r.min, max, r.greedy)),
                // `x?` is the alternation of `x` and nothing, in that order
                // (`x??`: the other way round).
                None if r.min == 0 && max == 1 => {
                    let mut sub = Vec::new();
                    flatten(&r.sub, &mut sub)?;
                    let mut branches = vec![sub, Vec::new()];
                    if !r.greedy {
                        branches.reverse();
                    }
                    out.push(Item::Alt(branches));
                }
                None => return None,
            }
        }
        HirKind::Capture(c) => {
            let slot = 2 * c.index as usize;
            out.push(Item::Slot(slot));
            flatten(&c.sub, out)?;
            out.push(Item::Slot(slot + 1));
        }
        HirKind::Concat(hs) => {
            for h in hs {
                flatten(h, out)?;
            }
        }
        HirKind::Alternation(hs) => {
            let mut branches = Vec::with_capacity(hs.len());
            for h in hs {
                let mut b = Vec::new();
                flatten(h, &mut b)?;
                branches.push(b);
            }
            out.push(Item::Alt(branches));
        }
    }
    Some(())
}

/// The rest of the pattern after the alternation being tried.
struct Cont<'a> {
    seq: &'a [Item],
    next: Option<&'a Cont<'a>>,
}

enum Step {
    Match(usize),
    NoMatch,
    Declined,
}

impl Assert {
    /// `None`: Unicode is needed to tell.
    fn holds(self, line: &[u8], pos: usize) -> Option<bool> {
        match self {
            Assert::Start => Some(pos == 0),
            Assert::End => Some(pos == line.len()),
            Assert::Word { unicode, negate } => {
                let before = pos.checked_sub(1).map(|i| line[i]);
                let after = line.get(pos).copied();
                if unicode
                    && (before.is_some_and(|b| b >= 0x80) || after.is_some_and(|b| b >= 0x80))
                {
                    return None;
                }
                let boundary = before.is_some_and(is_word_byte) != after.is_some_and(is_word_byte);
                Some(boundary != negate)
            }
        }
    }
}

/// Slots a search can save and restore on the stack; patterns with more
/// groups keep the regex.
pub const MAX_SLOTS: usize = 16;

struct Search<'l> {
    line: &'l [u8],
    /// Steps left before the search gives up (declines).
    budget: usize,
    /// The slot writes of the path being tried, with the values they
    /// replaced, so a failed branch can be undone. A path writes each
    /// group's slots once at most (no group repeats), so they fit.
    trail: [(usize, Option<NonMaxUsize>); MAX_SLOTS],
    trailed: usize,
}

impl Search<'_> {
    fn set(&mut self, slots: &mut [Option<NonMaxUsize>], slot: usize, pos: usize) {
        self.trail[self.trailed] = (slot, slots[slot]);
        self.trailed += 1;
        slots[slot] = NonMaxUsize::new(pos);
    }

    fn undo(&mut self, slots: &mut [Option<NonMaxUsize>], to: usize) {
        while self.trailed > to {
            self.trailed -= 1;
            let (slot, old) = self.trail[self.trailed];
            slots[slot] = old;
        }
    }

    fn spend(&mut self, steps: usize) -> bool {
        match self.budget.checked_sub(steps) {
            Some(left) => {
                self.budget = left;
                true
            }
            None => false,
        }
    }

    fn run(
        &mut self,
        seq: &[Item],
        next: Option<&Cont<'_>>,
        mut pos: usize,
        slots: &mut [Option<NonMaxUsize>],
    ) -> Step {
        let line = self.line;
        for (i, item) in seq.iter().enumerate() {
            match item {
                Item::Bytes(b) => {
                    // The first byte inline: most tries fail on it.
                    if line.get(pos) != Some(&b[0]) || !line[pos..].starts_with(b) {
                        return Step::NoMatch;
                    }
                    pos += b.len();
                }
                Item::Run(r) => {
                    let start = pos;
                    let room = &line[pos..line.len().min(pos.saturating_add(r.max as usize))];
                    // `.` over ASCII without a newline, the usual rest of a
                    // line, is taken whole: two word-at-a-time checks
                    // instead of a set test per byte.
                    let taken = if r.dot && room.is_ascii() && memchr(b'\n', room).is_none() {
                        room.len()
                    } else {
                        match room.iter().position(|&b| !r.set.has(b)) {
                            Some(i) if room[i] >= 0x80 && r.set.wide => return Step::Declined,
                            Some(i) => i,
                            None => room.len(),
                        }
                    };
                    pos += taken;
                    if !self.spend(taken) {
                        return Step::Declined;
                    }
                    if taken < r.min as usize {
                        return Step::NoMatch;
                    }
                    if r.only_longest {
                        continue;
                    }
                    let rest = Cont {
                        seq: &seq[i + 1..],
                        next,
                    };
                    let viable =
                        |p: usize| r.then_empty || line.get(p).is_some_and(|b| r.then.has(*b));
                    let (lo, hi) = (start + r.min as usize, pos);
                    let mark = self.trailed;
                    let mut p = if r.greedy { hi } else { lo };
                    loop {
                        if viable(p) {
                            if !self.spend(1) {
                                return Step::Declined;
                            }
                            match self.run(rest.seq, rest.next, p, slots) {
                                Step::NoMatch => self.undo(slots, mark),
                                done => return done,
                            }
                        }
                        match (r.greedy, p) {
                            (true, p_) if p_ == lo => return Step::NoMatch,
                            (true, _) => p -= 1,
                            (false, p_) if p_ == hi => return Step::NoMatch,
                            (false, _) => p += 1,
                        }
                    }
                }
                Item::Assert(a) => match a.holds(line, pos) {
                    Some(true) => {}
                    Some(false) => return Step::NoMatch,
                    None => return Step::Declined,
                },
                Item::Slot(s) => self.set(slots, *s, pos),
                Item::Alt(branches) => {
                    let mark = self.trailed;
                    let rest = Cont {
                        seq: &seq[i + 1..],
                        next,
                    };
                    for b in branches {
                        if !self.spend(1) {
                            return Step::Declined;
                        }
                        match self.run(b, Some(&rest), pos, slots) {
                            Step::NoMatch => self.undo(slots, mark),
                            done => return done,
                        }
                    }
                    return Step::NoMatch;
                }
            }
        }
        match next {
            None => Step::Match(pos),
            Some(c) => self.run(c.seq, c.next, pos, slots),
        }
    }
}

impl Linear {
    /// The matcher of `pattern` (parsed as the rules' regexes are), or
    /// `None` when the pattern is outside the shape or has more than
    /// `slot_len` slots to fill.
    pub fn new(pattern: &str, slot_len: usize) -> Option<Linear> {
        let hir = regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(pattern)
            .ok()?;
        let slots = 2 * (hir.properties().explicit_captures_len() + 1);
        if slots > slot_len.min(MAX_SLOTS) {
            return None;
        }
        let mut seq = Vec::new();
        flatten(&hir, &mut seq)?;
        mark_exact(&mut seq, END);
        Some(Linear { seq, slots })
    }

    /// Looks for a match starting exactly at `at`, filling `slots` (two per
    /// group, the whole match first) as the regex's `search_slots` would.
    pub fn search_at(&self, line: &[u8], at: usize, slots: &mut [Option<NonMaxUsize>]) -> Outcome {
        if slots.len() < self.slots || at > line.len() {
            return Outcome::Declined;
        }
        slots.fill(None);
        // Enough for a few walks of the rest of the line: patterns that
        // need more backtracking than that are rare, and the regex's
        // backtracker is bounded where this is not.
        let mut search = Search {
            line,
            budget: 4 * (line.len() - at) + 256,
            trail: [(0, None); MAX_SLOTS],
            trailed: 0,
        };
        match search.run(&self.seq, None, at, slots) {
            // The regex reports no empty match that may split a UTF-8
            // character (its `utf8_empty`); near non-ASCII bytes, let it
            // decide.
            Step::Match(end)
                if end == at
                    && (line.get(at).is_some_and(|b| *b >= 0x80)
                        || at.checked_sub(1).is_some_and(|i| line[i] >= 0x80)) =>
            {
                Outcome::Declined
            }
            Step::Match(end) => {
                if slots.len() >= 2 {
                    slots[0] = NonMaxUsize::new(at);
                    slots[1] = NonMaxUsize::new(end);
                }
                Outcome::Match
            }
            Step::NoMatch => {
                slots.fill(None);
                Outcome::NoMatch
            }
            Step::Declined => Outcome::Declined,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::{Anchored, Input};

    /// Compares the matcher with the regex at every start of every line;
    /// returns how many searches the matcher answered itself.
    fn agree(pattern: &str, lines: &[&[u8]]) -> usize {
        let regex = crate::classify::rule::compile("t", pattern).unwrap();
        let n = regex.group_info().slot_len();
        let linear = Linear::new(pattern, n).unwrap_or_else(|| panic!("no matcher: {pattern}"));
        let mut answered = 0;
        for line in lines {
            for at in 0..=line.len() {
                let mut ours = vec![None; n];
                let mut theirs = vec![None; n];
                let input = Input::new(*line).range(at..).anchored(Anchored::Yes);
                let found = regex.search_slots(&input, &mut theirs).is_some();
                match linear.search_at(line, at, &mut ours) {
                    Outcome::Declined => continue,
                    o => {
                        answered += 1;
                        assert_eq!(o == Outcome::Match, found, "{pattern} at {at} of {line:?}");
                        if found {
                            assert_eq!(ours, theirs, "{pattern} at {at} of {line:?}");
                        }
                    }
                }
            }
        }
        answered
    }

    #[test]
    fn greedy_runs_alternatives_and_captures_agree_with_the_regex() {
        let lines: &[&[u8]] = &[
            b"ERROR write: (57) Socket is not connected",
            b"xERROR write: (57) x",
            b"ERROR write: (-1)",
            b"ERROR w: (1234567890) too long",
            b"ERROR write (57)",
            b"recv() failed (104: Connection reset by peer) while reading",
            b"recvmsg() to 10.0.0.1:25 failed (SSL: x) (32: Broken pipe)",
            b"accept4() failed (24: Too many open files)",
            b"connect() failed (111: Connection refused) while connecting",
            b"",
            "ERROR write: (57) caf\u{e9}".as_bytes(),
            b"ERROR write: (57) \xff\xfe",
        ];
        for p in [
            r"\bERROR (?P<op>[A-Za-z_]{1,24}): \((?P<errno>-?[0-9]{1,9})\)(?P<text>.*)",
            r"\b(?P<op>connect|recv|recvmsg|send|accept4?)\([^()]*\)(?: to \S+)? failed (?:\(SSL:[^)]*\) )?\((?P<errno>[0-9]{1,9}): (?P<text>[^)]*)\)(?: while (?P<stage>[a-z ]+))?",
            r"^ERROR|failed$",
            r"(?i)error \w{2}",
            r"\Bor",
        ] {
            assert!(agree(p, lines) > 0, "{p}");
        }
    }

    #[test]
    fn backtracking_lazy_and_boundaries_agree_with_the_regex() {
        let lines: &[&[u8]] = &[
            b"connect to mx.example.com[192.0.2.1]:25: Connection refused",
            b"connect to a b: c",
            b"connect to a:b:c",
            b"WSAECONNRESET (10054)",
            b"WSAECONNRESETx",
            b"abc abc x abcx",
            b"failed: Connection reset by peer (104)",
            b"failed: a (b) (1)",
        ];
        for p in [
            r"connect to \S+(?: \S+)?: (?P<text>.+)",
            r"\b(?P<wsa>WSAE[A-Z]{2,20})\b(?:[ :]*\(?(?P<errno>1[01][0-9]{3})\)?)?",
            r"[a-z]+[a-z ]+x",
            r"\w+\b",
            r"[a-z]*?x",
            r"failed: (?P<text>[^()]*?) \((?P<errno>[0-9]{1,9})\)",
            r"(?:a|ab)(?:c|bcd)(?P<d>d*)",
        ] {
            assert!(agree(p, lines) > 0, "{p}");
        }
    }

    #[test]
    fn a_line_that_would_backtrack_too_long_is_left_to_the_regex() {
        let p = r"(?P<a>[a-z ]*)(?P<b>[a-z ]*)(?P<c>[a-z ]*)y";
        let l = Linear::new(p, 8).unwrap();
        let line = vec![b'a'; 300];
        let mut slots = [None; 8];
        assert_eq!(l.search_at(&line, 0, &mut slots), Outcome::Declined);
        // Short lines stay within the budget: all ten starts are answered.
        assert_eq!(agree(p, &[b"ab y", b"aaaa"]), 10);
    }

    #[test]
    fn shapes_outside_it_get_no_matcher() {
        for (p, slots) in [
            (r"(?:ab)+", 2),                   // a repeated group
            (r"(?:ab){2,3}", 2),               // a counted group
            (r"(?m)^x", 2),                    // multi-line anchors
            (r"x\b{start}", 2),                // half boundaries
            (r"(a)(b)(c)(d)(e)(f)(g)(h)", 18), // more groups than the stack holds
            (r"(a)(b)", 4),                    // more groups than the caller's slots
        ] {
            assert!(Linear::new(p, slots).is_none(), "{p}");
        }
    }

    #[test]
    fn non_ascii_under_a_unicode_class_is_left_to_the_regex() {
        let l = Linear::new(r"x(.*)", 4).unwrap();
        let mut slots = [None; 4];
        assert_eq!(
            l.search_at("xcaf\u{e9}".as_bytes(), 0, &mut slots),
            Outcome::Declined
        );
        assert_eq!(l.search_at(b"xcafe", 0, &mut slots), Outcome::Match);
        assert_eq!(slots[3], NonMaxUsize::new(5));
    }

    #[test]
    fn dot_runs_are_taken_whole_and_still_agree() {
        let l = Linear::new(r"x(.*)", 4).unwrap();
        assert!(
            l.seq
                .iter()
                .any(|i| matches!(i, Item::Run(r) if r.set.is_dot())),
            "`.` is recognised"
        );
        let lines: &[&[u8]] = &[
            b"x",
            b"xab\ncd",
            b"ab x cd\n",
            b"x0123456789",
            "x caf\u{e9}".as_bytes(),
            b"x \xff",
        ];
        for p in [
            r"x(.*)",
            r"x(.{0,4})",
            r"x(.{2,})d",
            r"x.*?c",
            r"x(.+)$",
            r"(?s)x(.*)",
        ] {
            agree(p, lines);
        }
    }
}

#[cfg(test)]
mod fixtures {
    use super::*;
    use crate::classify::Profile;
    use regex_automata::{Anchored, Input};

    /// Every line (and every tab-separated field) of the profile fixtures,
    /// the real Postfix log and the bench line shapes.
    fn fixture_lines() -> Vec<Vec<u8>> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![
            root.join("tests/fixtures/real/postfix-3.7.11.log"),
            root.join("benches/line_shapes.txt"),
        ];
        for e in std::fs::read_dir(root.join("tests/fixtures/profiles")).unwrap() {
            files.push(e.unwrap().path());
        }
        let mut lines = Vec::new();
        for f in files {
            for line in std::fs::read(&f).unwrap().split(|b| *b == b'\n') {
                lines.push(line.to_vec());
                lines.extend(line.split(|b| *b == b'\t').map(<[u8]>::to_vec));
            }
        }
        lines.sort();
        lines.dedup();
        lines
    }

    #[test]
    fn every_built_in_matcher_agrees_with_its_regex_at_every_start_of_every_fixture() {
        let lines = fixture_lines();
        let (mut with, mut without, mut answered, mut matched) = (0, Vec::new(), 0, 0);
        for profile in Profile::ALL {
            for spec in profile.rules() {
                let regex = crate::classify::rule::compile(spec.name, spec.pattern).unwrap();
                let n = regex.group_info().slot_len();
                let Some(linear) = Linear::new(spec.pattern, n) else {
                    without.push(spec.name);
                    continue;
                };
                with += 1;
                let mut ours = vec![None; n];
                let mut theirs = vec![None; n];
                for line in &lines {
                    // Where a match can start: the regex's own answer
                    // unanchored says where the first one is; every start
                    // up to it must be a miss, and it must be a hit.
                    for at in 0..=line.len() {
                        let input = Input::new(line).range(at..).anchored(Anchored::Yes);
                        match linear.search_at(line, at, &mut ours) {
                            Outcome::Declined => continue,
                            o => {
                                answered += 1;
                                let found = regex.search_slots(&input, &mut theirs).is_some();
                                assert_eq!(
                                    o == Outcome::Match,
                                    found,
                                    "{} at {at} of {:?}",
                                    spec.name,
                                    String::from_utf8_lossy(line)
                                );
                                if found {
                                    matched += 1;
                                    assert_eq!(ours, theirs, "{} at {at}", spec.name);
                                }
                            }
                        }
                    }
                }
            }
        }
        eprintln!(
            "{with} patterns with a matcher, without: {without:?}; \
             {answered} searches answered, {matched} matches"
        );
        assert!(
            with > 4 * without.len(),
            "{with} with a matcher, {without:?} without"
        );
        assert!(matched > 100, "{matched} matches");
    }
}
