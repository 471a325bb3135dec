//! Line → event: decides whether a log line records a socket error, and if so
//! which operation failed, with which errno, in which numbering.
//!
//! This module owns the built-in profiles (one file each under `profiles/`),
//! user rules compiled from the config, and the buffer scanner. It must not
//! know where lines come from (that is `source`) or what is done with events
//! (that is `metrics` and the commands): it returns a [`Verdict`] per line.
//!
//! Every rule is gated by anchors: literals one of which must occur in a line
//! for the rule to run. The union of all anchors, each as a part of itself
//! worth searching for (`BUFFER_KEYS`, in [`BUFFER_ORDER`]), is one
//! multi-literal searcher, run over whole buffers
//! ([`Classifier::scan_block`]); only lines holding a hit are classified,
//! and only those holding an anchor go further. Because gating is part of
//! [`Classifier::classify`] itself, scanning a buffer and classifying its
//! lines one by one give the same verdicts by construction (and a property
//! test checks it).
//!
//! A gated rule whose literals are prefixes searches anchored where they
//! occur; at each start [`linear`] answers for the regex where the pattern
//! has its shape, and declines to it otherwise. These are shortcuts only:
//! [`Classifier::classify_unassisted`] runs the regexes alone, and tests
//! hold the two to the same verdicts.
//!
//! ```
//! use gateway_exporter::classify::{Classifier, Verdict};
//! let c = Classifier::builder().build().unwrap();
//! match c.classify(b"ERROR write: (57) Socket is not connected") {
//!     Verdict::Event(e) => {
//!         assert_eq!((e.op.as_str(), e.errno.as_deref(), e.errname.as_str(), e.dialect.as_str()),
//!                    ("write", Some("57"), "ENOTCONN", "bsd"));
//!         assert_eq!(e.rule, "msmail");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

mod derived;
pub mod linear;
pub mod logged;
pub mod op;
pub mod profiles;
pub mod repeat;
pub mod rule;
pub mod text;
pub mod vocab;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use memchr::{memchr, memrchr};

pub use logged::LoggedErrno;
pub use op::Op;
pub use profiles::Profile;
pub use repeat::RepeatFilter;
use rule::compile;
pub use rule::{Action, Claim, Compiled, Gate, Groups, Rule, RuleSpec, WitnessSpec};
use text::{TEXT_ANCHORS, TextTable, case_forms};

use crate::errno::{Dialect, Errname};

/// Words that make a line a candidate for the drift flag (as does any
/// other anchor). A candidate line
/// that matches no rule is [`Verdict::Unrecognized`] only when it also reads
/// like a socket failure ([`vocab::looks_like_socket_failure`]): a wrong
/// password or a missing file is no sign that a gateway changed its format.
/// Profiles gate on these same literals where they can, so they cost no
/// extra anchors.
pub const ERROR_WORDS: &[&str] = &["error", "Error", "ERROR", "fail", "Fail", "FAIL"];

pub use crate::limits::DEFAULT_MAX_LINE_BYTES;

