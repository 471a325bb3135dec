//! Any program: a known strerror text anywhere in the line, with the number
//! beside it when there is one (`(104: text)`, `text (104)`, `[Errno 104]`,
//! `(os error 104)`), or a bare number in a usual wrapper (`errno=104`).
//!
//! A bare number must name a known socket errno in the configured numbering:
//! `errno=28` (ENOSPC) is a disk problem, not a socket error, so the
//! number-only rule is strict.

use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[
    RuleSpec::event("generic.text", Gate::Texts, r"").text_anywhere(),
    RuleSpec::event(
        "generic.errno",
        Gate::Literals(&["errno", "Errno", "ERRNO", "error", "Error", "ERROR"]),
        r"(?:\[Errno |\b(?:errno|ERRNO)[=: ] ?|\(os error |\[WinError )(?P<errno>-?[0-9]{1,9})\b",
    )
    .strict(),
];
