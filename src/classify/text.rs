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
//! distinctive word of it ([`TEXT_ANCHORS`]). The buffer scanner looks for
//! anchors in their lower, Capitalised and UPPER forms, and the text table is
//! consulted only on lines that carry one. A unit test keeps every text
//! covered by an anchor.
//!
//! ```
//! use gateway_exporter::classify::text::TextTable;
//! let t = TextTable::new();
//! let (_, _, name) = t.find(b"stat=Deferred: Connection REFUSED by mx.example.com.").unwrap();
//! assert_eq!(name.to_string(), "ECONNREFUSED");
//! ```

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::errno::{Errname, table};

/// Lower-case words or phrases, at least one of which occurs in every known
/// error text. Chosen to be rare in routine log lines: "connection" alone
/// would make every "connect from" line a candidate.
pub const TEXT_ANCHORS: &[&str] = &[
    "pipe",
    "reset",
    "forcibly",
    "not connected",
    "timed out",
    "properly respond",
    "refused",
    "abort",
    "unreachable",
    "no route",
    "is down",
    "shutdown",
    "in use",
    "assign requested",
    "not available",
    "buffer space",
    "temporarily unavailable",
    "would block",
    "interrupted",
    "bad file",
    "too long",
    "too large",
    "in progress",
    "non-socket",
    "not a socket",
    "already connected",
    "is connected",
    "protocol error",
    "no more processes",
];

/// The case forms in which an anchor is searched for: as written in lower
/// case, Capitalised (sentence start), and UPPER.
pub fn case_forms(word: &str) -> Vec<String> {
    let lower = word.to_ascii_lowercase();
    let mut cap = lower.clone();
    if let Some(first) = cap.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let upper = word.to_ascii_uppercase();
    let mut forms = vec![lower, cap, upper];
    forms.dedup();
    forms
}

/// Finds known error texts in a line.
#[derive(Debug, Clone)]
pub struct TextTable {
    matcher: AhoCorasick,
    names: Vec<Errname>,
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
            .build(texts.iter().map(|(t, _)| t))
            .expect("errno texts build an automaton");
        TextTable {
            matcher,
            names: texts.into_iter().map(|(_, n)| n).collect(),
        }
    }

    /// The leftmost-longest known text in `hay`: (start, end, name).
    pub fn find(&self, hay: &[u8]) -> Option<(usize, usize, Errname)> {
        let m = self.matcher.find(hay)?;
        Some((m.start(), m.end(), self.names[m.pattern().as_usize()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_has_an_anchor() {
        for (text, name) in table().texts() {
            let lower = text.to_ascii_lowercase();
            assert!(
                TEXT_ANCHORS.iter().any(|a| lower.contains(a)),
                "text {text:?} ({name}) has no anchor in TEXT_ANCHORS"
            );
        }
    }

    #[test]
    fn longest_text_wins() {
        let t = TextTable::new();
        let name = |s: &str| t.find(s.as_bytes()).map(|(_, _, n)| n.to_string());
        assert_eq!(name("Connection reset by network").as_deref(), Some("ENETRESET"));
        assert_eq!(name("Connection reset by peer").as_deref(), Some("ECONNRESET"));
        assert_eq!(name("java.net.SocketException: Connection reset").as_deref(), Some("ECONNRESET"));
        assert_eq!(name("Connection reset by mx.example.com.").as_deref(), Some("ECONNRESET"));
        assert_eq!(name("Connection timed out with mx.example.com.").as_deref(), Some("ETIMEDOUT"));
        assert_eq!(name("Socket is not connected").as_deref(), Some("ENOTCONN"));
        assert_eq!(name("socket is connected").as_deref(), Some("EISCONN"));
        assert_eq!(name("read: connection reset by peer").as_deref(), Some("ECONNRESET"));
        assert_eq!(name("all is well"), None);
    }

    #[test]
    fn case_forms_cover_sentence_and_shouting() {
        assert_eq!(case_forms("timed out"), ["timed out", "Timed out", "TIMED OUT"]);
        assert_eq!(case_forms("pipe"), ["pipe", "Pipe", "PIPE"]);
    }
}
