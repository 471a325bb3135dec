//! Error texts → canonical names, and the anchor words that make text
//! matching cheap.
//!
//! A log line that carries no number is recognised by its strerror text
//! ("Connection reset by peer", Windows' "An existing connection was forcibly
//! closed by the remote host", Go's lower-case "connection reset by peer").
//! [`TextTable`] finds the longest known text anywhere in a line,
//! ASCII-case-insensitively, so "Connection reset by network" (ENETRESET)
//! wins over its prefix "Connection reset" (ECONNRESET), and Sendmail's
//! "Connection refused by mx.example.com" still names ECONNREFUSED.
//!
//! Case-insensitive search cannot use the SIMD literal searchers that make
//! whole-buffer scanning fast. So every text also has an *anchor*: a short,
//! distinctive fragment of it ([`TEXT_ANCHORS`]). The buffer scanner looks
//! for anchors in lower and UPPER case, and the text table is consulted only
//! on lines that carry one. A unit test keeps every text, in every case
//! rendering, covered by an anchor.
//!
//! ```
//! use gateway_exporter::classify::text::TextTable;
//! let t = TextTable::new();
//! let (_, _, name) = t.find(b"stat=Deferred: Connection REFUSED by mx.example.com.").unwrap();
//! assert_eq!(name.to_string(), "ECONNREFUSED");
//! ```

use super::op::Op;
use crate::errno::{Errname, table};

/// Texts that say which operation failed, whatever the errno: Windows'
/// sentence for WSAETIMEDOUT is about a connection attempt.
const TEXT_OPS: &[(&str, Op)] = &[
    ("A connection attempt failed", Op::Connect),
    ("No connection could be made", Op::Connect),
];

/// Lower-case fragments, at least one of which occurs verbatim in every
/// known error text, never at its start. Because no anchor is a text's first
/// word, sentence case ("Connection refused") and Go's lower case
/// ("connection refused") carry the same lower-case anchor, and SHOUTED
/// lines carry its upper-case form: those two forms are all the buffer
/// scanner searches for. (Title Case Per Word is not recognised.)
///
/// Chosen to be rare in routine lines, and to *start* with bytes that are
/// rare: the SIMD searcher (Teddy) fingerprints the first four bytes of
/// each literal. Each was picked by counting instructions (callgrind) of the
/// searcher over the bench corpus, pair by pair ("too long" cost 5× "ge
/// too"; "forcibly" 2× "xisting"). Where the part worth searching for is
/// shorter than what rules a line in ("nnected" starts as "connect from"
/// does), the searcher looks for that part (`classify::BUFFER_KEYS`). Few,
/// too: the searcher slows threefold past 64 literals in all, which a test
/// guards.
pub const TEXT_ANCHORS: &[&str] = &[
    "oken pipe",
    "reset",
    "xisting",
    "nnected",
    "d out",
    "fused",
    "bort",
    "route",
    "chable",
    "is down",
    "hutdown",
    "ddress",
    "buffer",
    "vailable",
    "would block",
    "system call",
    "riptor",
    "file number",
    "ge too",
    "rogress",
    "socket",
    "error",
];

/// The forms in which an anchor is searched for: lower and UPPER case.
pub fn case_forms(anchor: &str) -> [String; 2] {
    [anchor.to_ascii_lowercase(), anchor.to_ascii_uppercase()]
}

/// Finds known error texts in a line.
#[derive(Debug, Clone)]
pub struct TextTable {
    /// The leftmost-longest, ASCII case-insensitive DFA of the texts,
    /// walked in [`find_with_op`](Self::find_with_op).
    walk: Leftmost,
    names: Vec<Errname>,
    ops: Vec<Option<Op>>,
    /// The texts by length: those of length `n` are
    /// `by_length[lengths[n]..lengths[n + 1]]`, in table order, so a group
    /// that is exactly one text is found without the walk.
    lengths: Vec<u32>,
    by_length: Vec<(u32, &'static [u8])>,
}

/// The leftmost-longest, ASCII case-insensitive DFA of some literals, and
/// its walk.
#[derive(Debug, Clone)]
struct Leftmost {
    /// Byte → column, and `next[state + column]` (`DfaTable`'s layout).
    classes: [u8; 256],
    width: usize,
    next: Vec<u32>,
    start: u32,
    /// The states numbered first: the dead state (`None`: stop) and the
    /// match states (the literal matched and its length).
    found: Vec<Option<(u32, u32)>>,
}

impl Leftmost {
    fn new(literals: &[&[u8]]) -> Result<Leftmost, super::BuildError> {
        let table = super::DfaTable::new(literals, true, super::Semantics::LeftmostLongest)?;
        // Leftmost-longest: a state's first literal is the match to keep.
        let found = table
            .matches
            .iter()
            .map(|list| {
                list.first()
                    .map(|&p| (p, literals[p as usize].len() as u32))
            })
            .collect();
        Ok(Leftmost {
            classes: table.classes,
            width: table.width,
            next: table.next,
            start: table.start,
            found,
        })
    }

