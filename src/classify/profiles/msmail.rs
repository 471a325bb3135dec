//! Microsoft Mail Gateway to SMTP 2.1/3.0: `ERROR <op>: (<n>) <text>` with
//! 4.3BSD numbering (KB Q100707, Q100706, Q105289).
//!
//! The same slot also carries the gateway's own codes, labelled with its own
//! texts: `ERROR write: (119) network error` (Q100708), `ERROR connect: (121)
//! network error` (Q99852), `Error (116) Network Read Error` (Q123826). Those
//! are socket failures with no errno: UNKNOWN, never read as BSD 119/121.

use crate::classify::rule::{Gate, RuleSpec};

const OWN_TEXTS: &[&str] = &["network error", "network read error", "network write error"];

pub const RULES: &[RuleSpec] = &[
    RuleSpec::event(
        "msmail",
        Gate::Literals(&["ERROR"]),
        r"\bERROR (?P<op>[A-Za-z_]{1,24}): \((?P<errno>-?[0-9]{1,9})\) ?(?P<text>.*)",
    )
    .vendor_texts(OWN_TEXTS),
    // "Error (116) Network Read Error": the op is in the text.
    RuleSpec::event(
        "msmail.code",
        Gate::Literals(&["Error"]),
        r"\bError \((?P<errno>-?[0-9]{1,9})\) (?P<stage>(?P<text>Network (?:Read|Write|Connect) Error|network error))",
    )
    .vendor_texts(OWN_TEXTS),
];
