//! One rule: a regex over a line, the anchors that gate it, and how its
//! captures become an event.
//!
//! Built-in profiles declare rules as [`RuleSpec`] data; user rules from the
//! config file compile to the same [`Rule`]. A rule only runs on a line that
//! carries one of its anchors (see [`Gate`]), which is what lets the buffer
//! scanner skip every other line without changing any result.
//!
//! Named groups a pattern may use:
//! `op` (a call name: `send`, `WSARecv`), `stage` (words: "while sending
//! message body"), `errno` (the number as logged), `text` (where the error
//! text is; the longest known text inside it is used), `wsa` (a `WSAE…`
//! token), and `key`/`key2` (what identifies one failure across the several
//! lines a program writes about it; see [`WitnessSpec`]).

use regex_automata::meta::Regex;
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Anchored, Input};

use super::BuildError;
use super::linear::{Linear, MAX_SLOTS, Outcome};
use super::logged::LoggedErrno;
use super::op::Op;
use super::text::TextTable;
use crate::errno::{Dialect, Errname, table};

/// Which anchors must be present for a rule to run.
#[derive(Debug, Clone, Copy)]
pub enum Gate {
    /// Any of these literals, matched as written (case-sensitive).
    Literals(&'static [&'static str]),
    /// Any error-text anchor in any of its case forms.
    Texts,
    /// Any error-text anchor, or any of these literals.
    TextsOr(&'static [&'static str]),
}

/// What a matching rule means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new socket error happened here: count it.
    Event,
    /// The line repeats a failure logged earlier, or reports a cached state
    /// without a new attempt: claim it so no later rule counts it.
    Repeat,
    /// A known error text anywhere in the line (the `generic` profile).
    TextAnywhere,
    /// A known line that is not a socket error although it reads like one
    /// (an inbound client hanging up, an SMTP-level "protocol error", a
    /// scanner's pipe timing out): claimed so that no later rule counts it
    /// and the drift flag does not fire on it.
    Ignore,
}

/// A built-in rule, as data.
#[derive(Debug, Clone, Copy)]
pub struct RuleSpec {
    pub name: &'static str,
    pub gate: Gate,
    pub pattern: &'static str,
    pub action: Action,
    /// The op, when the format fixes it.
    pub op: Option<Op>,
    /// When set, a match whose code resolves to no known errno is not an
    /// event: the format alone does not make the line a socket error.
    pub strict: bool,
    /// Texts (lower case) with which a program labels its own codes
    /// ("network error"): the number beside them is not an errno.
    pub vendor_texts: &'static [&'static str],
    /// The error name, when the format implies it without an errno
    /// (HAProxy's "Layer4 timeout" is a connect() that timed out).
    pub errname: Option<&'static str>,
    /// How events of this rule are recognised when logged again.
    pub witness: Option<WitnessSpec>,
    /// The numbering a bare number is read in when the format fixes the
    /// platform (Darwin's libnetcore lines are BSD numbers whatever the
    /// profile's default); a configured dialect still wins.
    pub numbering: Option<Dialect>,
}

/// Some programs write one failure on several lines that no single line can
/// tell apart from a new failure: a status line per recipient of the same
/// queue file, the same message on stderr and in syslog, an inner exception.
/// Such rules capture a key (`key`, `key2` groups); an event whose key was
/// seen within `window` recent candidate lines is a repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WitnessSpec {
    /// How many candidate lines back a key is remembered.
    pub window: u32,
    /// When false, the event only records its key (an outer line that
    /// later lines may repeat) and is itself always counted.
    pub dedupes: bool,
}

impl RuleSpec {
    pub const fn event(name: &'static str, gate: Gate, pattern: &'static str) -> RuleSpec {
        RuleSpec {
            name,
            gate,
            pattern,
            action: Action::Event,
            op: None,
            strict: false,
            vendor_texts: &[],
            errname: None,
            witness: None,
            numbering: None,
        }
    }

    /// Claims a line as "known, not a socket error" (see [`Action::Ignore`]).
    pub const fn ignore(name: &'static str, gate: Gate, pattern: &'static str) -> RuleSpec {
        RuleSpec {
            action: Action::Ignore,
            ..RuleSpec::event(name, gate, pattern)
        }
    }

    pub const fn numbered(self, dialect: Dialect) -> RuleSpec {
        RuleSpec {
            numbering: Some(dialect),
            ..self
        }
    }

