//! The landing page at `/`: who this is, how each source is doing, whether
//! errors are rising, what it has counted so far, and where to go next.
//!
//! Plain HTML with an inline style and inline SVG charts: no scripts and no
//! external assets, so it works air-gapped and behind any proxy.
//! Everything that comes from outside this file (errnames, source names,
//! paths, error messages, the version, URLs) is escaped, because an errname
//! can come from a user rule and a path from the config. The data come
//! through [`Exposition`]; this file only draws them.

use std::fmt::Write;

use super::Exposition;
use crate::clock::{rfc3339_millis, unix_now};
use crate::status::{
    ErrnameHistory, HISTORY_INTERVAL, HISTORY_POINTS, HISTORY_SPAN_SECONDS, SourceStatus,
};

/// The links the page shows, already prefixed with the external URL's path.
pub(super) struct Links<'a> {
    pub metrics: &'a str,
    pub healthy: &'a str,
    pub ready: &'a str,
    pub runbook: &'a str,
}

/// Everything the page shows, gathered at one instant.
pub(super) struct Page {
    pub totals: Vec<(String, u64)>,
    pub sources: Vec<SourceStatus>,
    pub history: Vec<ErrnameHistory>,
    pub ready: bool,
    pub now: f64,
}

/// What `/-/ready` means, said once for the page (and matching
/// `View::ready` in the pipeline).
const READY_MEANING: &str = "answers 200 once the checkpoint (if any) has been restored \
    and every source has finished its first pass: it read what its logs held, or found \
    them missing. Before that it answers 503. A source whose log does not exist has \
    finished its pass, so it does not hold readiness back: it shows as down above and as \
    gateway_log_up 0 in the metrics, which is what to alert on.";

/// Gathers the page's data from `exp` and renders it.
pub(super) fn page(version: &str, links: &Links<'_>, exp: &dyn Exposition) -> String {
    render(
        version,
        links,
        Page {
            totals: exp.errname_totals(),
            sources: exp.source_statuses(),
            history: exp.errname_history(),
            ready: exp.ready(),
            now: unix_now(),
        },
    )
}

/// Renders the page. The totals are sorted here (count descending, then
/// name) so the table is stable whatever order the exposition returns.
pub(super) fn render(version: &str, links: &Links<'_>, page: Page) -> String {
    let Page {
        mut totals,
        sources,
        history,
        ready,
        now,
    } = page;
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = String::with_capacity(4096 + totals.len() * 96 + history.len() * 16_384);
    out.push_str(concat!(
        "<!DOCTYPE html>\n",
        "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<title>gateway_exporter</title>\n",
        "<style>\n",
        "body { font-family: sans-serif; max-width: 64em; margin: 2em auto; padding: 0 1em; }\n",
        "table { border-collapse: collapse; }\n",
        "th, td { border: 1px solid #ccc; padding: 0.25em 0.75em; text-align: left; }\n",
        "td.count, td.source-files { text-align: right; font-variant-numeric: tabular-nums; }\n",
        "tr.down td.source-state { color: #b00; font-weight: bold; }\n",
        "tr.up td.source-state { color: #070; }\n",
        "figure.errname-chart { margin: 1em 0; }\n",
        "figure.errname-chart svg { border: 1px solid #ddd; }\n",
        "svg .bar { fill: #c33; }\n",
        "svg .axis { stroke: #999; }\n",
        "svg text { font-size: 10px; fill: #555; }\n",
        "</style>\n</head>\n<body>\n",
        "<h1>gateway_exporter</h1>\n",
    ));
    let _ = writeln!(
        out,
        "<p>Version <span id=\"version\">{}</span>. Counts the socket errors that \
         mail and network gateways log, by errno and name.</p>",
        escape(version)
    );
    sources_table(&mut out, &sources, now);
    charts(&mut out, &history, now);
    out.push_str(concat!(
        "<h2>Socket errors by name</h2>\n",
        "<table id=\"socket-errors\">\n",
        "<thead><tr><th scope=\"col\">errname</th><th scope=\"col\">count</th></tr></thead>\n",
        "<tbody>\n",
    ));
    if totals.is_empty() {
        out.push_str(
            "<tr class=\"empty\"><td colspan=\"2\">No socket errors counted yet.</td></tr>\n",
        );
    }
    for (errname, count) in &totals {
        let _ = writeln!(
            out,
            "<tr class=\"socket-error\"><td class=\"errname\">{}</td><td class=\"count\">{count}</td></tr>",
            escape(errname)
        );
    }
    out.push_str("</tbody>\n</table>\n<h2>Readiness</h2>\n");
    let _ = writeln!(
        out,
        "<p id=\"ready-meaning\"><a href=\"{}\"><code>{}</code></a> {READY_MEANING} \
         Now: <span id=\"ready-now\">{}</span>.</p>",
        escape(links.ready),
        escape(links.ready),
        if ready { "ready" } else { "not ready" }
    );
    out.push_str("<h2>Links</h2>\n<ul>\n");
    for (id, href, text) in [
        ("link-metrics", links.metrics, "Metrics"),
        ("link-healthy", links.healthy, "Health"),
        ("link-ready", links.ready, "Readiness"),
        ("link-runbook", links.runbook, "Runbook"),
    ] {
        let _ = writeln!(
            out,
            "<li><a id=\"{id}\" href=\"{}\">{text}</a> <code>{}</code></li>",
            escape(href),
            escape(href)
        );
    }
    out.push_str("</ul>\n</body>\n</html>\n");
    out
}