    /// The leftmost-longest literal in `hay`: (start, end, literal index).
    #[inline]
    fn find(&self, hay: &[u8]) -> Option<(usize, usize, usize)> {
        // The unanchored leftmost search of aho-corasick's `try_find`: keep
        // the last match state's match and stop at the dead state, which a
        // leftmost automaton enters once no longer match can follow.
        let (next, classes) = (&self.next[..], &self.classes);
        let special = self.found.len() * self.width;
        let mut state = self.start;
        let mut found = None;
        for (at, &b) in hay.iter().enumerate() {
            state = next[state as usize + usize::from(classes[usize::from(b)])];
            if (state as usize) < special {
                let Some((p, len)) = self.found[state as usize / self.width] else {
                    break;
                };
                found = Some((at + 1 - len as usize, at + 1, p as usize));
            }
        }
        found
    }
}

impl Default for TextTable {
    fn default() -> Self {
        Self::new()
    }
}

impl TextTable {
    pub fn new() -> TextTable {
        let texts = table().texts();
        // Searched once per counted line, mostly over a whole line or a
        // rule's text group that is not exactly one text. Built as the
        // line search's table is (`DfaTable`): states in
        // breadth-first order, so the shallow states most bytes visit
        // share a few cache lines, and one column per letter whatever its
        // case (the texts match case-insensitively): 126 KB for the
        // built-in texts (1,123 rows of 28 columns), against 290 KB for
        // aho-corasick's own DFA (32-bit states in insertion order). As
        // 16-bit states in rows of 32 it was 72 KB, and 2% slower a line.
        let bytes: Vec<&[u8]> = texts.iter().map(|(t, _)| t.as_bytes()).collect();
        let walk = Leftmost::new(&bytes).expect("errno texts fit 16-bit states");
        let ops = texts
            .iter()
            .map(|(t, _)| {
                TEXT_OPS
                    .iter()
                    .find(|(prefix, _)| t.starts_with(prefix))
                    .map(|(_, op)| *op)
            })
            .collect();
        let longest = texts.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
        let mut lengths = vec![0u32; longest + 2];
        for (t, _) in &texts {
            lengths[t.len() + 1] += 1;
        }
        for n in 1..lengths.len() {
            lengths[n] += lengths[n - 1];
        }
        let mut by_length: Vec<(u32, &'static [u8])> = texts
            .iter()
            .enumerate()
            .map(|(i, (t, _))| (i as u32, t.as_bytes()))
            .collect();
        // Stable: equal lengths stay in table order, the order in which
        // the automaton prefers equal matches.
        by_length.sort_by_key(|(_, t)| t.len());
        TextTable {
            walk,
            names: texts.into_iter().map(|(_, n)| n).collect(),
            ops,
            lengths,
            by_length,
        }
    }

    /// The leftmost-longest known text in `hay`: (start, end, name).
    pub fn find(&self, hay: &[u8]) -> Option<(usize, usize, Errname)> {
        self.find_with_op(hay).map(|(s, e, n, _)| (s, e, n))
    }

    /// As [`find`](Self::find), plus the op the text itself names, if any.
    pub fn find_with_op(&self, hay: &[u8]) -> Option<(usize, usize, Errname, Option<Op>)> {
        if let Some((start, end, i)) = self.exactly(hay) {
            return Some((start, end, self.names[i], self.ops[i]));
        }
        let (start, end, i) = self.walk.find(hay)?;
        Some((start, end, self.names[i], self.ops[i]))
    }

    /// The text `hay` is, but for ASCII blanks around it: most rules
    /// capture the text alone, and a lookup by length costs a fraction of
    /// a walk over it (one dependent load a byte). It answers as the walk
    /// does: no text starts or ends with
    /// a blank (a test checks), so no match starts in the leading blanks,
    /// none longer than `hay`'s text fits, and of equal texts the first in
    /// table order wins in both. Returns (start, end, text index), as the
    /// walk's match would be.
    fn exactly(&self, hay: &[u8]) -> Option<(usize, usize, usize)> {
        let start = hay.len() - hay.trim_ascii_start().len();
        let text = hay[start..].trim_ascii_end();
        let n = text.len();
        let (&from, &to) = (self.lengths.get(n)?, self.lengths.get(n + 1)?);
        let first = text.first()?.to_ascii_lowercase();
        let (i, _) = self.by_length[from as usize..to as usize]
            .iter()
            .find(|(_, t)| t[0].to_ascii_lowercase() == first && t.eq_ignore_ascii_case(text))?;
        Some((start, start + n, *i as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_has_an_anchor_in_every_case_rendering() {
        for (text, name) in table().texts() {
            for rendering in [
                text.to_string(),
                text.to_ascii_lowercase(),
                text.to_ascii_uppercase(),
            ] {
                assert!(
                    TEXT_ANCHORS
                        .iter()
                        .flat_map(|a| case_forms(a))
                        .any(|form| rendering.contains(&form)),
                    "{rendering:?} ({name}) carries no anchor form"
                );
            }
        }
    }

    #[test]
    fn the_leftmost_longest_walk_finds_what_aho_corasick_finds() {
        // Small alphabets, so literals nest and overlap inside each other
        // (the built-in texts seldom do), and both cases of each letter.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut found = 0;
        for _ in 0..300 {
            let alphabet = b"abcAB ";
            let literals: Vec<Vec<u8>> = (0..1 + rand(6))
                .map(|_| {
                    (0..1 + rand(4))
                        .map(|_| alphabet[rand(6) as usize])
                        .collect()
                })
                .collect();
            let bytes: Vec<&[u8]> = literals.iter().map(Vec::as_slice).collect();
            let walk = Leftmost::new(&bytes).unwrap();
            let reference = aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(&literals)
                .unwrap();
            for _ in 0..30 {
                let hay: Vec<u8> = (0..rand(12)).map(|_| alphabet[rand(6) as usize]).collect();
                let ours = walk.find(&hay);
                let theirs = reference
                    .find(&hay)
                    .map(|m| (m.start(), m.end(), m.pattern().as_usize()));
                assert_eq!(ours, theirs, "{literals:?} in {hay:?}");
                found += usize::from(ours.is_some());
            }
        }
        assert!(found > 1000, "{found}");
    }

    #[test]
    fn the_hand_walk_finds_what_the_searcher_finds() {
        // The reference: aho-corasick's own leftmost-longest search.
        let texts = table().texts();
        let reference = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(texts.iter().map(|(t, _)| t))
            .unwrap();
        let t = TextTable::new();
        let mut hays: Vec<String> = vec![String::new(), "x".into()];
        for (i, (text, _)) in texts.iter().enumerate() {
            let next = texts[(i * 7 + 3) % texts.len()].0;
            hays.push(text.to_string());
            hays.push(format!("write: (57) {}", text.to_ascii_uppercase()));
            hays.push(format!("{}{next} (104)", &text[..text.len() / 2]));
            hays.push(format!("{text}{next}"));
            hays.push(format!("{} and {}", text.to_ascii_lowercase(), next));
            hays.push(text[1..].to_string());
            // Exactly a text, as a rule's text group holds it.
            hays.push(format!(" {}", text.to_ascii_uppercase()));
            hays.push(format!("\t{}  ", text.to_ascii_lowercase()));
            hays.push(format!("{text}."));
            let toggled: String = text
                .chars()
                .enumerate()
                .map(|(k, c)| {
                    if k % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            hays.push(format!("\x01\x7fé{toggled} {next}"));
        }
        for hay in &hays {
            let want = reference
                .find(hay.as_bytes())
                .map(|m| (m.start(), m.end(), texts[m.pattern().as_usize()].1));
            assert_eq!(t.find(hay.as_bytes()), want, "{hay:?}");
        }
    }

    #[test]
    fn no_text_starts_or_ends_with_a_blank() {
        // What lets a group that is exactly one text skip the walk.
        for (text, name) in table().texts() {
            assert_eq!(text.trim_ascii(), text, "{name}");
            assert!(!text.is_empty(), "{name}");
        }
    }

    #[test]
    fn longest_text_wins() {
        let t = TextTable::new();
        let name = |s: &str| t.find(s.as_bytes()).map(|(_, _, n)| n.to_string());
        assert_eq!(
            name("Connection reset by network").as_deref(),
            Some("ENETRESET")
        );
        assert_eq!(
            name("Connection reset by peer").as_deref(),
            Some("ECONNRESET")
        );
        assert_eq!(
            name("java.net.SocketException: Connection reset").as_deref(),
            Some("ECONNRESET")
        );
        assert_eq!(
            name("Connection reset by mx.example.com.").as_deref(),
            Some("ECONNRESET")
        );
        assert_eq!(
            name("Connection timed out with mx.example.com.").as_deref(),
            Some("ETIMEDOUT")
        );
        assert_eq!(name("Socket is not connected").as_deref(), Some("ENOTCONN"));
        assert_eq!(name("socket is connected").as_deref(), Some("EISCONN"));
        assert_eq!(
            name("read: connection reset by peer").as_deref(),
            Some("ECONNRESET")
        );
        assert_eq!(name("all is well"), None);
    }

    #[test]
    fn case_forms_are_lower_and_upper() {
        assert_eq!(case_forms("timed out"), ["timed out", "TIMED OUT"]);
    }
}
