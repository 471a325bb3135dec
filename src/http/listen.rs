//! Listen addresses: Prometheus-style `host:port` strings to socket
//! addresses, and binding them.
//!
//! An empty host means every interface, as in Go's `net.Listen`, which is
//! what `--web.listen-address=:9100` means to anyone who runs exporters.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};

use tokio::net::{TcpListener, TcpSocket};

use super::HttpError;

const EXPECTED_ADDRESS: &str = "host:port, [ipv6]:port or :port (all interfaces)";

/// Resolves a Prometheus-style listen address.
///
/// `":10057"` means all interfaces: both `[::]` and `0.0.0.0` when this host
/// can open IPv6 sockets, else `0.0.0.0` alone. `"127.0.0.1:0"`,
/// `"[::1]:9000"` and `"localhost:9000"` (every address the name resolves
/// to, in resolver order, without duplicates) work as expected.
///
/// # Errors
///
/// [`HttpError::ListenAddress`] saying what was expected, or
/// [`HttpError::Resolve`] when a host name does not resolve.
///
/// ```
/// use gateway_exporter::http::parse_listen_address;
/// assert_eq!(parse_listen_address("127.0.0.1:9000").unwrap(),
///            vec!["127.0.0.1:9000".parse().unwrap()]);
/// assert!(parse_listen_address("::1:9000").is_err()); // IPv6 needs brackets
/// ```
pub fn parse_listen_address(s: &str) -> Result<Vec<SocketAddr>, HttpError> {
    let bad = |expected| HttpError::ListenAddress {
        input: s.to_string(),
        expected,
    };
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(bad(EXPECTED_ADDRESS));
    };
    // u16::from_str accepts a leading '+', which no one means in a port.
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("a port number (0-65535) after the last ':'"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| bad("a port number (0-65535) after the last ':'"))?;

    if host.is_empty() {
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        return Ok(if ipv6_available() {
            vec![v6, v4]
        } else {
            vec![v4]
        });
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| bad("a closing ']' after the IPv6 address"))?;
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| bad("an IPv6 address between '[' and ']'"))?;
        return Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]);
    }
    if host.contains(':') {
        return Err(bad("an IPv6 address in brackets, like [::1]:9000"));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]);
    }
    if host.contains(['[', ']', '/', ' ']) {
        return Err(bad(EXPECTED_ADDRESS));
    }
    let resolved = (host, port)
        .to_socket_addrs()
        .map_err(|source| HttpError::Resolve {
            input: s.to_string(),
            source,
        })?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in resolved {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(HttpError::Resolve {
            input: s.to_string(),
            source: io::Error::new(io::ErrorKind::NotFound, "the name has no addresses"),
        });
    }
    Ok(addrs)
}

/// Hosts booted with `ipv6.disable=1` cannot create IPv6 sockets at all;
/// listening on `[::]` there would fail the whole server.
fn ipv6_available() -> bool {
    UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).is_ok()
}

/// Connections the kernel completes and queues before we accept them.
/// std's default is 128; a burst of idle clients connecting at once would
/// fill that and leave a scrape's SYN to be retried a second later.
const ACCEPT_BACKLOG: u32 = 4096;

/// Binds every address, failing on the first that will not bind.
///
/// Linux's default (`net.ipv6.bindv6only=0`) makes a socket on `[::]` take
/// IPv4 connections too, and then `0.0.0.0` on the same port is "in use" by
/// ourselves. So an IPv4 wildcard that a dual-stack `[::]` listener on the
/// same port already covers is skipped rather than bound.
pub(super) fn bind_all(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, HttpError> {
    let mut listeners: Vec<(SocketAddr, TcpListener)> = Vec::new();
    for &addr in addrs {
        let covered = addr.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            && listeners.iter().any(|(requested, listener)| {
                *requested == SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), addr.port())
                    && is_dual_stack(listener)
            });
        if covered {
            continue;
        }
        let bind_error = |source| HttpError::Bind { addr, source };
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(bind_error)?;
        // As Go's net.Listen does: a restart need not wait for TIME_WAIT.
        socket.set_reuseaddr(true).map_err(bind_error)?;
        socket.bind(addr).map_err(bind_error)?;
        let listener = socket.listen(ACCEPT_BACKLOG).map_err(bind_error)?;
        listeners.push((addr, listener));
    }
    Ok(listeners.into_iter().map(|(_, l)| l).collect())
}

/// Reads `IPV6_V6ONLY` back after bind: the only way to learn what the
/// sysctl default gave.
fn is_dual_stack(listener: &TcpListener) -> bool {
    rustix::net::sockopt::ipv6_v6only(listener).is_ok_and(|only| !only)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<SocketAddr> {
        parse_listen_address(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn literal_addresses() {
        assert_eq!(parse("127.0.0.1:0"), vec!["127.0.0.1:0".parse().unwrap()]);
        assert_eq!(parse("[::1]:9000"), vec!["[::1]:9000".parse().unwrap()]);
        assert_eq!(
            parse("0.0.0.0:65535"),
            vec!["0.0.0.0:65535".parse().unwrap()]
        );
        assert_eq!(parse("[::]:10057"), vec!["[::]:10057".parse().unwrap()]);
    }

    #[test]
    fn empty_host_means_every_interface() {
        let addrs = parse(":10057");
        assert!(addrs.contains(&"0.0.0.0:10057".parse().unwrap()));
        assert_eq!(
            addrs.contains(&"[::]:10057".parse().unwrap()),
            ipv6_available()
        );
    }

    #[test]
    fn localhost_resolves_to_loopback_only() {
        let addrs = parse("localhost:9000");
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 9000)
        );
    }

    #[test]
    fn bad_addresses_say_what_was_expected() {
        for (input, expected) in [
            ("9000", "host:port"),
            ("127.0.0.1", "host:port"),
            ("127.0.0.1:", "port number"),
            ("127.0.0.1:65536", "port number"),
            ("127.0.0.1:+80", "port number"),
            ("127.0.0.1:http", "port number"),
            ("::1:9000", "brackets"),
            ("[::1:9000", "closing ']'"),
            ("[not-v6]:9000", "IPv6 address"),
        ] {
            match parse_listen_address(input) {
                Err(e @ HttpError::ListenAddress { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(expected), "{input}: {text}");
                    assert!(text.contains(input), "{input}: {text}");
                }
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn bind_failure_names_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind_all(&[addr]).unwrap_err();
        assert!(matches!(err, HttpError::Bind { addr: a, .. } if a == addr));
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
