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

pub const RULES: &[RuleSpec] = &[
    RuleSpec::repeat(
        "exim.retry_not_reached",
        Gate::Literals(&["retry"]),
        r"retry time not reached for any host",
    ),
    // Address-level summaries of socket failures: positive errno, or
    // ERRNO_SMTPCLOSED. SMTP-level deferrals (0, -44, -45) are not socket
    // errors at all and fall through.
    RuleSpec::repeat(
        "exim.address_defer",
        Gate::TextsOr(&["emote host"]),
        r" == \S+ .*\bdefer \((?:[1-9][0-9]{0,8}|-18)\)",
    ),
    RuleSpec::event(
        "exim.closed",
        Gate::Literals(&["emote host"]),
        r"(?:\[[0-9A-Fa-f:.]+\](?::[0-9]+)?: Remote host closed connection|Remote host \S+ \[[0-9A-Fa-f:.]+\] closed connection) in response to ",
    )
    .with_op(Op::Read),
    RuleSpec::event(
        "exim.smtp_timeout",
        Gate::Texts,
        r"\[[0-9A-Fa-f:.]+\](?::[0-9]+)?: SMTP timeout after [^:]*: (?P<text>.+)",
    )
    .with_op(Op::Read)
    .strict(),
    RuleSpec::event(
        "exim.host",
        Gate::Texts,
        r"^\S+ \S+ [0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4} (?:H=)?\S+ \[[0-9A-Fa-f:.]+\](?::[0-9]+)?:? (?P<text>[^:]+)$",
    )
    .with_op(Op::Connect)
    .strict(),
];
