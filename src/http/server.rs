//! The accept loop, its limits, TLS and auth at the door, and graceful
//! shutdown.
//!
//! **Slots no client can hold.** At most
//! [`HttpConfig::max_connections`](super::HttpConfig::max_connections)
//! connections are open at once. When a new client arrives and every slot
//! is taken, the server closes one that is doing nothing: first the oldest
//! idle keep-alive connection (one that was served and is waiting for a
//! next request), else the oldest that has not yet sent a complete request
//! (an idle or slowloris client). A connection whose request is being
//! answered is never closed for another; only when every slot is busy
//! answering does a new client wait. So however many idle or slow clients
//! connect, a scrape gets a slot at once. A connection that sends no
//! complete header within the header-read timeout is closed anyway
//! (hyper's timer, which also bounds keep-alive idleness), and so is a TLS
//! handshake that takes longer than that.
//!
//! Basic auth, the rate limit and the web configuration's headers apply to
//! every route; the [`SecurityHandle`] is read per connection (TLS) and
//! per request (auth), so a re-read web configuration applies at once.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use hyper::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use super::listen::bind_all;
use super::routes::{self, Routes};
use super::security::SecurityHandle;
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
    security: SecurityHandle,
}

/// Async although nothing here waits: turning std listeners into tokio ones
/// needs a runtime, and an async signature makes that impossible to miss.
pub(super) async fn bind(cfg: &HttpConfig) -> Result<Bound, HttpError> {
    bind_or_adopt(cfg, None).await
}

/// As [`bind`], serving `inherited` listeners (systemd socket activation)
/// instead of binding `cfg.listen` when given.
pub(super) async fn bind_or_adopt(
    cfg: &HttpConfig,
    inherited: Option<Vec<std::net::TcpListener>>,
) -> Result<Bound, HttpError> {
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
    let (listeners, local_addrs) = match inherited {
        None => {
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
                .collect::<Result<Vec<_>, _>>()?;
            (listeners, local_addrs)
        }
        Some(inherited) => {
            if inherited.is_empty() {
                return Err(HttpError::NoInheritedSocket);
            }
            let mut listeners = Vec::new();
            let mut local_addrs = Vec::new();
            for l in inherited {
                let adopted = l
                    .set_nonblocking(true)
                    .and_then(|()| l.local_addr())
                    .and_then(|addr| Ok((TcpListener::from_std(l)?, addr)));
                let (listener, addr) = adopted.map_err(HttpError::Inherited)?;
                listeners.push(listener);
                local_addrs.push(addr);
            }
            (listeners, local_addrs)
        }
    };
    Ok(Bound {
        listeners,
        local_addrs,
        routes: Arc::new(routes),
        max_connections: cfg.max_connections,
        header_read_timeout: cfg.header_read_timeout,
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        security: cfg.security.clone(),
    })
}

/// One open connection, as the slot keeper sees it.
#[derive(Debug)]
struct Conn {
    /// A request is being answered (until its response body is written).
    busy: AtomicBool,
    /// At least one request was answered: an idle keep-alive connection
    /// when not busy.
    served: AtomicBool,
    /// Already asked to close: not picked twice.
    asked: AtomicBool,
    evict: Notify,
    /// The tracker's: told when this connection finishes an answer, so a
    /// client waiting for a slot can have it.
    became_idle: Arc<Notify>,
}

/// The open connections by age, to pick which one to close.
#[derive(Debug, Default)]
struct Tracker {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
    became_idle: Arc<Notify>,
}

