//! The runbook at `/runbook`: `deploy/runbooks/gateway.md`, embedded at
//! build time and rendered to HTML once, so every installation serves the
//! runbook its alerts link to, air-gapped or not.
//!
//! It owns a small Markdown renderer for the subset the runbook uses, and
//! nothing else: ATX headings (`#` to `######`, each with an `id` made the
//! way GitHub makes anchors, so `## GatewayLogStale` is `#gatewaylogstale`
//! here and in any GitHub or wiki copy of the file), paragraphs, `-`/`*` and
//! `1.` lists (one level; indented or lazy lines continue an item), fenced
//! code blocks, and inline `` `code` ``, `**bold**`, `[text](url)` and
//! backslash escapes. Everything else is text. All text is escaped; links
//! keep only `#fragment`, relative, `http(s)://` and `mailto:` targets, so
//! the page can carry no script whatever the file says. It must not know
//! about routes or prefixes: the page links only within itself.
//!
//! ```text
//! ## GatewayLogStale        ->  <h2 id="gatewaylogstale">GatewayLogStale</h2>
//! Run `curl` **now**.        ->  <p>Run <code>curl</code> <strong>now</strong>.</p>
//! ```

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::LazyLock;

use super::landing::escape;

/// The runbook's source, the same file the repository and wikis show.
const RUNBOOK_MARKDOWN: &str = include_str!("../../deploy/runbooks/gateway.md");

static PAGE: LazyLock<String> = LazyLock::new(|| page(RUNBOOK_MARKDOWN));

/// The whole HTML page, rendered on first use.
pub(super) fn html() -> &'static str {
    &PAGE
}

/// Wraps the rendered Markdown in a page: inline style only (no scripts, no
/// external assets), and the section a link points at highlighted, so an
/// on-call person who follows an alert's `runbook_url` sees where to read.
fn page(markdown: &str) -> String {
    let body = render(markdown);
    let mut page = String::with_capacity(body.len() + 1024);
    page.push_str(concat!(
        "<!DOCTYPE html>\n",
        "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>gateway_exporter runbook</title>\n",
        "<style>\n",
        "body { font-family: sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em; line-height: 1.45; }\n",
        "code { background: #f2f2f2; padding: 0 0.2em; }\n",
        "pre { background: #f2f2f2; padding: 0.75em; overflow-x: auto; }\n",
        "pre code { padding: 0; }\n",
        "h2 { border-top: 1px solid #ccc; padding-top: 0.75em; }\n",
        ":target { background: #fff3c4; }\n",
        "</style>\n</head>\n<body>\n",
    ));
    page.push_str(&body);
    page.push_str("</body>\n</html>\n");
    page
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Unordered,
    Ordered,
}

impl ListKind {
    fn tag(self) -> &'static str {
        match self {
            ListKind::Unordered => "ul",
            ListKind::Ordered => "ol",
        }
    }
}

/// The block being built while lines arrive.
#[derive(Debug)]
enum Open {
    Nothing,
    Paragraph(String),
    /// The list kind and the text of its current item.
    List(ListKind, String),
    Code,
}

