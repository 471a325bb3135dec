//! Postfix (`postfix/smtp[pid]: ...`): text only, never a number.
//!
//! Postfix repeats a failure's reason in later lines that are not new
//! socket errors (smtp_connect.c, smtp_trouble.c, qmgr_deliver.c):
//! - `connect to host[ip]:25: Connection refused` is logged once per address
//!   tried: each is an event;
//! - when the last address fails, `status=deferred (connect to ...)` repeats
//!   its reason once per recipient;
//! - while the destination is throttled, `postfix/error` writes
//!   `status=deferred (delivery temporarily suspended: ...)` for each queued
//!   message without any connection attempt.
//!
//! A failure Postfix logs only as a reason — `lost connection with host[ip]
//! while sending message body`, `conversation with host[ip] timed out while
//! receiving the initial server greeting` — is an event, with the op from the
//! stage and UNKNOWN errname (no errno is given). On a non-final server it
//! is a `QID: reason` line; on the final one the status line of the first
//! recipient; the same status for the next recipients of that queue file is
//! a repeat (keyed by process, queue id and reason).
//!
//! Inbound hang-ups (`postfix/smtpd: lost connection after DATA from ...`)
//! are clients going away, not the stack refusing data: not counted.

use crate::classify::op::Op;
use crate::classify::rule::{Gate, RuleSpec};

// Every Postfix line says "postfix": gating on it would make a mail
// server's whole log candidates. The rules' own words are rarer.
const GATE: Gate = Gate::TextsOr(&["lost connection", "onversation with", "suspended"]);

/// status= lines that repeat the last address's connect failure; `generic`
/// shares the rule, since it may be reading a Postfix log too.
pub const STATUS_ECHO: RuleSpec = RuleSpec::repeat(
    "postfix.status_repeat",
    GATE,
    r"\bpostfix[A-Za-z0-9_.-]*/(?:smtp|lmtp|error|retry)\[[0-9]+\]: .*\bstatus=[a-z]+ \((?:connect to |delivery temporarily suspended: )",
);

/// Inbound hang-ups and idle clients (`lost connection after DATA from`,
/// `timeout after RCPT from`): no errno, not our fault (the direction rule).
pub const INBOUND_HANGUP: RuleSpec = RuleSpec::ignore(
    "postfix.inbound_hangup",
    GATE,
    r"\bpostfix[A-Za-z0-9_.-]*/[a-z/]*(?:smtpd|postscreen)\[[0-9]+\]: (?:lost connection|timeout) after \S+ (?:\([^)]*\) )?from ",
);

pub const RULES: &[RuleSpec] = &[
    INBOUND_HANGUP,
    // postfix/error never connects: everything it says is a cached state.
    RuleSpec::repeat(
        "postfix.suspended",
        GATE,
        r"\bpostfix[A-Za-z0-9_.-]*/(?:error|retry)\[[0-9]+\]: |\bstatus=[a-z]+ \(delivery temporarily suspended: ",
    ),
    // The final server's failure is logged in the status line of every
    // recipient of the queue file; the lines of one attempt share relay,
    // delay and reason, while a retry of the same file has a new delay.
    RuleSpec::event(
        "postfix.lost_connection_status",
        GATE,
        r"\bpostfix[A-Za-z0-9_.-]*/(?:smtp|lmtp)\[[0-9]+\]: (?P<key>[0-9A-Za-z]+): to=<[^>]*>,(?: orig_to=<[^>]*>,)? (?P<key2>.*\bstatus=[a-z]+ \((?:lost connection with \S+|conversation with \S+ timed out) while (?P<stage>[^)]*)\))",
    )
    .dedupe(64),
    // A non-final server's failure: one line per attempt.
    RuleSpec::event(
        "postfix.lost_connection",
        GATE,
        r"\bpostfix[A-Za-z0-9_.-]*/(?:smtp|lmtp)\[[0-9]+\]: [0-9A-Za-z]+: (?:lost connection with \S+|conversation with \S+ timed out) while (?P<stage>.*)",
    ),
    STATUS_ECHO,
    RuleSpec::event(
        "postfix.connect",
        GATE,
        r"\bpostfix[A-Za-z0-9_.-]*/(?:smtp|lmtp|qmgr|[a-z]+)\[[0-9]+\]: (?:warning: )?connect to \S+(?: \S+)?: (?P<text>.+)",
    )
    .with_op(Op::Connect)
    .strict(),
    // TLS handshakes are the one place Postfix logs an errno text after
    // connect(): tls_client.c / tls_server.c `%m`.
    RuleSpec::event(
        "postfix.tls",
        GATE,
        r"\bpostfix[A-Za-z0-9_.-]*/[a-z/]+\[[0-9]+\]: SSL_(?:connect|accept) error (?:to|from) \S+: (?P<text>.+)",
    )
    .with_op(Op::Unknown)
    .strict(),
    // smtpd and postscreen: a socket call on an accepted connection
    // (`warning: getpeername: Transport endpoint is not connected`).
    RuleSpec::event(
        "postfix.socket_call",
        GATE,
        r"\bpostfix[A-Za-z0-9_.-]*/[a-z/]+\[[0-9]+\]: (?:warning: )?(?P<op>getpeername|getsockname|accept|read|write|recv|send|shutdown|connect)(?:\(\))?: (?P<text>.+)",
    )
    .strict(),
    // A daemon failing to reach another over a local socket
    // (`problem talking to service private/tlsmgr: Connection timed out`).
    RuleSpec::event(
        "postfix.service",
        GATE,
        r"\bpostfix[A-Za-z0-9_.-]*/[a-z/]+\[[0-9]+\]: (?:warning: )?problem talking to service \S+: (?P<text>.+)",
    )
    .strict(),
];
