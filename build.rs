//! Stamps the build with what Prometheus exporters print in `--version`
//! and `gateway_exporter_build_info`: revision, branch, rustc version,
//! build user and date (`SOURCE_DATE_EPOCH` when set, for reproducible
//! builds).

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let revision =
        output("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let branch =
        output("git", &["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| output("id", &["-un"]))
        .unwrap_or_else(|| "unknown".into());
    let host = output("hostname", &[]).unwrap_or_else(|| "unknown".into());
    let date = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => output(
            "date",
            &["-u", "-d", &format!("@{epoch}"), "+%Y%m%d-%H:%M:%S"],
        ),
        Err(_) => output("date", &["-u", "+%Y%m%d-%H:%M:%S"]),
    }
    .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GATEWAY_EXPORTER_REVISION={revision}");
    println!("cargo:rustc-env=GATEWAY_EXPORTER_BRANCH={branch}");
    println!("cargo:rustc-env=GATEWAY_EXPORTER_BUILD_USER={user}@{host}");
    println!("cargo:rustc-env=GATEWAY_EXPORTER_BUILD_DATE={date}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rustc-env=GATEWAY_EXPORTER_RUSTC_VERSION={rustc_version}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
