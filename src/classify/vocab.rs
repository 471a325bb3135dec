//! The words that make a line read like a socket failure, for the drift
//! flag and for error texts that are not socket errors on their own.
//!
//! A line that holds a word of each list and that no rule claims is
//! [`Verdict::Unrecognized`](super::Verdict::Unrecognized): the early
//! warning that a gateway changed its format. Both lists are matched as
//! whole words (runs of letters, digits and `_`), case-insensitively, so
//! `gtconnect.net` or `send_datagram_available_ping` are no socket words, and
//! `disconnect` is not `connect`. This runs only on the rare candidate lines
//! that no rule claimed, and on text matches of ambiguous errors, never on
//! every line.
//!
//! ```
//! use gateway_exporter::classify::vocab::{looks_like_socket_failure, mentions_socket};
//! assert!(looks_like_socket_failure(b"peer went away: recv error -3"));
//! assert!(!looks_like_socket_failure(b"sshd[1]: error: PAM: Authentication failure for root"));
//! assert!(!mentions_socket(b"fsync(/var/spool/x) failed: Bad file descriptor"));
//! ```

/// Socket, connection, send/recv and peer words. A library prefix is
/// dropped (`apr_socket_recv` is `recv`).
const SOCKET_WORDS: &[&str] = &[
    "socket",
    "sockets",
    "sock",
    "connect",
    "connectx",
    "connecting",
    "connection",
    "connections",
    "send",
    "sendto",
    "sendmsg",
    "recv",
    "recvfrom",
    "recvmsg",
    "wsasend",
    "wsarecv",
    "wsarecvex",
    "peer",
    "getpeername",
    "getsockname",
    "getsockopt",
    "setsockopt",
    "accept",
    "tcp",
    "udp",
];

/// Words that say something went wrong.
const FAILURE_WORDS: &[&str] = &[
    "error",
    "errors",
    "err",
    "fail",
    "failed",
    "failure",
    "refused",
    "reset",
    "timeout",
    "timed",
    "unreachable",
    "abort",
    "aborted",
    "broken",
    "lost",
    "closed",
    "unable",
    "cannot",
];

/// Whether `line` names a socket or connection.
pub fn mentions_socket(line: &[u8]) -> bool {
    words(line).any(|w| is_in(w, &SOCKET) || last_part(w).is_some_and(|p| is_in(p, &SOCKET)))
}

/// Whether `line` reads like a socket or connection failure: a socket word
/// and a failure word.
pub fn looks_like_socket_failure(line: &[u8]) -> bool {
    let (mut socket, mut failure) = (false, false);
    for w in words(line) {
        socket = socket || is_in(w, &SOCKET) || last_part(w).is_some_and(|p| is_in(p, &SOCKET));
        failure = failure || is_in(w, &FAILURE);
        if socket && failure {
            return true;
        }
    }
    false
}

fn last_part(word: &[u8]) -> Option<&[u8]> {
    let last = word.rsplit(|b| *b == b'_').next()?;
    (last.len() < word.len()).then_some(last)
}

fn is_in(word: &[u8], list: &Words) -> bool {
    // Most words of a line have a length and first letter no list word
    // has: they are turned away before any comparison (this check was 40%
    // of a candidate line that no rule claims).
    let Some(first) = word.first().map(u8::to_ascii_lowercase) else {
        return false;
    };
    if !first.is_ascii_lowercase()
        || list
            .shapes
            .get(word.len())
            .is_none_or(|letters| letters & (1 << (first - b'a')) == 0)
    {
        return false;
    }
    list.words
        .iter()
        .any(|w| w.as_bytes().eq_ignore_ascii_case(word))
}

/// A word list, with the (length, first letter) pairs its words have.
struct Words {
    words: &'static [&'static str],
    /// Per length, a bit per first letter `a`..=`z`.
    shapes: [u32; 16],
}

impl Words {
    /// Words must be lower case, start with a letter and be shorter than
    /// 16 bytes; a list that breaks that fails to compile.
    const fn new(words: &'static [&'static str]) -> Words {
        let mut shapes = [0u32; 16];
        let mut i = 0;
        while i < words.len() {
            let w = words[i].as_bytes();
            assert!(!w.is_empty() && w.len() < 16 && w[0].is_ascii_lowercase());
            let mut k = 0;
            while k < w.len() {
                assert!(!w[k].is_ascii_uppercase());
                k += 1;
            }
            shapes[w.len()] |= 1 << (w[0] - b'a');
            i += 1;
        }
        Words { words, shapes }
    }
}

const SOCKET: Words = Words::new(SOCKET_WORDS);
const FAILURE: Words = Words::new(FAILURE_WORDS);

fn words(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|b| !super::op::is_word_byte(*b))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_are_lower_case_words() {
        for w in SOCKET_WORDS.iter().chain(FAILURE_WORDS) {
            assert!(!w.is_empty(), "an empty word");
            assert_eq!(*w, w.to_ascii_lowercase(), "{w}");
        }
        assert!(is_in(b"Connection", &SOCKET) && is_in(b"REFUSED", &FAILURE));
        assert!(!is_in(b"connections2", &SOCKET) && !is_in(b"", &FAILURE));
        assert!(!is_in(b"2socket", &SOCKET) && !is_in(b"averyveryverylongword", &FAILURE));
    }

    #[test]
    fn ordinary_system_lines_are_not_socket_failures() {
        for line in [
            "sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=h1.gtconnect.net  user=root",
            "sshd[24200]: error: Received disconnect from 192.0.2.4: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]",
            "[error] [client 192.0.2.7] Directory index forbidden by rule: /var/www/html/",
            "WindowServer[96]: send_datagram_available_ping: pid 1 failed to act on a ping it dequeued before timing out.",
            "kernel: ACPI Error: Method parse/execution failed",
        ] {
            assert!(!looks_like_socket_failure(line.as_bytes()), "{line}");
        }
    }

    #[test]
    fn socket_failures_in_unknown_formats_are() {
        for line in [
            "proxy: connection to 192.0.2.8 failed, giving up",
            "apr_socket_recv failed (-1)",
            "lost TCP session with 198.51.100.2",
            "peer 203.0.113.1 went away: error 12",
        ] {
            assert!(looks_like_socket_failure(line.as_bytes()), "{line}");
        }
    }
}
