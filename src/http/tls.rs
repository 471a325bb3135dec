//! TLS as exporter-toolkit's `tls_server_config` describes it, on rustls
//! with the `ring` provider (no C build).
//!
//! The settings layer reads the files and names the options; this module
//! turns them into a rustls `ServerConfig` and checks a client
//! certificate's subject alternative names after the handshake. It reads
//! no files and parses no YAML.
//!
//! rustls speaks TLS 1.2 and 1.3 only, so 1.0 and 1.1 are refused whatever
//! `min_version` says; the toolkit's default minimum is TLS 1.2 anyway.
//! Cipher suites apply to TLS 1.2, as in Go: TLS 1.3 suites are not
//! configurable and their names are accepted and ignored.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::{self, ring as ring_provider};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::{ServerConfig, WebPkiClientVerifier};
use tokio_rustls::rustls::{
    self, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
    SupportedCipherSuite,
};

/// `client_auth_type`, named as Go's `tls.ClientAuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    pub const NAMES: [&'static str; 5] = [
        "NoClientCert",
        "RequestClientCert",
        "RequireAnyClientCert",
        "VerifyClientCertIfGiven",
        "RequireAndVerifyClientCert",
    ];

    pub fn from_name(name: &str) -> Option<ClientAuth> {
        Some(match name {
            "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    /// Whether the mode checks client certificates against a CA.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }

    /// Whether every client must present a certificate (the SAN check
    /// needs one).
    pub fn requires(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// `min_version` / `max_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    pub fn from_name(name: &str) -> Option<TlsVersion> {
        Some(match name {
            "TLS10" => TlsVersion::Tls10,
            "TLS11" => TlsVersion::Tls11,
            "TLS12" => TlsVersion::Tls12,
            "TLS13" => TlsVersion::Tls13,
            _ => return None,
        })
    }
}

/// What a name in `cipher_suites` or `curve_preferences` stands for here.
pub enum Lookup<T> {
    /// Offered by rustls.
    Supported(T),
    /// A name Go knows that rustls does not offer (CBC suites, P-521):
    /// skipped with a warning, so a file written for the toolkit still
    /// loads.
    Unsupported,
    /// TLS 1.3 suite names: not configurable, as in Go.
    Ignored,
    Unknown,
}

/// Go's names for the suites `tls.CipherSuites()` lists.
pub fn cipher_suite(name: &str) -> Lookup<SupportedCipherSuite> {
    use ring_provider::cipher_suite as cs;
    Lookup::Supported(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            return Lookup::Ignored;
        }
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" => return Lookup::Unsupported,
        _ => return Lookup::Unknown,
    })
}

/// Go's `tls.CurveID` names.
pub fn curve(name: &str) -> Lookup<&'static dyn crypto::SupportedKxGroup> {
    use ring_provider::kx_group as kx;
    Lookup::Supported(match name {
        "X25519" => kx::X25519,
        "CurveP256" => kx::SECP256R1,
        "CurveP384" => kx::SECP384R1,
        "CurveP521" | "X25519MLKEM768" => return Lookup::Unsupported,
        _ => return Lookup::Unknown,
    })
}

/// `tls_server_config`, files read and names looked up.
#[derive(Debug)]
pub struct TlsSettings {
    pub cert_chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub client_auth: ClientAuth,
    pub client_cas: Vec<CertificateDer<'static>>,
    pub client_allowed_sans: Vec<String>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// Empty: rustls' defaults.
    pub cipher_suites: Vec<SupportedCipherSuite>,
    pub prefer_server_cipher_suites: bool,
    /// Empty: rustls' defaults.
    pub curves: Vec<&'static dyn crypto::SupportedKxGroup>,
}

/// A built TLS configuration, and what the handshake cannot check.
#[derive(Debug, Clone)]
pub struct Tls {
    pub config: Arc<ServerConfig>,
    /// The client certificate must name one of these (DNS, IP, e-mail or
    /// URI, exactly); empty: any.
    pub allowed_sans: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "no TLS version between min_version and max_version that this exporter offers (TLS12, TLS13)"
    )]
    NoVersion,
    #[error("client_ca_file is required for client_auth_type {0}")]
    NoClientCa(&'static str),
    #[error(
        "client_allowed_sans needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert"
    )]
    SansNeedClientCert,
    #[error("the client CA file has no usable certificate: {0}")]
    ClientCa(String),
    #[error("{0}")]
    Rustls(String),
}

