//! Sendmail: delivery status lines (`stat=Deferred: Connection refused by
//! mx.example.com.`), whose texts Sendmail rewrites with `by <host>`,
//! `with <host>` and `during <phase>` suffixes. Linux numbering.

use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[RuleSpec::event(
    "sendmail.stat",
    Gate::Texts,
    r"(?:sendmail|sm-mta|sm-msp-queue)\[[0-9]+\]: .*\bstat=[A-Za-z ]*: (?P<text>.*)",
)
.strict()];
