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

use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[
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