    pub const fn repeat(name: &'static str, gate: Gate, pattern: &'static str) -> RuleSpec {
        RuleSpec {
            action: Action::Repeat,
            ..RuleSpec::event(name, gate, pattern)
        }
    }

    pub const fn with_op(self, op: Op) -> RuleSpec {
        RuleSpec {
            op: Some(op),
            ..self
        }
    }

    pub const fn strict(self) -> RuleSpec {
        RuleSpec {
            strict: true,
            ..self
        }
    }

    pub const fn vendor_texts(self, texts: &'static [&'static str]) -> RuleSpec {
        RuleSpec {
            vendor_texts: texts,
            ..self
        }
    }

    pub const fn implies(self, errname: &'static str) -> RuleSpec {
        RuleSpec {
            errname: Some(errname),
            ..self
        }
    }

    /// Events carry a key; a repeat of a key within `window` is not counted.
    pub const fn dedupe(self, window: u32) -> RuleSpec {
        RuleSpec {
            witness: Some(WitnessSpec {
                window,
                dedupes: true,
            }),
            ..self
        }
    }

    /// Events record their key for later lines to match, but always count.
    pub const fn witness_only(self, window: u32) -> RuleSpec {
        RuleSpec {
            witness: Some(WitnessSpec {
                window,
                dedupes: false,
            }),
            ..self
        }
    }

    pub const fn text_anywhere(self) -> RuleSpec {
        RuleSpec {
            action: Action::TextAnywhere,
            ..self
        }
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub action: Action,
    /// Compiled at first use: most rules never meet a line that carries
    /// their literals, and compiling every pattern was most of start-up.
    /// (Built-in patterns are compiled by a unit test; user rules when the
    /// classifier is built, so their errors are reported then.)
    /// Clones of a classifier (one per scan thread or source) share the
    /// compiled automata (`shared`) but each takes its own regex handle
    /// (`local`): a meta regex's clone has a cache pool of its own, and a
    /// shared pool cost 40% in contention.
    pub compiled: std::sync::OnceLock<Compiled>,
    pub shared: std::sync::Arc<std::sync::OnceLock<Compiled>>,
    /// The pattern `regex` was compiled from.
    pub pattern: String,
    pub op: Option<Op>,
    pub strict: bool,
    pub vendor_texts: Vec<String>,
    pub errname: Option<Errname>,
    pub witness: Option<WitnessSpec>,
    /// The numbering a bare number is read in.
    pub dialect: Dialect,
    /// Indices into the classifier's anchor list; empty = runs on every line.
    pub anchor_ids: Vec<usize>,
    /// Indices into the classifier's line literals, one of which every
    /// match of the pattern contains (regex-syntax's literal extraction):
    /// a line without any is skipped without running the regex. Empty when
    /// the pattern has no such small set.
    pub literal_ids: Vec<usize>,
    /// Whether those literals are prefixes: every match starts at one.
    pub literals_are_prefixes: bool,
    /// Sets of literals every match contains, from inside the pattern
    /// where `literal_ids` do not already imply them (`lost connect` in a
    /// rule found by `postfix`): a line missing every literal of a set is
    /// skipped too. Looked for only when the rule would run.
    pub inner: Vec<Vec<memchr::memmem::Finder<'static>>>,
}

/// A rule's regex, where its groups are, and its [`Linear`] matcher when
/// the pattern has that shape.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub regex: Regex,
    pub groups: Groups,
    linear: Option<Linear>,
    slot_len: usize,
}

impl Compiled {
    pub fn new(regex: Regex, pattern: &str) -> Compiled {
        let slot_len = regex.group_info().slot_len();
        Compiled {
            groups: Groups::of(&regex),
            linear: Linear::new(pattern, slot_len),
            slot_len,
            regex,
        }
    }

    /// Whether the rule's matcher answers without the regex where it can.
    pub fn has_linear(&self) -> bool {
        self.linear.is_some()
    }

    /// Searches for a match starting exactly at `at`: by the linear
    /// matcher, or by the regex where it declines or the pattern has none.
    /// `groups`: whether the slots must be filled.
    fn search_at(
        &self,
        line: &[u8],
        at: usize,
        slots: &mut [Option<NonMaxUsize>],
        groups: bool,
    ) -> bool {
        if let Some(linear) = &self.linear {
            match linear.search_at(line, at, slots) {
                Outcome::Match => return true,
                Outcome::NoMatch => return false,
                Outcome::Declined => {}
            }
        }
        let input = Input::new(line).range(at..).anchored(Anchored::Yes);
        if groups {
            self.regex.search_slots(&input, slots).is_some()
        } else {
            self.regex.is_match(input)
        }
    }
}

