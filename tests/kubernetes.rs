//! The Kubernetes manifests in `deploy/kubernetes/`, checked by the tools
//! that consume them: core kinds by `kubernetes-validate --strict` (the API
//! server's published schemas), the CRD kinds (PodMonitor, PrometheusRule)
//! and the Kustomization structurally, the ConfigMap's config by the
//! exporter's own `check-config`, and the PrometheusRule against the shipped
//! rules file it is generated from.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::require;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn k8s(name: &str) -> PathBuf {
    root().join("deploy/kubernetes").join(name)
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const CORE: &[&str] = &["configmap.yaml", "daemonset.yaml", "service.yaml"];

#[test]
fn core_kinds_pass_kubernetes_validate_strict() {
    let Some(tool) = require("kubernetes-validate") else {
        return;
    };
    let out = Command::new(&tool)
        .arg("--strict")
        .args(CORE.iter().map(|f| k8s(f)))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "kubernetes-validate failed:\n{text}");
    for file in CORE {
        assert!(
            text.lines().any(|l| l.contains(&format!("{file} passed"))),
            "{file} not validated:\n{text}"
        );
    }

    // The validator really looks: the DaemonSet with a misspelt field fails.
    let dir = support::tmpdir("k8s-bad");
    let bad = dir.join("daemonset.yaml");
    let original = std::fs::read_to_string(k8s("daemonset.yaml")).unwrap();
    std::fs::write(
        &bad,
        original.replace(
            "readOnlyRootFilesystem: true",
            "readOnlyRootFileSystem: true",
        ),
    )
    .unwrap();
    let out = Command::new(&tool)
        .arg("--strict")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a misspelt field passed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_configmap_holds_a_config_the_exporter_accepts() {
    let cm = yaml(&k8s("configmap.yaml"));
    let config = cm["data"]["gateway.yml"]
        .as_str()
        .expect("data.gateway.yml");
    let dir = support::tmpdir("k8s-config");
    let file = dir.join("gateway.yml");
    std::fs::write(&file, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway_exporter"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check-config failed:\n{text}");
    assert!(text.contains("OK (0 rules, 1 sources)"), "{text}");
    // It follows the host's logs where the DaemonSet mounts them.
    assert!(config.contains("/host/var/log/"), "{config}");
}

