//! The built-in profiles: one file per log format, each a list of
//! [`RuleSpec`]s plus the numbering its program logs in.
//!
//! Adding a format means adding one file here, one arm to [`Profile`], and
//! its fixtures under `tests/fixtures/profiles/`. Rules are tried in order
//! and the first that claims a line (as an event *or* as a repeat) decides
//! it, so a profile lists its repeat rules before the rules they shadow, and
//! `auto` tries the specific profiles before `generic`.
//!
//! ```
//! use gateway_exporter::classify::Profile;
//! assert_eq!("msmail".parse::<Profile>().unwrap(), Profile::Msmail);
//! assert_eq!(Profile::Auto.members().last(), Some(&Profile::Generic));
//! ```

mod exim;
mod generic;
mod haproxy;
mod msmail;
mod nginx;
mod postfix;
mod sendmail;
mod windows;

use std::fmt;
use std::str::FromStr;

use super::rule::RuleSpec;
use crate::errno::Dialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    Auto,
    Msmail,
    Postfix,
    Exim,
    Sendmail,
    Nginx,
    Haproxy,
    Windows,
    Generic,
}

impl Profile {
    pub const ALL: [Profile; 9] = [
        Profile::Auto,
        Profile::Msmail,
        Profile::Postfix,
        Profile::Exim,
        Profile::Sendmail,
        Profile::Nginx,
        Profile::Haproxy,
        Profile::Windows,
        Profile::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Auto => "auto",
            Profile::Msmail => "msmail",
            Profile::Postfix => "postfix",
            Profile::Exim => "exim",
            Profile::Sendmail => "sendmail",
            Profile::Nginx => "nginx",
            Profile::Haproxy => "haproxy",
            Profile::Windows => "windows",
            Profile::Generic => "generic",
        }
    }

    /// The concrete profiles tried, in order: `auto` is every other one.
    pub fn members(self) -> &'static [Profile] {
        let i = Self::ALL
            .iter()
            .position(|p| *p == self)
            .expect("ALL lists every profile");
        match self {
            Profile::Auto => &Self::ALL[1..],
            _ => &Self::ALL[i..=i],
        }
    }

    /// The numbering the program logs bare numbers in.
    pub fn default_dialect(self) -> Dialect {
        match self {
            Profile::Msmail => Dialect::Bsd,
            Profile::Windows => Dialect::Winsock,
            _ => Dialect::Linux,
        }
    }

    /// Whether the program logs errno numbers in its events at all
    /// (Postfix, HAProxy, Sendmail and Exim events carry only texts).
    pub fn logs_numbers(self) -> bool {
        !matches!(
            self,
            Profile::Postfix | Profile::Haproxy | Profile::Sendmail | Profile::Exim
        )
    }

    pub fn rules(self) -> &'static [RuleSpec] {
        match self {
            Profile::Auto => &[],
            Profile::Msmail => msmail::RULES,
            Profile::Postfix => postfix::RULES,
            Profile::Exim => exim::RULES,
            Profile::Sendmail => sendmail::RULES,
            Profile::Nginx => nginx::RULES,
            Profile::Haproxy => haproxy::RULES,
            Profile::Windows => windows::RULES,
            Profile::Generic => generic::RULES,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown profile {0:?} (expected one of {names})", names = Profile::ALL.map(Profile::as_str).join(", "))]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}