/// A socket error found in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'c> {
    pub op: Op,
    /// The number exactly as logged, if one was.
    pub errno: Option<LoggedErrno>,
    pub errname: Errname,
    pub dialect: Dialect,
    /// The name of the rule that matched.
    pub rule: &'c str,
    /// The failure's identity across lines, for rules that have one.
    pub witness: Option<(String, WitnessSpec)>,
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'c> {
    /// A new socket error: count it.
    Event(Event<'c>),
    /// A known repeat of an earlier failure (or a cached state): not counted.
    Repeat { rule: &'c str },
    /// Reads like a socket or connection failure (a socket word and a
    /// failure word) but no rule matched: the drift signal.
    Unrecognized,
    /// Not a socket error.
    NoMatch,
}

/// Errors building a classifier.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("rule {rule:?}: invalid regex: {source}")]
    Regex {
        rule: String,
        #[source]
        source: regex::Error,
    },
    #[error("rule {rule:?}: {problem}")]
    Rule { rule: String, problem: String },
    #[error("too many anchors ({0}); at most {MAX_ANCHORS} are supported")]
    TooManyAnchors(usize),
    #[error("the line search needs {0} states; at most 65535 are supported")]
    LineSearchTooLarge(usize),
    #[error("building the anchor searcher: {0}")]
    Anchors(#[from] aho_corasick::BuildError),
    #[error("starting the line searcher: {0}")]
    LineStart(#[from] aho_corasick::MatchError),
}

const MAX_ANCHORS: usize = 512;

/// A user rule, as read from the config file.
#[derive(Debug, Clone)]
pub struct UserRule {
    pub name: String,
    pub regex: String,
    pub dialect: Option<Dialect>,
    pub op: Option<Op>,
    /// Literals one of which every matching line contains. When empty, they
    /// are derived from the regex when it has required prefixes; otherwise the
    /// rule runs on every line (correct, but it turns off buffer scanning).
    pub anchors: Vec<String>,
}

/// Builds a [`Classifier`].
#[derive(Debug, Clone)]
pub struct Builder {
    profile: Profile,
    dialect: Option<Dialect>,
    user_rules: Vec<UserRule>,
    max_line_bytes: usize,
}

impl Builder {
    /// Which built-in profile(s) to use; default [`Profile::Auto`].
    pub fn profile(mut self, p: Profile) -> Self {
        self.profile = p;
        self
    }

    /// The numbering for numbers logged without a text; default: each
    /// profile's own.
    pub fn dialect(mut self, d: Option<Dialect>) -> Self {
        self.dialect = d;
        self
    }

    /// Rules tried before the built-in profiles.
    pub fn user_rules(mut self, rules: Vec<UserRule>) -> Self {
        self.user_rules = rules;
        self
    }

    pub fn max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n.max(1);
        self
    }

    pub fn build(self) -> Result<Classifier, BuildError> {
        let mut anchors = AnchorSet::default();
        let mut rules = Vec::new();
        for u in &self.user_rules {
            let regex = compile(&u.name, &u.regex)?;
            for group in regex
                .group_info()
                .pattern_names(regex_automata::PatternID::ZERO)
                .flatten()
            {
                if !["op", "errno", "text", "stage", "wsa"].contains(&group) {
                    return Err(BuildError::Rule {
                        rule: u.name.clone(),
                        problem: format!(
                            "unknown named group {group:?} (expected op, errno, text, stage or wsa)"
                        ),
                    });
                }
            }
            // The errno group becomes a label value: it must hold a number,
            // never arbitrary log text.
            if !errno_group_is_numeric(&u.regex) {
                return Err(BuildError::Rule {
                    rule: u.name.clone(),
                    problem: "the errno group must match digits only (e.g. (?P<errno>[0-9]+)), \
                              since its value becomes a label"
                        .into(),
                });
            }
            let literals = if u.anchors.is_empty() {
                required_prefixes(&u.regex).unwrap_or_default()
            } else {
                u.anchors.clone()
            };
            let anchor_ids = literals.iter().map(|l| anchors.add(l)).collect();
            rules.push(Rule {
                name: u.name.clone(),
                action: Action::Event,
                compiled: Compiled::new(regex.clone(), &u.regex).into(),
                shared: std::sync::Arc::new(Compiled::new(regex, &u.regex).into()),
                pattern: u.regex.clone(),
                op: u.op,
                strict: false,
                vendor_texts: Vec::new(),
                errname: None,
                witness: None,
                dialect: u.dialect.or(self.dialect).unwrap_or(Dialect::Linux),
                anchor_ids,
                literal_ids: Vec::new(),
                literals_are_prefixes: false,
                inner: Vec::new(),
            });
        }
        let text_ids: Vec<usize> = TEXT_ANCHORS
            .iter()
            .flat_map(|w| case_forms(w))
            .map(|f| anchors.add(&f))
            .collect();
        for profile in self.profile.members() {
            for spec in profile.rules() {
                let anchor_ids = match spec.gate {
                    Gate::Texts => text_ids.clone(),
                    Gate::Literals(lits) => lits.iter().map(|l| anchors.add(l)).collect(),
                    Gate::TextsOr(lits) => {
                        let mut ids = text_ids.clone();
                        ids.extend(lits.iter().map(|l| anchors.add(l)));
                        ids
                    }
                };
                rules.push(Rule {
                    name: spec.name.to_string(),
                    action: spec.action,
                    compiled: std::sync::OnceLock::new(),
                    shared: Default::default(),
                    pattern: spec.pattern.to_string(),
                    op: spec.op,
                    strict: spec.strict,
                    vendor_texts: spec.vendor_texts.iter().map(|s| s.to_string()).collect(),
                    // Built-in names are checked by a unit test.
                    errname: spec.errname.and_then(|n| crate::errno::table().by_name(n)),
                    witness: spec.witness,
                    dialect: self
                        .dialect
                        .or(spec.numbering)
                        .unwrap_or(profile.default_dialect()),
                    anchor_ids,
                    literal_ids: Vec::new(),
                    literals_are_prefixes: false,
                    inner: Vec::new(),
                });
            }
        }
        for w in ERROR_WORDS {
            anchors.add(w);
        }
        if anchors.literals.len() > MAX_ANCHORS {
            return Err(BuildError::TooManyAnchors(anchors.literals.len()));
        }
        // Teddy buckets literals in the order given; sorted literals share
        // buckets with their look-alikes, which cut the searcher's
        // instructions by a third on the bench corpus.
        let order = anchors.sort();
        for rule in &mut rules {
            for id in &mut rule.anchor_ids {
                *id = order[*id];
            }
        }
        let every_line = rules.iter().any(|r| r.anchor_ids.is_empty());
        let mut keys = AnchorSet::default();
        for a in &anchors.literals {
            keys.add(buffer_key(a));
        }
        let mut buffer_keys = keys.literals;
        buffer_keys.sort_by_key(|k| {
            let at = BUFFER_ORDER.iter().position(|o| o == k);
            (at.unwrap_or(usize::MAX), k.clone())
        });
        let buffer_search = BufferSearch::new(&buffer_keys)?;
        // The line-level search also finds each rule's prefix literals (not
        // the buffer search: they would crowd the SIMD searcher, and a line
        // without an anchor is never classified anyway).
        let mut line_literals = AnchorSet {
            literals: anchors.literals.clone(),
        };
        for rule in &mut rules {
            // Built-in rules come precomputed (the parse and extraction
            // were half of start-up); others are derived here.
            let Some(derivation) =
                derived::lookup(&rule.name, &rule.pattern).or_else(|| derive(&rule.pattern))
            else {
                continue;
            };
            let Some((literals, are_prefixes)) = derivation.literals else {
                // No literal to find the rule by, so it runs on every line
                // its anchors gate in: even a 2-byte literal it needs
                // (exim.host's " [") is cheaper to look for than its regex
                // is to run (about 50 against 570 instructions).
                if rule.action != Action::TextAnywhere {
                    rule.inner = finders(derivation.inner);
                }
                continue;
            };
            if line_literals.literals.len() + literals.len() > MAX_ANCHORS {
                continue;
            }
            rule.literal_ids = literals.iter().map(|p| line_literals.add(p)).collect();
            rule.literals_are_prefixes = are_prefixes;
            if rule.action == Action::TextAnywhere {
                continue;
            }
            rule.inner = finders(derivation.inner);
        }
        // Lines are short: a prefilter's restarts cost more than the
        // DFA's one pass (measured: 1.14 against 1.25 µs a line).
        let line_search = LineSearch::new(&line_literals.literals)?;
        // Each rule's literals as a bit mask, for picking its starts out of
        // a line's hits.
        let rule_masks = rules
            .iter()
            .map(|r| AnchorBits::of(&r.literal_ids))
            .collect();
        let gates = Gates::new(&rules, line_literals.literals.len());
        let mut anchor_mask = AnchorBits::default();
        for i in 0..anchors.literals.len() {
            anchor_mask.set(i);
        }
        Ok(Classifier {
            gates,
            rule_masks,
            anchor_mask: anchor_mask.0,
            rules,
            buffer_search,
            line_search,
            anchor_literals: anchors.literals,
            buffer_keys,
            every_line,
            texts: TextTable::new(),
            max_line_bytes: self.max_line_bytes,
        })
    }
}

/// How much of each rule literal the line search holds. Its DFA's states
/// grow with the literals' lengths while their power to rule a line out
/// does not: cutting them from 64 bytes to 12 shrank it from 1.1 MB to
/// 570 KB (within the 1 MiB L2) and start-up by 12M of 51M instructions,
/// with no line shape of `benches/line_shapes.txt` costing more.
const LITERAL_BYTES: usize = 12;

/// A rule pattern's literals and inner literal sets, or `None` when it does
/// not parse (then the rule is gated by its anchors alone).
fn derive(pattern: &str) -> Option<derived::Derivation> {
    let hir = parse_for_literals(pattern)?;
    Some(match rule_literals(&hir) {
        None => derived::Derivation {
            literals: None,
            inner: inner_literals(&hir, &[], 2),
        },
        Some((literals, are_prefixes)) => derived::Derivation {
            inner: inner_literals(&hir, &literals, INNER_MIN),
            literals: Some((literals, are_prefixes)),
        },
    })
}

/// A rule pattern parsed as its literals are read: bytes, not UTF-8, so a
/// literal is exactly what the line must hold.
fn parse_for_literals(pattern: &str) -> Option<regex_syntax::hir::Hir> {
    regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
}

/// Literals one of which every match of the parsed pattern contains, and whether
/// they are its prefixes (every match starts with one: then they also say
/// where a match can start). Prefixes are preferred; suffixes stand in when
/// a pattern begins with a class or a repetition (`\w+\(\) failed`).
/// Literals are cut to [`LITERAL_BYTES`], and sets shortened to at most 32
/// literals of at least 3 bytes (measured against 16 and 64: fewer, shorter
/// literals hit more often, more build a larger automaton); a prefix of a
/// prefix is still one, so each stays a necessary part of every match.
fn rule_literals(hir: &regex_syntax::hir::Hir) -> Option<(Vec<String>, bool)> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
    let usable = |mut seq: Seq, prefix: bool| -> Option<Vec<String>> {
        let mut keep = LITERAL_BYTES;
        if prefix {
            seq.keep_first_bytes(keep);
        } else {
            seq.keep_last_bytes(keep);
        }
        seq.dedup();
        while seq.len().is_some_and(|n| n > 32) && keep >= 3 {
            if prefix {
                seq.keep_first_bytes(keep);
            } else {
                seq.keep_last_bytes(keep);
            }
            seq.dedup();
            keep -= 1;
        }
        searchable(&seq, 32)
    };
    let prefixes = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    if let Some(lits) = usable(prefixes, true) {
        return Some((lits, true));
    }
    let suffixes = Extractor::new().kind(ExtractKind::Suffix).extract(hir);
    if let Some(lits) = usable(suffixes, false) {
        return Some((lits, false));
    }
    // The most telling set from inside (`: SMTP timeo` in
    // `\[[^\]\s]+\]: SMTP timeout after .*`).
    required_sets(hir, &[], 3)
        .into_iter()
        .next()
        .map(|set| (set, false))
}

/// Sets of literals every match of the parsed pattern contains, from inside it
/// (each set: one of its literals is in every match), the most telling
/// first and at most [`INNER_SETS`]. A literal that one of `outer` (the
/// rule's own literals) contains tells nothing, since a line found by those
/// holds it anyway. Each set has at most 8 literals of at least `min` bytes,
/// cut to their first [`LITERAL_BYTES`] (a match holding a literal holds
/// its start). Only literal text counts: a class, a look-around or an
/// optional part requires nothing.
fn inner_literals(hir: &regex_syntax::hir::Hir, outer: &[String], min: usize) -> Vec<Vec<String>> {
    let mut kept = required_sets(hir, outer, min);
    kept.truncate(INNER_SETS);
    kept
}

/// The distinct literal sets of [`inner_literals`] whose shortest literal
/// has at least `min` bytes, the most telling first.
fn required_sets(hir: &regex_syntax::hir::Hir, outer: &[String], min: usize) -> Vec<Vec<String>> {
    use regex_syntax::hir::{Hir, HirKind};
    /// Each set with its worth: the length of its shortest literal.
    fn required(h: &Hir, outer: &[String], out: &mut Vec<(usize, Vec<String>)>) {
        match h.kind() {
            HirKind::Literal(l) => {
                let Ok(text) = std::str::from_utf8(&l.0) else {
                    return;
                };
                let mut cut = text.len().min(LITERAL_BYTES);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let lit = &text[..cut];
                if !outer.iter().any(|o| o.contains(lit)) {
                    out.push((lit.len(), vec![lit.to_string()]));
                }
            }
            HirKind::Capture(c) => required(&c.sub, outer, out),
            HirKind::Repetition(r) if r.min >= 1 => required(&r.sub, outer, out),
            HirKind::Concat(parts) => {
                for p in parts {
                    required(p, outer, out);
                }
            }
            // One literal of some branch: each branch's best set, joined.
            HirKind::Alternation(branches) => {
                let mut worth = usize::MAX;
                let mut set: Vec<String> = Vec::new();
                for b in branches {
                    let mut sets = Vec::new();
                    required(b, outer, &mut sets);
                    let Some((w, lits)) = sets
                        .into_iter()
                        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.len().cmp(&a.1.len())))
                    else {
                        return;
                    };
                    worth = worth.min(w);
                    for l in lits {
                        if !set.contains(&l) {
                            set.push(l);
                        }
                    }
                }
                if set.len() <= 8 {
                    out.push((worth, set));
                }
            }
            _ => {}
        }
    }
    let mut sets = Vec::new();
    required(hir, outer, &mut sets);
    sets.retain(|(worth, _)| *worth >= min);
    sets.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.len().cmp(&b.1.len())));
    let mut kept: Vec<Vec<String>> = Vec::new();
    for (_, set) in sets {
        if !kept.contains(&set) {
            kept.push(set);
        }
    }
    kept
}