/// `2026-11-28 17:43:19 UTC (5 s ago)`.
fn when(t: Option<f64>, now: f64, never: &str) -> String {
    let Some(t) = t else {
        return never.to_string();
    };
    let stamp = rfc3339_millis(t);
    // The page shows seconds; the millis and the `Z` stay in /metrics.
    let stamp = stamp.get(..19).unwrap_or(&stamp).replacen('T', " ", 1);
    let age = (now - t).max(0.0) as u64;
    let ago = match age {
        0..=119 => format!("{age} s"),
        120..=7199 => format!("{} min", age / 60),
        7200..=172_799 => format!("{} h", age / 3600),
        _ => format!("{} d", age / 86_400),
    };
    format!("{stamp} UTC ({ago} ago)")
}

fn sources_table(out: &mut String, sources: &[SourceStatus], now: f64) {
    out.push_str(concat!(
        "<h2>Sources</h2>\n",
        "<table id=\"sources\">\n<thead><tr>",
        "<th scope=\"col\">source</th><th scope=\"col\">kind</th>",
        "<th scope=\"col\">state</th><th scope=\"col\">files</th>",
        "<th scope=\"col\">last line</th><th scope=\"col\">last socket error</th>",
        "<th scope=\"col\">cannot read</th>",
        "</tr></thead>\n<tbody>\n",
    ));
    if sources.is_empty() {
        out.push_str("<tr class=\"empty\"><td colspan=\"7\">No sources.</td></tr>\n");
    }
    for s in sources {
        let state = match (s.started, s.up) {
            (false, _) => "starting",
            (true, true) => "up",
            (true, false) => "down",
        };
        let files = s.files.map_or_else(|| "-".to_string(), |n| n.to_string());
        let problems = if s.problems.is_empty() {
            "-".to_string()
        } else {
            s.problems
                .iter()
                .map(|p| format!("{}: {} ({})", p.what, p.reason, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let _ = writeln!(
            out,
            "<tr class=\"source {state}\"><td class=\"source-name\">{}</td>\
             <td class=\"source-kind\">{}</td><td class=\"source-state\">{state}</td>\
             <td class=\"source-files\">{files}</td>\
             <td class=\"source-last-line\">{}</td>\
             <td class=\"source-last-error\">{}</td>\
             <td class=\"source-problem\">{}</td></tr>",
            escape(&s.name),
            escape(&s.kind),
            escape(&when(s.last_line, now, "no line yet")),
            escape(&when(s.last_error, now, "never")),
            escape(&problems),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The errors counted in each [`HISTORY_INTERVAL`] slot of the last day,
/// oldest first, the slot in progress last. An increase between two
/// samples is put in the slot where the later one falls.
fn slots(h: &ErrnameHistory, now: f64) -> Vec<u64> {
    let interval = HISTORY_INTERVAL.as_secs_f64();
    let start = now - HISTORY_SPAN_SECONDS;
    let mut slots = vec![0u64; HISTORY_POINTS];
    for pair in h.points.windows(2) {
        let (end, increase) = (pair[1].0, pair[1].1.saturating_sub(pair[0].1));
        if increase == 0 || end <= start || end > now {
            continue;
        }
        let slot = (((end - start) / interval).ceil() as usize)
            .saturating_sub(1)
            .min(HISTORY_POINTS - 1);
        slots[slot] += increase;
    }
    slots
}

/// Slots in an hour.
const HOUR_SLOTS: usize = 3600 / HISTORY_INTERVAL.as_secs() as usize;

const CHART_WIDTH: usize = HISTORY_POINTS * 2;
const CHART_HEIGHT: usize = 80;
const BARS_HEIGHT: f64 = 56.0;
const BASELINE: f64 = 62.0;

fn charts(out: &mut String, history: &[ErrnameHistory], now: f64) {
    let _ = writeln!(
        out,
        "<h2>Watched errors, last 24 hours</h2>\n<p>Errors counted per {} minutes, \
         from this exporter's memory since it started (at most a day); the bar at \
         the right is the interval in progress.</p>",
        HISTORY_INTERVAL.as_secs() / 60
    );
    if history.is_empty() {
        out.push_str("<p class=\"empty\">No errnames are watched.</p>\n");
    }
    for h in history {
        let slots = slots(h, now);
        let day: u64 = slots.iter().sum();
        let last_hour: u64 = slots[HISTORY_POINTS - HOUR_SLOTS..].iter().sum();
        let hour_before: u64 = slots[HISTORY_POINTS - 2 * HOUR_SLOTS..HISTORY_POINTS - HOUR_SLOTS]
            .iter()
            .sum();
        let trend = match last_hour.cmp(&hour_before) {
            std::cmp::Ordering::Greater => "rising",
            std::cmp::Ordering::Less => "falling",
            std::cmp::Ordering::Equal => "steady",
        };
        let max = slots.iter().copied().max().unwrap_or(0);
        let name = escape(&h.errname);
        let _ = writeln!(
            out,
            "<figure class=\"errname-chart\" data-errname=\"{name}\">\n\
             <figcaption><strong class=\"chart-errname\">{name}</strong>: \
             <span class=\"last-hour\">{last_hour}</span> in the last hour \
             (<span class=\"trend\">{trend}</span>; {hour_before} the hour before), \
             <span class=\"last-day\">{day}</span> in 24 hours</figcaption>\n\
             <svg width=\"{CHART_WIDTH}\" height=\"{CHART_HEIGHT}\" \
             viewBox=\"0 0 {CHART_WIDTH} {CHART_HEIGHT}\" role=\"img\" \
             aria-label=\"{name}: {day} in the last 24 hours, {last_hour} in the last hour\">"
        );
        let _ = writeln!(
            out,
            "<title>{name} per {} minutes, last 24 hours</title>",
            HISTORY_INTERVAL.as_secs() / 60
        );
        if max == 0 {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"34\" text-anchor=\"middle\">none in the last 24 hours</text>",
                CHART_WIDTH / 2
            );
        } else {
            let _ = writeln!(out, "<text x=\"2\" y=\"10\">max {max} per interval</text>");
        }
        for (i, &n) in slots.iter().enumerate().filter(|(_, n)| **n > 0) {
            // Any error gets at least a pixel: one error among thousands
            // must still show.
            let height = (n as f64 / max as f64 * BARS_HEIGHT).max(1.0);
            let ago = (HISTORY_POINTS - 1 - i) * HISTORY_INTERVAL.as_secs() as usize / 60;
            let _ = writeln!(
                out,
                "<rect class=\"bar\" x=\"{}\" y=\"{:.1}\" width=\"2\" height=\"{height:.1}\">\
                 <title>{n} ({ago} min ago)</title></rect>",
                i * 2,
                BASELINE - height
            );
        }
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"0\" y1=\"{BASELINE}\" x2=\"{CHART_WIDTH}\" y2=\"{BASELINE}\"/>\n\
             <text x=\"2\" y=\"76\">24 h ago</text>\n\
             <text x=\"{}\" y=\"76\" text-anchor=\"end\">now</text>\n</svg>\n</figure>",
            CHART_WIDTH - 2
        );
    }
}

/// Escapes text for both element content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(totals: Vec<(String, u64)>) -> Page {
        Page {
            totals,
            sources: Vec::new(),
            history: Vec::new(),
            ready: true,
            now: 1_800_000_000.0,
        }
    }

    const LINKS: Links<'static> = Links {
        metrics: "/metrics",
        healthy: "/-/healthy",
        ready: "/-/ready",
        runbook: "/runbook",
    };

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x&'y")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&quot;)&lt;/script&gt;"
        );
        assert_eq!(escape("ECONNRESET"), "ECONNRESET");
    }

    #[test]
    fn table_rows_sorted_by_count_then_name() {
        let page = render(
            "1.2.3",
            &LINKS,
            totals(vec![
                ("EPIPE".into(), 2),
                ("ECONNRESET".into(), 7),
                ("EAGAIN".into(), 2),
            ]),
        );
        let reset = page.find(">ECONNRESET<").unwrap();
        let again = page.find(">EAGAIN<").unwrap();
        let pipe = page.find(">EPIPE<").unwrap();
        assert!(reset < again && again < pipe, "{page}");
        assert!(page.contains(
            "<tr class=\"socket-error\"><td class=\"errname\">ECONNRESET</td><td class=\"count\">7</td></tr>"
        ));
        assert!(page.contains("<span id=\"version\">1.2.3</span>"));
        assert!(!page.contains("No socket errors counted yet"));
    }

    #[test]
    fn empty_table_says_so() {
        let page = render("1.2.3", &LINKS, totals(Vec::new()));
        assert!(page.contains("id=\"socket-errors\""));
        assert!(page.contains("No socket errors counted yet."));
        assert!(!page.contains("class=\"socket-error\""));
    }

    #[test]
    fn nothing_dynamic_is_left_unescaped() {
        let hostile = "<script>x</script>";
        let links = Links {
            metrics: "/m\"><script>",
            ..LINKS
        };
        let page = render(hostile, &links, totals(vec![(hostile.into(), 1)]));
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
    }

    #[test]
    fn has_every_link_and_no_script_or_external_asset() {
        let page = render("1", &LINKS, full());
        for href in ["/metrics", "/-/healthy", "/-/ready", "/runbook"] {
            assert!(page.contains(&format!("href=\"{href}\"")), "{href}");
        }
        assert!(!page.contains("<script"));
        assert!(!page.contains("src="));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }

    const NOW: f64 = 1_800_000_000.0;

    fn full() -> Page {
        let step = HISTORY_INTERVAL.as_secs_f64();
        Page {
            totals: vec![("ENOTCONN".into(), 9)],
            sources: vec![
                SourceStatus {
                    name: "gw".into(),
                    kind: "file".into(),
                    started: true,
                    up: true,
                    files: Some(2),
                    last_line: Some(NOW - 5.0),
                    last_error: Some(NOW - 7200.0),
                    problems: Vec::new(),
                },
                SourceStatus {
                    name: "missing".into(),
                    kind: "file".into(),
                    started: true,
                    up: false,
                    files: Some(0),
                    last_line: None,
                    last_error: None,
                    problems: vec![crate::status::ReadProblem {
                        what: "pattern /var/log/none.log".into(),
                        reason: "not_found".into(),
                        message: "no file matches".into(),
                    }],
                },
            ],
            history: vec![
                ErrnameHistory {
                    errname: "ENOTCONN".into(),
                    // 2 errors an hour and a half ago, 7 in the interval
                    // in progress.
                    points: vec![
                        (NOW - 100.0 * step, 0),
                        (NOW - 18.0 * step, 2),
                        (NOW - 10.0, 2),
                        (NOW, 9),
                    ],
                },
                ErrnameHistory {
                    errname: "EPIPE".into(),
                    points: vec![(NOW - 10.0, 0), (NOW, 0)],
                },
            ],
            ready: true,
            now: NOW,
        }
    }

    #[test]
    fn slots_put_each_increase_where_it_was_seen() {
        let p = full();
        let s = slots(&p.history[0], NOW);
        assert_eq!(s.len(), HISTORY_POINTS);
        assert_eq!(s[HISTORY_POINTS - 1], 7);
        assert_eq!(s[HISTORY_POINTS - 19], 2);
        assert_eq!(s.iter().sum::<u64>(), 9);
        // Older than a day: not on the chart.
        let old = ErrnameHistory {
            errname: "X".into(),
            points: vec![
                (NOW - 2.0 * HISTORY_SPAN_SECONDS, 0),
                (NOW - HISTORY_SPAN_SECONDS, 5),
            ],
        };
        assert_eq!(slots(&old, NOW).iter().sum::<u64>(), 0);
    }

    #[test]
    fn sources_show_state_times_and_why_they_are_down() {
        let page = render("1", &LINKS, full());
        assert!(page.contains("<table id=\"sources\">"), "{page}");
        assert!(page.contains("<tr class=\"source up\"><td class=\"source-name\">gw</td>"));
        assert!(page.contains("<td class=\"source-files\">2</td>"));
        assert!(page.contains("(5 s ago)"), "{page}");
        assert!(
            page.contains("(120 min ago)") || page.contains("(2 h ago)"),
            "{page}"
        );
        assert!(page.contains("<tr class=\"source down\"><td class=\"source-name\">missing</td>"));
        assert!(page.contains(
            "<td class=\"source-problem\">pattern /var/log/none.log: not_found (no file matches)</td>"
        ));
        assert!(page.contains("<td class=\"source-last-line\">no line yet</td>"));
        assert!(page.contains("id=\"ready-meaning\""));
        assert!(page.contains("<span id=\"ready-now\">ready</span>"));
    }

    #[test]
    fn one_chart_per_watched_errname_with_its_bars() {
        let page = render("1", &LINKS, full());
        assert_eq!(page.matches("<figure class=\"errname-chart\"").count(), 2);
        assert_eq!(page.matches("<svg ").count(), 2);
        let enotconn = &page[page.find("data-errname=\"ENOTCONN\"").unwrap()..];
        let enotconn = &enotconn[..enotconn.find("</figure>").unwrap()];
        assert_eq!(
            enotconn.matches("<rect class=\"bar\"").count(),
            2,
            "{enotconn}"
        );
        assert!(enotconn.contains("<span class=\"last-hour\">7</span>"));
        assert!(enotconn.contains("<span class=\"trend\">rising</span>"));
        assert!(enotconn.contains("<span class=\"last-day\">9</span>"));
        // The tallest bar fills the chart; the interval in progress is the
        // last slot.
        assert!(enotconn.contains(&format!(
            "<rect class=\"bar\" x=\"{}\" y=\"6.0\" width=\"2\" height=\"56.0\">",
            (HISTORY_POINTS - 1) * 2
        )));
        let epipe = &page[page.find("data-errname=\"EPIPE\"").unwrap()..];
        let epipe = &epipe[..epipe.find("</figure>").unwrap()];
        assert!(!epipe.contains("<rect"));
        assert!(epipe.contains("none in the last 24 hours"));
    }

    #[test]
    fn hostile_source_names_and_paths_are_escaped() {
        let mut p = full();
        p.sources[1].name = "<b>x</b>".into();
        p.sources[1].problems[0].what = "pattern /<script>".into();
        p.history[0].errname = "<i>".into();
        let page = render("1", &LINKS, p);
        assert!(!page.contains("<b>x") && !page.contains("<script") && !page.contains("<i>"));
    }
}
