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

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

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
/// rare: the SIMD searcher (Teddy) fingerprints the first three bytes of
/// each literal, so "connected" would stop at every "connect from" line while
/// "nnected" does not. Each was picked by counting instructions (callgrind)
/// of the searcher over the bench corpus, pair by pair ("too long" cost 5×
/// "ge too"; "forcibly" 2× "xisting"). Few, too: the searcher slows
/// threefold past 64 literals in all, which a test guards.
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
    matcher: AhoCorasick,
    names: Vec<Errname>,
    ops: Vec<Option<Op>>,
}

impl Default for TextTable {
    fn default() -> Self {
        Self::new()
    }
}

impl TextTable {
    pub fn new() -> TextTable {
        let texts = table().texts();
        let matcher = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            // Searched once per counted line, mostly over a rule's short
            // text group: a DFA's one table lookup per byte beats the
            // NFA the builder picks for this many texts, and a prefilter
            // costs more than it skips on 20 bytes.
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .build(texts.iter().map(|(t, _)| t))
            .expect("errno texts build an automaton");
        let ops = texts
            .iter()
            .map(|(t, _)| {
                TEXT_OPS
                    .iter()
                    .find(|(prefix, _)| t.starts_with(prefix))
                    .map(|(_, op)| *op)
            })
            .collect();
        TextTable {
            matcher,
            names: texts.into_iter().map(|(_, n)| n).collect(),
            ops,
        }
    }

    /// The leftmost-longest known text in `hay`: (start, end, name).
    pub fn find(&self, hay: &[u8]) -> Option<(usize, usize, Errname)> {
        self.find_with_op(hay).map(|(s, e, n, _)| (s, e, n))
    }

    /// As [`find`](Self::find), plus the op the text itself names, if any.
    pub fn find_with_op(&self, hay: &[u8]) -> Option<(usize, usize, Errname, Option<Op>)> {
        let m = self.matcher.find(hay)?;
        let i = m.pattern().as_usize();
        Some((m.start(), m.end(), self.names[i], self.ops[i]))
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
