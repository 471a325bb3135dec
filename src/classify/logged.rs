//! The errno number exactly as a line logged it (`57`, `-104`, `10057`), as
//! a small value type.
//!
//! Every counted line carries one, and the tallies key on it, so it must
//! not cost an allocation: a number of up to [`INLINE`] bytes, which is
//! every real one, is held inline and copied; a longer capture (a user
//! rule's `\d+` over a long digit run) is kept whole on the heap, never cut,
//! so two different captures never become one key. This module owns the
//! representation only: bounding label values is the metrics layer's job.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Numbers up to this many bytes are held inline.
pub const INLINE: usize = 22;

/// A logged errno number; dereferences to the text as logged (lossily
/// decoded when the line was not UTF-8).
#[derive(Clone)]
pub struct LoggedErrno(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl LoggedErrno {
    /// From the bytes a rule captured.
    pub fn from_bytes(b: &[u8]) -> LoggedErrno {
        // ASCII is UTF-8: an inline number needs no decoding call.
        if b.is_ascii() {
            if let Some(inline) = LoggedErrno::inline(b) {
                return inline;
            }
        }
        match std::str::from_utf8(b) {
            Ok(s) => LoggedErrno::from(s),
            Err(_) => LoggedErrno::from(String::from_utf8_lossy(b).as_ref()),
        }
    }

    /// `b` (UTF-8) held inline, if it fits.
    fn inline(b: &[u8]) -> Option<LoggedErrno> {
        let len = u8::try_from(b.len())
            .ok()
            .filter(|&n| usize::from(n) <= INLINE)?;
        let mut bytes = [0; INLINE];
        bytes[..b.len()].copy_from_slice(b);
        Some(LoggedErrno(Repr::Inline { len, bytes }))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only whole UTF-8 strings are stored, so this never fails.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Heap(s) => s,
        }
    }

    /// The text's bytes, without the UTF-8 check `as_str` makes: the
    /// tallies compare these once per counted line. Byte order is the
    /// text's order.
    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(s) => s.as_bytes(),
        }
    }
}

impl From<&str> for LoggedErrno {
    fn from(s: &str) -> LoggedErrno {
        LoggedErrno::inline(s.as_bytes()).unwrap_or_else(|| LoggedErrno(Repr::Heap(s.into())))
    }
}

impl From<String> for LoggedErrno {
    fn from(s: String) -> LoggedErrno {
        LoggedErrno::from(s.as_str())
    }
}

impl Default for LoggedErrno {
    fn default() -> LoggedErrno {
        LoggedErrno::from("")
    }
}

impl Deref for LoggedErrno {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for LoggedErrno {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for LoggedErrno {
    fn eq(&self, other: &LoggedErrno) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for LoggedErrno {}

impl PartialEq<str> for LoggedErrno {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for LoggedErrno {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for LoggedErrno {
    fn partial_cmp(&self, other: &LoggedErrno) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LoggedErrno {
    fn cmp(&self, other: &LoggedErrno) -> Ordering {
        // The tallies' map compares keys a few times per counted line; a
        // slice compare is a call to `memcmp`. Two inline numbers compare
        // as three big-endian words of their zero-padded bytes, then by
        // length: exactly the bytes' lexicographic order (where the words
        // differ inside the shorter one's padding, the longer one has a
        // non-zero byte there; where they do not differ, one is the other
        // plus NULs, and the shorter is less).
        match (&self.0, &other.0) {
            (Repr::Inline { len: a, bytes: x }, Repr::Inline { len: b, bytes: y }) => {
                padded_words(x).cmp(&padded_words(y)).then(a.cmp(b))
            }
            _ => self.as_bytes().cmp(other.as_bytes()),
        }
    }
}

/// An inline number's zero-padded bytes as three big-endian words.
fn padded_words(b: &[u8; INLINE]) -> [u64; 3] {
    let word = |from: usize| {
        let mut w = [0u8; 8];
        let to = (from + 8).min(INLINE);
        w[..to - from].copy_from_slice(&b[from..to]);
        u64::from_be_bytes(w)
    };
    [word(0), word(8), word(16)]
}

impl Hash for LoggedErrno {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl fmt::Debug for LoggedErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for LoggedErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for LoggedErrno {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bytes_is_the_decoded_text() {
        for b in [
            &b""[..],
            b"57",
            b"-104",
            b"0000000000000000000057",
            b"00000000000000000000057",
            "\u{665}\u{667}".as_bytes(),
            b"5\xff7",
            b"\0",
        ] {
            let want = LoggedErrno::from(String::from_utf8_lossy(b).as_ref());
            let got = LoggedErrno::from_bytes(b);
            assert_eq!(got, want, "{b:?}");
            assert_eq!(got.as_str(), want.as_str(), "{b:?}");
        }
    }

    #[test]
    fn short_numbers_are_inline_long_ones_kept_whole() {
        let short = LoggedErrno::from("-2147012867");
        assert!(matches!(short.0, Repr::Inline { .. }));
        assert_eq!(&*short, "-2147012867");
        let long = "1".repeat(INLINE + 1);
        let kept = LoggedErrno::from(long.as_str());
        assert!(matches!(kept.0, Repr::Heap(_)));
        assert_eq!(&*kept, long);
        // Two captures that share their first INLINE bytes stay two keys.
        let other = LoggedErrno::from(format!("{}2", "1".repeat(INLINE)));
        assert_ne!(kept, other);
        assert!(kept < other);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_decoded_lossily() {
        assert_eq!(&*LoggedErrno::from_bytes(b"5\xff7"), "5\u{fffd}7");
        assert_eq!(&*LoggedErrno::from_bytes(b"57"), "57");
        assert_eq!(&*LoggedErrno::default(), "");
    }

    #[test]
    fn order_and_equality_are_the_texts() {
        let mut v: Vec<LoggedErrno> = ["104", "", "57", "10057"].map(LoggedErrno::from).into();
        v.sort();
        let got: Vec<&str> = v.iter().map(|e| e.as_str()).collect();
        assert_eq!(got, ["", "10057", "104", "57"]);
        assert_eq!(LoggedErrno::from("57"), "57");
    }

    #[test]
    fn inline_order_is_the_bytes_order_nuls_and_all() {
        let texts = [
            "",
            "0",
            "5",
            "57",
            "5\0",
            "5\0\0",
            "5\x001",
            "-104",
            "10057",
            "9999999999",
            "1234567890123456789012",
            "123456789012345678901",
            "12345678\x00",
            "12345678",
        ];
        let long = "1".repeat(INLINE + 1);
        for a in texts.iter().copied().chain([long.as_str()]) {
            for b in texts.iter().copied().chain([long.as_str()]) {
                let (x, y) = (LoggedErrno::from(a), LoggedErrno::from(b));
                assert_eq!(x.cmp(&y), a.as_bytes().cmp(b.as_bytes()), "{a:?} vs {b:?}");
                assert_eq!(x == y, a == b);
            }
        }
    }
}
