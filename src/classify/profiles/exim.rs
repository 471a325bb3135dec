//! Exim main log. Linux numbering; negative numbers in `defer (<n>)` are
//! Exim's own codes, not errnos, and change between versions.

use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[
    // "retry time not reached for any host": no attempt was made.
    RuleSpec::repeat(
        "exim.retry_not_reached",
        Gate::Literals(&["retry time not reached"]),
        r"retry time not reached",
    ),
    RuleSpec::event(
        "exim.defer",
        Gate::Literals(&["defer ("]),
        r"\bdefer \((?P<errno>-?[0-9]{1,9})\): (?P<text>.*)",
    )
    .strict(),
];
