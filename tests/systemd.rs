//! The shipped systemd unit passes `systemd-analyze verify` (with its
//! ExecStart pointed at the binary under test, since the packaged path does
//! not exist here), and carries the hardening the README promises.

mod support;

use std::process::Command;

use support::{require, tmpdir};

const UNIT: &str = include_str!("../deploy/systemd/gateway_exporter.service");

#[test]
fn the_unit_verifies() {
    let Some(analyze) = require("systemd-analyze") else {
        return;
    };
    let dir = tmpdir("systemd");
    let unit = UNIT.replace(
        "/usr/bin/gateway_exporter",
        env!("CARGO_BIN_EXE_gateway_exporter"),
    );
    let path = dir.join("gateway_exporter.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(analyze)
        .args(["verify", path.to_str().unwrap()])
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    // Warnings about this unit (not about others on the host) fail too.
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("gateway_exporter.service"))
        .collect();
    assert!(ours.is_empty(), "{ours:?}");
}

#[test]
fn the_unit_is_hardened_as_documented() {
    for line in [
        "DynamicUser=yes",
        "SupplementaryGroups=adm systemd-journal",
        "StateDirectory=gateway_exporter",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX",
        "MemoryMax=",
        "LimitNOFILE=",
        "EnvironmentFile=-/etc/default/gateway_exporter",
    ] {
        assert!(
            UNIT.lines().any(|l| l.starts_with(line)),
            "the unit lacks {line}"
        );
    }
}
