//! Which paths a source follows: its globs, the rotated-file patterns
//! searched for files rotated away unread, and the compressed rotations
//! that are never followed.

use std::path::{Path, PathBuf};

/// logrotate's numbered (`mail.log.1`) and dated (`mail.log-20261201`)
/// names for each pattern.
pub fn default_rotated(patterns: &[String]) -> Vec<String> {
    patterns
        .iter()
        .flat_map(|p| [format!("{p}.1"), format!("{p}-[0-9]*")])
        .collect()
}

fn is_compressed(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("gz" | "bz2" | "xz" | "zst" | "lz4" | "Z" | "zip")
    )
}

/// The paths `pattern` matches now, compressed rotations left out.
pub fn glob_files(pattern: &str) -> Result<Vec<PathBuf>, glob::PatternError> {
    Ok(glob::glob(pattern)?
        .filter_map(Result::ok)
        .filter(|p| !is_compressed(p))
        .collect())
}

/// Whether `pattern` is a glob this module can expand: the check settings
/// make before anything runs.
pub fn check_pattern(pattern: &str) -> Result<(), glob::PatternError> {
    glob::Pattern::new(pattern).map(|_| ())
}