/// Where a match's groups are: two slots per group, the whole match first,
/// as regex-automata's `search_slots` fills them.
struct Slots<'s>(&'s [Option<NonMaxUsize>]);

impl Slots<'_> {
    fn group(&self, index: usize) -> Option<std::ops::Range<usize>> {
        let start = self.0.get(2 * index).copied().flatten()?;
        let end = self.0.get(2 * index + 1).copied().flatten()?;
        Some(start.get()..end.get())
    }
}

/// Where a rule's named groups are, looked up once: a lookup by name
/// hashes the name, which was a tenth of a counted line's cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Groups {
    op: Option<usize>,
    errno: Option<usize>,
    text: Option<usize>,
    stage: Option<usize>,
    wsa: Option<usize>,
    key: Option<usize>,
    key2: Option<usize>,
}

impl Groups {
    pub fn of(regex: &Regex) -> Groups {
        let info = regex.group_info();
        let at = |name: &str| info.to_index(regex_automata::PatternID::ZERO, name);
        Groups {
            op: at("op"),
            errno: at("errno"),
            text: at("text"),
            stage: at("stage"),
            wsa: at("wsa"),
            key: at("key"),
            key2: at("key2"),
        }
    }
}

/// How a rule claims a line that it does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Repeat,
    Ignore,
}

/// What a rule found, before it is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub op: Op,
    pub errno: Option<LoggedErrno>,
    pub errname: Errname,
    pub dialect: Dialect,
    /// The failure's identity across lines, for rules with a witness.
    pub key: Option<String>,
}

impl Rule {
    pub fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| {
            self.shared
                .get_or_init(|| {
                    Compiled::new(
                        compile(&self.name, &self.pattern)
                            .expect("built-in patterns compile (a unit test checks every one)"),
                        &self.pattern,
                    )
                })
                .clone()
        })
    }

    /// Applies the rule to a line. `None`: the rule does not claim the line.
    ///
    /// `starts`, when given, holds (ascending) every position at which one
    /// of the rule's prefix literals occurs: no match can start anywhere
    /// else. An anchored search at each in turn finds the same leftmost-
    /// first match as an unanchored search of the line (the first start
    /// that matches is the leftmost), and lets a one-pass pattern take its
    /// captures in one forward pass instead of three.
    pub fn apply(
        &self,
        line: &[u8],
        texts: &TextTable,
        starts: Option<impl Iterator<Item = usize>>,
    ) -> Option<Result<Found, Claim>> {
        if self.action == Action::TextAnywhere {
            // The text table does the matching; the rule's pattern is not
            // consulted.
            return self.text_anywhere(line, texts);
        }
        let compiled = self.compiled();
        let mut inline = [None; MAX_SLOTS];
        let mut heap = Vec::new();
        let slots: &mut [Option<NonMaxUsize>] = if compiled.slot_len <= MAX_SLOTS {
            &mut inline[..compiled.slot_len]
        } else {
            heap.resize(compiled.slot_len, None);
            &mut heap
        };
        // A claim needs no groups: where the matcher declines, the regex
        // answers without them (a cheaper search).
        let groups = self.action == Action::Event;
        let found = match starts {
            Some(mut starts) => starts.any(|at| compiled.search_at(line, at, slots, groups)),
            None if groups => compiled
                .regex
                .search_slots(&Input::new(line), slots)
                .is_some(),
            None => compiled.regex.is_match(Input::new(line)),
        };
        match self.action {
            Action::Repeat => found.then_some(Err(Claim::Repeat)),
            Action::Ignore => found.then_some(Err(Claim::Ignore)),
            Action::Event => {
                if !found {
                    return None;
                }
                self.found_in(line, &compiled.groups, &Slots(slots), texts)
                    .map(Ok)
            }
            Action::TextAnywhere => unreachable!("answered above"),
        }
    }

    /// The generic profile's rule: a known error text anywhere in the line.
    fn text_anywhere(&self, line: &[u8], texts: &TextTable) -> Option<Result<Found, Claim>> {
        let (start, end, name, text_op) = texts.find_with_op(line)?;
        let number = adjacent_number(line, start, end);
        // These texts are as often about files, pipes or a protocol
        // spoken over the socket as about the socket itself: alone,
        // they count only in a line that names a socket.
        if AMBIGUOUS.contains(&name.as_str()) && !crate::classify::vocab::mentions_socket(line) {
            return None;
        }
        let (errname, dialect) = resolve(number, Some(name), None, self.dialect, &[]);
        let implied = text_op.or_else(|| implied_op(errname));
        let op = self.op.unwrap_or_else(|| Op::near(line, start, implied));
        Some(Ok(Found {
            op,
            errno: number.map(LoggedErrno::from_bytes),
            errname,
            dialect,
            key: None,
        }))
    }

    fn found_in(
        &self,
        line: &[u8],
        g: &Groups,
        caps: &Slots<'_>,
        texts: &TextTable,
    ) -> Option<Found> {
        let span = |index: Option<usize>| index.and_then(|i| caps.group(i));
        let group = |index: Option<usize>| span(index).map(|s| &line[s]);
        let number = group(g.errno);
        let wsa = group(g.wsa);
        let text_group = group(g.text);
        let text_found = text_group.and_then(|t| texts.find_with_op(t));
        let text_name = text_found.map(|(_, _, n, _)| n);
        let vendor = text_name.is_none()
            && text_group.is_some_and(|t| {
                let lower = t.to_ascii_lowercase();
                self.vendor_texts
                    .iter()
                    .any(|v| memchr::memmem::find(&lower, v.as_bytes()).is_some())
            });
        let vendor_texts: &[String] = if vendor { &self.vendor_texts } else { &[] };
        let (mut errname, mut dialect) =
            resolve(number, text_name, wsa, self.dialect, vendor_texts);
        if errname.is_unknown() && number.is_none() {
            if let Some(implied) = self.errname {
                errname = implied;
                dialect = Dialect::Text;
            }
        }
        if self.strict && errname.is_unknown() {
            return None;
        }
        let whole = caps.group(0).expect("only a match is read");
        let implied = text_found
            .and_then(|(_, _, _, op)| op)
            .or_else(|| implied_op(errname));
        let op = if let Some(op) = self.op {
            op
        } else if let Some(call) = group(g.op) {
            let op = Op::from_call(call);
            if op == Op::Unknown {
                Op::from_words(call)
            } else {
                op
            }
        } else if let Some(stage) = group(g.stage) {
            Op::from_words(stage)
        } else {
            let pos = span(g.text)
                .or_else(|| span(g.wsa))
                .map_or(whole.start, |m| m.start);
            Op::near(line, pos, implied)
        };
        let key = self.witness.map(|_| {
            let family = self.name.split('.').next().unwrap_or(&self.name);
            let part = |i: Option<usize>| group(i).map_or(Default::default(), lossy);
            format!("{family}\u{1f}{}\u{1f}{}", part(g.key), part(g.key2))
        });
        Some(Found {
            op,
            errno: number.map(LoggedErrno::from_bytes),
            errname,
            dialect,
            key,
        })
    }
}

