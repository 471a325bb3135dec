#!/usr/bin/env python3
"""Validate the Grafana dashboards in this directory, and list their PromQL.

    python3 dashboards/check.py                 # structural checks; exit 1 on a problem
    python3 dashboards/check.py --exprs         # ... then print every PromQL expression, one per line
    python3 dashboards/check.py --query URL     # ... and run each against the Prometheus at URL

Structural checks, per dashboard: uid present, well-formed and unique across files; panel ids
unique; every panel has a gridPos inside the 24-column grid and no two overlap; every datasource
reference is the `${datasource}` variable (the only exceptions: Grafana's built-in annotation, and
the datasource variable's default, which is the `${DS_PROMETHEUS}` import input); `__inputs`
declares that input; the variables datasource, job, instance (multi) and source exist; every
panel that queries has targets and every target has an expr; tags are set.

`--exprs` prints the expressions of panels, annotations and variables (`label_values(m, l)` and
`query_result(e)` reduced to their PromQL), with the dashboard variables replaced by values that
make each a plain PromQL query: `$job`, `$instance`, `$source` by `.*`, `$__rate_interval` by 5m
(`--rate-interval` to change), `$__interval` by 1m, `$__range` by 1h. Whitespace is collapsed so
each expression is one line. An end-to-end test runs these against a real Prometheus; promtool
has no expression checker, so that is where the syntax is proven.

`--query URL` runs each expression as an instant query and prints `data`, `empty` or `error`
before it; the exit status is 1 if any query errs (empty results are fine: some metrics exist
only on Linux hosts with socket statistics configured).

Python 3 standard library only.
"""

import argparse
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

DATASOURCE_VARIABLE_REFS = {"${datasource}", "$datasource"}
BUILTIN_GRAFANA_DS = {"type": "grafana", "uid": "-- Grafana --"}
IMPORT_INPUT = "${DS_PROMETHEUS}"
REQUIRED_VARIABLES = ("datasource", "job", "instance", "source")
UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
GRID_COLUMNS = 24
# Panels that show no query results.
NON_QUERY_PANELS = {"row", "text", "news", "dashlist", "alertlist"}


def all_panels(dashboard):
    """Top-level panels and the panels inside (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def check_grid(name, panels, problems):
    boxes = []
    for panel in panels:
        grid = panel.get("gridPos")
        label = f"{name}: panel {panel.get('id')} {panel.get('title')!r}"
        if not isinstance(grid, dict) or not all(
            isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")
        ):
            problems.append(f"{label}: gridPos missing or not integers x, y, w, h")
            continue
        x, y, w, h = grid["x"], grid["y"], grid["w"], grid["h"]
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > GRID_COLUMNS:
            problems.append(f"{label}: gridPos {grid} outside the {GRID_COLUMNS}-column grid")
        for other_label, (ox, oy, ow, oh) in boxes:
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                problems.append(f"{label}: gridPos overlaps {other_label}")
        boxes.append((label, (x, y, w, h)))


def check_datasources(name, node, path, problems):
    """Every `datasource` value anywhere must be the variable."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if key == "datasource" and value is not None:
                ok = (
                    isinstance(value, dict)
                    and (
                        value.get("uid") in DATASOURCE_VARIABLE_REFS
                        or {k: value.get(k) for k in ("type", "uid")} == BUILTIN_GRAFANA_DS
                    )
                ) or (isinstance(value, str) and value in DATASOURCE_VARIABLE_REFS)
                if not ok:
                    problems.append(
                        f"{name}: {where} is {json.dumps(value)}, expected the ${{datasource}} variable"
                    )
            elif isinstance(value, str) and IMPORT_INPUT in value:
                problems.append(f"{name}: {where} uses {IMPORT_INPUT}; use ${{datasource}}")
            else:
                check_datasources(name, value, where, problems)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            check_datasources(name, item, f"{path}[{i}]", problems)