/// How many inner literal sets a rule checks before it runs.
const INNER_SETS: usize = 3;

/// The shortest inner literal worth a search for a rule that has literals
/// of its own.
const INNER_MIN: usize = 4;

/// The searchers of a rule's inner literal sets.
fn finders(sets: Vec<Vec<String>>) -> Vec<Vec<memchr::memmem::Finder<'static>>> {
    sets.iter()
        .map(|set| {
            set.iter()
                .map(|l| memchr::memmem::Finder::new(l).into_owned())
                .collect()
        })
        .collect()
}

/// Whether every string the pattern's `errno` group can match is digits,
/// with at most a leading minus (Exim logs negative codes). A pattern
/// without the group passes.
fn errno_group_is_numeric(pattern: &str) -> bool {
    use regex_syntax::hir::{Class, Hir, HirKind};
    let digit_or_minus = |c: u32| (0x30..=0x39).contains(&c) || c == u32::from(b'-');
    fn digits_only(h: &Hir, ok: &dyn Fn(u32) -> bool) -> bool {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => true,
            HirKind::Literal(l) => l.0.iter().all(|b| ok(u32::from(*b))),
            HirKind::Class(Class::Unicode(c)) => c
                .ranges()
                .iter()
                .all(|r| (r.start() as u32..=r.end() as u32).all(ok)),
            HirKind::Class(Class::Bytes(c)) => c
                .ranges()
                .iter()
                .all(|r| (u32::from(r.start())..=u32::from(r.end())).all(ok)),
            HirKind::Repetition(r) => digits_only(&r.sub, ok),
            HirKind::Capture(c) => digits_only(&c.sub, ok),
            HirKind::Concat(hs) | HirKind::Alternation(hs) => hs.iter().all(|h| digits_only(h, ok)),
        }
    }
    fn find(h: &Hir, ok: &dyn Fn(u32) -> bool) -> bool {
        match h.kind() {
            HirKind::Capture(c) if c.name.as_deref() == Some("errno") => digits_only(&c.sub, ok),
            HirKind::Capture(c) => find(&c.sub, ok),
            HirKind::Repetition(r) => find(&r.sub, ok),
            HirKind::Concat(hs) | HirKind::Alternation(hs) => hs.iter().all(|h| find(h, ok)),
            _ => true,
        }
    }
    // `\d` read as ASCII digits: that is what a log writes, and a Unicode
    // digit that gets through anyway is bounded when counted. A pattern
    // that does not parse fails to compile elsewhere, with the regex's own
    // message.
    let ascii = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern);
    let hir = match ascii {
        Ok(h) => h,
        Err(_) => match regex_syntax::Parser::new().parse(pattern) {
            Ok(h) => h,
            Err(_) => return true,
        },
    };
    find(&hir, &digit_or_minus)
}

/// The literals every match of `pattern` starts with, if there is a small
/// set of them of useful length.
fn required_prefixes(pattern: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    searchable(
        &Extractor::new().kind(ExtractKind::Prefix).extract(&hir),
        64,
    )
}

/// An extracted literal set worth searching for: finite, at most `max`
/// literals, each of at least 3 bytes (shorter ones hit everywhere) and
/// UTF-8 (they join the anchor list, which is text).
fn searchable(seq: &regex_syntax::hir::literal::Seq, max: usize) -> Option<Vec<String>> {
    let lits = seq.literals()?;
    if lits.is_empty() || lits.len() > max || lits.iter().any(|l| l.as_bytes().len() < 3) {
        return None;
    }
    lits.iter()
        .map(|l| String::from_utf8(l.as_bytes().to_vec()).ok())
        .collect()
}

/// What the buffer search looks for in place of an anchor (any case form):
/// a part of it whose first three bytes are rare in routine lines. The SIMD
/// searcher (Teddy) fingerprints a literal's first three bytes and checks the
/// whole literal wherever they occur, so "nnected" was checked at every
/// "connect from" and "disconnect from", the commonest lines of a Postfix
/// log and two in five of the bench corpus; "is down" at every "is ".
///
/// A key is a part of its anchor, so every line holding the anchor holds its
/// key and is still found. A line holding only the key ("expected") reaches
/// the classifier, whose line search looks for the anchors themselves and
/// turns it away: which lines are candidates does not change.
const BUFFER_KEYS: &[(&str, &str)] = &[("nnected", "cted"), ("is down", "down")];

/// The buffer search's key for `anchor`: [`BUFFER_KEYS`]' part of it, in
/// the anchor's own case, or the anchor itself.
fn buffer_key(anchor: &str) -> &str {
    let lower = anchor.to_ascii_lowercase();
    BUFFER_KEYS
        .iter()
        .find(|(a, _)| *a == lower)
        .and_then(|(a, key)| a.find(key).map(|at| &anchor[at..at + key.len()]))
        .unwrap_or(anchor)
}

/// The order in which the buffer searcher is given its keys; keys not
/// listed (a user rule's) follow, sorted. The order is free (only where a
/// key occurs is used, not which one), and it decides the searcher's
/// speed: Teddy puts each key with its look-alikes (the same low nibbles in
/// its first four bytes) or else in bucket `15 - position % 16`, and checks
/// a bucket wherever a window of four bytes passes the bucket's nibble
/// masks. Keys that share a bucket badly pass windows none of them holds
/// (the sorted keys passed about 0.4 windows a line of the bench corpus,
/// each a mispredicted branch: 58 against 34 ms for the search alone).
///
/// Generated by `cargo bench --bench buffer_order` from real logs nobody here
/// wrote (the loghub and Exim corpora, `tests/fixtures/corpora/fetch.sh`,
/// and `tests/fixtures/real/postfix-3.7.11.log`): the order whose buckets
/// pass the fewest of their windows. A unit test keeps it in step with the
/// built-in keys.
pub const BUFFER_ORDER: &[&str] = &[
    "VAILABLE",
    "riptor",
    "suspended",
    "RIPTOR",
    "D OUT",
    "DDRESS",
    "DOWN",
    "ERROR",
    "cted",
    "Exception",
    "SOCKET",
    "ge too",
    "BORT",
    "reset",
    "ROGRESS",
    "FUSED",
    "fused",
    "route",
    "rrno",
    "socket",
    "CTED",
    "GE TOO",
    "ROUTE",
    "down",
    "buffer",
    "BUFFER",
    "oken pipe",
    "emote host",
    "upstream",
    "SC--",
    "onversation with",
    "CHABLE",
    "chable",
    "bort",
    "d out",
    "SYSTEM CALL",
    "FILE NUMBER",
    "MTP timeout",
    "error",
    "fail",
    "HUTDOWN",
    "Layer4",
    "file number",
    "hutdown",
    "lost connection",
    "WOULD BLOCK",
    "Error",
    "Fail",
    "WSAE",
    "xisting",
    "rogress",
    "XISTING",
    "OKEN PIPE",
    "sC--",
    "retry",
    "ddress",
    "system call",
    "RESET",
    "vailable",
    "waiting for input",
    "would block",
    "FAIL",
];