/// Compiles a rule's pattern with `regex::bytes` semantics (Unicode on,
/// haystacks need not be UTF-8) into regex-automata's meta regex, whose
/// anchored searches [`Rule::apply`] uses. A pattern that fails is compiled
/// again by `regex`, for the error message users know.
pub(crate) fn compile(
    name: &str,
    pattern: &str,
) -> Result<regex_automata::meta::Regex, BuildError> {
    use regex_automata::{meta, util::syntax};
    const SIZE_LIMIT: usize = 1 << 22;
    // No full DFA: it is built eagerly for every small pattern, and its
    // build was most of the exporter's start-up; the lazy DFA, one-pass
    // DFA and backtracker cover every search a rule makes.
    let built = meta::Builder::new()
        .syntax(syntax::Config::new().utf8(false))
        .configure(
            meta::Config::new()
                .nfa_size_limit(Some(SIZE_LIMIT))
                .dfa(false),
        )
        .build(pattern);
    built.map_err(|e| {
        match regex::bytes::RegexBuilder::new(pattern)
            .size_limit(SIZE_LIMIT)
            .build()
        {
            Err(source) => BuildError::Regex {
                rule: name.to_string(),
                source,
            },
            Ok(_) => BuildError::Rule {
                rule: name.to_string(),
                problem: e.to_string(),
            },
        }
    })
}

/// Error texts that a line must name a socket beside (`close: Bad file
/// descriptor` on a spool file, an SMTP `Protocol error` reply).
const AMBIGUOUS: &[&str] = &["EBADF", "EINTR", "EAGAIN", "EPROTO"];

