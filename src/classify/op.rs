//! The operation that failed, normalised to a small closed set.
//!
//! Logs name the failing call in many ways (`send`, `WSASend`, `SSL_write`,
//! `writev`, "while sending message body"). Only the seven values of [`Op`]
//! ever become a label: the raw call name never does, so a new spelling in a
//! log can never create a new time series.
//!
//! ```
//! use gateway_exporter::classify::Op;
//! assert_eq!(Op::from_call(b"WSASend"), Op::Write);
//! assert_eq!(Op::from_words(b"while receiving the initial server greeting"), Op::Read);
//! assert_eq!(Op::Write.to_string(), "write");
//! ```

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Read,
    Write,
    Connect,
    Accept,
    Bind,
    Close,
    Unknown,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::Read,
        Op::Write,
        Op::Connect,
        Op::Accept,
        Op::Bind,
        Op::Close,
        Op::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Connect => "connect",
            Op::Accept => "accept",
            Op::Bind => "bind",
            Op::Close => "close",
            Op::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        Self::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// Maps one call or stage word (case-insensitive) to an op.
    /// Returns `None` for a word that names no operation.
    pub fn from_word(word: &[u8]) -> Option<Op> {
        Self::from_exact_word(word).or_else(|| {
            // Library-prefixed calls: `apr_socket_recv`,
            // `mca_btl_tcp_endpoint_complete_connect`.
            let last = word.rsplit(|b| *b == b'_').next()?;
            (last.len() < word.len()).then(|| Self::from_exact_word(last))?
        })
    }

    fn from_exact_word(word: &[u8]) -> Option<Op> {
        let mut buf = [0u8; 24];
        if word.is_empty() || word.len() > buf.len() {
            return None;
        }
        // Most words a line is searched through are no op: every op word
        // starts with one of a few letters, so the rest are turned away
        // by one lookup, before the copy and the compares.
        if !IS_OP_INITIAL[usize::from(word[0])] {
            return None;
        }
        let lower = &mut buf[..word.len()];
        lower.copy_from_slice(word);
        lower.make_ascii_lowercase();
        let op = match &*lower {
            b"write" | b"writev" | b"send" | b"sendmsg" | b"sendto" | b"sendmmsg" | b"sendfile"
            | b"wsasend" | b"wsasendto" | b"wsasendmsg" | b"wsasendex" | b"ssl_write"
            | b"sending" | b"writing" | b"sent" => Op::Write,
            b"read" | b"readv" | b"recv" | b"recvmsg" | b"recvfrom" | b"recvmmsg" | b"wsarecv"
            | b"wsarecvfrom" | b"wsarecvmsg" | b"wsarecvex" | b"ssl_read" | b"receiving"
            | b"reading" => Op::Read,
            b"connect" | b"connecting" | b"dial" | b"wsaconnect" | b"ssl_connect"
            | b"connectex" => Op::Connect,
            b"accept" | b"accept4" | b"wsaaccept" | b"acceptex" | b"accepting" | b"ssl_accept" => {
                Op::Accept
            }
            b"bind" | b"binding" | b"listen" => Op::Bind,
            b"close" | b"closesocket" | b"shutdown" | b"closing" => Op::Close,
            _ => return None,
        };
        Some(op)
    }

    /// A call name as captured from a log (`send`, `WSARecv`); unknown names
    /// map to [`Op::Unknown`].
    pub fn from_call(word: &[u8]) -> Op {
        Self::from_word(word).unwrap_or(Op::Unknown)
    }

    /// The first op word in a phrase ("while sending message body").
    pub fn from_words(phrase: &[u8]) -> Op {
        words(phrase)
            .find_map(|(_, w)| Self::from_word(w))
            .unwrap_or(Op::Unknown)
    }

    /// The op word nearest before `pos` in `line` (`read: connection reset`,
    /// `send() failed`), else `implied` (what the error itself says), else
    /// the first op word after it ("... while reading response header"),
    /// else unknown.
    pub fn near(line: &[u8], pos: usize, implied: Option<Op>) -> Op {
        let pos = pos.min(line.len());
        // From `pos` backwards: the nearest is the first found, and most
        // of a line's words lie before its error.
        let before = words_backwards(&line[..pos]).find_map(Self::from_word);
        before
            .or(implied)
            .or_else(|| words(&line[pos..]).find_map(|(_, w)| Self::from_word(w)))
            .unwrap_or(Op::Unknown)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The letters op words start with (lower case).
const OP_INITIALS: &[u8] = b"abcdlrsw";

/// By byte: whether it is one of [`OP_INITIALS`], in either case.
static IS_OP_INITIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < OP_INITIALS.len() {
        t[OP_INITIALS[i] as usize] = true;
        t[OP_INITIALS[i].to_ascii_uppercase() as usize] = true;
        i += 1;
    }
    t
};

/// Word-ish tokens: runs of ASCII letters, digits and `_`.
fn words(s: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < s.len() && !is_word_byte(s[i]) {
            i += 1;
        }
        if i >= s.len() {
            return None;
        }
        let start = i;
        while i < s.len() && is_word_byte(s[i]) {
            i += 1;
        }
        Some((start, &s[start..i]))
    })
}

