//! One syslog message (RFC 3164 or RFC 5424) → the line a log file would
//! have held, and the program name for the `programs:` filter.
//!
//! A file written by rsyslog holds `Mmm dd hh:mm:ss host tag[pid]: msg`,
//! and the profiles match that shape. An RFC 3164 message after its PRI is
//! already that line. An RFC 5424 message is rebuilt into it: timestamp,
//! host, `APP-NAME[PROCID]: MSG`, with structured data skipped (quoted
//! values may hold `]` and escapes) and a leading BOM dropped. Line breaks
//! inside a message become spaces: one message stays one line.

/// Why a frame or message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// No valid `<PRI>` (0..=191) at the start.
    BadPri,
    /// Longer than `max_message_bytes`.
    Oversize,
    /// The connection closed inside an octet-counted frame.
    Truncated,
    /// An octet count that is not a number.
    BadFrame,
    /// NUL bytes inside the message: not text.
    Binary,
    /// RFC 5424 header fields or structured data that do not parse.
    BadHeader,
}

impl Malformed {
    pub const ALL: [Malformed; 6] = [
        Malformed::BadPri,
        Malformed::Oversize,
        Malformed::Truncated,
        Malformed::BadFrame,
        Malformed::Binary,
        Malformed::BadHeader,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Malformed::BadPri => "bad_pri",
            Malformed::Oversize => "oversize",
            Malformed::Truncated => "truncated",
            Malformed::BadFrame => "bad_frame",
            Malformed::Binary => "binary",
            Malformed::BadHeader => "bad_header",
        }
    }
}

/// A parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// APP-NAME (5424) or TAG without `[pid]` and `:` (3164); empty when
    /// the message has none.
    pub program: String,
    /// The line as a log file would hold it, without a newline.
    pub line: Vec<u8>,
}

/// Parses one message (a datagram, or a frame's content).
pub fn parse(raw: &[u8]) -> Result<Message, Malformed> {
    // Senders end messages with LF, CRLF or NUL; none of that is content.
    let mut raw = raw;
    while let [rest @ .., b'\n' | b'\r' | 0] = raw {
        raw = rest;
    }
    if raw.contains(&0) {
        return Err(Malformed::Binary);
    }
    let rest = strip_pri(raw).ok_or(Malformed::BadPri)?;
    match rest.strip_prefix(b"1 ") {
        Some(v5424) => parse_5424(v5424),
        None => Ok(parse_3164(rest)),
    }
}

/// The message after a valid `<PRI>`.
fn strip_pri(raw: &[u8]) -> Option<&[u8]> {
    let rest = raw.strip_prefix(b"<")?;
    let end = rest.iter().take(4).position(|b| *b == b'>')?;
    let digits = &rest[..end];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // "<0>" is valid; "<01>" is not (no leading zeros).
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    let pri: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (pri <= 191).then_some(&rest[end + 1..])
}

fn one_line(b: &[u8]) -> Vec<u8> {
    b.iter()
        .map(|c| if matches!(c, b'\n' | b'\r') { b' ' } else { *c })
        .collect()
}

/// `Mmm dd hh:mm:ss` (`Dec  1 20:00:00`), as RFC 3164 writes it.
fn is_3164_time(b: &[u8]) -> bool {
    b.len() >= 15
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_lowercase()
        && b[2].is_ascii_lowercase()
        && b[3] == b' '
        && (b[4] == b' ' || b[4].is_ascii_digit())
        && b[5].is_ascii_digit()
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':'
}

/// The program of a TAG (`postfix/smtp[123]:` → `postfix/smtp`).
fn tag_program(token: &[u8]) -> String {
    let end = token
        .iter()
        .position(|b| matches!(b, b'[' | b':'))
        .unwrap_or(token.len());
    String::from_utf8_lossy(&token[..end]).into_owned()
}

fn parse_3164(rest: &[u8]) -> Message {
    let mut at = 0;
    if is_3164_time(rest) {
        at = 16.min(rest.len());
    }
    let tokens: Vec<&[u8]> = rest[at..].splitn(3, |b| *b == b' ').collect();
    // `host tag: msg`, or a sender that leaves the host out: `tag: msg`.
    let tag = match tokens.as_slice() {
        [first, ..] if first.ends_with(b":") || first.contains(&b'[') => first,
        [_, second, ..] => second,
        _ => &[][..],
    };
    Message {
        program: tag_program(tag),
        line: one_line(rest),
    }
}

/// Splits off one SP-terminated header field.
fn field(b: &[u8]) -> Result<(&[u8], &[u8]), Malformed> {
    let i = b
        .iter()
        .position(|c| *c == b' ')
        .ok_or(Malformed::BadHeader)?;
    if i == 0 {
        return Err(Malformed::BadHeader);
    }
    Ok((&b[..i], &b[i + 1..]))
}

