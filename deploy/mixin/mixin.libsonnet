// gateway_exporter as a monitoring mixin: the alerting and recording rules of
// deploy/prometheus/rules/gateway.rules.yml and the dashboards of dashboards/,
// with the settings an operator changes in `_config`.
//
// Design: the shipped YAML and JSON stay the source of truth (promtool tests,
// the runbook and the Debian package read them), and the mixin is built from
// them, so the two can never disagree: with the default `_config` it renders
// exactly the shipped files (tests/mixin.rs checks that). `_config` is not
// decoration: every `gateway:config:*` record -- the one place the rules keep
// their thresholds, selectors and runbook base -- is rendered from it, so
//
//   (import 'mixin.libsonnet') + { _config+:: { exporterJob: 'gw-exporter',
//     runbookUrl: 'https://wiki.example.com/ops/gateway-runbook' } }
//
// retargets every alert without touching a PromQL expression.
//
// prometheusRules holds the gateway.config group (constants), prometheusAlerts
// the gateway.rules group. The latter keeps its recording rules beside the
// alerts on purpose: rules in one group run in order at one timestamp, so an
// alert always reads this evaluation's sums. Load both (mixtool's rules.yaml
// and alerts.yaml, or `jsonnet -S -e '...prometheusYaml'`).
//
// Build: jsonnet -e '(import "deploy/mixin/mixin.libsonnet").prometheusAlerts'
// A JSON copy of ../prometheus/rules/gateway.rules.yml (deploy/generate.py
// writes it; Debian's jsonnet 0.18 std.parseYaml mangles block scalars).
local shipped = import 'gateway.rules.json';
local shippedGroup(name) = std.filter(function(g) g.name == name, shipped.groups)[0];

// A PromQL vector of one series with the given labels, as the shipped rules
// write it: label_replace nested once per label, innermost first.
local labelled(labels) = std.foldl(
  function(expr, kv) 'label_replace(%s, "%s", "%s", "", "")' % [expr, kv.key, kv.value],
  labels,
  'vector(1)'
);
local number(n) = 'vector(%s)' % std.format('%g', n);

{
  _config+:: {
    // (op, errname) pairs that mean "the TCP/IP stack did not accept data"
    // (KB Q100707); one gateway:config:notconn_selector series each.
    notconnSelectors: [{ op: 'write', errname: 'ENOTCONN' }],
    // The scrape job of the exporter, for GatewayExporterDown.
    exporterJob: 'gateway',
    // Base of every runbook_url; `{instance}` becomes the alert's instance.
    runbookUrl: 'http://{instance}/runbook',
    // GatewaySocketNotConnectedFrequent: errors in this many windows within
    // 24h, of this many seconds each, or again within the restart window.
    frequentWindows: 3,
    frequentWindowSeconds: 900,
    restartWindowSeconds: 86400,
    // GatewaySocketErrorsHigh: errors per second, per op and errname.
    socketErrorsHighPerSecond: 0.2,
    // GatewayLogStale: seconds without a new log line.
    logStaleSeconds: 3600,
    // GatewayLogFormatDrift: unrecognized error lines per hour.
    formatDriftLinesPerHour: 10,
  },

  local c = self._config,
  // The value of each gateway:config:* record, from _config.
  local configExpr = {
    'gateway:config:exporter_job': labelled([{ key: 'job', value: c.exporterJob }]),
    'gateway:config:runbook_url': labelled([{ key: 'url', value: c.runbookUrl }]),
    'gateway:config:frequent_windows': number(c.frequentWindows),
    'gateway:config:frequent_window_seconds': number(c.frequentWindowSeconds),
    'gateway:config:restart_window_seconds': number(c.restartWindowSeconds),
    'gateway:config:socket_errors_high_per_second': number(c.socketErrorsHighPerSecond),
    'gateway:config:log_stale_seconds': number(c.logStaleSeconds),
    'gateway:config:format_drift_lines_per_hour': number(c.formatDriftLinesPerHour),
  },
  local configRule(rule) =
    if rule.record == 'gateway:config:notconn_selector' then
      // One series per configured pair, in the order given.
      [
        rule { expr: labelled([{ key: 'op', value: s.op }, { key: 'errname', value: s.errname }]) }
        for s in c.notconnSelectors
      ]
    else if std.objectHas(configExpr, rule.record) then
      [rule { expr: configExpr[rule.record] }]
    else
      error 'mixin: gateway.config record %s has no _config setting' % rule.record,
  local configGroup = shippedGroup('gateway.config'),
  // Selector records come once per pair: keep the first in place, drop the rest.
  local firstSelector = std.filter(function(r) r.record == 'gateway:config:notconn_selector', configGroup.rules)[0],
  local configRules = std.flattenArrays([
    configRule(r)
    for r in configGroup.rules
    if r.record != 'gateway:config:notconn_selector' || r == firstSelector
  ]),

  prometheusRules+:: {
    groups+: [configGroup { rules: configRules }],
  },

  prometheusAlerts+:: {
    groups+: [shippedGroup('gateway.rules')],
  },

  // Both, in the shipped file's order: what deploy/prometheus/rules/gateway.rules.yml holds.
  prometheusYaml:: std.manifestYamlDoc({
    groups: $.prometheusRules.groups + $.prometheusAlerts.groups,
  }),

  grafanaDashboards+:: {
    'gateway-fleet.json': import '../../dashboards/gateway-fleet.json',
    'gateway-host.json': import '../../dashboards/gateway-host.json',
  },
}