/// Renders the Markdown subset described in the module docs to HTML.
fn render(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() * 2);
    let mut open = Open::Nothing;
    let mut slugs = Slugs::default();
    for line in markdown.lines() {
        if let Open::Code = open {
            if line.trim_start().starts_with("```") {
                out.push_str("</code></pre>\n");
                open = Open::Nothing;
            } else {
                out.push_str(&escape(line));
                out.push('\n');
            }
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            close(&mut out, &mut open);
            let lang = info.trim();
            if lang.is_empty() {
                out.push_str("<pre><code>");
            } else {
                let _ = write!(out, "<pre><code class=\"language-{}\">", escape(lang));
            }
            open = Open::Code;
        } else if trimmed.is_empty() {
            close(&mut out, &mut open);
        } else if let Some((level, text)) = heading(line) {
            close(&mut out, &mut open);
            let id = slugs.unique(&slug(text));
            let _ = writeln!(out, "<h{level} id=\"{id}\">{}</h{level}>", inline(text));
        } else if let Some((kind, text)) = list_item(line) {
            match &mut open {
                Open::List(open_kind, item) if *open_kind == kind => {
                    flush_item(&mut out, item);
                    item.push_str(text);
                }
                _ => {
                    close(&mut out, &mut open);
                    let _ = writeln!(out, "<{}>", kind.tag());
                    open = Open::List(kind, text.to_string());
                }
            }
        } else {
            match &mut open {
                // Indented and lazy lines both continue the item, as in
                // CommonMark for a paragraph inside a list item.
                Open::List(_, item) | Open::Paragraph(item) => {
                    item.push('\n');
                    item.push_str(trimmed);
                }
                Open::Nothing | Open::Code => open = Open::Paragraph(trimmed.to_string()),
            }
        }
    }
    close(&mut out, &mut open);
    out
}

/// Ends whatever block is open.
fn close(out: &mut String, open: &mut Open) {
    match std::mem::replace(open, Open::Nothing) {
        Open::Nothing => {}
        Open::Paragraph(text) => {
            let _ = writeln!(out, "<p>{}</p>", inline(&text));
        }
        Open::List(kind, mut item) => {
            flush_item(out, &mut item);
            let _ = writeln!(out, "</{}>", kind.tag());
        }
        // A fence left open at the end of the file still ends its block.
        Open::Code => out.push_str("</code></pre>\n"),
    }
}

fn flush_item(out: &mut String, item: &mut String) {
    let _ = writeln!(out, "<li>{}</li>", inline(item));
    item.clear();
}

/// `## Text` (1 to 6 `#`, then a space or the end) → level and text, with
/// an optional closing run of `#` removed.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let text = rest.trim();
    let text = text.trim_end_matches('#');
    Some((level, text.trim_end()))
}

/// `- text`, `* text` or `12. text` (at most three spaces of indent, like
/// CommonMark) → the kind of list and the item's text.
fn list_item(line: &str) -> Option<(ListKind, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    for marker in ["- ", "* "] {
        if let Some(text) = rest.strip_prefix(marker) {
            return Some((ListKind::Unordered, text.trim_start()));
        }
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        if let Some(text) = rest[digits..].strip_prefix(". ") {
            return Some((ListKind::Ordered, text.trim_start()));
        }
    }
    None
}

/// Inline Markdown → escaped HTML.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            if let Some(next) = rest[1..].chars().next().filter(char::is_ascii_punctuation) {
                out.push_str(&escape(next.encode_utf8(&mut [0; 4])));
                rest = &rest[1 + next.len_utf8()..];
                continue;
            }
        } else if c == '`' {
            // A run of n backticks closes at the next run of exactly n.
            let ticks = rest.len() - rest.trim_start_matches('`').len();
            let fence = &rest[..ticks];
            if let Some(end) = find_run(&rest[ticks..], fence) {
                let code = &rest[ticks..ticks + end];
                let code = if code.len() > 2 && code.starts_with(' ') && code.ends_with(' ') {
                    &code[1..code.len() - 1]
                } else {
                    code
                };
                let _ = write!(out, "<code>{}</code>", escape(&code.replace('\n', " ")));
                rest = &rest[ticks + end + ticks..];
                continue;
            }
            out.push_str(fence);
            rest = &rest[ticks..];
            continue;
        } else if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**").filter(|&end| end > 0) {
                let _ = write!(out, "<strong>{}</strong>", inline(&after[..end]));
                rest = &after[end + 2..];
                continue;
            }
        } else if c == '[' {
            if let Some((label, target, len)) = link(rest) {
                match safe_href(target) {
                    Some(href) => {
                        let _ = write!(out, "<a href=\"{}\">{}</a>", escape(href), inline(label));
                    }
                    None => out.push_str(&inline(label)),
                }
                rest = &rest[len..];
                continue;
            }
        }
        out.push_str(&escape(c.encode_utf8(&mut [0; 4])));
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Where the run of backticks `fence` occurs next, not as part of a longer
/// run.
fn find_run(text: &str, fence: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find(fence) {
        let start = from + at;
        let end = start + fence.len();
        let before = start > 0 && text.as_bytes()[start - 1] == b'`';
        let after = text.as_bytes().get(end) == Some(&b'`');
        if !before && !after {
            return Some(start);
        }
        from = end + text[end..].len() - text[end..].trim_start_matches('`').len();
    }
    None
}

