//! Microsoft Mail Gateway to SMTP 2.1/3.0 (SMTPGATE.LOG): `ERROR <op>: (<n>)
//! <text>` with 4.3BSD numbering (KB Q100707, Q100706, Q105289).
//!
//! The same slot also carries the gateway's own codes, labelled with its own
//! texts: `ERROR write: (119) network error` (Q100708), `ERROR connect: (121)
//! network error` (Q99852), `Error (116) Network Read Error` (Q123826).
//! Those are failed network calls with no errno: UNKNOWN, never read as BSD
//! 119/121.
//!
//! Repeats: Q100709 prints one receive failure on two lines (`ERROR
//! Network_read: Lost network connection`, then `SMTP_recv: system error`);
//! after its connect retries run out, the gateway writes `Warning SMTP output
//! retry count exceeded` (Q129239), which reports attempts already counted.

use crate::classify::rule::{Gate, RuleSpec};

const OWN_TEXTS: &[&str] = &["network error", "network read error", "network write error"];

pub const RULES: &[RuleSpec] = &[
    RuleSpec::repeat(
        "msmail.followup",
        Gate::Literals(&["error"]),
        r"\bSMTP_(?:recv|send): system error",
    ),
    RuleSpec::repeat(
        "msmail.retry_exceeded",
        Gate::Literals(&["retry"]),
        r"\bSMTP output retry count exceeded",
    ),
    RuleSpec::event(
        "msmail",
        Gate::Literals(&["ERROR"]),
        r"\bERROR (?P<op>[A-Za-z_]{1,24}): \((?P<errno>-?[0-9]{1,9})\)(?P<text>.*)",
    )
    .vendor_texts(OWN_TEXTS),
    // "Error (116) Network Read Error": the op is in the gateway's own text.
    RuleSpec::event(
        "msmail.code",
        Gate::Literals(&["Error"]),
        r"\bError \((?P<errno>-?[0-9]{1,9})\) (?P<stage>(?P<text>Network (?:Read|Write|Connect) Error|network error))",
    )
    .vendor_texts(OWN_TEXTS),
    // "ERROR Network_read: Lost network connection": no number at all.
    RuleSpec::event(
        "msmail.network",
        Gate::Literals(&["ERROR"]),
        r"\bERROR Network_(?P<op>read|write|connect|send|recv): (?P<stage>[A-Za-z ]+)$",
    ),
    // "SMTP_recv: protocol error" is the gateway's wording for a failed
    // receive, not EPROTO: the words are a stage, not an errno text.
    RuleSpec::event(
        "msmail.smtp_io",
        Gate::Literals(&["error"]),
        r"\bSMTP_(?P<op>recv|send): (?P<stage>protocol error|network error)",
    ),
];
