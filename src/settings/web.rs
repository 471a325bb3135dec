//! `--web.config.file`: exporter-toolkit's web configuration, validated
//! into the HTTP layer's [`Security`].
//!
//! Every value is checked here, at its line and column, and every file it
//! names is read here, so the server never meets a bad certificate or hash
//! while serving: a file that does not load is refused at start, and on a
//! re-read the old configuration keeps serving.

use std::path::{Path, PathBuf};

use hyper::header::{HeaderName, HeaderValue};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::SettingsError;
use crate::config::{ConfigError, RawTlsServer, Spanned, WebConfigFile};
use crate::duration;
use crate::http::tls::{self, ClientAuth, Lookup, TlsSettings, TlsVersion};
use crate::http::{ALLOWED_HEADERS, RateLimit, Security, valid_bcrypt_hash};

/// A loaded web configuration.
#[derive(Debug)]
pub struct WebConfig {
    pub security: Security,
    /// Options accepted but without effect here (a cipher suite rustls
    /// does not offer, say): to be logged once.
    pub warnings: Vec<String>,
    /// The file and every file it names, to notice when one changes.
    pub files: Vec<PathBuf>,
}

/// Reads and validates the web configuration at `path`.
pub fn load(path: &Path) -> Result<WebConfig, SettingsError> {
    let raw = WebConfigFile::load(path)?;
    let file = raw.file.clone();
    let at = |s: &dyn Located, message: String| SettingsError::Config(s.error(&file, message));
    let mut warnings = Vec::new();
    let mut files = vec![path.to_path_buf()];

    let mut users = Vec::new();
    for (user, hash) in raw.basic_auth_users.iter().flatten() {
        if !valid_bcrypt_hash(&hash.value) {
            return Err(at(
                hash,
                format!(
                    "basic_auth_users.{user}: expected a bcrypt hash ($2a$, $2b$ or $2y$, as `htpasswd -nBC 10 \"\" | tr -d ':\\n'` prints)"
                ),
            ));
        }
        users.push((user.clone(), hash.value.clone()));
    }

    let mut headers = Vec::new();
    if let Some(server) = &raw.http_server_config {
        for (name, value) in &server.headers {
            let Some(allowed) = ALLOWED_HEADERS
                .iter()
                .find(|h| h.eq_ignore_ascii_case(name))
            else {
                return Err(at(
                    value,
                    format!(
                        "http_server_config.headers: {name} cannot be set; expected one of {}",
                        ALLOWED_HEADERS.join(", ")
                    ),
                ));
            };
            let v = value.value.trim();
            if v.is_empty() {
                continue;
            }
            let bad_value = match *allowed {
                "X-Frame-Options" => {
                    !v.eq_ignore_ascii_case("deny") && !v.eq_ignore_ascii_case("sameorigin")
                }
                "X-Content-Type-Options" => !v.eq_ignore_ascii_case("nosniff"),
                _ => false,
            };
            let header = HeaderValue::from_str(v);
            match header {
                Ok(h) if !bad_value => headers.push((
                    HeaderName::from_bytes(allowed.as_bytes())
                        .expect("allowed header names are valid"),
                    h,
                )),
                _ => {
                    return Err(at(
                        value,
                        format!(
                            "http_server_config.headers.{allowed}: {v:?} is not allowed{}",
                            match *allowed {
                                "X-Frame-Options" => "; expected deny or sameorigin",
                                "X-Content-Type-Options" => "; expected nosniff",
                                _ => "; expected a header value",
                            }
                        ),
                    ));
                }
            }
        }
    }

    let mut rate_limit = None;
    if let Some(limit) = &raw.rate_limit {
        let interval = match &limit.value.interval {
            Some(i) => {
                duration::parse(&i.value).map_err(|e| at(i, format!("rate_limit.interval: {e}")))?
            }
            None => std::time::Duration::ZERO,
        };
        let burst = match &limit.value.burst {
            Some(b) => u32::try_from(b.value).map_err(|_| {
                at(
                    b,
                    "rate_limit.burst: expected a count up to 4294967295".into(),
                )
            })?,
            None => 0,
        };
        if !interval.is_zero() && burst == 0 {
            return Err(at(
                limit,
                "rate_limit: burst must be at least 1 when interval is set".into(),
            ));
        }
        rate_limit = Some(RateLimit { interval, burst });
    }

    let tls = match &raw.tls_server_config {
        None => None,
        Some(t) => Some(tls_settings(&raw, t, &mut warnings, &mut files)?),
    };
    Ok(WebConfig {
        security: Security {
            tls,
            users,
            headers,
            rate_limit,
        },
        warnings,
        files,
    })
}