/// Where the next key occurs in a buffer. Teddy alone where it can be
/// built (it cannot past 64 keys, or without SSSE3): aho-corasick's
/// automaton behind it only confirmed what Teddy had found, and building
/// its DFA was a tenth of start-up (2.1M instructions).
#[derive(Debug, Clone)]
enum BufferSearch {
    Teddy(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl BufferSearch {
    fn new(keys: &[String]) -> Result<BufferSearch, BuildError> {
        let teddy = (keys.len() <= MAX_TEDDY_KEYS)
            .then(|| {
                aho_corasick::packed::Config::new()
                    .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
                    .builder()
                    .extend(keys)
                    .build()
            })
            .flatten();
        Ok(match teddy {
            Some(t) => BufferSearch::Teddy(t),
            None => BufferSearch::automaton(keys)?,
        })
    }

    fn automaton(keys: &[String]) -> Result<BufferSearch, BuildError> {
        // Leftmost-first lets the automaton use its SIMD prefilter.
        let a = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(keys)?;
        Ok(BufferSearch::Automaton(a))
    }

    /// Where the leftmost key occurrence in `hay` starts.
    #[inline]
    fn find(&self, hay: &[u8]) -> Option<usize> {
        match self {
            BufferSearch::Teddy(t) => t.find(hay).map(|m| m.start()),
            BufferSearch::Automaton(a) => a.find(hay).map(|m| m.start()),
        }
    }
}

/// The most keys given to Teddy alone: past them its buckets crowd
/// (three times slower, measured), and aho-corasick picks better.
const MAX_TEDDY_KEYS: usize = 64;

#[derive(Debug, Default)]
struct AnchorSet {
    literals: Vec<String>,
}

impl AnchorSet {
    /// Sorts the literals; returns, for each old index, the new one.
    fn sort(&mut self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.literals.len()).collect();
        idx.sort_by(|a, b| self.literals[*a].cmp(&self.literals[*b]));
        let mut new_of_old = vec![0; idx.len()];
        for (new, old) in idx.iter().enumerate() {
            new_of_old[*old] = new;
        }
        self.literals.sort();
        new_of_old
    }

    fn add(&mut self, lit: &str) -> usize {
        if let Some(i) = self.literals.iter().position(|l| l == lit) {
            return i;
        }
        self.literals.push(lit.to_string());
        self.literals.len() - 1
    }
}

/// Byte → column for a table over `literals`: one column per byte that
/// occurs in them, after one (the first) for all the others, which from any
/// state lead where the start state does. Also each column's representative
/// byte. `fold_case`: an ASCII letter's two cases share a column, for an
/// automaton that matches them alike.
fn byte_classes<'a>(
    literals: impl Iterator<Item = &'a [u8]>,
    fold_case: bool,
) -> ([u8; 256], Vec<u8>) {
    let key = |b: u8| usize::from(if fold_case { b.to_ascii_lowercase() } else { b });
    let mut seen = [false; 256];
    for &b in literals.flatten() {
        seen[key(b)] = true;
    }
    let other = (0..=255u8).find(|&b| !seen[key(b)]);
    let representative: Vec<u8> = other
        .into_iter()
        .chain((0..=255u8).filter(|&b| seen[usize::from(b)]))
        .collect();
    let mut classes = [0u8; 256];
    for (column, &b) in representative
        .iter()
        .enumerate()
        .skip(usize::from(other.is_some()))
    {
        classes[usize::from(b)] = column as u8;
        if fold_case {
            classes[usize::from(b.to_ascii_uppercase())] = column as u8;
        }
    }
    (classes, representative)
}

/// Which matches an automaton reports (aho-corasick's two kinds used here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Semantics {
    /// Every occurrence, overlaps included.
    Standard,
    /// The leftmost match, the longest there: a walk stops at the dead
    /// state, which every state after a match leads to.
    LeftmostLongest,
}

/// An Aho-Corasick DFA as a table of our own, for hand walks, built
/// directly by the standard construction: a trie over byte columns, then,
/// breadth first, each state's row completed from its failure state's,
/// which is shallower and so already complete. A state's literals are its
/// own, then its failure state's, the order aho-corasick lists them in.
/// For leftmost-longest, as in aho-corasick, a match state fails to the
/// dead state (no later-starting match may be taken once one is found), and
/// so does every state after it. Tabulating aho-corasick's NFA instead (a
/// failure-chain walk per state and byte) was half of start-up.
///
/// Special states (the dead state, match states) are numbered first, so
/// one compare tells a step whether it needs a look; then breadth first,
/// so the shallow states most bytes visit share a few cache lines. 16-bit
/// state numbers, rows of a power-of-two width. Tests hold both kinds to
/// aho-corasick's own searches.
struct DfaTable {
    /// Byte → column ([`byte_classes`]).
    classes: [u8; 256],
    /// Columns per row: exactly the class count. Rows a power of two wide
    /// (256 bytes for the line search) put the same column of every state
    /// into a quarter of the L1 sets, and the hot cells of the hundred-odd
    /// states a log visits evicted one another.
    width: usize,
    /// `next[state + column]`, a state named by its row's first index
    /// (row `r` is `r * width`), so a step is two loads and an add. 32
    /// bits: at most 65,535 rows of 256 columns.
    next: Vec<u32>,
    start: u32,
    /// For each special state, in order (rows `0..matches.len()`), its
    /// literals (none for the dead state).
    matches: Vec<Vec<u32>>,
}

impl DfaTable {
    /// `fold_case`: an ASCII letter's two cases share a column, so they
    /// match alike.
    fn new(
        literals: &[&[u8]],
        fold_case: bool,
        semantics: Semantics,
    ) -> Result<DfaTable, BuildError> {
        const NONE: u32 = u32::MAX;
        let (classes, representative) = byte_classes(literals.iter().copied(), fold_case);
        let columns = representative.len();
        let leftmost = semantics == Semantics::LeftmostLongest;
        let column = |b: u8| usize::from(classes[usize::from(b)]);
        // State 0 is the start; the dead state, if any, is state 1.
        let dead = leftmost.then_some(1u32);
        let mut next: Vec<u32> = vec![NONE; columns];
        let mut own: Vec<Vec<u32>> = vec![Vec::new()];
        if let Some(d) = dead {
            next.resize(2 * columns, d);
            own.push(Vec::new());
        }
        for (id, literal) in literals.iter().enumerate() {
            let mut state = 0;
            for &b in *literal {
                let at = state * columns + column(b);
                if next[at] == NONE {
                    next[at] = own.len() as u32;
                    own.push(Vec::new());
                    next.resize(next.len() + columns, NONE);
                }
                state = next[at] as usize;
            }
            own[state].push(id as u32);
        }
        let states = own.len();
        if states > usize::from(u16::MAX) {
            return Err(BuildError::LineSearchTooLarge(states));
        }
        let is_own_match: Vec<bool> = own.iter().map(|m| !m.is_empty()).collect();
        let mut matches = own;
        let mut fail = vec![0u32; states];
        let mut queue: Vec<u32> = Vec::with_capacity(states);
        for to in &mut next[..columns] {
            match *to {
                NONE => *to = 0,
                child => {
                    if let (Some(d), true) = (dead, is_own_match[child as usize]) {
                        fail[child as usize] = d;
                    }
                    queue.push(child);
                }
            }
        }
        let mut at = 0;
        while at < queue.len() {
            let s = queue[at] as usize;
            let f = fail[s] as usize;
            at += 1;
            for c in 0..columns {
                let via_fail = next[f * columns + c];
                match next[s * columns + c] {
                    NONE => next[s * columns + c] = via_fail,
                    child => {
                        let child = child as usize;
                        queue.push(child as u32);
                        if let (Some(d), true) = (dead, is_own_match[child]) {
                            fail[child] = d;
                            continue;
                        }
                        fail[child] = via_fail;
                        // The failure state is shallower: its list is whole.
                        let inherited = matches[via_fail as usize].clone();
                        matches[child].extend(inherited);
                    }
                }
            }
        }
        let special = |s: usize| Some(s as u32) == dead || !matches[s].is_empty();
        let mut by_new: Vec<usize> = std::iter::once(0)
            .chain(dead.map(|d| d as usize))
            .chain(queue.iter().map(|&s| s as usize))
            .collect();
        by_new.sort_by_key(|&s| !special(s));
        let mut renumber = vec![0u16; states];
        for (new, &old) in by_new.iter().enumerate() {
            renumber[old] = new as u16;
        }
        let offset = |old: usize| u32::from(renumber[old]) * columns as u32;
        let mut table = vec![0u32; states * columns];
        for (old, row) in next.chunks(columns).enumerate() {
            let at = offset(old) as usize;
            for (cell, &to) in table[at..at + columns].iter_mut().zip(row) {
                *cell = offset(to as usize);
            }
        }
        let specials = by_new.iter().take_while(|&&s| special(s)).count();
        let mut lists = Vec::with_capacity(specials);
        for &old in &by_new[..specials] {
            lists.push(std::mem::take(&mut matches[old]));
        }
        Ok(DfaTable {
            classes,
            width: columns,
            next: table,
            start: offset(0),
            matches: lists,
        })
    }
}