/// The bytes after the structured data (`-` or `[id k="v" …]…`).
fn skip_structured_data(b: &[u8]) -> Result<&[u8], Malformed> {
    if let Some(rest) = b.strip_prefix(b"-") {
        return Ok(rest);
    }
    let mut i = 0;
    if b.first() != Some(&b'[') {
        return Err(Malformed::BadHeader);
    }
    while b.get(i) == Some(&b'[') {
        i += 1;
        let mut quoted = false;
        loop {
            match b.get(i) {
                None => return Err(Malformed::BadHeader),
                Some(b'\\') if quoted => i += 2,
                Some(b'"') => {
                    quoted = !quoted;
                    i += 1;
                }
                Some(b']') if !quoted => {
                    i += 1;
                    break;
                }
                Some(_) => i += 1,
            }
        }
    }
    Ok(&b[i.min(b.len())..])
}

fn parse_5424(b: &[u8]) -> Result<Message, Malformed> {
    let (timestamp, b) = field(b)?;
    let (host, b) = field(b)?;
    let (app, b) = field(b)?;
    let (procid, b) = field(b)?;
    let (_msgid, b) = field(b)?;
    let rest = skip_structured_data(b)?;
    let msg = rest.strip_prefix(b" ").unwrap_or(rest);
    let msg = msg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(msg);
    let nil = |f: &[u8]| f == b"-";
    let mut line = Vec::with_capacity(msg.len() + 64);
    for part in [timestamp, host] {
        if !nil(part) {
            line.extend_from_slice(part);
            line.push(b' ');
        }
    }
    if !nil(app) {
        line.extend_from_slice(app);
        if !nil(procid) {
            line.push(b'[');
            line.extend_from_slice(procid);
            line.push(b']');
        }
        line.extend_from_slice(b": ");
    }
    line.extend_from_slice(msg);
    Ok(Message {
        program: if nil(app) {
            String::new()
        } else {
            String::from_utf8_lossy(app).into_owned()
        },
        line: one_line(&line),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> (String, String) {
        let m = parse(raw.as_bytes()).unwrap();
        (m.program, String::from_utf8(m.line).unwrap())
    }

    #[test]
    fn rfc3164_is_the_file_line() {
        assert_eq!(
            ok("<22>Dec  1 20:00:00 mx1 postfix/smtp[4242]: 4F3A: to=<a@b>, status=deferred (connect to mx[192.0.2.1]:25: Connection refused)\n"),
            (
                "postfix/smtp".into(),
                "Dec  1 20:00:00 mx1 postfix/smtp[4242]: 4F3A: to=<a@b>, status=deferred (connect to mx[192.0.2.1]:25: Connection refused)".into()
            )
        );
        // No host: the first token is the tag.
        assert_eq!(
            ok("<13>Dec 11 20:00:00 smtpgate: ERROR write: (57) Socket is not connected").0,
            "smtpgate"
        );
        // No timestamp either.
        assert_eq!(ok("<13>gw[7]: hello").0, "gw");
    }

    #[test]
    fn rfc5424_is_rebuilt_into_the_file_shape() {
        assert_eq!(
            ok("<22>1 2026-12-01T20:00:00.123456+00:00 mx1 postfix/smtp 4242 - - connect to mx: Connection refused"),
            ("postfix/smtp".into(), "2026-12-01T20:00:00.123456+00:00 mx1 postfix/smtp[4242]: connect to mx: Connection refused".into())
        );
        // Structured data with a quoted ] and escapes, then a BOM.
        assert_eq!(
            ok("<14>1 - - gw - ID1 [x@1 a=\"b]\\\"c\\\\\"][y@2 z=\"1\"] \u{feff}ERROR write: (57) Socket is not connected").1,
            "gw: ERROR write: (57) Socket is not connected"
        );
        assert_eq!(ok("<14>1 - host app - - -").1, "host app: ");
    }

    #[test]
    fn malformed_messages_say_why() {
        for (raw, why) in [
            ("no pri here", Malformed::BadPri),
            ("<192>Dec  1 20:00:00 h t: x", Malformed::BadPri),
            ("<01>x", Malformed::BadPri),
            ("<1a>x", Malformed::BadPri),
            ("<13>1 2026-12-01T20:00:00Z host", Malformed::BadHeader),
            ("<13>1 - h a - - [unterminated", Malformed::BadHeader),
            ("<13>a\0b", Malformed::Binary),
        ] {
            assert_eq!(parse(raw.as_bytes()), Err(why), "{raw:?}");
        }
        // A trailing NUL is a terminator, not binary.
        assert!(parse(b"<13>gw: ok\0").is_ok());
    }

    #[test]
    fn a_message_stays_one_line() {
        assert_eq!(ok("<13>gw: a\nb\r\nc").1, "gw: a b  c");
    }
}