/// The same tokens as [`words`], last first.
fn words_backwards(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut i = s.len();
    std::iter::from_fn(move || {
        while i > 0 && !is_word_byte(s[i - 1]) {
            i -= 1;
        }
        if i == 0 {
            return None;
        }
        let end = i;
        while i > 0 && is_word_byte(s[i - 1]) {
            i -= 1;
        }
        Some(&s[i..end])
    })
}

/// An ASCII word byte, as `\b` (ASCII) reads it.
pub(super) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word `from_exact_word` knows, lower case.
    #[rustfmt::skip]
    const WORDS: &[&str] = &[
        "write", "writev", "send", "sendmsg", "sendto", "sendmmsg", "sendfile", "wsasend",
        "wsasendto", "wsasendmsg", "wsasendex", "ssl_write", "sending", "writing", "sent", "read",
        "readv", "recv", "recvmsg", "recvfrom", "recvmmsg", "wsarecv", "wsarecvfrom", "wsarecvmsg",
        "wsarecvex", "ssl_read", "receiving", "reading", "connect", "connecting", "dial",
        "wsaconnect", "ssl_connect", "connectex", "accept", "accept4", "wsaaccept", "acceptex",
        "accepting", "ssl_accept", "bind", "binding", "listen", "close", "closesocket", "shutdown",
        "closing",
    ];

    #[test]
    fn the_word_list_is_the_match_and_the_initials_cover_it() {
        for w in WORDS {
            assert!(Op::from_exact_word(w.as_bytes()).is_some(), "{w}");
            assert!(
                Op::from_exact_word(w.to_ascii_uppercase().as_bytes()).is_some(),
                "{w}"
            );
        }
        // A word one edit from a listed one (a letter changed, added or
        // dropped) is an op only if it is listed too, so a word added to
        // the match beside one of these (`sendmsg` beside `send`) fails
        // here until it is listed, and its initial checked above.
        let listed = |w: &[u8]| WORDS.iter().any(|l| l.as_bytes() == w);
        for w in WORDS {
            let w = w.as_bytes();
            for i in 0..=w.len() {
                for c in (b'a'..=b'z').chain(*b"_0123456789") {
                    let mut added = w.to_vec();
                    added.insert(i, c);
                    let mut changed = w.to_vec();
                    if i < w.len() {
                        changed[i] = c;
                    }
                    for v in [added, changed] {
                        assert_eq!(Op::from_exact_word(&v).is_some(), listed(&v), "{v:?}");
                    }
                }
                if i < w.len() {
                    let mut dropped = w.to_vec();
                    dropped.remove(i);
                    assert_eq!(Op::from_exact_word(&dropped).is_some(), listed(&dropped));
                }
            }
        }
    }

    #[test]
    fn words_backwards_are_words_reversed() {
        for s in [
            &b""[..],
            b"a",
            b" a b_c--d9 ",
            b"...",
            b"send() failed",
            b"x\xffy",
        ] {
            let mut fwd: Vec<&[u8]> = words(s).map(|(_, w)| w).collect();
            fwd.reverse();
            assert_eq!(words_backwards(s).collect::<Vec<_>>(), fwd);
        }
    }

    #[test]
    fn calls_normalise() {
        for (w, op) in [
            ("send", Op::Write),
            ("sendmsg", Op::Write),
            ("sendto", Op::Write),
            ("writev", Op::Write),
            ("WSASend", Op::Write),
            ("SSL_write", Op::Write),
            ("recv", Op::Read),
            ("recvmsg", Op::Read),
            ("readv", Op::Read),
            ("WSARecv", Op::Read),
            ("wsarecv", Op::Read),
            ("connect", Op::Connect),
            ("dial", Op::Connect),
            ("accept4", Op::Accept),
            ("bind", Op::Bind),
            ("closesocket", Op::Close),
            ("apr_socket_recv", Op::Read),
            ("mca_btl_tcp_endpoint_complete_connect", Op::Connect),
            ("socket_frob", Op::Unknown),
            ("frobnicate", Op::Unknown),
        ] {
            assert_eq!(Op::from_call(w.as_bytes()), op, "{w}");
        }
    }

    #[test]
    fn near_prefers_the_closest_call_before() {
        let line = b"lost connection with mx while sending message body: write: Broken pipe";
        let pos = line.len() - "Broken pipe".len();
        assert_eq!(Op::near(line, pos, None), Op::Write);
        let go = b"read tcp 10.0.0.1:1->10.0.0.2:25: read: connection reset by peer";
        assert_eq!(Op::near(go, 40, None), Op::Read);
        let after = b"Connection reset while reading response";
        assert_eq!(Op::near(after, 0, None), Op::Read);
        // What the error implies beats a word after it.
        let zk = b"errno=111(Connection refused): server refused to accept the client";
        assert_eq!(Op::near(zk, 10, Some(Op::Connect)), Op::Connect);
        assert_eq!(
            Op::near(b"java.net.SocketException: Connection reset", 26, None),
            Op::Unknown
        );
    }

    #[test]
    fn overlong_words_are_not_ops() {
        assert_eq!(Op::from_word(&[b'a'; 100]), None);
        assert_eq!(Op::from_word(b""), None);
    }
}