def check_dashboard(name, dashboard, uids, problems):
    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not UID_RE.match(uid):
        problems.append(f"{name}: uid {uid!r} missing or not 1-40 of [A-Za-z0-9_-]")
    elif uid in uids:
        problems.append(f"{name}: uid {uid!r} also used by {uids[uid]}")
    else:
        uids[uid] = name
    for key in ("title", "tags", "schemaVersion", "templating", "panels"):
        if not dashboard.get(key):
            problems.append(f"{name}: {key} missing or empty")
    if dashboard.get("id") is not None:
        problems.append(f"{name}: id must be null or absent (Grafana assigns it)")
    inputs = dashboard.get("__inputs", [])
    if not any(i.get("name") == "DS_PROMETHEUS" and i.get("type") == "datasource" for i in inputs):
        problems.append(f"{name}: __inputs lacks the DS_PROMETHEUS datasource input (import)")

    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    for required in REQUIRED_VARIABLES:
        if required not in variables:
            problems.append(f"{name}: variable {required!r} missing")
    if variables.get("datasource", {}).get("type") not in (None, "datasource"):
        problems.append(f"{name}: variable 'datasource' must be of type datasource")
    if "instance" in variables and not variables["instance"].get("multi"):
        problems.append(f"{name}: variable 'instance' must allow several values (multi)")

    ids = {}
    for panel in all_panels(dashboard):
        label = f"{name}: panel {panel.get('id')} {panel.get('title')!r}"
        pid = panel.get("id")
        if not isinstance(pid, int):
            problems.append(f"{label}: id missing")
        elif pid in ids:
            problems.append(f"{label}: id also used by {ids[pid]!r}")
        else:
            ids[pid] = panel.get("title")
        if not panel.get("title"):
            problems.append(f"{label}: title missing")
        if panel.get("type") in NON_QUERY_PANELS:
            continue
        targets = panel.get("targets")
        if not targets:
            problems.append(f"{label}: no targets")
            continue
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            problems.append(f"{label}: duplicate refId in {refs}")
        for target in targets:
            if not str(target.get("expr", "")).strip():
                problems.append(f"{label}: target {target.get('refId')} has no expr")

    check_grid(name, dashboard.get("panels", []), problems)
    for row in dashboard.get("panels", []):
        if row.get("type") == "row" and row.get("collapsed") and row.get("panels"):
            check_grid(f"{name} (row {row.get('title')!r})", row["panels"], problems)
    # The datasource variable's default is the one place the import input
    # may appear: importing fills it in, provisioning falls back to the
    # default Prometheus data source.
    walked = json.loads(json.dumps(dashboard))
    for variable in walked.get("templating", {}).get("list", []):
        if variable.get("type") == "datasource":
            variable.pop("current", None)
    check_datasources(name, walked, "", problems)


def variable_expr(query):
    """The PromQL inside a Prometheus variable query, or None."""
    if isinstance(query, dict):
        query = query.get("query", "")
    query = (query or "").strip()
    m = re.fullmatch(r"label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)", query, re.S)
    if m:
        return m.group(1).strip()
    m = re.fullmatch(r"query_result\((.*)\)", query, re.S)
    if m:
        return m.group(1).strip()
    return None  # label_values(label), label_names(), metrics(...): no PromQL


def substitute(expr, rate_interval):
    values = {
        "__rate_interval": rate_interval,
        "__interval": "1m",
        "__range": "1h",
        "__range_s": "3600",
        "__interval_ms": "60000",
    }

    def repl(m):
        var = m.group(1) or m.group(2)
        return values.get(var, ".*")

    expr = re.sub(r"\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)", repl, expr)
    return " ".join(expr.split())


def expressions(dashboard):
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            expr = variable_expr(variable.get("query") or variable.get("definition"))
            if expr:
                yield expr
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            yield annotation["expr"]
    for panel in all_panels(dashboard):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                yield target["expr"]


def run_query(base_url, expr):
    url = base_url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as err:
        try:
            return "error", json.load(err).get("error", str(err))
        except ValueError:
            return "error", str(err)
    except (urllib.error.URLError, OSError, ValueError) as err:
        return "error", str(err)
    if body.get("status") != "success":
        return "error", body.get("error", "unknown")
    result = body.get("data", {}).get("result")
    return ("data" if result not in ([], None) else "empty"), ""


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="dashboard JSON files (default: *.json beside this script)")
    parser.add_argument("--exprs", action="store_true", help="print every PromQL expression, one per line")
    parser.add_argument("--query", metavar="URL", help="run every expression against this Prometheus")
    parser.add_argument("--rate-interval", default="5m", help="value for $__rate_interval (default 5m)")
    args = parser.parse_args(argv)

    here = os.path.dirname(os.path.abspath(__file__))
    files = args.files or sorted(glob.glob(os.path.join(here, "*.json")))
    if not files:
        print("no dashboards found", file=sys.stderr)
        return 1
    problems, uids, dashboards = [], {}, []
    for path in files:
        name = os.path.basename(path)
        try:
            with open(path, encoding="utf-8") as f:
                dashboard = json.load(f)
        except (OSError, ValueError) as err:
            problems.append(f"{name}: cannot read JSON: {err}")
            continue
        check_dashboard(name, dashboard, uids, problems)
        dashboards.append(dashboard)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1

    failed = False
    seen = set()
    for dashboard in dashboards:
        for expr in expressions(dashboard):
            expr = substitute(expr, args.rate_interval)
            if expr in seen:
                continue
            seen.add(expr)
            if args.query:
                status, detail = run_query(args.query, expr)
                failed |= status == "error"
                print(f"{status}\t{expr}" + (f"\t{detail}" if detail else ""))
            elif args.exprs:
                print(expr)
    if not (args.exprs or args.query):
        print(f"OK: {len(dashboards)} dashboards, uids {', '.join(sorted(uids))}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
