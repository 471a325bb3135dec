//! Which path is which route, and the responses.
//!
//! Paths match exactly, as in Go's `http.ServeMux` for non-subtree paths
//! (`/metrics/` is a 404, not the metrics). Known paths answer GET and
//! HEAD; any other method gets 405 with `Allow`, unknown paths 404. The
//! runbook is always served at `/runbook` under the prefix, even when the
//! landing page links to a runbook hosted elsewhere.

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Body, Bytes};
use hyper::header::{
    ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION,
    VARY,
};
use hyper::{Method, Request, Response, StatusCode};

use super::landing::{self, Links};
use super::{Exposition, HttpConfig, HttpError, encoding, runbook};
use crate::metrics::TEXT_CONTENT_TYPE;

const PLAIN_TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Metrics,
    Landing,
    Healthy,
    Ready,
    /// `POST /-/reload`, only with `--web.enable-lifecycle`.
    Reload,
    Runbook,
    /// `GET /diagnose`, only with `--web.enable-diagnose`.
    Diagnose,
    /// `/` when an external URL moves everything under a prefix.
    ToPrefix,
}

/// Every path the server answers, with the external URL's prefix applied.
#[derive(Debug)]
pub(super) struct Routes {
    /// `""` or a path like `/gw`, never ending in `/`.
    prefix: String,
    metrics: String,
    landing: String,
    healthy: String,
    ready: String,
    /// `None` without `--web.enable-lifecycle`: the path is then a 404, as
    /// in Prometheus.
    reload: Option<String>,
    /// `None` without `--web.enable-diagnose`: a 404, like `reload`.
    diagnose: Option<String>,
    /// Where the landing page's runbook link points.
    runbook: String,
    /// Where this server answers with the runbook page.
    runbook_page: String,
    version: String,
}

impl Routes {
    pub(super) fn new(cfg: &HttpConfig) -> Result<Routes, HttpError> {
        let prefix = match &cfg.external_url {
            Some(url) => path_prefix(url)?,
            None => String::new(),
        };
        let path = &cfg.telemetry_path;
        if !path.starts_with('/') || path.contains(|c: char| c == '?' || c == '#' || c <= ' ') {
            return Err(HttpError::Config {
                field: "telemetry path",
                value: path.clone(),
                expected: "a path starting with '/', without spaces, '?' or '#'",
            });
        }
        if path == "/-/healthy" || path == "/-/ready" || path == "/runbook" {
            return Err(HttpError::Config {
                field: "telemetry path",
                value: path.clone(),
                expected: "a path other than /-/healthy, /-/ready and /runbook",
            });
        }
        let runbook = if cfg.runbook_url.starts_with('/') && !cfg.runbook_url.starts_with("//") {
            format!("{prefix}{}", cfg.runbook_url)
        } else {
            cfg.runbook_url.clone()
        };
        Ok(Routes {
            metrics: format!("{prefix}{path}"),
            landing: format!("{prefix}/"),
            healthy: format!("{prefix}/-/healthy"),
            ready: format!("{prefix}/-/ready"),
            reload: cfg.enable_lifecycle.then(|| format!("{prefix}/-/reload")),
            diagnose: cfg.enable_diagnose.then(|| format!("{prefix}/diagnose")),
            runbook,
            runbook_page: format!("{prefix}/runbook"),
            version: cfg.version.clone(),
            prefix,
        })
    }

    fn route(&self, path: &str) -> Option<Route> {
        // Metrics first: a telemetry path of "/" replaces the landing page,
        // as in node_exporter.
        if path == self.metrics {
            Some(Route::Metrics)
        } else if path == self.landing || (!self.prefix.is_empty() && path == self.prefix) {
            Some(Route::Landing)
        } else if path == self.healthy {
            Some(Route::Healthy)
        } else if path == self.ready {
            Some(Route::Ready)
        } else if self.reload.as_deref() == Some(path) {
            Some(Route::Reload)
        } else if self.diagnose.as_deref() == Some(path) {
            Some(Route::Diagnose)
        } else if path == self.runbook_page {
            Some(Route::Runbook)
        } else if path == "/" {
            Some(Route::ToPrefix)
        } else {
            None
        }
    }

