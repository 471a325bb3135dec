//! What a request must prove before it is served, and what every response
//! carries: basic auth, the extra headers and the rate limit of
//! exporter-toolkit's web configuration. TLS itself is in [`super::tls`].
//!
//! The settings layer parses the file and builds a [`Security`]; this
//! module only checks requests against it. A [`SecurityHandle`] lets the
//! caller swap in a re-read file while connections are being served: each
//! new connection, and each request, takes the version current at that
//! moment.
//!
//! Passwords are bcrypt hashes. A name that is not configured is checked
//! against a fixed dummy hash, so the time an answer takes does not say
//! which names exist; a check that succeeded is remembered (by a SHA-256
//! of name, hash and password, never the password itself), so Prometheus
//! scraping every 15 s does not pay bcrypt's cost each time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hyper::header::{HeaderName, HeaderValue};

/// A bcrypt hash of a password nobody knows, at the cost htpasswd and the
/// toolkit's documentation use (10), checked for names that do not exist.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Successful checks remembered at most; the set is emptied when full, so
/// a client cycling through passwords cannot grow it.
const CACHE_LIMIT: usize = 1024;

/// The headers exporter-toolkit allows in `http_server_config.headers`.
pub const ALLOWED_HEADERS: [&str; 5] = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

/// Everything a web configuration file says, validated.
#[derive(Debug, Default)]
pub struct Security {
    /// `None` serves plain HTTP.
    pub tls: Option<super::tls::Tls>,
    /// Name → bcrypt hash; empty means no basic auth.
    pub users: Vec<(String, String)>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `rate_limit`: one request per `interval`, bursts of `burst`.
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub interval: Duration,
    pub burst: u32,
}

/// Whether a bcrypt hash is one the toolkit accepts (`$2a$`, `$2b$`,
/// `$2y$`, a cost, and 53 characters of salt and hash).
pub fn valid_bcrypt_hash(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
        && hash.parse::<bcrypt::HashParts>().is_ok()
}

/// The current [`Security`], replaceable while serving.
#[derive(Debug, Clone)]
pub struct SecurityHandle {
    current: Arc<RwLock<Arc<Security>>>,
    cache: Arc<Mutex<HashSet<[u8; 32]>>>,
    bucket: Arc<Mutex<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl SecurityHandle {
    pub fn new(security: Security) -> SecurityHandle {
        SecurityHandle {
            current: Arc::new(RwLock::new(Arc::new(security))),
            cache: Arc::new(Mutex::new(HashSet::new())),
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: f64::MAX,
                at: Instant::now(),
            })),
        }
    }

    /// Serves `security` from the next connection and request on.
    pub fn replace(&self, security: Security) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(security);
        // Remembered checks were against the old users.
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Serves what `other` holds (a configuration loaded at a reload).
    pub fn adopt(&self, other: &SecurityHandle) {
        let security = other.current();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = security;
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn current(&self) -> Arc<Security> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether the `Authorization` header value lets a request in.
    /// bcrypt takes tens of milliseconds by design, so this runs on the
    /// blocking pool when it has to hash.
    pub(super) async fn authorized(&self, security: &Arc<Security>, header: Option<&[u8]>) -> bool {
        if security.users.is_empty() {
            return true;
        }
        let Some((user, password)) = header.and_then(parse_basic) else {
            return false;
        };
        let known = security.users.iter().find(|(u, _)| *u == user);
        let hash = known.map_or(DUMMY_HASH, |(_, h)| h.as_str()).to_string();
        let key = cache_key(&user, &hash, &password);
        if known.is_some()
            && self
                .cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&key)
        {
            return true;
        }
        let verified = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let ok = verified && known.is_some();
        if ok {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }

    /// Takes a token from the rate limit's bucket; false when it is empty.
    pub(super) fn admit(&self, security: &Security) -> bool {
        let Some(limit) = security.rate_limit else {
            return true;
        };
        if limit.interval.is_zero() {
            return true;
        }
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(bucket.at).as_secs_f64() / limit.interval.as_secs_f64();
        let burst = f64::from(limit.burst.max(1));
        bucket.tokens = (bucket.tokens.min(burst) + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// `Basic base64(user:password)`, as RFC 7617 has it: the scheme is
/// case-insensitive and the password may contain ':'.
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    use base64::Engine;
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, hash, password] {
        // Lengths first, so ("ab","c") and ("a","bc") differ.
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn basic(user: &str, password: &str) -> Vec<u8> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {token}").into_bytes()
    }

    fn with_user(hash: &str) -> Arc<Security> {
        Arc::new(Security {
            users: vec![("prometheus".into(), hash.into())],
            ..Security::default()
        })
    }

    #[test]
    fn the_dummy_hash_is_a_valid_hash() {
        assert!(valid_bcrypt_hash(DUMMY_HASH));
        assert!(!valid_bcrypt_hash("$1$abc"));
        assert!(!valid_bcrypt_hash("secret"));
        assert!(!valid_bcrypt_hash(
            "$2x$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
        ));
    }

    #[tokio::test]
    async fn basic_auth_accepts_only_the_right_password() {
        let hash = bcrypt::hash("s3cret:with:colons", 4).unwrap();
        let handle = SecurityHandle::new(Security::default());
        let security = with_user(&hash);
        let right = basic("prometheus", "s3cret:with:colons");
        assert!(handle.authorized(&security, Some(&right)).await);
        // Cached: the second check must agree.
        assert!(handle.authorized(&security, Some(&right)).await);
        for wrong in [
            basic("prometheus", "s3cret"),
            basic("nobody", "s3cret:with:colons"),
            b"Bearer abc".to_vec(),
            b"Basic !!!".to_vec(),
        ] {
            assert!(!handle.authorized(&security, Some(&wrong)).await);
        }
        assert!(!handle.authorized(&security, None).await);
        // Without users, everything passes.
        assert!(
            handle
                .authorized(&Arc::new(Security::default()), None)
                .await
        );
    }

    #[test]
    fn the_bucket_refills_at_the_interval() {
        let handle = SecurityHandle::new(Security::default());
        let security = Security {
            rate_limit: Some(RateLimit {
                interval: Duration::from_secs(3600),
                burst: 2,
            }),
            ..Security::default()
        };
        assert!(handle.admit(&security));
        assert!(handle.admit(&security));
        assert!(!handle.admit(&security));
    }

    #[test]
    fn cache_keys_separate_their_parts() {
        assert_ne!(cache_key("ab", "c", "d"), cache_key("a", "bc", "d"));
    }
}