/// Some errors can only come from one operation: a refused connection from
/// connect(), a broken pipe from a write. When the log does not name the
/// call before the error, the error names it.
fn implied_op(errname: Errname) -> Option<Op> {
    match errname.as_str() {
        "ECONNREFUSED" | "EHOSTUNREACH" | "ENETUNREACH" | "EINPROGRESS" | "EALREADY"
        | "EISCONN" => Some(Op::Connect),
        "EPIPE" | "ESHUTDOWN" | "EMSGSIZE" => Some(Op::Write),
        "EADDRINUSE" | "EADDRNOTAVAIL" => Some(Op::Bind),
        _ => None,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A number written right beside an error text: `(104: Connection reset by
/// peer)`, `Connection refused (111)`, `[Errno 111] Connection refused`,
/// `Connection reset by peer (os error 104)`, `errno=104`.
fn adjacent_number(line: &[u8], start: usize, end: usize) -> Option<&[u8]> {
    let before = trim_end(&line[..start]);
    // "(104: text" / "[Errno 104] text" / "104: text" / "[50] text"
    let before = before
        .strip_suffix(b":")
        .or_else(|| before.strip_suffix(b"]"))
        .map(trim_end);
    if let Some(b) = before {
        let digits = trailing_digits(b);
        if !digits.is_empty() && digits.len() <= 9 {
            let rest = &b[..b.len() - digits.len()];
            if rest.ends_with(b"(")
                || rest.ends_with(b"[")
                || rest.ends_with(b"[Errno ")
                || rest.ends_with(b"[WinError ")
            {
                return Some(digits);
            }
        }
    }
    // "text (111)" / "text (os error 104)"
    let after = trim_start(&line[end.min(line.len())..]);
    let after = after.strip_prefix(b"(")?;
    let after = after.strip_prefix(b"os error ").unwrap_or(after);
    let digits = leading_digits(after);
    if !digits.is_empty() && digits.len() <= 9 && after[digits.len()..].starts_with(b")") {
        return Some(digits);
    }
    None
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|b| **b == b' ').count();
    &s[..s.len() - n]
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == b' ' || **b == b'.').count();
    &s[n..]
}

fn trailing_digits(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    &s[s.len() - n..]
}

fn leading_digits(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    &s[..n]
}

/// A logged number as `str::parse` reads it; ASCII digits, as nearly
/// every number is, without the UTF-8 check and the general parser.
fn parse_number(n: &[u8]) -> Option<i64> {
    // 18 digits cannot overflow an i64.
    if (1..=18).contains(&n.len()) && n.iter().all(u8::is_ascii_digit) {
        return Some(n.iter().fold(0, |v, d| v * 10 + i64::from(d - b'0')));
    }
    std::str::from_utf8(n).ok()?.parse().ok()
}