    /// Answers one request. Never fails: every problem is a status code.
    pub(super) async fn respond<B>(
        &self,
        req: Request<B>,
        exp: &Arc<dyn Exposition>,
    ) -> Response<Full<Bytes>> {
        let Some(route) = self.route(req.uri().path()) else {
            return text(StatusCode::NOT_FOUND, "404 page not found\n");
        };
        if route == Route::Reload {
            return reload(req.method(), Arc::clone(exp)).await;
        }
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
                return response;
            }
        };
        let response = match route {
            Route::Metrics => {
                let gzip = encoding::accepts_gzip(req.headers().get_all(ACCEPT_ENCODING));
                metrics(Arc::clone(exp), gzip).await
            }
            Route::Landing => {
                let links = Links {
                    metrics: &self.metrics,
                    healthy: &self.healthy,
                    ready: &self.ready,
                    runbook: &self.runbook,
                };
                let page = landing::page(&self.version, &links, exp.as_ref());
                with_type(StatusCode::OK, HTML, page.into())
            }
            Route::Healthy => text(StatusCode::OK, "OK"),
            Route::Ready if exp.ready() => text(StatusCode::OK, "OK"),
            Route::Ready => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not ready: not every source has started yet.\n",
            ),
            // Answered before the method check above.
            Route::Reload => text(StatusCode::NOT_FOUND, "404 page not found\n"),
            Route::Diagnose => {
                // Redacted unless asked otherwise: the report is meant to be
                // attached to a ticket, and the URL may be shared too.
                let redact = !req
                    .uri()
                    .query()
                    .is_some_and(|q| q.split('&').any(|kv| kv == "redact=0"));
                diagnose(Arc::clone(exp), redact).await
            }
            Route::Runbook => with_type(
                StatusCode::OK,
                HTML,
                Bytes::from_static(runbook::html().as_bytes()),
            ),
            Route::ToPrefix => {
                let mut response = text(StatusCode::FOUND, "");
                if let Ok(location) = HeaderValue::from_str(&self.landing) {
                    response.headers_mut().insert(LOCATION, location);
                }
                response
            }
        };
        if head {
            without_body(response)
        } else {
            response
        }
    }
}

/// The `diagnose` report: it reads files and sleeps while sampling, so it
/// runs on its own thread, never where scrapes are answered.
async fn diagnose(exp: Arc<dyn Exposition>, redact: bool) -> Response<Full<Bytes>> {
    match super::on_own_thread(move || exp.diagnose(redact)).await {
        Some(Some(report)) => with_type(
            StatusCode::OK,
            "text/markdown; charset=utf-8",
            report.into(),
        ),
        Some(None) => text(StatusCode::NOT_FOUND, "404 page not found\n"),
        None => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the diagnose report failed\n",
        ),
    }
}

/// Prometheus' lifecycle endpoint: POST or PUT re-reads the configuration;
/// 200 when the new one runs, 500 with the reason when the old one stays.
async fn reload(method: &Method, exp: Arc<dyn Exposition>) -> Response<Full<Bytes>> {
    if *method != Method::POST && *method != Method::PUT {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "This endpoint requires a POST or PUT request.\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST, PUT"));
        return response;
    }
    // A reload stops and starts sources: not on the runtime thread that
    // accepts connections, nor in the blocking pool renders use.
    match super::on_own_thread(move || exp.reload()).await {
        Some(Ok(())) => text(StatusCode::OK, ""),
        Some(Err(reason)) => with_type(
            StatusCode::INTERNAL_SERVER_ERROR,
            PLAIN_TEXT,
            format!("failed to reload config: {reason}\n").into(),
        ),
        None => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to reload config\n",
        ),
    }
}

/// The path of an absolute `http(s)://` URL, without its trailing `/`, as
/// Prometheus derives its route prefix from `--web.external-url`.
fn path_prefix(url: &str) -> Result<String, HttpError> {
    let bad = |expected| HttpError::ExternalUrl {
        url: url.to_string(),
        expected,
    };
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| {
            url.get(..scheme.len())
                .filter(|s| s.eq_ignore_ascii_case(scheme))
                .map(|_| &url[scheme.len()..])
        })
        .ok_or_else(|| bad("an absolute URL starting with http:// or https://"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains(['?', '#']) {
        return Err(bad("a host after the scheme, like http://example.com/gw/"));
    }
    if path.contains(|c: char| c == '?' || c == '#' || c <= ' ') {
        return Err(bad("a path without spaces, query or fragment"));
    }
    Ok(path.trim_end_matches('/').to_string())
}

/// Renders (and compresses) on the blocking pool: collectors may take locks
/// or read `/proc`, and the runtime thread also runs the accept loop.
async fn metrics(exp: Arc<dyn Exposition>, gzip: bool) -> Response<Full<Bytes>> {
    let rendered = tokio::task::spawn_blocking(move || {
        let body = exp.render_metrics().into_bytes();
        if gzip {
            // Compressing into memory cannot fail short of allocation
            // failure; if it ever does, identity is still a right answer.
            if let Ok(packed) = encoding::gzip(&body) {
                return (packed, true);
            }
        }
        (body, false)
    })
    .await;
    let Ok((body, gzipped)) = rendered else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Rendering the metrics failed.\n",
        );
    };
    let mut response = with_type(StatusCode::OK, TEXT_CONTENT_TYPE, body.into());
    let headers = response.headers_mut();
    // Caches between us and a client must not serve gzip to one that did
    // not ask for it.
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzipped {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

pub(super) fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    with_type(status, PLAIN_TEXT, Bytes::from_static(body.as_bytes()))
}

