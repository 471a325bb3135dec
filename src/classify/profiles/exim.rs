//! Exim main log. Linux numbering; negative numbers in `defer (<n>)` are
//! Exim's own codes (ERRNO_SMTPCLOSED -18, ERRNO_RCPT4XX -44, ...), not
//! errnos, and change between versions.
//!
//! The witnesses are the host-level lines that transports/smtp.c writes per
//! attempt: `H=mx.example.net [192.0.2.31] Connection refused` (before 4.8x
//! without `H=`), `H=... [...]: Remote host closed connection in response to
//! EHLO ...` (EOF or ECONNRESET while waiting for a reply), `H=... [...]:
//! SMTP timeout after ...: Connection timed out`. The address-level line
//! that deliver.c writes afterwards, `== addr R=... T=... defer (110):
//! Connection timed out`, repeats the last of them; `defer (-53): retry
//! time not reached for any host` makes no attempt at all.

use crate::classify::op::Op;
use crate::classify::rule::{Gate, RuleSpec};

/// deliver.c's bounce (`**`) and defer (`==`) lines repeat the reason of
/// the host line the smtp transport logged just before; `auto` meets them
/// here, `generic` (which may see an Exim log too) shares the rules.
pub const BOUNCE_ECHO: RuleSpec = RuleSpec::repeat(
    "exim.bounce_echo",
    Gate::TextsOr(&["emote host"]),
    r" \*\* \S+ .*\b[RT]=\S+ .*: (?:Connection (?:refused|timed out|reset)|No route to host|Network is (?:unreachable|down)|Host is unreachable|Remote host closed connection|SMTP timeout after)",
);

pub const ADDRESS_DEFER: RuleSpec = RuleSpec::repeat(
    "exim.address_defer",
    Gate::TextsOr(&["emote host"]),
    r" == \S+ .*\bdefer \((?:[1-9][0-9]{0,8}|-18)\)| == \S+ .*\bdefer \([^)]*\).*: (?:Connection (?:refused|timed out|reset)|No route to host|Network is (?:unreachable|down)|Host is unreachable|Remote host closed connection)",
);

/// An event hook (`event_action` on `msg:host:defer`, `msg:defer`)
/// re-logs a deferral that the transport has just logged, quoting its
/// `$event_data`/errstr.
pub const EVENT_ECHO: RuleSpec = RuleSpec::repeat(
    "exim.event_echo",
    Gate::Texts,
    r"\b(?:host|message) deferral .*\berrstr <",
);

pub const RETRY_NOT_REACHED: RuleSpec = RuleSpec::repeat(
    "exim.retry_not_reached",
    Gate::Literals(&["retry"]),
    r"retry time not reached for any host",
);

/// A client's TLS session that closed or timed out before a word was said
/// is an inbound hang-up with no errno (the direction rule): known, not
/// counted, and no drift.
pub const INBOUND_TLS: RuleSpec = RuleSpec::ignore(
    "exim.inbound_tls",
    Gate::Texts,
    r"\bTLS error on connection from .*\(tls lib accept fn\): (?:TCP connection closed by peer|timed out)$",
);

/// A scanner run as a command talks over a pipe, not a socket.
pub const SCANNER_PIPE: RuleSpec = RuleSpec::ignore(
    "exim.scanner_pipe",
    Gate::Texts,
    r"\bunable to read from scanner \(",
);

pub const RULES: &[RuleSpec] = &[
    RETRY_NOT_REACHED,
    BOUNCE_ECHO,
    // Address-level summaries of socket failures: positive errno, or
    // ERRNO_SMTPCLOSED. SMTP-level deferrals (0, -44, -45) are not socket
    // errors at all and fall through.
    ADDRESS_DEFER,
    EVENT_ECHO,
    INBOUND_TLS,
    SCANNER_PIPE,
    RuleSpec::event(
        "exim.closed",
        Gate::Literals(&["emote host"]),
        r"(?:\[[^\]\s]+\](?::[0-9A-Z_]+)?: Remote host closed connection|Remote host \S+ \[[^\]\s]+\] closed connection) in response to ",
    )
    .with_op(Op::Read),
    RuleSpec::event(
        "exim.smtp_timeout",
        Gate::Texts,
        r"\[[^\]\s]+\](?::[0-9A-Z_]+)?: SMTP timeout after .*: (?P<text>[^:]+)$",
    )
    .with_op(Op::Read)
    .strict(),
    RuleSpec::event(
        "exim.host",
        Gate::Texts,
        r"^\S+ \S+ [0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4} (?:H=)?\S+ \[[^\]\s]+\](?::[0-9A-Z_]+)?:? (?P<text>[^:]+)$",
    )
    .with_op(Op::Connect)
    .strict(),
    // Sender/recipient verify callouts are outbound connections too.
    RuleSpec::event(
        "exim.callout",
        Gate::Texts,
        r"Could not complete (?:sender|recipient) verify callout: \S+ \[[^\]\s]+\](?::[0-9A-Z_]+)? : (?P<text>[^:]+)$",
    )
    .strict(),
    // Closed or timed out mid-callout: no errno, the op is a read. The
    // anchor starts with bytes rare in logs ("allout" cost 15% of scan
    // speed on the bench corpus: Teddy fingerprints "all").
    RuleSpec::event(
        "exim.callout_lost",
        Gate::TextsOr(&["emote host", "MTP timeout"]),
        r"Could not complete (?:sender|recipient) verify callout: \S+ \[[^\]\s]+\](?::[0-9A-Z_]+)? : (?:Remote host closed connection in response to |SMTP timeout after )",
    )
    .with_op(Op::Read),
    // Our TLS handshake as a client timed out (outbound, no errno).
    RuleSpec::event(
        "exim.tls_client_timeout",
        Gate::Texts,
        r"\bTLS session: \(tls lib connect fn\): timed out\b",
    )
    .with_op(Op::Read),
    // Content scanners reached over sockets (spamd, clamd, f-protd, ...).
    RuleSpec::event(
        "exim.spamd",
        Gate::Texts,
        r"\bspamd: failed to connect to any address for \S+: (?P<text>.+)",
    )
    .with_op(Op::Connect)
    .strict(),
    RuleSpec::event(
        "exim.scanner_socket",
        Gate::Texts,
        r"\bmalware acl condition: .* : unable to (?P<op>read|write|send|connect)\w* (?:from|to) (?:UNIX )?socket\b(?: \((?P<text>[^)]*)\))?",
    ),
    RuleSpec::event(
        "exim.scanner_answer",
        Gate::Texts,
        r"\bmalware acl condition: .* : unable to (?P<op>read) answer [0-9]+ \((?P<text>[^)]*)\)",
    )
    .strict(),
];