impl Tracker {
    fn add(&self) -> (u64, Arc<Conn>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            busy: AtomicBool::new(false),
            served: AtomicBool::new(false),
            asked: AtomicBool::new(false),
            evict: Notify::new(),
            became_idle: Arc::clone(&self.became_idle),
        });
        self.lock().insert(id, Arc::clone(&conn));
        (id, conn)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the oldest idle keep-alive connection, else the oldest one that
    /// has not finished a request, to close. False when every connection is
    /// answering a request.
    fn evict_one(&self) -> bool {
        let open = self.lock();
        let idle =
            |c: &&Arc<Conn>| !c.busy.load(Ordering::Acquire) && !c.asked.load(Ordering::Acquire);
        let victim = open
            .values()
            .filter(idle)
            .find(|c| c.served.load(Ordering::Acquire))
            .or_else(|| open.values().find(idle));
        match victim {
            Some(c) => {
                // notify_one stores a permit, so an eviction asked before
                // the connection task polls is not lost.
                c.asked.store(true, Ordering::Release);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Clears the busy mark when hyper has written the response body (and
/// drops it), so a connection is never evicted in the middle of an answer.
struct BusyBody {
    inner: Full<Bytes>,
    conn: Arc<Conn>,
}

impl Drop for BusyBody {
    fn drop(&mut self) {
        self.conn.served.store(true, Ordering::Release);
        self.conn.busy.store(false, Ordering::Release);
        self.conn.became_idle.notify_one();
    }
}

impl Body for BusyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
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
    /// their connection.
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
            security,
            ..
        } = self;
        let mut builder = http1::Builder::new();
        // Without a timer hyper cannot enforce header_read_timeout.
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .keep_alive(true);
        let shared = Arc::new(ConnShared {
            builder,
            routes,
            exp,
            security,
            handshake_timeout: header_read_timeout,
            tracker: Tracker::default(),
        });
        let slots = Arc::new(Semaphore::new(max_connections));
        let (stop, stopping) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut shutdown = pin!(shutdown);
        let mut next_listener = 0;

        loop {
            while connections.try_join_next().is_some() {}
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
            // Every slot taken: make room by closing a connection that is
            // doing nothing; while all are answering, wait for one to
            // finish (and become idle) or close.
            let permit = loop {
                if let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
                    break Some(permit);
                }
                let evicted = shared.tracker.evict_one();
                tokio::select! {
                    biased;
                    () = &mut shutdown => break None,
                    permit = Arc::clone(&slots).acquire_owned() => break permit.ok(),
                    () = shared.tracker.became_idle.notified(), if !evicted => {}
                }
            };
            let Some(permit) = permit else { break };
            connections.spawn(serve_connection(
                stream,
                Arc::clone(&shared),
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

/// What every connection task shares.
struct ConnShared {
    builder: http1::Builder,
    routes: Arc<Routes>,
    exp: Arc<dyn Exposition>,
    security: SecurityHandle,
    handshake_timeout: Duration,
    tracker: Tracker,
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
    shared: Arc<ConnShared>,
    stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    // Responses are small and written whole; Nagle would only hold the
    // last segment back for the client's delayed ACK.
    let _ = stream.set_nodelay(true);
    let (id, conn) = shared.tracker.add();
    let security = shared.security.current();
    match &security.tls {
        None => serve_http(stream, &shared, &conn, stopping).await,
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config));
            // The handshake is as evictable as a header that never comes.
            let handshake = tokio::select! {
                done = tokio::time::timeout(shared.handshake_timeout, acceptor.accept(stream)) => done,
                () = conn.evict.notified() => Ok(Err(io::Error::other("evicted"))),
            };
            if let Ok(Ok(tls_stream)) = handshake {
                let allowed = {
                    let (_, session) = tls_stream.get_ref();
                    let leaf = session.peer_certificates().and_then(|c| c.first());
                    tls.allowed_sans.is_empty()
                        || leaf.is_some_and(|c| super::tls::san_allowed(c, &tls.allowed_sans))
                };
                if allowed {
                    serve_http(tls_stream, &shared, &conn, stopping).await;
                }
            }
        }
    }
    shared.tracker.remove(id);
}

async fn serve_http<S>(
    stream: S,
    shared: &Arc<ConnShared>,
    conn: &Arc<Conn>,
    mut stopping: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let shared = Arc::clone(shared);
        let conn = Arc::clone(conn);
        service_fn(move |req| {
            let shared = Arc::clone(&shared);
            let conn = Arc::clone(&conn);
            conn.busy.store(true, Ordering::Release);
            async move {
                let response = answer(req, &shared).await;
                let (parts, body) = response.into_parts();
                Ok::<_, Infallible>(Response::from_parts(parts, BusyBody { inner: body, conn }))
            }
        })
    };
    let mut connection = pin!(
        shared
            .builder
            .serve_connection(TokioIo::new(stream), service)
    );
    // A connection error (client reset, header timeout, bad request) ends
    // only this connection, and there is no one to tell: hyper has already
    // answered what could be answered.
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stopping.wait_for(|stop| *stop) => {}
        () = conn.evict.notified() => {
            // Picked while idle; if a request started since, it finishes.
            if !conn.busy.load(Ordering::Acquire) {
                return;
            }
        }
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// The door (rate limit, basic auth), then the route, then the web
/// configuration's headers.
async fn answer<B>(req: Request<B>, shared: &ConnShared) -> Response<Full<Bytes>> {
    let security = shared.security.current();
    let mut response = if !shared.security.admit(&security) {
        routes::text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n")
    } else if !shared
        .security
        .authorized(
            &security,
            req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes),
        )
        .await
    {
        let mut r = routes::text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        r.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        r
    } else {
        shared.routes.respond(req, &shared.exp).await
    };
    for (name, value) in &security.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}
