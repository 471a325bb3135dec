//! The monitoring mixin (`deploy/mixin/mixin.libsonnet`), rendered by the
//! real `jsonnet` (Debian's): with its default `_config` it yields exactly
//! the shipped rules YAML and dashboards JSON (compared parsed, not as
//! text), and its `_config` really drives the rules' settings.

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use support::require;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `jsonnet -e EXPR` in the crate root, parsed.
fn render(jsonnet: &std::path::Path, expr: &str) -> Value {
    let out = Command::new(jsonnet)
        .current_dir(root())
        .args(["-e", expr])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "jsonnet failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const MIXIN: &str = "(import 'deploy/mixin/mixin.libsonnet')";

fn shipped_rules() -> Value {
    let text =
        std::fs::read_to_string(root().join("deploy/prometheus/rules/gateway.rules.yml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[test]
fn the_mixin_renders_exactly_the_shipped_rules() {
    let Some(jsonnet) = require("jsonnet") else {
        return;
    };
    let rules = render(&jsonnet, &format!("{MIXIN}.prometheusRules"));
    let alerts = render(&jsonnet, &format!("{MIXIN}.prometheusAlerts"));
    let mut groups = rules["groups"].as_array().unwrap().clone();
    groups.extend(alerts["groups"].as_array().unwrap().iter().cloned());
    let shipped = shipped_rules();
    assert_eq!(
        Value::Array(groups),
        shipped["groups"],
        "the mixin's prometheusRules + prometheusAlerts differ from gateway.rules.yml \
         (python3 deploy/generate.py refreshes its JSON copy)"
    );
    // Every alert is under prometheusAlerts, none under prometheusRules.
    let has_alert = |v: &Value| {
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .any(|r| r.get("alert").is_some())
    };
    assert!(has_alert(&alerts));
    assert!(!has_alert(&rules));

    // prometheusYaml, the file form, parses to the same.
    let out = Command::new(&jsonnet)
        .current_dir(root())
        .args(["-S", "-e", &format!("{MIXIN}.prometheusYaml")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let yaml: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(yaml, shipped);
}

#[test]
fn the_mixin_renders_exactly_the_shipped_dashboards() {
    let Some(jsonnet) = require("jsonnet") else {
        return;
    };
    let dashboards = render(&jsonnet, &format!("{MIXIN}.grafanaDashboards"));
    let mut names: Vec<String> = std::fs::read_dir(root().join("dashboards"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let rendered: Vec<String> = dashboards.as_object().unwrap().keys().cloned().collect();
    assert_eq!(rendered, names, "every dashboard, and only those");
    for name in names {
        let text = std::fs::read_to_string(root().join("dashboards").join(&name)).unwrap();
        let shipped: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(dashboards[&name], shipped, "{name}");
    }
}

/// `_config` is what an operator changes: each setting lands in its
/// `gateway:config:*` record, in the PromQL form the shipped rules use, and
/// promtool accepts the result.
#[test]
fn the_mixins_config_drives_the_rules_settings() {
    let Some(jsonnet) = require("jsonnet") else {
        return;
    };
    let expr = format!(
        "({MIXIN} + {{ _config+:: {{ exporterJob: 'gw-exporter', \
         runbookUrl: 'https://wiki.example.com/gw', frequentWindows: 5, \
         socketErrorsHighPerSecond: 0.05, \
         notconnSelectors: [{{op: 'write', errname: 'ENOTCONN'}}, {{op: 'send', errname: 'EPIPE'}}] }} }})"
    );
    let rules = render(&jsonnet, &format!("{expr}.prometheusRules"));
    let records: Vec<(String, String)> = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["record"].as_str().unwrap().to_string(),
                r["expr"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let get = |name: &str| -> Vec<&str> {
        records
            .iter()
            .filter(|(r, _)| r == name)
            .map(|(_, e)| e.as_str())
            .collect()
    };
    assert_eq!(
        get("gateway:config:exporter_job"),
        [r#"label_replace(vector(1), "job", "gw-exporter", "", "")"#]
    );
    assert_eq!(
        get("gateway:config:runbook_url"),
        [r#"label_replace(vector(1), "url", "https://wiki.example.com/gw", "", "")"#]
    );
    assert_eq!(get("gateway:config:frequent_windows"), ["vector(5)"]);
    assert_eq!(
        get("gateway:config:socket_errors_high_per_second"),
        ["vector(0.05)"]
    );
    assert_eq!(
        get("gateway:config:notconn_selector"),
        [
            r#"label_replace(label_replace(vector(1), "op", "write", "", ""), "errname", "ENOTCONN", "", "")"#,
            r#"label_replace(label_replace(vector(1), "op", "send", "", ""), "errname", "EPIPE", "", "")"#,
        ]
    );
    // Unchanged settings keep the shipped values.
    assert_eq!(get("gateway:config:log_stale_seconds"), ["vector(3600)"]);

    let Some(promtool) = require("promtool") else {
        return;
    };
    let out = Command::new(&jsonnet)
        .current_dir(root())
        .args(["-S", "-e", &format!("{expr}.prometheusYaml")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dir = support::tmpdir("mixin-config");
    let file = dir.join("rules.yml");
    std::fs::write(&file, &out.stdout).unwrap();
    let check = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool rejects the configured mixin:\n{}",
        String::from_utf8_lossy(&check.stdout)
    );
}
