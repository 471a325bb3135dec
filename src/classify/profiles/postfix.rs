//! Postfix (`postfix/smtp[pid]: ...`): text only, never a number.
//!
//! Postfix repeats a failure's reason in later lines that are not new
//! socket errors, and only the first must be counted:
//! - `connect to host[ip]:25: Connection refused` is the event;
//! - that attempt's delivery status, `status=deferred (connect to ...:
//!   Connection refused)`, repeats it;
//! - while the destination is marked dead, `postfix/error` writes
//!   `status=deferred (delivery temporarily suspended: connect to ...)` for
//!   each queued message without any connection attempt.
//!
//! A failure Postfix logs only in a status line — `lost connection with
//! host[ip] while sending message body`, `conversation with host[ip] timed
//! out while receiving the initial server greeting` — is an event, with the
//! op from the stage and UNKNOWN errname (no errno is given).

use crate::classify::op::Op;
use crate::classify::rule::{Gate, RuleSpec};

const TAG: &[&str] = &["postfix"];

pub const RULES: &[RuleSpec] = &[
    // postfix/error never connects: everything it says is a cached state.
    RuleSpec::repeat(
        "postfix.suspended",
        Gate::Literals(TAG),
        r"\bpostfix[A-Za-z0-9_.-]*/error\[[0-9]+\]: |\bstatus=[a-z]+ \(delivery temporarily suspended: ",
    ),
    RuleSpec::event(
        "postfix.lost_connection",
        Gate::Literals(TAG),
        r"\bpostfix[A-Za-z0-9_.-]*/(?:smtp|lmtp)\[[0-9]+\]: .*\bstatus=[a-z]+ \((?:lost connection with \S+|conversation with \S+ timed out) while (?P<stage>[^)]*?)\)",
    ),
    RuleSpec::repeat(
        "postfix.status_repeat",
        Gate::Literals(TAG),
        r"\bpostfix[A-Za-z0-9_.-]*/(?:smtp|lmtp)\[[0-9]+\]: .*\bstatus=[a-z]+ \(connect to ",
    ),
    RuleSpec::event(
        "postfix.connect",
        Gate::Literals(TAG),
        r"\bpostfix[A-Za-z0-9_.-]*/(?:smtp|lmtp)\[[0-9]+\]: connect to \S+: (?P<text>.+)",
    )
    .with_op(Op::Connect),
];
