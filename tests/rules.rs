//! The shipped alerting artefacts, checked by the tools that consume them:
//! `promtool check rules` / `test rules` / `check config`, `amtool
//! check-config`, and `dashboards/check.py` (the dashboards' structure).
//! Plus what those tools cannot see: every alert has a unit test where it
//! fires and one where it must not, carries summary, description and
//! runbook_url, and its runbook anchor is a section of the runbook.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::require;

const RULES: &str = "deploy/prometheus/rules/gateway.rules.yml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd` in the crate root; returns the output and its stdout+stderr.
fn run(cmd: &mut Command) -> (Output, String) {
    let out = cmd.current_dir(root()).output().expect("run tool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// `deploy/prometheus/tests/*.yml`, sorted.
fn unit_test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/prometheus/tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no promtool unit tests");
    files
}

fn yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every alerting rule of the shipped rules file.
fn alert_rules() -> Vec<serde_json::Value> {
    let rules = yaml(&root().join(RULES));
    let alerts: Vec<serde_json::Value> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .filter(|r| r.get("alert").is_some())
        .collect();
    assert!(!alerts.is_empty());
    alerts
}

#[test]
fn promtool_check_rules_is_clean() {
    let Some(promtool) = require("promtool") else {
        return;
    };
    // --lint=all --lint-fatal: a lint finding (duplicate rules, ...) is an
    // error, not a warning that scrolls by.
    let (out, text) =
        run(Command::new(promtool).args(["check", "rules", "--lint=all", "--lint-fatal", RULES]));
    println!("{text}");
    assert!(out.status.success(), "promtool check rules failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("warn"),
        "promtool check rules warned:\n{text}"
    );
}

#[test]
fn promtool_unit_tests_pass() {
    let Some(promtool) = require("promtool") else {
        return;
    };
    let files = unit_test_files();
    let (out, text) = run(Command::new(promtool).args(["test", "rules"]).args(&files));
    println!("{text}");
    assert!(out.status.success(), "promtool test rules failed:\n{text}");
    assert_eq!(
        text.matches("SUCCESS").count(),
        files.len(),
        "every file must report SUCCESS:\n{text}"
    );
    assert!(!text.contains("FAILED"), "{text}");
}

/// promtool only runs the cases that exist: this checks that every alert
/// has a case where it fires and one where it must not, and that the
/// escalation alert is proven for both of its reasons.
#[test]
fn every_alert_is_unit_tested_firing_and_silent() {
    let mut firing = std::collections::BTreeMap::<String, Vec<serde_json::Value>>::new();
    let mut silent = std::collections::BTreeSet::<String>::new();
    for file in unit_test_files() {
        let doc = yaml(&file);
        for case in doc["tests"].as_array().unwrap() {
            for t in case["alert_rule_test"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let name = t["alertname"].as_str().unwrap().to_string();
                match t["exp_alerts"].as_array() {
                    Some(a) if !a.is_empty() => firing.entry(name).or_default().extend(a.clone()),
                    _ => {
                        silent.insert(name);
                    }
                }
            }
        }
    }
    for rule in alert_rules() {
        let name = rule["alert"].as_str().unwrap();
        assert!(
            firing.contains_key(name),
            "{name}: no unit test where it fires"
        );
        assert!(
            silent.contains(name),
            "{name}: no unit test where it must not fire"
        );
    }
    let reasons: std::collections::BTreeSet<&str> = firing["GatewaySocketNotConnectedFrequent"]
        .iter()
        .filter_map(|a| a["exp_labels"]["reason"].as_str())
        .collect();
    assert!(
        reasons.contains("windows") && reasons.contains("after_restart"),
        "GatewaySocketNotConnectedFrequent must be tested for both reasons, got {reasons:?}"
    );
}

/// Every alert carries summary, description and a runbook_url whose anchor
/// is a section (`## AlertName`) of the runbook the exporter serves.
#[test]
fn every_alert_links_to_its_own_runbook_section() {
    let runbook = std::fs::read_to_string(root().join("deploy/runbooks/gateway.md")).unwrap();
    let headings: Vec<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    for rule in alert_rules() {
        let name = rule["alert"].as_str().unwrap();
        let annotations = &rule["annotations"];
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                annotations[key]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{name}: annotation {key} missing"
            );
        }
        let severity = rule["labels"]["severity"].as_str().unwrap_or("");
        assert!(
            ["info", "warning", "critical"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        let anchor = name.to_lowercase();
        let url = annotations["runbook_url"].as_str().unwrap();
        assert!(
            url.ends_with(&format!("#{anchor}")),
            "{name}: runbook_url {url} does not end in #{anchor}"
        );
        assert!(
            headings.contains(&anchor),
            "{name}: the runbook has no section '## {name}'"
        );
    }
}

#[test]
fn dashboards_are_structurally_valid() {
    let Some(python) = require("python3") else {
        return;
    };
    let (out, text) = run(Command::new(python).arg("dashboards/check.py"));
    println!("{text}");
    assert!(out.status.success(), "dashboards/check.py failed:\n{text}");
    assert!(text.contains("OK: 2 dashboards"), "{text}");
}

#[test]
fn example_prometheus_config_is_valid() {
    let Some(promtool) = require("promtool") else {
        return;
    };
    // Also checks the rule files it loads (relative to the config).
    let (out, text) = run(Command::new(promtool).args([
        "check",
        "config",
        "--lint=all",
        "--lint-fatal",
        "deploy/prometheus/prometheus.yml",
    ]));
    println!("{text}");
    assert!(
        out.status.success(),
        "promtool check config failed:\n{text}"
    );
    assert!(text.contains("1 rule files found"), "{text}");
    assert!(!text.to_ascii_lowercase().contains("warn"), "{text}");
}

#[test]
fn example_alertmanager_config_is_valid() {
    // Debian's prometheus-alertmanager ships amtool beside the server.
    let Some(amtool) = require("amtool") else {
        return;
    };
    let (out, text) =
        run(Command::new(amtool).args(["check-config", "deploy/alertmanager/alertmanager.yml"]));
    println!("{text}");
    assert!(out.status.success(), "amtool check-config failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
    assert!(text.contains("2 receivers"), "{text}");
}
