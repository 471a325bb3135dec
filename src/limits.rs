//! Bounds every stage shares: how long a line may be, how many label
//! values input may create. A leaf: it imports nothing of the crate, so
//! sources, the classifier and the counters can all agree on one number.
//!
//! ```
//! use gateway_exporter::limits::{DEFAULT_MAX_LINE_BYTES, MAX_LINE_BYTES_RANGE};
//! assert!(MAX_LINE_BYTES_RANGE.contains(&DEFAULT_MAX_LINE_BYTES));
//! ```

use std::ops::RangeInclusive;

/// The default cap on a line's length; longer lines are counted and skipped.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// What the line-length cap accepts: below 64 bytes hardly a timestamp and
/// an error text fit (0 would count nothing at all); above 16 MiB one line
/// would pin 32 MiB per file (the framer holds twice the cap).
pub const MAX_LINE_BYTES_RANGE: RangeInclusive<usize> = 64..=16 * 1024 * 1024;

/// Distinct errno values outside the tables kept per source; beyond it a
/// value is counted as `errno="other"`.
pub const MAX_UNKNOWN_ERRNOS_PER_SOURCE: usize = 32;