fn with_type(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// HEAD gets the headers GET would, Content-Length included, and no body.
fn without_body(response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let (mut parts, body) = response.into_parts();
    if let Some(length) = body.size_hint().exact() {
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    Response::from_parts(parts, Full::new(Bytes::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(external_url: Option<&str>, telemetry_path: &str) -> Routes {
        let mut cfg = HttpConfig::new(Vec::new());
        cfg.external_url = external_url.map(str::to_string);
        cfg.telemetry_path = telemetry_path.to_string();
        Routes::new(&cfg).unwrap()
    }

    #[test]
    fn prefix_comes_from_the_external_url_path() {
        for (url, prefix) in [
            ("http://example.com", ""),
            ("http://example.com/", ""),
            ("https://example.com:8443/gw/", "/gw"),
            ("HTTP://example.com/a/b", "/a/b"),
        ] {
            assert_eq!(path_prefix(url).unwrap(), prefix, "{url}");
        }
        for url in [
            "example.com/gw",
            "/gw",
            "http:///gw",
            "http://x/g w",
            "http://x/gw?a=1",
        ] {
            assert!(
                matches!(path_prefix(url), Err(HttpError::ExternalUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn routes_without_prefix() {
        let r = routes(None, "/metrics");
        assert_eq!(r.route("/metrics"), Some(Route::Metrics));
        assert_eq!(r.route("/"), Some(Route::Landing));
        assert_eq!(r.route("/-/healthy"), Some(Route::Healthy));
        assert_eq!(r.route("/-/ready"), Some(Route::Ready));
        assert_eq!(r.route("/runbook"), Some(Route::Runbook));
        for path in ["/metrics/", "/metricsx", "/-/", "/runbook/", "", "//"] {
            assert_eq!(r.route(path), None, "{path}");
        }
    }

    #[test]
    fn routes_under_prefix() {
        let r = routes(Some("http://example.com/gw/"), "/metrics");
        assert_eq!(r.route("/gw/metrics"), Some(Route::Metrics));
        assert_eq!(r.route("/gw/"), Some(Route::Landing));
        assert_eq!(r.route("/gw"), Some(Route::Landing));
        assert_eq!(r.route("/gw/-/ready"), Some(Route::Ready));
        assert_eq!(r.route("/gw/runbook"), Some(Route::Runbook));
        assert_eq!(r.route("/"), Some(Route::ToPrefix));
        assert_eq!(r.route("/metrics"), None);
        assert_eq!(r.route("/runbook"), None);
        assert_eq!(r.route("/-/healthy"), None);
        assert_eq!(r.runbook, "/gw/runbook");
    }

    #[test]
    fn telemetry_path_at_root_replaces_the_landing_page() {
        assert_eq!(routes(None, "/").route("/"), Some(Route::Metrics));
    }

    #[test]
    fn absolute_runbook_url_is_kept() {
        let mut cfg = HttpConfig::new(Vec::new());
        cfg.external_url = Some("http://example.com/gw".into());
        cfg.runbook_url = "https://wiki.example.com/gateway".into();
        let routes = Routes::new(&cfg).unwrap();
        assert_eq!(routes.runbook, "https://wiki.example.com/gateway");
        // The page itself is still served, for alerts that link to it.
        assert_eq!(routes.route("/gw/runbook"), Some(Route::Runbook));
    }

    #[test]
    fn bad_telemetry_paths() {
        for path in ["metrics", "", "/a b", "/m?x", "/-/ready", "/runbook"] {
            let mut cfg = HttpConfig::new(Vec::new());
            cfg.telemetry_path = path.into();
            assert!(
                matches!(Routes::new(&cfg), Err(HttpError::Config { .. })),
                "{path}"
            );
        }
    }
}
