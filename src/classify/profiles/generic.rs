//! Any program: a known strerror text anywhere in the line, with the number
//! beside it when there is one (`(104: text)`, `text (104)`, `[Errno 104]`,
//! `(os error 104)`, `errno=104(text)`), or a bare number in a usual wrapper
//! (`errno=104`, `[Errno 104]`; lower case `errno` only, to keep the anchor
//! set small).
//!
//! A bare number must name a known socket errno in the configured numbering:
//! `errno=28` (ENOSPC) is a disk problem, not a socket error, so the
//! number-only rule is strict. Generic lines have no known repeat structure:
//! a program that prints one failure twice is counted twice unless a
//! profile or user rule says otherwise.

use super::{exim, postfix};
use crate::classify::rule::{Gate, RuleSpec};
use crate::errno::Dialect;

/// A Winsock number (10000–11999) right after "error" in a line that names
/// a socket, connection or Winsock call: `connection attempt failed with
/// error 10061`, `WSARecvEx() failed with error 10054`. A number of that
/// range that is no socket error of the table (11001, WSAHOST_NOT_FOUND, a
/// DNS failure) is not counted.
pub const WINSOCK_BARE: RuleSpec = RuleSpec::event(
    "generic.winsock_bare",
    Gate::Literals(&["error", "Error", "ERROR"]),
    r"(?i)(?:\b(?:connect\w*|connection|socket|send|recv)\b|\b(?P<op>WSA[a-z]+)\b)[^\r\n]{0,160}?\berror(?: code)?[ :=#]*(?P<errno>1[01][0-9]{3})\b",
)
.strict()
.numbered(Dialect::Winsock);

pub const RULES: &[RuleSpec] = &[
    // SMTP's own "protocol error" (a client's bad command, a 5.5.x reply)
    // is no EPROTO from the stack.
    RuleSpec::ignore(
        "generic.smtp_protocol_error",
        Gate::Texts,
        r"(?i)\bSMTP protocol error\b|\bsyntax or protocol errors\b|\b[45][0-9]{2}[ -](?:[45]\.[0-9]{1,3}\.[0-9]{1,3} )?protocol error\b",
    ),
    exim::SCANNER_PIPE,
    exim::INBOUND_TLS,
    // The echo shapes of the major MTAs, for logs read without their
    // profile: counted once, on the line that witnessed the failure.
    exim::RETRY_NOT_REACHED,
    exim::BOUNCE_ECHO,
    exim::ADDRESS_DEFER,
    exim::EVENT_ECHO,
    postfix::STATUS_ECHO,
    // Darwin's libnetcore (macOS): `tcp_connection_<callback> <id> <site>
    // error 60` is an errno in BSD numbering, the platform's own.
    RuleSpec::event(
        "generic.darwin_callback",
        Gate::Literals(&["error"]),
        r"\btcp_connection_[a-z_]+ [0-9]+ \S+ error (?P<errno>[0-9]{1,4})$",
    )
    .strict()
    .numbered(Dialect::Bsd),
    // libnetcore giving up before connect(): no errno, its own code.
    RuleSpec::event(
        "generic.darwin_conditions",
        Gate::Literals(&["fail"]),
        r"\btcp_connection_handle_connect_conditions_bad [0-9]+ failed: [0-9]+ - (?P<text>.+)",
    )
    .with_op(crate::classify::op::Op::Connect),
    WINSOCK_BARE,
    // `errno=111(Connection refused)`: the number is glued to the text.
    RuleSpec::event(
        "generic.errno_text",
        Gate::Literals(&["rrno"]),
        r"\berrno[=:] ?(?P<errno>-?[0-9]{1,9}) ?\((?P<text>[^)]*)\)",
    )
    .strict(),
    RuleSpec::event("generic.text", Gate::Texts, r"").text_anywhere(),
    RuleSpec::event(
        "generic.errno",
        Gate::Literals(&["rrno", "error", "Error", "ERROR"]),
        r"(?:\[Errno |\berrno[=: ] ?|\(os error |\[WinError )(?P<errno>-?[0-9]{1,9})\b",
    )
    .strict(),
];