/// `[label](target)` at the start of `text` → label, target and the length
/// consumed. Brackets in the label nest, except inside code spans; the
/// target ends at the first `)`.
fn link(text: &str) -> Option<(&str, &str, usize)> {
    let mut depth = 0usize;
    let mut label_end = None;
    let mut i = 0;
    while let Some(&b) = text.as_bytes().get(i) {
        match b {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    label_end = Some(i);
                    break;
                }
            }
            b'`' => {
                let ticks = text[i..].len() - text[i..].trim_start_matches('`').len();
                let fence = &text[i..i + ticks];
                i += ticks;
                if let Some(end) = find_run(&text[i..], fence) {
                    i += end + ticks;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let label_end = label_end?;
    let after = text[label_end + 1..].strip_prefix('(')?;
    let target_len = after.find(')')?;
    let target = after[..target_len].trim();
    if target.contains(char::is_whitespace) {
        return None;
    }
    Some((&text[1..label_end], target, label_end + 2 + target_len + 1))
}

/// Keeps a link target only if it cannot run code: a fragment, a relative
/// path, or an http(s) or mailto URL (`javascript:` and `data:` never pass).
fn safe_href(target: &str) -> Option<&str> {
    let scheme_end = target.find([':', '/', '?', '#']);
    match scheme_end {
        Some(i) if target.as_bytes()[i] == b':' => {
            let scheme = target[..i].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto").then_some(target)
        }
        _ => Some(target),
    }
}

/// GitHub's anchor for a heading: lower case; letters, digits, `-` and `_`
/// kept; spaces become `-`; everything else (markup included) dropped.
fn slug(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() || c == '-' || c == '_' {
            slug.extend(c.to_lowercase());
        } else if c == ' ' {
            slug.push('-');
        }
    }
    slug
}

/// Makes repeated anchors unique the way GitHub does: `a`, `a-1`, `a-2`.
#[derive(Debug, Default)]
struct Slugs {
    seen: HashMap<String, usize>,
}

impl Slugs {
    fn unique(&mut self, slug: &str) -> String {
        let mut candidate = slug.to_string();
        while let Some(count) = self.seen.get_mut(&candidate) {
            *count += 1;
            candidate = format!("{slug}-{count}");
        }
        self.seen.insert(candidate.clone(), 0);
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERTS: [&str; 9] = [
        "GatewaySocketNotConnected",
        "GatewaySocketNotConnectedFrequent",
        "GatewaySocketErrorsHigh",
        "GatewayLogNotReadable",
        "GatewayLogStale",
        "GatewayLogFormatDrift",
        "GatewayCheckpointFailing",
        "GatewayCollectorDown",
        "GatewayExporterDown",
    ];

    #[test]
    fn every_alert_has_its_anchor_and_advice() {
        let page = html();
        for alert in ALERTS {
            let anchor = alert.to_lowercase();
            assert!(
                page.contains(&format!("<h2 id=\"{anchor}\">{alert}</h2>")),
                "{alert}"
            );
        }
        assert!(page.contains("restart the gateway computer"));
        assert!(page.contains("check with the TCP/IP vendor"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn anchors_match_the_rules_runbook_urls() {
        let rules = include_str!("../../deploy/prometheus/rules/gateway.rules.yml");
        let page = html();
        let mut anchors = 0;
        for line in rules
            .lines()
            .filter(|l| l.trim_start().starts_with("runbook_url:"))
        {
            let anchor = line.rsplit('#').next().unwrap().trim_end_matches('\'');
            assert!(page.contains(&format!(" id=\"{anchor}\"")), "{anchor}");
            anchors += 1;
        }
        assert_eq!(anchors, ALERTS.len());
    }

    #[test]
    fn headings_get_github_anchors_unique_in_the_page() {
        assert_eq!(slug("GatewayLogStale"), "gatewaylogstale");
        assert_eq!(
            slug("The advice behind the `socket-error` alerts!"),
            "the-advice-behind-the-socket-error-alerts"
        );
        let html = render("# A b\n## A b\n### A b #\n####### not a heading\n#nope");
        assert_eq!(
            html,
            "<h1 id=\"a-b\">A b</h1>\n<h2 id=\"a-b-1\">A b</h2>\n<h3 id=\"a-b-2\">A b</h3>\n\
             <p>####### not a heading\n#nope</p>\n"
        );
    }

    #[test]
    fn paragraphs_and_lists() {
        let html =
            render("one\ntwo\n\n- a\n  continued\n- b\nlazy\n\n1. x\n2. y\n- back to bullets\n");
        assert_eq!(
            html,
            "<p>one\ntwo</p>\n\
             <ul>\n<li>a\ncontinued</li>\n<li>b\nlazy</li>\n</ul>\n\
             <ol>\n<li>x</li>\n<li>y</li>\n</ol>\n\
             <ul>\n<li>back to bullets</li>\n</ul>\n"
        );
    }

    #[test]
    fn fenced_code_is_verbatim_and_escaped() {
        let html = render("text\n```sh\ncurl -s 'x' | grep <y> **no**\n\n```\nafter");
        assert_eq!(
            html,
            "<p>text</p>\n<pre><code class=\"language-sh\">curl -s &#39;x&#39; | grep &lt;y&gt; **no**\n\
             \n</code></pre>\n<p>after</p>\n"
        );
        assert_eq!(render("```\nopen"), "<pre><code>open\n</code></pre>\n");
    }

    #[test]
    fn inline_code_bold_links_and_escapes() {
        assert_eq!(
            inline("run `a > b` **now** [here](#x) \\*not bold\\*"),
            "run <code>a &gt; b</code> <strong>now</strong> <a href=\"#x\">here</a> *not bold*"
        );
        assert_eq!(inline("``a ` b``"), "<code>a ` b</code>");
        assert_eq!(inline("`unclosed"), "`unclosed");
        assert_eq!(inline("**unclosed"), "**unclosed");
        assert_eq!(inline("[no target]"), "[no target]");
        assert_eq!(inline("[`]`](#x)"), "<a href=\"#x\"><code>]</code></a>");
        assert_eq!(
            inline("[**b** `c`](https://e.example/a?b=1&c=2)"),
            "<a href=\"https://e.example/a?b=1&amp;c=2\"><strong>b</strong> <code>c</code></a>"
        );
    }

    #[test]
    fn nothing_hostile_survives() {
        let html = render(
            "# <script>x</script>\n<img src=x onerror=alert(1)>\n\
             [a](javascript:alert(1)) [b](JavaScript:x) [c](data:text/html,x) [d](\"onmouseover=x)\n\
             `</code><script>`",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(!html.to_lowercase().contains("href=\"javascript"), "{html}");
        assert!(!html.contains("href=\"data"), "{html}");
        assert!(!html.contains("\"onmouseover"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert_eq!(safe_href("/runbook#x"), Some("/runbook#x"));
        assert_eq!(safe_href("a/b:c"), Some("a/b:c"));
        assert_eq!(
            safe_href("mailto:ops@example.com"),
            Some("mailto:ops@example.com")
        );
        assert_eq!(safe_href("vbscript:x"), None);
    }

    #[test]
    fn page_is_self_contained() {
        let page = html();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<title>gateway_exporter runbook</title>"));
        assert!(!page.contains("src="));
        assert!(!page.contains("<link"));
    }
}
