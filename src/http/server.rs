//! The accept loop, its limits, and graceful shutdown.
//!
//! One loop accepts from every listener. It takes a connection slot (a
//! semaphore permit) *before* accepting, so when all
//! [`HttpConfig::max_connections`](super::HttpConfig::max_connections) slots
//! are busy a new client waits in the kernel's accept queue instead of being
//! refused, and is served as soon as any connection closes. Idle keep-alive
//! connections do not hold a slot forever: hyper runs the header-read timer
//! while waiting for the next request too.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use super::listen::bind_all;
use super::routes::Routes;
use super::{DEFAULT_SHUTDOWN_GRACE, Exposition, HttpConfig, HttpError};

/// How long to back off when accepting fails for lack of resources (file
/// descriptors, memory): retrying at once would spin on the same error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Listeners bound and settings checked; nothing served yet.
#[derive(Debug)]
pub struct Bound {
    listeners: Vec<TcpListener>,
    local_addrs: Vec<SocketAddr>,
    routes: Arc<Routes>,
    max_connections: usize,
    header_read_timeout: Duration,
    shutdown_grace: Duration,
}

/// Async although nothing here waits: turning std listeners into tokio ones
/// needs a runtime, and an async signature makes that impossible to miss.
pub(super) async fn bind(cfg: &HttpConfig) -> Result<Bound, HttpError> {
    // Check everything that can be wrong with the settings before taking
    // any port, so a typo in a flag does not leave a half-started server.
    let routes = Routes::new(cfg)?;
    if cfg.max_connections == 0 || cfg.max_connections > Semaphore::MAX_PERMITS {
        return Err(HttpError::Config {
            field: "max connections",
            value: cfg.max_connections.to_string(),
            expected: "at least 1",
        });
    }
    if cfg.header_read_timeout.is_zero() {
        return Err(HttpError::Config {
            field: "header read timeout",
            value: format!("{:?}", cfg.header_read_timeout),
            expected: "a duration above zero",
        });
    }
    if cfg.listen.is_empty() {
        return Err(HttpError::NoListenAddress);
    }
    let listeners = bind_all(&cfg.listen)?;
    let local_addrs = listeners
        .iter()
        .zip(&cfg.listen)
        .map(|(listener, &addr)| {
            listener
                .local_addr()
                .map_err(|source| HttpError::Bind { addr, source })
        })
        .collect::<Result<_, _>>()?;
    Ok(Bound {
        listeners,
        local_addrs,
        routes: Arc::new(routes),
        max_connections: cfg.max_connections,
        header_read_timeout: cfg.header_read_timeout,
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
    })
}

impl Bound {
    /// The addresses actually bound, with real ports where port 0 was asked
    /// for. An IPv4 wildcard that a dual-stack `[::]` listener already
    /// covers is not listed (it was not bound separately).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// How long in-flight requests may take once shutdown starts; the
    /// default is [`DEFAULT_SHUTDOWN_GRACE`].
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Bound {
        self.shutdown_grace = grace;
        self
    }

    /// Serves until `shutdown` resolves; then stops accepting (the listening
    /// sockets are closed at once), asks every connection to finish its
    /// current request and close, waits for them up to the shutdown grace,
    /// drops whatever is left, and returns.
    ///
    /// # Errors
    ///
    /// None today: accept errors are retried, connection errors end only
    /// their connection. The `Result` leaves room for setup that can fail
    /// (TLS) without changing callers.
    pub async fn serve(
        self,
        exp: Arc<dyn Exposition>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), HttpError> {
        let Bound {
            listeners,
            routes,
            max_connections,
            header_read_timeout,
            shutdown_grace,
            ..
        } = self;
        let mut builder = http1::Builder::new();
        // Without a timer hyper cannot enforce header_read_timeout.
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .keep_alive(true);
        let builder = Arc::new(builder);
        let slots = Arc::new(Semaphore::new(max_connections));
        let (stop, stopping) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut shutdown = pin!(shutdown);
        let mut next_listener = 0;

        loop {
            while connections.try_join_next().is_some() {}
            let permit = tokio::select! {
                biased;
                () = &mut shutdown => break,
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_closed) => break,
                },
            };
            let accepted = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = poll_fn(|cx| poll_accept_any(&listeners, &mut next_listener, cx)) => accepted,
            };
            let stream = match accepted {
                Ok(stream) => stream,
                Err(e) if is_about_one_connection(&e) => continue,
                Err(_) => {
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            };
            connections.spawn(serve_connection(
                stream,
                Arc::clone(&builder),
                Arc::clone(&routes),
                Arc::clone(&exp),
                stopping.clone(),
                permit,
            ));
        }

        // Closing the listeners first makes new clients fail fast instead
        // of queueing behind a server that is going away.
        drop(listeners);
        let _ = stop.send(true);
        let drained = tokio::time::timeout(shutdown_grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            connections.shutdown().await;
        }
        Ok(())
    }
}

/// Accepts from whichever listener is ready, starting after the one that
/// was served last so one busy address cannot starve the others.
fn poll_accept_any(
    listeners: &[TcpListener],
    next: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<TcpStream>> {
    let count = listeners.len();
    for offset in 0..count {
        let index = (*next + offset) % count;
        if let Poll::Ready(accepted) = listeners[index].poll_accept(cx) {
            *next = (index + 1) % count;
            return Poll::Ready(accepted.map(|(stream, _peer)| stream));
        }
    }
    Poll::Pending
}

/// Errors that concern only the connection being accepted (the client gave
/// up during the handshake); the listener itself is fine.
fn is_about_one_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

async fn serve_connection(
    stream: TcpStream,
    builder: Arc<http1::Builder>,
    routes: Arc<Routes>,
    exp: Arc<dyn Exposition>,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    // Responses are small and written whole; Nagle would only hold the
    // last segment back for the client's delayed ACK.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| {
        let routes = Arc::clone(&routes);
        let exp = Arc::clone(&exp);
        async move { Ok::<_, Infallible>(routes.respond(req, &exp).await) }
    });
    let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
    // A connection error (client reset, header timeout, bad request) ends
    // only this connection, and there is no one to tell: hyper has already
    // answered what could be answered.
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stopping.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}