/// Decides the canonical name and the numbering that decided it.
///
/// The order is the contract documented in the README:
/// 1. a `WSAE…` token, or a number in 10000–11999, is Winsock;
/// 2. a number and a known text: the numbering in which they agree (the
///    configured one first); if none agrees, the text wins (`vendor`);
/// 3. a number beside a program's own label ("network error"), or a negative
///    number, is the program's code: UNKNOWN (`vendor`);
/// 4. text only: the text table (`text`);
/// 5. number only: the configured numbering, never a guess.
pub fn resolve(
    number: Option<&[u8]>,
    text: Option<Errname>,
    wsa: Option<&[u8]>,
    configured: Dialect,
    vendor_texts: &[String],
) -> (Errname, Dialect) {
    let t = table();
    if let Some(token) = wsa {
        let name = std::str::from_utf8(token).ok().and_then(|s| t.by_name(s));
        return (name.unwrap_or(Errname::UNKNOWN), Dialect::Winsock);
    }
    let parsed: Option<i64> = number.and_then(parse_number);
    let number_given = number.is_some();
    if let Some(n) = parsed.filter(|n| (10000..12000).contains(n)) {
        let by_num = t.by_number(Dialect::Winsock, n as u32);
        return match (by_num, text) {
            (Some(a), Some(b)) if a != b => (b, Dialect::Vendor),
            (Some(a), _) => (a, Dialect::Winsock),
            (None, Some(b)) => (b, Dialect::Vendor),
            (None, None) => (Errname::UNKNOWN, Dialect::Winsock),
        };
    }
    match (number_given, text) {
        (true, Some(name)) => {
            let agreeing = |d: Dialect| {
                parsed
                    .and_then(|n| u32::try_from(n).ok())
                    .and_then(|n| t.by_number(d, n))
                    == Some(name)
            };
            if agreeing(configured) {
                (name, configured)
            } else if let Some(d) = Dialect::NUMBERINGS.into_iter().find(|d| agreeing(*d)) {
                (name, d)
            } else {
                (name, Dialect::Vendor)
            }
        }
        (true, None) => {
            let own_code = !vendor_texts.is_empty() || parsed.is_none_or(|n| n < 0);
            if own_code {
                return (Errname::UNKNOWN, Dialect::Vendor);
            }
            let name = parsed
                .and_then(|n| u32::try_from(n).ok())
                .and_then(|n| t.by_number(configured, n));
            (name.unwrap_or(Errname::UNKNOWN), configured)
        }
        (false, Some(name)) => (name, Dialect::Text),
        (false, None) => (Errname::UNKNOWN, Dialect::Text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_str_parse_does() {
        for n in [
            "",
            "0",
            "57",
            "007",
            "-104",
            "+5",
            "10057",
            "999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "99999999999999999999",
            "\u{665}\u{667}",
            "5 7",
            "5a",
        ] {
            assert_eq!(parse_number(n.as_bytes()), n.parse::<i64>().ok(), "{n:?}");
        }
        assert_eq!(parse_number(b"5\xff"), None);
    }

    fn name(s: &str) -> Errname {
        table().by_name(s).unwrap()
    }

    #[test]
    fn resolution_order() {
        let r = |n: Option<&str>, text: Option<&str>, wsa: Option<&str>, d| {
            let (e, d) = resolve(
                n.map(str::as_bytes),
                text.map(name),
                wsa.map(str::as_bytes),
                d,
                &[],
            );
            (e.to_string(), d.as_str())
        };
        use Dialect::*;
        assert_eq!(
            r(None, None, Some("WSAENOTCONN"), Linux),
            ("ENOTCONN".into(), "winsock")
        );
        assert_eq!(
            r(Some("10054"), None, None, Bsd),
            ("ECONNRESET".into(), "winsock")
        );
        assert_eq!(
            r(Some("57"), Some("ENOTCONN"), None, Linux),
            ("ENOTCONN".into(), "bsd")
        );
        assert_eq!(
            r(Some("104"), Some("ECONNRESET"), None, Bsd),
            ("ECONNRESET".into(), "linux")
        );
        assert_eq!(
            r(Some("32"), Some("EPIPE"), None, Svr4),
            ("EPIPE".into(), "svr4")
        );
        assert_eq!(
            r(Some("32"), Some("EPIPE"), None, Winsock),
            ("EPIPE".into(), "bsd")
        );
        assert_eq!(
            r(Some("57"), Some("ECONNRESET"), None, Bsd),
            ("ECONNRESET".into(), "vendor")
        );
        assert_eq!(r(Some("57"), None, None, Bsd), ("ENOTCONN".into(), "bsd"));
        assert_eq!(
            r(Some("57"), None, None, Linux),
            ("UNKNOWN".into(), "linux")
        );
        assert_eq!(
            r(Some("-18"), None, None, Linux),
            ("UNKNOWN".into(), "vendor")
        );
        assert_eq!(
            r(None, Some("EPIPE"), None, Linux),
            ("EPIPE".into(), "text")
        );
        assert_eq!(
            r(Some("99999999999999999999999"), None, None, Linux),
            ("UNKNOWN".into(), "vendor")
        );
    }

    #[test]
    fn adjacent_numbers() {
        let f = |s: &str, text: &str| {
            let start = s.find(text).unwrap();
            adjacent_number(s.as_bytes(), start, start + text.len())
                .map(|d| String::from_utf8(d.to_vec()).unwrap())
        };
        assert_eq!(
            f(
                "send() failed (104: Connection reset by peer)",
                "Connection reset by peer"
            )
            .as_deref(),
            Some("104")
        );
        assert_eq!(
            f("[Errno 111] Connection refused", "Connection refused").as_deref(),
            Some("111")
        );
        assert_eq!(
            f("failed: Connection refused (111)", "Connection refused").as_deref(),
            Some("111")
        );
        assert_eq!(
            f(
                "Connection reset by peer (os error 104)",
                "Connection reset by peer"
            )
            .as_deref(),
            Some("104")
        );
        assert_eq!(
            f(
                "[WinError 10054] An existing connection was forcibly closed by the remote host",
                "An existing connection was forcibly closed by the remote host"
            )
            .as_deref(),
            Some("10054")
        );
        assert_eq!(
            f("at 12:30: Connection refused", "Connection refused"),
            None
        );
        assert_eq!(f("write: Broken pipe", "Broken pipe"), None);
    }
}
