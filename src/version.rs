//! What this build is, printed the way every Prometheus exporter prints
//! it: the `--version` block and the start-up line's fields. A leaf: the
//! values are stamped by `build.rs`.
//!
//! ```
//! let v = gateway_exporter::version::block();
//! assert!(v.starts_with("gateway_exporter, version "), "{v}");
//! assert!(v.contains("\n  build date:"));
//! ```

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("GATEWAY_EXPORTER_REVISION");
pub const BRANCH: &str = env!("GATEWAY_EXPORTER_BRANCH");
pub const RUSTC: &str = env!("GATEWAY_EXPORTER_RUSTC_VERSION");
pub const BUILD_USER: &str = env!("GATEWAY_EXPORTER_BUILD_USER");
pub const BUILD_DATE: &str = env!("GATEWAY_EXPORTER_BUILD_DATE");

/// `linux/amd64`, in Go's names as Prometheus tooling shows them.
pub fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// The `--version` output.
pub fn block() -> String {
    format!(
        "gateway_exporter, version {VERSION} (branch: {BRANCH}, revision: {REVISION})\n  \
         build user:       {BUILD_USER}\n  \
         build date:       {BUILD_DATE}\n  \
         rustc version:    {RUSTC}\n  \
         platform:         {}\n",
        platform()
    )
}

/// The start-up line's `version` field.
pub fn info() -> String {
    format!("(version={VERSION}, branch={BRANCH}, revision={REVISION})")
}

/// The start-up line's `build_context` field.
pub fn build_context() -> String {
    format!(
        "(rustc={RUSTC}, platform={}, user={BUILD_USER}, date={BUILD_DATE})",
        platform()
    )
}
