//! Content negotiation for `/metrics`: does the client accept gzip, and the
//! compression itself.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::header::{GetAll, HeaderValue};

/// Whether the `Accept-Encoding` headers (all of them, as one list) allow
/// gzip, by RFC 9110 §12.5.3: an explicit `gzip` (or its alias `x-gzip`)
/// entry decides by its q-value, else `*` does, else gzip is not accepted.
/// `q=0` means "not acceptable"; a q-value that does not parse makes the
/// entry count as absent rather than as a yes.
pub(super) fn accepts_gzip(headers: GetAll<'_, HeaderValue>) -> bool {
    let mut gzip: Option<bool> = None;
    let mut wildcard: Option<bool> = None;
    for value in headers {
        let Ok(value) = value.to_str() else { continue };
        for entry in value.split(',') {
            let mut parts = entry.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let Some(acceptable) = acceptable(parts) else {
                continue;
            };
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                // Several entries for one coding are a client bug; any "no" wins.
                gzip = Some(gzip.unwrap_or(true) && acceptable);
            } else if coding == "*" {
                wildcard = Some(wildcard.unwrap_or(true) && acceptable);
            }
        }
    }
    gzip.or(wildcard).unwrap_or(false)
}

/// `Some(q > 0)` for an entry's parameters, `None` if its q-value is not a
/// valid qvalue. Parameters other than `q` are ignored.
fn acceptable<'a>(params: impl Iterator<Item = &'a str>) -> Option<bool> {
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            return qvalue_is_positive(value.trim());
        }
    }
    Some(true)
}

/// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
fn qvalue_is_positive(q: &str) -> Option<bool> {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match int {
        "0" => Some(frac.bytes().any(|b| b != b'0')),
        "1" if frac.bytes().all(|b| b == b'0') => Some(true),
        _ => None,
    }
}

/// Gzip at the default level, the one Go's promhttp uses, so body sizes are
/// comparable with other exporters.
pub(super) fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::HeaderMap;
    use hyper::header::ACCEPT_ENCODING;

    fn accepts(values: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        accepts_gzip(headers.get_all(ACCEPT_ENCODING))
    }

    #[test]
    fn gzip_accepted() {
        for v in [
            "gzip",
            "GZIP",
            "x-gzip",
            "gzip, deflate, br",
            "deflate, gzip;q=0.5",
            "gzip;q=1",
            "gzip;q=1.000",
            "gzip; q=0.001",
            "gzip;Q=0.5",
            "*",
            "br, *;q=0.1",
            "gzip;level=9",
        ] {
            assert!(accepts(&[v]), "{v}");
        }
    }

    #[test]
    fn gzip_refused() {
        for v in [
            "",
            "identity",
            "deflate, br",
            "gzip;q=0",
            "gzip;q=0.0",
            "gzip; q=0.000",
            "gzip;q=0, *",
            "*;q=0",
            "*;q=0, deflate",
            "gzip;q=2",
            "gzip;q=0.0001",
            "gzip;q=abc",
            "gzip;q=",
            "gzipped",
        ] {
            assert!(!accepts(&[v]), "{v}");
        }
    }

    #[test]
    fn several_headers_are_one_list() {
        assert!(accepts(&["deflate", "gzip"]));
        assert!(!accepts(&["gzip", "gzip;q=0"]));
        assert!(!accepts(&[]));
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let body = "a_metric 1\n".repeat(100);
        let packed = gzip(body.as_bytes()).unwrap();
        assert!(packed.len() < body.len());
        let mut unpacked = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, body);
    }
}
