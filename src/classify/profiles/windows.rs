//! Windows programs: Winsock `WSAE…` names, `[WinError N]` (Python),
//! `(os error N)` (Rust), .NET `SocketException (N)`, and Exchange's
//! "Winsock error code: N". Winsock numbering (10000 + 4.3BSD).
//!
//! Windows usually logs the long FormatMessage sentence, often localised;
//! the number, when present, decides, so a localised sentence still counts.

use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[
    RuleSpec::event(
        "windows.wsa",
        Gate::Literals(&["WSAE"]),
        r"\b(?P<wsa>WSAE[A-Z]{2,20})\b(?:[ :]*\(?(?P<errno>1[01][0-9]{3})\)?)?",
    ),
    RuleSpec::event(
        "windows.winerror",
        Gate::Literals(&["Error"]),
        r"\[WinError (?P<errno>[0-9]{1,9})\] ?(?P<text>.*)",
    ),
    RuleSpec::event(
        "windows.socket_exception",
        Gate::Literals(&["SocketException"]),
        r"SocketException(?: \((?P<errno>(?:0x)?[0-9]{1,9})\))?:? ?(?P<text>.*)",
    ),
    RuleSpec::event(
        "windows.winsock_code",
        Gate::Literals(&["error", "Error", "ERROR"]),
        r"(?i)winsock error(?: code)?:? (?P<errno>[0-9]{1,9})",
    ),
    RuleSpec::event(
        "windows.os_error",
        Gate::Literals(&["error"]),
        r"(?P<text>[^()]*)\(os error (?P<errno>1[01][0-9]{3})\)",
    ),
];