/// What the issue asks of the DaemonSet, which a schema cannot see.
#[test]
fn the_daemonset_is_hardened_and_sees_the_host() {
    let ds = yaml(&k8s("daemonset.yaml"));
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();

    // Every flag it passes is one the binary documents (an unknown flag
    // would crash-loop the pod with exit 2).
    let help = Command::new(env!("CARGO_BIN_EXE_gateway_exporter"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for a in &args {
        let flag = a.split('=').next().unwrap();
        assert!(
            help.contains(flag),
            "{flag} is not a flag of gateway_exporter"
        );
    }
    assert!(args.contains(&"--path.procfs=/host/proc"), "{args:?}");

    let mounts = |c: &Value| -> Vec<(String, String, bool)> {
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["mountPath"].as_str().unwrap().to_string(),
                    m["readOnly"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    let volume = |name: &str| -> Value {
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
            .clone()
    };
    let m = mounts(c);
    let find = |path: &str| m.iter().find(|(_, p, _)| p == path).cloned();
    let (log, _, ro) = find("/host/var/log").expect("host log mount");
    assert!(ro, "the host's logs must be mounted read-only");
    assert_eq!(volume(&log)["hostPath"]["path"], "/var/log");
    let (proc, _, ro) = find("/host/proc").expect("host /proc mount");
    assert!(ro);
    assert_eq!(volume(&proc)["hostPath"]["path"], "/proc");
    let (state, _, ro) = find("/var/lib/gateway_exporter").expect("state mount");
    assert!(!ro, "the state directory is written");
    assert!(
        volume(&state)["hostPath"]["path"].is_string(),
        "state is a hostPath"
    );
    assert!(args.contains(&"--state.dir=/var/lib/gateway_exporter"));

    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(sc["capabilities"].get("add").is_none());
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/-/healthy");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/-/ready");
    // The init container may only chown.
    for ic in pod["initContainers"].as_array().into_iter().flatten() {
        let caps = &ic["securityContext"]["capabilities"];
        assert_eq!(caps["drop"], serde_json::json!(["ALL"]));
        assert_eq!(caps["add"], serde_json::json!(["CHOWN"]));
        assert_eq!(ic["securityContext"]["readOnlyRootFilesystem"], true);
    }
}

fn assert_kind(doc: &Value, api_version: &str, kind: &str) {
    assert_eq!(doc["apiVersion"], api_version, "{doc}");
    assert_eq!(doc["kind"], kind, "{doc}");
    assert!(
        doc["metadata"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "{kind}: metadata.name"
    );
}

/// No schema for the Prometheus Operator's kinds ships with
/// kubernetes-validate: check the fields the operator requires and reads.
#[test]
fn the_podmonitor_selects_the_daemonsets_pods_by_port_name() {
    let pm = yaml(&k8s("podmonitor.yaml"));
    assert_kind(&pm, "monitoring.coreos.com/v1", "PodMonitor");
    let ds = yaml(&k8s("daemonset.yaml"));
    let pod_labels = &ds["spec"]["template"]["metadata"]["labels"];
    let selector = pm["spec"]["selector"]["matchLabels"].as_object().unwrap();
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(&pod_labels[k], v, "the selector does not match the pods");
    }
    let endpoints = pm["spec"]["podMetricsEndpoints"].as_array().unwrap();
    assert!(!endpoints.is_empty());
    let port_names: Vec<&Value> = ds["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["name"])
        .collect();
    for e in endpoints {
        assert!(
            port_names.contains(&&e["port"]),
            "endpoint port {} not a container port",
            e["port"]
        );
        assert_eq!(e["path"], "/metrics");
        // The job the rules' GatewayExporterDown watches.
        let job = e["relabelings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["targetLabel"] == "job")
            .expect("a job relabeling");
        let rules = yaml(&root().join("deploy/prometheus/rules/gateway.rules.yml"));
        let exporter_job = rules["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["record"] == "gateway:config:exporter_job")
            .unwrap()["expr"]
            .as_str()
            .unwrap()
            .to_string();
        let want = job["replacement"].as_str().unwrap();
        assert!(
            exporter_job.contains(&format!("\"job\", \"{want}\"")),
            "PodMonitor job {want} is not gateway:config:exporter_job ({exporter_job})"
        );
    }
}

#[test]
fn the_prometheusrule_holds_exactly_the_shipped_rules() {
    let pr = yaml(&k8s("prometheusrule.yaml"));
    assert_kind(&pr, "monitoring.coreos.com/v1", "PrometheusRule");
    let shipped = yaml(&root().join("deploy/prometheus/rules/gateway.rules.yml"));
    assert!(shipped["groups"].as_array().is_some_and(|g| !g.is_empty()));
    // Semantically: both parsed, every group, rule, expression and
    // annotation equal (`python3 deploy/generate.py` rewrites it).
    assert_eq!(
        pr["spec"]["groups"], shipped["groups"],
        "deploy/kubernetes/prometheusrule.yaml is stale: run python3 deploy/generate.py"
    );
}

#[test]
fn the_kustomization_lists_every_manifest() {
    let k = yaml(&k8s("kustomization.yaml"));
    assert_eq!(k["apiVersion"], "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k["kind"], "Kustomization");
    let listed: Vec<&str> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let mut present: Vec<String> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    present.sort();
    let mut listed_sorted: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed_sorted.sort();
    assert_eq!(listed_sorted, present, "kustomization resources vs files");
    // The image kustomize rewrites is the one the DaemonSet runs.
    let ds = yaml(&k8s("daemonset.yaml"));
    let image = ds["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    let name = k["images"][0]["name"].as_str().unwrap();
    assert!(image.starts_with(&format!("{name}:")), "{image} vs {name}");
}