/// Every occurrence of every literal in a line, overlaps included: one walk
/// of an Aho-Corasick DFA built with standard semantics, whose match states
/// list every literal ending there. The DFA is built once into a table of
/// our own: one row per state and one column per byte class, the match
/// states numbered first and their literals in one flat list; a test holds
/// it to aho-corasick's overlapping search. Walking aho-corasick's DFA
/// through its `Automaton` trait cost about 20 instructions a byte (its
/// checks and bounds per step); this walk costs a third of that. (Walking
/// it rather than `find_overlapping_iter` had already halved the search:
/// the iterator's call, state and checks per match were 4.4k of 13k
/// instructions a counted line.)
#[derive(Debug, Clone)]
struct LineSearch {
    /// Byte → column. Bytes in no literal share one column: from any
    /// state they lead where the start state does.
    classes: [u8; 256],
    /// Columns per row, and `next[state + column]` ([`DfaTable`]'s layout).
    width: usize,
    next: Vec<u32>,
    start: u32,
    /// States below this are match states.
    matching: u32,
    /// For the match state of row `r`, its literals are
    /// `hits[ends[r]..ends[r + 1]]`, each as (literal id, length).
    ends: Vec<u32>,
    hits: Vec<(u32, u32)>,
    /// The longest literal's length: the state after any `reach` bytes
    /// walked from the start is the state after the whole line up to them.
    reach: usize,
}

impl LineSearch {
    fn new(literals: &[String]) -> Result<LineSearch, BuildError> {
        let bytes: Vec<&[u8]> = literals.iter().map(String::as_bytes).collect();
        let table = DfaTable::new(&bytes, false, Semantics::Standard)?;
        let mut ends = vec![0u32];
        let mut hits = Vec::new();
        for list in &table.matches {
            for &id in list {
                hits.push((id, literals[id as usize].len() as u32));
            }
            ends.push(hits.len() as u32);
        }
        Ok(LineSearch {
            classes: table.classes,
            width: table.width,
            start: table.start,
            matching: (table.matches.len() * table.width) as u32,
            next: table.next,
            ends,
            hits,
            reach: literals.iter().map(String::len).max().unwrap_or(0),
        })
    }

    /// Calls `hit(start, literal)` for each occurrence, in order of its end.
    ///
    /// A long line is walked as two halves at once: each step depends on
    /// the one before (a load whose address is the last load's result),
    /// so one walk waits on the table most of the time, and two
    /// independent ones overlap their waits. The second half starts
    /// `reach` bytes early from the start state, which puts it in the
    /// exact state at the midpoint (a state is the longest literal prefix
    /// ending there, never longer than `reach`); what it matches before
    /// the midpoint is the first half's to report. Its hits wait in a
    /// small buffer until the first half is done, so the order holds.
    #[inline]
    fn each(&self, line: &[u8], mut hit: impl FnMut(usize, usize)) {
        let mut report = |at: usize, state: u32| {
            let row = (state / self.width as u32) as usize;
            let (from, to) = (self.ends[row] as usize, self.ends[row + 1] as usize);
            for &(id, len) in &self.hits[from..to] {
                hit(at - len as usize, id as usize);
            }
        };
        let (mut at, mut state) = (0, self.start);
        // Where both halves take as many steps.
        let mid = (line.len() + self.reach) / 2;
        if mid >= self.reach + SPLIT_MIN {
            const WAITING: usize = 8;
            let mut waiting = [(0usize, 0u32); WAITING];
            let mut held = 0;
            let (mut b_at, mut b_state) = (mid - self.reach, self.start);
            // Both walk until the first half reaches the midpoint or the
            // buffer is full; then the first half alone.
            while at < mid && held < WAITING {
                (at, state, b_at, b_state) = self.walk_two(line, mid, at, state, b_at, b_state);
                if state < self.matching {
                    report(at, state);
                }
                if b_state < self.matching && b_at > mid {
                    waiting[held] = (b_at, b_state);
                    held += 1;
                }
            }
            self.walk_reporting(&line[..mid], at, state, &mut report);
            for &(at, state) in &waiting[..held] {
                report(at, state);
            }
            (at, state) = (b_at, b_state);
        }
        self.walk_reporting(line, at, state, &mut report);
    }

    /// Walks `line` from `at` to its end, reporting each match state.
    #[inline]
    fn walk_reporting(
        &self,
        line: &[u8],
        mut at: usize,
        mut state: u32,
        report: &mut impl FnMut(usize, u32),
    ) {
        while at < line.len() {
            (at, state) = self.walk(line, at, state);
            if state < self.matching {
                report(at, state);
            }
        }
    }

    /// [`walk`](Self::walk) for the first half (`line[..mid]`, from `a`)
    /// and the rest (from `b`) in step, until either enters a match state
    /// or the first half ends. Returns both positions and states.
    #[inline(never)]
    fn walk_two(
        &self,
        line: &[u8],
        mid: usize,
        mut a: usize,
        mut a_state: u32,
        mut b: usize,
        mut b_state: u32,
    ) -> (usize, u32, usize, u32) {
        let (next, classes, matching) = (&self.next[..], &self.classes, self.matching);
        // The second half ends no sooner: it starts `mid - reach` bytes
        // after the first and `mid <= (len + reach) / 2`, so it is never
        // empty while the first is not, and every call takes a step.
        let (first, second) = (&line[a..mid], &line[b..]);
        for (&x, &y) in first.iter().zip(second) {
            a_state = next[a_state as usize + usize::from(classes[usize::from(x)])];
            b_state = next[b_state as usize + usize::from(classes[usize::from(y)])];
            a += 1;
            b += 1;
            if a_state < matching || b_state < matching {
                break;
            }
        }
        (a, a_state, b, b_state)
    }

    /// Steps from `state` over `line[at..]` until a match state or the
    /// end; returns where it stopped (just past the byte that led to the
    /// match) and the state. On its own so that its few values stay in
    /// registers: inlined into the classifier, they lived on the stack
    /// (21 instructions a byte).
    #[inline(never)]
    fn walk(&self, line: &[u8], at: usize, mut state: u32) -> (usize, u32) {
        let (next, classes, matching) = (&self.next[..], &self.classes, self.matching);
        for (i, &b) in line[at..].iter().enumerate() {
            let column = usize::from(classes[usize::from(b)]);
            state = next[state as usize + column];
            if state < matching {
                return (at + i + 1, state);
            }
        }
        (line.len(), state)
    }
}

/// Lines whose second half would start less than this far in are walked
/// in one piece: the overlap would gain too little.
const SPLIT_MIN: usize = 4;

/// Rule sets up to this many 64-bit words wide (256 rules) are gathered on
/// the stack; wider ones (hundreds of user rules) on the heap.
const GATE_WORDS_ON_STACK: usize = 4;

/// The bit sets a literal's entry in [`Gates`] holds: gated in, let
/// through.
const PARTS: usize = 2;

/// For each line-search literal, as bit sets over the rules (bit `i` is
/// rule `i`, `width` words each): the rules it gates in as an anchor, then
/// the rules it lets through as one of their literals. Plus the rules that
/// need no anchor or have no literals.
#[derive(Debug, Clone)]
struct Gates {
    width: usize,
    per_literal: Vec<u64>,
    /// Same layout as one literal's entry: the rules that need no anchor,
    /// then the rules without literals.
    unanchored: Vec<u64>,
}

impl Gates {
    fn new(rules: &[Rule], literals: usize) -> Gates {
        let width = rules.len().div_ceil(64).max(1);
        let mut g = Gates {
            width,
            per_literal: vec![0; PARTS * width * literals],
            unanchored: vec![0; PARTS * width],
        };
        for (i, rule) in rules.iter().enumerate() {
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            if rule.anchor_ids.is_empty() {
                g.unanchored[word] |= bit;
            }
            if rule.literal_ids.is_empty() {
                g.unanchored[width + word] |= bit;
            }
            let entry = |id: usize, part: usize| PARTS * width * id + part * width + word;
            for &id in &rule.anchor_ids {
                g.per_literal[entry(id, 0)] |= bit;
            }
            for &id in &rule.literal_ids {
                g.per_literal[entry(id, 1)] |= bit;
            }
        }
        g
    }