fn tls_settings(
    raw: &WebConfigFile,
    t: &Spanned<RawTlsServer>,
    warnings: &mut Vec<String>,
    files: &mut Vec<PathBuf>,
) -> Result<tls::Tls, SettingsError> {
    let file = raw.file.as_str();
    let at = |s: &dyn Located, message: String| SettingsError::Config(s.error(file, message));
    let v = &t.value;
    // Names first: a typo is reported before any file is read.
    let client_auth = match &v.client_auth_type {
        None => ClientAuth::NoClientCert,
        Some(c) => ClientAuth::from_name(&c.value).ok_or_else(|| {
            at(
                c,
                format!(
                    "tls_server_config.client_auth_type: unknown {:?}; expected one of {}",
                    c.value,
                    ClientAuth::NAMES.join(", ")
                ),
            )
        })?,
    };
    // Inline PEM or a file, never both, as in the toolkit.
    let mut pem = |inline: &Option<Spanned<String>>,
                   path: &Option<Spanned<String>>,
                   what: &str|
     -> Result<Option<(Vec<u8>, String)>, SettingsError> {
        match (inline, path) {
            (Some(i), Some(_)) => Err(at(
                i,
                format!("tls_server_config: give {what} or {what}_file, not both"),
            )),
            (Some(i), None) => Ok(Some((
                i.value.clone().into_bytes(),
                format!("{what} (inline)"),
            ))),
            (None, Some(p)) => {
                if p.value.trim().is_empty() {
                    return Err(at(
                        p,
                        format!("tls_server_config.{what}_file: expected a path"),
                    ));
                }
                let resolved = raw.resolve(&p.value);
                let bytes = std::fs::read(&resolved).map_err(|e| {
                    at(
                        p,
                        format!(
                            "tls_server_config.{what}_file: cannot read {}: {e}",
                            resolved.display()
                        ),
                    )
                })?;
                files.push(resolved.clone());
                Ok(Some((bytes, resolved.display().to_string())))
            }
            (None, None) => Ok(None),
        }
    };
    let (cert_pem, cert_name) = pem(&v.cert, &v.cert_file, "cert")?
        .ok_or_else(|| at(t, "tls_server_config: missing cert_file (or cert)".into()))?;
    let (key_pem, key_name) = pem(&v.key, &v.key_file, "key")?
        .ok_or_else(|| at(t, "tls_server_config: missing key_file (or key)".into()))?;
    let client_ca = pem(&v.client_ca, &v.client_ca_file, "client_ca")?;

    let cert_chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            at(
                t,
                format!("tls_server_config: {cert_name}: not a PEM certificate: {e}"),
            )
        })?;
    if cert_chain.is_empty() {
        return Err(at(
            t,
            format!("tls_server_config: {cert_name}: no certificate in it"),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        at(
            t,
            format!("tls_server_config: {key_name}: no usable private key: {e}"),
        )
    })?;
    let client_cas: Vec<CertificateDer<'static>> = match &client_ca {
        None => Vec::new(),
        Some((bytes, name)) => {
            let cas: Vec<_> = CertificateDer::pem_slice_iter(bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    at(
                        t,
                        format!("tls_server_config: {name}: not a PEM certificate: {e}"),
                    )
                })?;
            if cas.is_empty() {
                return Err(at(
                    t,
                    format!("tls_server_config: {name}: no certificate in it"),
                ));
            }
            cas
        }
    };

    if client_auth.verifies() && client_cas.is_empty() {
        return Err(at(
            t,
            "tls_server_config: client_ca_file is required to verify client certificates".into(),
        ));
    }
    let version = |s: &Option<Spanned<String>>, field: &str, default| {
        match s {
        None => Ok(default),
        Some(s) => TlsVersion::from_name(&s.value).ok_or_else(|| {
            at(
                s,
                format!("tls_server_config.{field}: unknown {:?}; expected TLS10, TLS11, TLS12 or TLS13", s.value),
            )
        }),
    }
    };
    let min_version = version(&v.min_version, "min_version", TlsVersion::Tls12)?;
    let max_version = version(&v.max_version, "max_version", TlsVersion::Tls13)?;
    if min_version > max_version {
        return Err(at(
            t,
            "tls_server_config: min_version is above max_version".into(),
        ));
    }
    if min_version < TlsVersion::Tls12 {
        warnings.push(
            "tls_server_config.min_version: TLS 1.0 and 1.1 are not offered; the minimum is TLS12"
                .into(),
        );
    }

    let mut cipher_suites = Vec::new();
    for name in v.cipher_suites.iter().flatten() {
        match tls::cipher_suite(&name.value) {
            Lookup::Supported(s) => cipher_suites.push(s),
            Lookup::Ignored => {}
            Lookup::Unsupported => warnings.push(format!(
                "tls_server_config.cipher_suites: {} is not offered by this exporter (rustls); skipped",
                name.value
            )),
            Lookup::Unknown => {
                return Err(at(
                    name,
                    format!("tls_server_config.cipher_suites: unknown cipher suite {:?}; expected a name from Go's tls.CipherSuites()", name.value),
                ));
            }
        }
    }
    if v.cipher_suites.as_ref().is_some_and(|c| !c.is_empty())
        && cipher_suites.is_empty()
        && max_version < TlsVersion::Tls13
    {
        return Err(at(
            t,
            "tls_server_config.cipher_suites: none of the listed suites is offered for TLS 1.2 (ECDHE with AES-GCM or ChaCha20-Poly1305)".into(),
        ));
    }
    let mut curves = Vec::new();
    for name in v.curve_preferences.iter().flatten() {
        match tls::curve(&name.value) {
            Lookup::Supported(c) => curves.push(c),
            Lookup::Ignored => {}
            Lookup::Unsupported => warnings.push(format!(
                "tls_server_config.curve_preferences: {} is not offered by this exporter (rustls with ring); skipped",
                name.value
            )),
            Lookup::Unknown => {
                return Err(at(
                    name,
                    format!("tls_server_config.curve_preferences: unknown curve {:?}; expected CurveP256, CurveP384, CurveP521, X25519 or X25519MLKEM768", name.value),
                ));
            }
        }
    }
    if v.curve_preferences.as_ref().is_some_and(|c| !c.is_empty()) && curves.is_empty() {
        return Err(at(
            t,
            "tls_server_config.curve_preferences: none of the listed curves is offered (X25519, CurveP256, CurveP384)".into(),
        ));
    }
    let client_allowed_sans: Vec<String> = v
        .client_allowed_sans
        .iter()
        .flatten()
        .map(|s| s.value.clone())
        .collect();
    TlsSettings {
        cert_chain,
        key,
        client_auth,
        client_cas,
        client_allowed_sans,
        min_version,
        max_version,
        cipher_suites,
        prefer_server_cipher_suites: v.prefer_server_cipher_suites.unwrap_or(true),
        curves,
    }
    .build()
    .map_err(|e| at(t, format!("tls_server_config: {e}")))
}

/// Anything with a place in the file.
trait Located {
    fn error(&self, file: &str, message: String) -> ConfigError;
}

impl<T> Located for Spanned<T> {
    fn error(&self, file: &str, message: String) -> ConfigError {
        ConfigError::at(file, self, message)
    }
}