impl TlsSettings {
    pub fn build(self) -> Result<Tls, TlsError> {
        if !self.client_allowed_sans.is_empty() && !self.client_auth.requires() {
            return Err(TlsError::SansNeedClientCert);
        }
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        if self.min_version <= TlsVersion::Tls12 && self.max_version >= TlsVersion::Tls12 {
            versions.push(&rustls::version::TLS12);
        }
        if self.max_version >= TlsVersion::Tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if versions.is_empty() {
            return Err(TlsError::NoVersion);
        }
        let mut provider = ring_provider::default_provider();
        if !self.cipher_suites.is_empty() {
            // TLS 1.3 suites stay: they are not configurable.
            let mut suites: Vec<SupportedCipherSuite> = provider
                .cipher_suites
                .iter()
                .copied()
                .filter(|s| s.tls13().is_some())
                .collect();
            suites.extend(self.cipher_suites.iter().copied());
            provider.cipher_suites = suites;
        }
        if !self.curves.is_empty() {
            provider.kx_groups = self.curves.clone();
        }
        let provider = Arc::new(provider);
        let algorithms = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ClientCertVerifier> = match self.client_auth {
            ClientAuth::NoClientCert => Arc::new(rustls::server::NoClientAuth),
            ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
                Arc::new(AnyClientCert {
                    mandatory: self.client_auth == ClientAuth::RequireAnyClientCert,
                    algorithms,
                })
            }
            mode @ (ClientAuth::VerifyClientCertIfGiven
            | ClientAuth::RequireAndVerifyClientCert) => {
                if self.client_cas.is_empty() {
                    return Err(TlsError::NoClientCa(
                        if mode == ClientAuth::VerifyClientCertIfGiven {
                            "VerifyClientCertIfGiven"
                        } else {
                            "RequireAndVerifyClientCert"
                        },
                    ));
                }
                let mut roots = RootCertStore::empty();
                for ca in self.client_cas {
                    roots
                        .add(ca)
                        .map_err(|e| TlsError::ClientCa(e.to_string()))?;
                }
                let builder = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                );
                let builder = if mode == ClientAuth::VerifyClientCertIfGiven {
                    builder.allow_unauthenticated()
                } else {
                    builder
                };
                builder
                    .build()
                    .map_err(|e| TlsError::ClientCa(e.to_string()))?
            }
        };
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.cert_chain, self.key)
            .map_err(|e| TlsError::Rustls(format!("certificate and key: {e}")))?;
        config.ignore_client_order = self.prefer_server_cipher_suites;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
            allowed_sans: self.client_allowed_sans,
        })
    }
}

/// `RequestClientCert` / `RequireAnyClientCert`: a certificate is asked
/// for (or required) but not checked against any CA, as in Go; the
/// handshake signature is still verified, so the client holds its key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: crypto::WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Whether `cert` names one of `allowed` (exact match, as the toolkit
/// does) among its DNS, e-mail, URI and IP subject alternative names.
pub fn san_allowed(cert: &[u8], allowed: &[String]) -> bool {
    allowed.is_empty()
        || subject_alt_names(cert).is_some_and(|names| names.iter().any(|n| allowed.contains(n)))
}

/// The subject alternative names of a DER certificate, as text (IP
/// addresses in their usual notation). `None` when the certificate cannot
/// be read that far; it has passed the handshake, so that means a form
/// this reader does not follow, and the connection is refused.
pub fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    const SAN_OID: &[u8] = &[0x55, 0x1d, 0x11]; // 2.5.29.17
    let (_, certificate, _) = der(cert)?;
    let (_, tbs, _) = der(certificate)?;
    let mut rest = tbs;
    let mut names = Vec::new();
    while !rest.is_empty() {
        let (tag, body, after) = der(rest)?;
        rest = after;
        // extensions [3] EXPLICIT SEQUENCE OF Extension
        if tag != 0xa3 {
            continue;
        }
        let (_, mut extensions, _) = der(body)?;
        while !extensions.is_empty() {
            let (_, extension, after) = der(extensions)?;
            extensions = after;
            let (oid_tag, oid, mut fields) = der(extension)?;
            if oid_tag != 0x06 || oid != SAN_OID {
                continue;
            }
            // critical BOOLEAN DEFAULT FALSE, then extnValue OCTET STRING
            let (mut tag, mut value, after) = der(fields)?;
            if tag == 0x01 {
                fields = after;
                (tag, value, _) = der(fields)?;
            }
            if tag != 0x04 {
                return None;
            }
            let (_, mut general_names, _) = der(value)?;
            while !general_names.is_empty() {
                let (tag, name, after) = der(general_names)?;
                general_names = after;
                match tag {
                    // rfc822Name [1], dNSName [2], uniformResourceIdentifier [6]
                    0x81 | 0x82 | 0x86 => names.push(String::from_utf8_lossy(name).into_owned()),
                    // iPAddress [7]
                    0x87 => match name.len() {
                        4 => names
                            .push(Ipv4Addr::new(name[0], name[1], name[2], name[3]).to_string()),
                        16 => {
                            let mut octets = [0u8; 16];
                            octets.copy_from_slice(name);
                            names.push(Ipv6Addr::from(octets).to_string());
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
    }
    Some(names)
}

/// One DER element: (tag, contents, what follows). Definite lengths of up
/// to four bytes, single-byte tags: all a certificate uses.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..count] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[count..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_refuses_truncated_input() {
        assert!(der(&[0x30]).is_none());
        assert!(der(&[0x30, 0x05, 0x00]).is_none());
        assert!(der(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_none());
        assert_eq!(
            der(&[0x04, 0x01, 0xaa, 0xbb]),
            Some((0x04, &[0xaa][..], &[0xbb][..]))
        );
    }

    #[test]
    fn garbage_has_no_names_and_is_refused() {
        assert!(subject_alt_names(b"not a certificate").is_none());
        assert!(!san_allowed(b"junk", &["a".to_string()]));
        assert!(san_allowed(b"junk", &[]));
    }

    #[test]
    fn names_are_looked_up_like_go() {
        assert!(matches!(
            cipher_suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            Lookup::Supported(_)
        ));
        assert!(matches!(
            cipher_suite("TLS_AES_128_GCM_SHA256"),
            Lookup::Ignored
        ));
        assert!(matches!(
            cipher_suite("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
            Lookup::Unsupported
        ));
        assert!(matches!(cipher_suite("TLS_FANCY"), Lookup::Unknown));
        assert!(matches!(curve("CurveP256"), Lookup::Supported(_)));
        assert!(matches!(curve("CurveP521"), Lookup::Unsupported));
        assert!(matches!(curve("P-256"), Lookup::Unknown));
    }
}