    /// ORs into `words` (`PARTS * width` long) the entries of the literals
    /// hit, over the unanchored rules. The usual widths (up to 128 rules)
    /// get fixed-size arrays the compiler keeps in registers.
    fn gather(&self, hits: &[(usize, usize)], words: &mut [u64]) {
        match words.len() {
            2 => self.gather_n::<2>(hits, words),
            4 => self.gather_n::<4>(hits, words),
            n => {
                words.copy_from_slice(&self.unanchored);
                for &(_, id) in hits {
                    for (w, m) in words.iter_mut().zip(&self.per_literal[n * id..][..n]) {
                        *w |= m;
                    }
                }
            }
        }
    }

    fn gather_n<const N: usize>(&self, hits: &[(usize, usize)], words: &mut [u64]) {
        let mut acc = [0u64; N];
        acc.copy_from_slice(&self.unanchored);
        for &(_, id) in hits {
            let entry = &self.per_literal[N * id..][..N];
            for (a, m) in acc.iter_mut().zip(entry) {
                *a |= m;
            }
        }
        words.copy_from_slice(&acc);
    }
}

/// Which anchors a line holds.
#[derive(Debug, Clone, Copy, Default)]
struct AnchorBits([u64; MAX_ANCHORS / 64]);

impl AnchorBits {
    fn of(ids: &[usize]) -> AnchorBits {
        let mut bits = AnchorBits::default();
        for i in ids {
            bits.set(*i);
        }
        bits
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
}

/// Counts of what [`Classifier::scan_block`] saw besides events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockStats {
    pub lines: u64,
    pub oversize: u64,
}

/// The compiled classifier. Cheap to share by reference across threads.
#[derive(Debug, Clone)]
pub struct Classifier {
    rules: Vec<Rule>,
    /// Per rule (same order): its literals as a bit mask.
    rule_masks: Vec<AnchorBits>,
    gates: Gates,
    /// Which of the line search's literals are anchors (the rest are rule
    /// prefixes, which alone do not make a line a candidate).
    anchor_mask: [u64; MAX_ANCHORS / 64],
    buffer_search: BufferSearch,
    line_search: LineSearch,
    anchor_literals: Vec<String>,
    buffer_keys: Vec<String>,
    every_line: bool,
    texts: TextTable,
    max_line_bytes: usize,
}

impl Classifier {
    pub fn builder() -> Builder {
        Builder {
            profile: Profile::Auto,
            dialect: None,
            user_rules: Vec::new(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }

    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// How many distinct anchor literals there are (the buffer searcher
    /// holds as many keys or fewer).
    pub fn anchor_count(&self) -> usize {
        self.anchor_literals.len()
    }

    /// The anchor literals: a line holding none of them is never a socket
    /// error (benches hand them to `rg -F` for a like-for-like search).
    pub fn anchor_literals(&self) -> &[String] {
        &self.anchor_literals
    }

    /// What the buffer searcher looks for, in the order it is given them
    /// (see [`BUFFER_ORDER`]).
    pub fn buffer_keys(&self) -> &[String] {
        &self.buffer_keys
    }

    /// False when a user rule has no anchors, so every line must be
    /// classified (buffer scanning is then line by line).
    pub fn uses_prefilter(&self) -> bool {
        !self.every_line
    }

    /// Classifies one line (without its line terminator; a trailing `\r` is
    /// ignored). Lines longer than the cap must be filtered by the caller.
    pub fn classify(&self, line: &[u8]) -> Verdict<'_> {
        self.classify_with(line, true)
    }

    /// [`classify`](Self::classify) without the shortcuts: every gated rule
    /// runs its regex over the whole line, unanchored. The shortcuts (rule
    /// literals, anchored searches) must never change a verdict; tests
    /// compare the two on every fixture and on generated lines.
    #[doc(hidden)]
    pub fn classify_unassisted(&self, line: &[u8]) -> Verdict<'_> {
        self.classify_with(line, false)
    }

    fn classify_with(&self, line: &[u8], assisted: bool) -> Verdict<'_> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut present = AnchorBits::default();
        // Most lines hold a few hits: they stay on the stack (a vector per
        // candidate line was a tenth of its allocations' cost).
        let mut inline = [(0usize, 0usize); 32];
        let mut spilled = Vec::new();
        let mut n = 0;
        self.line_search.each(line, |start, id| {
            if n < inline.len() {
                inline[n] = (start, id);
                n += 1;
            } else {
                if spilled.is_empty() {
                    spilled.extend_from_slice(&inline);
                }
                spilled.push((start, id));
            }
            present.set(id);
        });
        let anchored = present
            .0
            .iter()
            .zip(&self.anchor_mask)
            .any(|(p, m)| p & m != 0);
        if !anchored && !self.every_line {
            return Verdict::NoMatch;
        }
        let hits: &mut [(usize, usize)] = if spilled.is_empty() {
            &mut inline[..n]
        } else {
            &mut spilled
        };
        hits.sort_unstable();
        let hits = &*hits;
        // Which rules may run, from the hits: each literal carries the
        // rules it gates in and lets through, so a line costs a few ORs per
        // hit rather than two mask tests per rule.
        let width = self.gates.width;
        let mut on_stack = [0u64; PARTS * GATE_WORDS_ON_STACK];
        let mut on_heap = Vec::new();
        let words: &mut [u64] = if width <= GATE_WORDS_ON_STACK {
            &mut on_stack[..PARTS * width]
        } else {
            on_heap.resize(PARTS * width, 0);
            &mut on_heap
        };
        self.gates.gather(hits, words);
        let (gated, passed) = words.split_at(width);
        for (k, (g, p)) in gated.iter().zip(passed).enumerate() {
            let mut bits = if assisted { g & p } else { *g };
            while bits != 0 {
                let i = k * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let (rule, literals) = (&self.rules[i], &self.rule_masks[i]);
                // A rule found by a common literal ("postfix") but lacking
                // one it needs further in is not run.
                if assisted
                    && !rule
                        .inner
                        .iter()
                        .all(|set| set.iter().any(|f| f.find(line).is_some()))
                {
                    continue;
                }
                // Where the rule's prefix literals occur, in order, once each.
                let starts = (assisted && rule.literals_are_prefixes).then(|| {
                    let mut last = None;
                    hits.iter()
                        .filter(|(_, id)| literals.has(*id))
                        .map(|(at, _)| *at)
                        .filter(move |at| last.replace(*at) != Some(*at))
                });
                match rule.apply(line, &self.texts, starts) {
                    None => continue,
                    Some(Err(Claim::Repeat)) => return Verdict::Repeat { rule: &rule.name },
                    Some(Err(Claim::Ignore)) => return Verdict::NoMatch,
                    Some(Ok(found)) => {
                        return Verdict::Event(Event {
                            op: found.op,
                            errno: found.errno,
                            errname: found.errname,
                            dialect: found.dialect,
                            rule: &rule.name,
                            witness: found.key.zip(rule.witness),
                        });
                    }
                }
            }
        }
        // Every candidate line is checked, not only those with an error
        // word: "connection to x timed out" is drift as much as "error".
        if vocab::looks_like_socket_failure(line) {
            Verdict::Unrecognized
        } else {
            Verdict::NoMatch
        }
    }

    /// Classifies every line of `block` that could match, calling `on_line`
    /// with each verdict other than [`Verdict::NoMatch`] and the line.
    ///
    /// `block` holds whole lines; its last line need not end in `\n`. Lines
    /// are found from anchor hits in the whole buffer (not line by line), so
    /// the cost is that of one SIMD literal search plus the rare candidate
    /// lines. Lines over the length cap are counted as oversize and skipped.
    pub fn scan_block(
        &self,
        block: &[u8],
        mut on_line: impl FnMut(Verdict<'_>, &[u8]),
    ) -> BlockStats {
        let stats = BlockStats {
            lines: count_lines(block),
            oversize: count_oversize(block, self.max_line_bytes),
        };
        if self.every_line {
            for line in block.split(|b| *b == b'\n') {
                if line.len() > self.max_line_bytes {
                    continue;
                }
                match self.classify(line) {
                    Verdict::NoMatch => {}
                    v => on_line(v, line),
                }
            }
            return stats;
        }
        let mut pos = 0;
        // Where candidates come line after line (a log of nothing but
        // errors), the buffer search only finds again what the line's own
        // search finds: the next line is classified directly until one
        // turns out not to be a candidate. Which lines reach `classify`
        // changes; their verdicts cannot, since it gates every line itself.
        let mut direct = false;
        let mut last_end = usize::MAX;
        while pos < block.len() {
            let (start, end) = if direct {
                let end = memchr(b'\n', &block[pos..]).map_or(block.len(), |i| pos + i);
                (pos, end)
            } else {
                let Some(at) = self.buffer_search.find(&block[pos..]) else {
                    break;
                };
                let hit = pos + at;
                let start = memrchr(b'\n', &block[..hit]).map_or(0, |i| i + 1);
                let end = memchr(b'\n', &block[hit..]).map_or(block.len(), |i| hit + i);
                // Two candidates in a row: read the next lines directly.
                direct = last_end.checked_add(1) == Some(start);
                (start, end)
            };
            let line = &block[start..end];
            if line.len() <= self.max_line_bytes {
                match self.classify(line) {
                    Verdict::NoMatch => direct = false,
                    v => on_line(v, line),
                }
            }
            last_end = end;
            pos = end + 1;
        }
        stats
    }
}

