//! The landing page at `/`: who this is, what it has counted so far, and
//! where to go next.
//!
//! Plain HTML with an inline style: no scripts and no external assets, so
//! it works air-gapped and behind any proxy. Everything that comes from
//! outside this file (errnames, the version, URLs) is escaped, because an
//! errname can come from a user rule and a log line.

use std::fmt::Write;

/// The links the page shows, already prefixed with the external URL's path.
pub(super) struct Links<'a> {
    pub metrics: &'a str,
    pub healthy: &'a str,
    pub ready: &'a str,
    pub runbook: &'a str,
}

/// Renders the page. `totals` is sorted here (count descending, then name)
/// so the table is stable whatever order the exposition returns.
pub(super) fn render(version: &str, links: &Links<'_>, mut totals: Vec<(String, u64)>) -> String {
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut page = String::with_capacity(2048 + totals.len() * 96);
    page.push_str(concat!(
        "<!DOCTYPE html>\n",
        "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<title>gateway_exporter</title>\n",
        "<style>\n",
        "body { font-family: sans-serif; max-width: 48em; margin: 2em auto; padding: 0 1em; }\n",
        "table { border-collapse: collapse; }\n",
        "th, td { border: 1px solid #ccc; padding: 0.25em 0.75em; text-align: left; }\n",
        "td.count { text-align: right; font-variant-numeric: tabular-nums; }\n",
        "</style>\n</head>\n<body>\n",
        "<h1>gateway_exporter</h1>\n",
    ));
    let _ = writeln!(
        page,
        "<p>Version <span id=\"version\">{}</span>. Counts the socket errors that \
         mail and network gateways log, by errno and name.</p>",
        escape(version)
    );
    page.push_str(concat!(
        "<h2>Socket errors by name</h2>\n",
        "<table id=\"socket-errors\">\n",
        "<thead><tr><th scope=\"col\">errname</th><th scope=\"col\">count</th></tr></thead>\n",
        "<tbody>\n",
    ));
    if totals.is_empty() {
        page.push_str(
            "<tr class=\"empty\"><td colspan=\"2\">No socket errors counted yet.</td></tr>\n",
        );
    }
    for (errname, count) in &totals {
        let _ = writeln!(
            page,
            "<tr class=\"socket-error\"><td class=\"errname\">{}</td><td class=\"count\">{count}</td></tr>",
            escape(errname)
        );
    }
    page.push_str("</tbody>\n</table>\n<h2>Links</h2>\n<ul>\n");
    for (id, href, text) in [
        ("link-metrics", links.metrics, "Metrics"),
        ("link-healthy", links.healthy, "Health"),
        ("link-ready", links.ready, "Readiness"),
        ("link-runbook", links.runbook, "Runbook"),
    ] {
        let _ = writeln!(
            page,
            "<li><a id=\"{id}\" href=\"{}\">{text}</a> <code>{}</code></li>",
            escape(href),
            escape(href)
        );
    }
    page.push_str("</ul>\n</body>\n</html>\n");
    page
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
            vec![
                ("EPIPE".into(), 2),
                ("ECONNRESET".into(), 7),
                ("EAGAIN".into(), 2),
            ],
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
        let page = render("1.2.3", &LINKS, Vec::new());
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
        let page = render(hostile, &links, vec![(hostile.into(), 1)]);
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
    }

    #[test]
    fn has_every_link_and_no_script_or_external_asset() {
        let page = render("1", &LINKS, Vec::new());
        for href in ["/metrics", "/-/healthy", "/-/ready", "/runbook"] {
            assert!(page.contains(&format!("href=\"{href}\"")), "{href}");
        }
        assert!(!page.contains("<script"));
        assert!(!page.contains("src="));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