/// Lines in a block: its newlines, plus one for a last line without one.
fn count_lines(block: &[u8]) -> u64 {
    // memchr's counting iterator is vectorised (about 8 GB/s on the bench
    // corpus, against 1.5 GB/s for a plain byte filter).
    let newlines = memchr::memchr_iter(b'\n', block).count() as u64;
    newlines + u64::from(!block.is_empty() && !block.ends_with(b"\n"))
}

/// Lines longer than `cap`: found by jumping `cap + 1` bytes at a time and
/// looking back for a newline, so normal lines cost nothing per line.
fn count_oversize(block: &[u8], cap: usize) -> u64 {
    let mut n = 0;
    let mut start = 0;
    while block.len() - start > cap {
        let window = &block[start..start + cap + 1];
        match memrchr(b'\n', window) {
            Some(i) => start += i + 1,
            None => {
                n += 1;
                match memchr(b'\n', &block[start + cap..]) {
                    Some(i) => start += cap + i + 1,
                    None => return n,
                }
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c() -> Classifier {
        Classifier::builder().build().unwrap()
    }

    #[test]
    fn every_built_in_pattern_compiles() {
        // Built-in rules compile at first use; a pattern that did not
        // would panic there, so every one is compiled here.
        for profile in Profile::ALL {
            for spec in profile.rules() {
                compile(spec.name, spec.pattern).unwrap();
            }
        }
    }

    #[test]
    fn default_anchor_set_stays_within_the_fast_searcher() {
        // aho-corasick's Teddy searcher is about three times slower beyond
        // 64 literals (measured on the bench corpus); keep the built-in set
        // under it. User rules may add more.
        let n = c().anchor_count();
        assert!(n <= 64, "{n} anchors");
    }

    #[test]
    fn oversize_lines_are_found_without_per_line_work() {
        let cap = 10;
        assert_eq!(count_oversize(b"short\nshort\n", cap), 0);
        assert_eq!(count_oversize(b"0123456789\n", cap), 0);
        assert_eq!(count_oversize(b"0123456789a\n", cap), 1);
        assert_eq!(count_oversize(b"0123456789a", cap), 1);
        assert_eq!(
            count_oversize(b"x\n0123456789abcdef\nok\n0123456789abc\n", cap),
            2
        );
    }

    #[test]
    fn inner_literals_are_what_every_match_holds() {
        let sets = |p: &str, outer: &[&str]| {
            let outer: Vec<String> = outer.iter().map(|s| s.to_string()).collect();
            inner_literals(&parse_for_literals(p).unwrap(), &outer, INNER_MIN)
        };
        // Longest first; an alternation joins its branches' best; optional
        // parts, classes and short literals require nothing.
        assert_eq!(
            sets(
                r"\bpostfix/(?:smtp|lmtp)\[[0-9]+\]: .*\bstatus=[a-z]+ \((?:connect to |delivery temporarily)",
                &["postfix"]
            ),
            // "postfix/" counts: it says more than "postfix".
            vec![
                vec!["connect to ".to_string(), "delivery tem".to_string()],
                vec!["postfix/".to_string()],
                vec!["status=".to_string()]
            ]
        );
        assert!(sets(r"ERROR (?:while )?x[a-z]+: \(", &["ERROR "]).is_empty());
        // What the rule's own literals already hold tells nothing.
        assert!(sets(r"postfix/smtp: x", &["postfix/smtp"]).is_empty());
        // A branch with nothing required leaves the alternation out.
        assert!(sets(r"ab(?:lost connection|[0-9]+)", &[]).is_empty());
    }

    #[test]
    fn a_rule_without_literals_is_still_gated_by_the_short_ones_it_needs() {
        let c = c();
        let host = c.rules.iter().find(|r| r.name == "exim.host").unwrap();
        assert!(host.literal_ids.is_empty());
        assert_eq!(host.inner.len(), 1);
        assert_eq!(host.inner[0].len(), 1);
        assert_eq!(host.inner[0][0].needle(), b" [");
        // So a line that lacks it is not given to the rule's regex.
        assert!(matches!(
            c.classify(b"2026-11-01T00:00:00Z nginx: 1#0: *2 recv() failed (104: Connection reset by peer)"),
            Verdict::Event(Event { rule: "nginx", .. })
        ));
    }

    #[test]
    fn every_match_in_the_fixtures_holds_its_rules_inner_literals() {
        // The gate is sound only if it never skips a line the regex
        // matches; the differential tests check verdicts, this checks the
        // sets themselves on every rule that matches a fixture line.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/profiles");
        let mut lines = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            lines.extend(
                text.lines()
                    .filter_map(|l| l.rsplit('\t').next())
                    .map(str::to_string),
            );
        }
        let c = c();
        let mut checked = 0;
        for rule in c.rules.iter().filter(|r| !r.inner.is_empty()) {
            let regex = regex::bytes::Regex::new(&rule.pattern).unwrap();
            for line in lines.iter().filter(|l| regex.is_match(l.as_bytes())) {
                for set in &rule.inner {
                    assert!(
                        set.iter().any(|f| f.find(line.as_bytes()).is_some()),
                        "{}: {line}",
                        rule.name
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
    }

    #[test]
    fn the_line_table_finds_what_aho_corasick_finds() {
        // The reference: aho-corasick's own overlapping search, over the
        // built-in anchors plus literals with non-ASCII, overlapping and
        // nested text, on fixture lines and generated bytes.
        let mut literals = c().anchor_literals().to_vec();
        literals
            .extend(["für", "abcab", "bca", "ab", "é", "postfix/smtp[", "smtp"].map(String::from));
        let search = LineSearch::new(&literals).unwrap();
        let reference = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&literals)
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/profiles");
        let mut hays: Vec<Vec<u8>> = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read(entry.unwrap().path()).unwrap();
            hays.extend(text.split(|b| *b == b'\n').map(<[u8]>::to_vec));
        }
        let alphabet: Vec<u8> = literals.concat().into_bytes();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut hay = Vec::new();
            for _ in 0..(x % 120) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x % 9 {
                    0 => hay.push(x as u8),
                    // A literal, whole or cut, so hits overlap and nest.
                    1 | 2 => {
                        let l = literals[(x >> 8) as usize % literals.len()].as_bytes();
                        hay.extend_from_slice(&l[..l.len() - (x >> 20) as usize % 2]);
                    }
                    _ => hay.push(alphabet[(x >> 8) as usize % alphabet.len()]),
                }
            }
            hays.push(hay);
        }
        let mut found = 0;
        for hay in &hays {
            let mut ours = Vec::new();
            search.each(hay, |start, id| ours.push((start, id)));
            let theirs: Vec<(usize, usize)> = reference
                .find_overlapping_iter(hay)
                .map(|m| (m.start(), m.pattern().as_usize()))
                .collect();
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(hay));
            found += ours.len();
        }
        assert!(found > 2000, "{found}");
    }

    #[test]
    fn line_counts() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\n"), 1);
        assert_eq!(count_lines(b"a\nb"), 2);
    }

    #[test]
    fn every_buffer_key_is_part_of_its_anchor() {
        let anchors = c().anchor_literals().to_vec();
        for a in &anchors {
            assert!(a.contains(buffer_key(a)), "{a:?}");
            assert!(buffer_key(a).len() >= 3, "{a:?}");
        }
        // A key whose anchor is gone would silently stop doing anything.
        for (anchor, key) in BUFFER_KEYS {
            assert!(anchor.contains(key), "{anchor:?}");
            assert!(
                anchors.iter().any(|a| a.eq_ignore_ascii_case(anchor)),
                "{anchor:?} is no anchor"
            );
        }
        assert_eq!(buffer_key("NNECTED"), "CTED");
        assert_eq!(buffer_key("is down"), "down");
        assert_eq!(buffer_key("user anchor"), "user anchor");
    }

    #[test]
    fn the_buffer_order_holds_every_built_in_key_once() {
        // A key missing from the order would land after it and shift no
        // bucket, but its own bucket would be chance: regenerate the order
        // (`cargo bench --bench buffer_order`) when the anchors change.
        // Checked first: a key listed twice is given once, so the order
        // would otherwise fail below as if a key were missing.
        let mut once = BUFFER_ORDER.to_vec();
        once.sort_unstable();
        once.dedup();
        assert_eq!(once.len(), BUFFER_ORDER.len(), "a key is listed twice");
        assert_eq!(
            c().buffer_keys(),
            BUFFER_ORDER,
            "the searcher is given the keys in order"
        );
    }

    #[test]
    fn teddy_alone_finds_what_the_automaton_finds() {
        let keys = c().buffer_keys().to_vec();
        let teddy = BufferSearch::new(&keys).unwrap();
        assert!(
            matches!(teddy, BufferSearch::Teddy(_)),
            "no Teddy on this CPU"
        );
        let automaton = BufferSearch::automaton(&keys).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/profiles");
        let mut text = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            text.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        let mut found = 0;
        // Every start, so short tails (below Teddy's block) are covered.
        for from in 0..text.len() {
            let (t, a) = (teddy.find(&text[from..]), automaton.find(&text[from..]));
            assert_eq!(t, a, "from {from}");
            found += usize::from(t == Some(0));
        }
        assert!(found > 500, "{found}");
    }

    /// `scan_block`'s verdicts on `text`, checked equal to classifying it
    /// line by line.
    fn scanned_as_by_line(c: &Classifier, text: &[u8]) -> (Vec<(String, Vec<u8>)>, BlockStats) {
        let mut scanned = Vec::new();
        let stats = c.scan_block(text, |v, line| {
            scanned.push((format!("{v:?}"), line.to_vec()))
        });
        let by_line: Vec<_> = text
            .split(|b| *b == b'\n')
            .filter_map(|l| match c.classify(l) {
                Verdict::NoMatch => None,
                v => Some((format!("{v:?}"), l.to_vec())),
            })
            .collect();
        assert_eq!(scanned, by_line);
        (scanned, stats)
    }

    #[test]
    fn lines_holding_only_a_buffer_key_are_no_candidates() {
        let c = c();
        let text = b"expected 3 got 4\nthe link went down\nERROR write: (57) Socket is not connected\nrejected RCPT\nERROR write: (57) SOCKET IS NOT CONNECTED\nDOWN\nserver web1 is DOWN, reason: Layer4 connection problem\n";
        let (scanned, _) = scanned_as_by_line(&c, text);
        let found: Vec<&[u8]> = scanned.iter().map(|(_, l)| &l[..]).collect();
        assert!(found.contains(&&b"ERROR write: (57) Socket is not connected"[..]));
        assert!(!found.contains(&&b"expected 3 got 4"[..]));
    }

    #[test]
    fn scan_block_equals_line_by_line() {
        let c = c();
        let text = b"INFO ok\nERROR write: (57) Socket is not connected\r\nrandom socket error here\nrandom error here\nconnect from x\nsend() failed (104: Connection reset by peer)";
        let (scanned, stats) = scanned_as_by_line(&c, text);
        assert_eq!(stats.lines, 6);
        assert_eq!(scanned.len(), 3);
    }

    #[test]
    fn runs_of_candidate_lines_read_directly_give_the_same_verdicts() {
        // Candidates line after line switch the scanner to reading lines
        // directly; a plain line, an oversize one, a candidate that
        // matches nothing and the block's end must all leave it right.
        let c = Classifier::builder().max_line_bytes(80).build().unwrap();
        let err = "ERROR write: (57) Socket is not connected";
        let long = format!("ERROR write: (32) Broken pipe {}", "x".repeat(80));
        let text = [
            err,
            err,
            "INFO plain",
            err,
            err,
            &long,
            err,
            "error: disk full",
            err,
            "send() failed (104: Connection reset by peer)",
            "",
            err,
        ]
        .join("\n");
        let mut scanned = Vec::new();
        c.scan_block(text.as_bytes(), |v, line| {
            scanned.push((format!("{v:?}"), line.to_vec()))
        });
        let by_line: Vec<_> = text
            .as_bytes()
            .split(|b| *b == b'\n')
            .filter(|l| l.len() <= 80)
            .filter_map(|l| match c.classify(l) {
                Verdict::NoMatch => None,
                v => Some((format!("{v:?}"), l.to_vec())),
            })
            .collect();
        assert_eq!(scanned.len(), 8);
        assert_eq!(scanned, by_line);
    }

    #[test]
    fn a_user_rules_errno_group_must_capture_digits() {
        for (regex, ok) in [
            (r"sockerr (?P<errno>[0-9]+)", true),
            (r"sockerr (?P<errno>\d{1,5})", true),
            (r"code=(?P<errno>-?[0-9]+)", true),
            (r"no group here: (?P<text>.+)", true),
            (r"sockerr (?P<errno>\S+)", false),
            (r"sockerr (?P<errno>.*)", false),
            (r"sockerr (?P<errno>[0-9a-f]+)", false),
        ] {
            let rule = UserRule {
                name: "u".into(),
                regex: regex.into(),
                dialect: None,
                op: None,
                anchors: vec!["sockerr".into()],
            };
            let built = Classifier::builder().user_rules(vec![rule]).build();
            assert_eq!(built.is_ok(), ok, "{regex}: {:?}", built.err());
        }
    }

    #[test]
    fn hundreds_of_user_rules_keep_their_order() {
        // Over 256 rules, the gates are gathered on the heap: rule order
        // (first match wins) must hold across words there too.
        let mut rules: Vec<UserRule> = (0..300)
            .map(|i| UserRule {
                name: format!("u{i}"),
                regex: format!(r"gwtag{i} sockerr (?P<errno>\d+)"),
                dialect: Some(Dialect::Linux),
                op: Some(Op::Read),
                anchors: vec![],
            })
            .collect();
        rules.push(UserRule {
            name: "any".into(),
            regex: r"sockerr (?P<errno>\d+)".into(),
            dialect: Some(Dialect::Linux),
            op: Some(Op::Write),
            anchors: vec!["sockerr".into()],
        });
        let c = Classifier::builder().user_rules(rules).build().unwrap();
        assert!(c.uses_prefilter());
        for (line, rule) in [
            (&b"a gwtag5 sockerr 104"[..], "u5"),
            (b"a gwtag70 sockerr 104", "u70"),
            (b"a gwtag299 sockerr 104", "u299"),
            (b"a gwtag300 sockerr 104", "any"),
            (b"plain sockerr 104", "any"),
        ] {
            match c.classify(line) {
                Verdict::Event(e) => assert_eq!(e.rule, rule, "{}", line.escape_ascii()),
                v => panic!("{}: {v:?}", line.escape_ascii()),
            }
        }
        assert!(matches!(c.classify(b"gwtag299 nothing"), Verdict::NoMatch));
    }

    #[test]
    fn user_rule_anchors_are_derived_from_the_regex() {
        let rule = UserRule {
            name: "mine".into(),
            regex: r"sockerr (?P<errno>\d+) in (?P<op>\w+)".into(),
            dialect: Some(Dialect::Linux),
            op: None,
            anchors: vec![],
        };
        let c = Classifier::builder()
            .user_rules(vec![rule])
            .build()
            .unwrap();
        assert!(c.uses_prefilter());
        match c.classify(b"x sockerr 104 in recv") {
            Verdict::Event(e) => {
                assert_eq!(e.errname.as_str(), "ECONNRESET");
                assert_eq!(e.op, Op::Read);
                assert_eq!(e.rule, "mine");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn user_rule_without_literals_disables_the_prefilter_but_still_matches() {
        let rule = UserRule {
            name: "loose".into(),
            regex: r"(?i)[a-z]+ err (?P<errno>\d+)".into(),
            dialect: Some(Dialect::Bsd),
            op: Some(Op::Write),
            anchors: vec![],
        };
        let c = Classifier::builder()
            .user_rules(vec![rule])
            .build()
            .unwrap();
        assert!(!c.uses_prefilter());
        let mut n = 0;
        c.scan_block(b"abc err 57\nnothing\n", |v, _| {
            assert!(matches!(v, Verdict::Event(ref e) if e.errname.as_str() == "ENOTCONN"));
            n += 1;
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn unknown_group_names_are_rejected() {
        let rule = UserRule {
            name: "bad".into(),
            regex: r"(?P<number>\d+)".into(),
            dialect: None,
            op: None,
            anchors: vec![],
        };
        let err = Classifier::builder()
            .user_rules(vec![rule])
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown named group \"number\""),
            "{err}"
        );
    }
}
