//! Client connections: the accept loop and what it promises about slow or hostile clients.
//!
//! - At most `server.max_connections` open at once: past it the loop stops accepting (the kernel's
//!   backlog holds newcomers) instead of letting every socket cost memory and a file descriptor.
//! - A connection must send its first byte, and each request its whole header block, within
//!   `server.header_read_timeout` (hyper's header timer for HTTP/1.1 keep-alive requests, a peek
//!   before hyper for the first one, which hyper's version sniffing would otherwise wait on forever).
//! - The body's deadline is the [`super::stack`] layer that reads it before a concurrency slot is
//!   taken.
//! - A connection with no request in flight is idle. It closes after `server.idle_timeout`, and at
//!   once when every slot is taken and a newcomer waits ([`Reclaim`]): otherwise clients that keep
//!   sockets open with a cheap request every few seconds hold every slot, and nobody else gets in.
//!   HTTP/2 connections are pinged, so a vanished peer is dropped too.
//! - hyper answers a request it cannot parse (bad request line, too many or too large headers) by
//!   itself, with an empty body. [`ParseErrorBody`] gives those answers the error shape of the API
//!   the request line names (OpenAI's when there is none) and a ledger row, so every client,
//!   whatever it sent, reads the kind of error its SDK expects.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

use super::{AppState, RequestCtx};
use crate::api::Api;
use crate::config::ServerConfig;
use crate::Error;

/// The HTTP/1 and HTTP/2 connection settings from the config.
pub(crate) fn http_builder(server: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout)
        .max_headers(server.max_headers)
        .max_buf_size(server.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(server.max_header_bytes).unwrap_or(u32::MAX))
        // Dead peers are found by pings, so a vanished client does not hold its streams forever.
        // (A live but idle one is closed by the idle timer in `serve_connection`.)
        .keep_alive_interval(Some(server.http2_keep_alive_interval))
        .keep_alive_timeout(server.http2_keep_alive_timeout);
    builder
}

/// The accept loop's call for slots back: when every connection slot is taken and a newcomer
/// waits, it wakes every idle connection, which closes.
#[derive(Default)]
pub(crate) struct Reclaim(Notify);

impl Reclaim {
    pub(crate) fn ask(&self) {
        self.0.notify_waiters();
    }
}

/// What a connection needs besides its socket, shared by all of them.
pub(crate) struct Shared {
    pub app: axum::Router,
    pub state: Arc<AppState>,
    pub builder: auto::Builder<TokioExecutor>,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub reclaim: Reclaim,
    /// Turns true when the server shuts down; each connection holds a receiver until it ends, so
    /// the sender's `closed()` says every connection is gone.
    pub shutdown: watch::Receiver<bool>,
}

/// Serves one accepted connection until it closes, shutdown or the idle timer ends it, or it
/// misses the first-byte deadline.
pub(crate) async fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let header_read_timeout = shared.header_read_timeout;
    let _ = stream.set_nodelay(true);
    // hyper-util reads the first bytes to tell HTTP/1 from HTTP/2 without a deadline of its own.
    let mut first = [0u8; 1];
    tokio::select! {
        peeked = tokio::time::timeout(header_read_timeout, stream.peek(&mut first)) => match peeked {
            Ok(Ok(n)) if n > 0 => {}
            // Closed, failed or silent: nothing to answer.
            _ => return,
        },
        // Shutting down: a connection that has sent nothing has nothing to finish.
        _ = shutdown.wait_for(|stop| *stop) => return,
    }
    let io = TokioIo::new(ParseErrorBody::new(stream, Arc::clone(&shared.state)));
    let busy = Arc::new(watch::Sender::new(0usize));
    let service = {
        let (app, busy) = (shared.app.clone(), Arc::clone(&busy));
        hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let guard = Busy::start(&busy);
            let answer = app.clone().oneshot(request.map(axum::body::Body::new));
            async move {
                let response = answer.await?;
                Ok::<_, std::convert::Infallible>(response.map(|inner| TrackedBody { inner, _busy: guard }))
            }
        })
    };
    let connection = shared.builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut idle = busy.subscribe();
    let close = async {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => {}
            () = until_idle_close(&mut idle, shared.idle_timeout, &shared.reclaim) => {}
        }
    };
    tokio::pin!(close);
    let mut closing = false;
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            () = &mut close, if !closing => {
                // Ends after the response in flight, if any; an idle HTTP/1 connection closes at
                // once, an HTTP/2 one says GOAWAY first.
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// Resolves once the connection has had nothing in flight for `idle_timeout`, or is idle when the
/// accept loop asks for slots back.
async fn until_idle_close(busy: &mut watch::Receiver<usize>, idle_timeout: Duration, reclaim: &Reclaim) {
    loop {
        if busy.wait_for(|n| *n == 0).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(idle_timeout) => return,
            () = reclaim.0.notified() => {
                if *busy.borrow() == 0 {
                    return;
                }
            }
            changed = busy.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// One request of a connection in flight, from its head to the end of its response body.
struct Busy(Arc<watch::Sender<usize>>);

impl Busy {
    fn start(count: &Arc<watch::Sender<usize>>) -> Busy {
        count.send_modify(|n| *n += 1);
        Busy(Arc::clone(count))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A response body that keeps its connection busy until it is sent whole or dropped, so a long
/// stream is never taken for an idle connection.
struct TrackedBody {
    inner: axum::body::Body,
    _busy: Busy,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// hyper's automatic answer to a request it could not parse: its status, if `head` is one.
///
/// hyper writes these as a bare head with `content-length: 0` and `date` (and closes the
/// connection after). Every answer that went through the proxy's handlers carries a body or a
/// header of the proxy's (`x-request-id`, `x-ecoroute-route`): an upstream's empty 400 passed
/// through is the upstream's answer, and goes out as it is (the attack review's L1).
fn automatic_error_status(head: &[u8]) -> Option<u16> {
    let status = match head.get(..13)? {
        b"HTTP/1.1 400 " | b"HTTP/1.0 400 " => 400,
        b"HTTP/1.1 414 " | b"HTTP/1.0 414 " => 414,
        b"HTTP/1.1 431 " | b"HTTP/1.0 431 " => 431,
        _ => return None,
    };
    let lower = head.to_ascii_lowercase();
    let complete = lower.ends_with(b"\r\n\r\n");
    let empty = lower.windows(19).any(|w| w == b"\r\ncontent-length: 0");
    let bare = lower
        .split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| line.split(|&b| b == b':').next().filter(|_| line.contains(&b':')))
        .all(|name| matches!(name, b"content-length" | b"date" | b"connection"));
    (complete && empty && bare).then_some(status)
}

fn automatic_error(status: u16) -> Error {
    let message = match status {
        431 => "the request headers are too large or too many (see server.max_headers and server.max_header_bytes)",
        414 => "the request URI is too long",
        _ => "the request is not valid HTTP (request line, header syntax or framing)",
    };
    Error::InvalidRequest {
        message: message.into(),
        param: None,
    }
}

/// The bytes of a full response that replaces hyper's bodiless one, in the shape of the API the
/// request was for when its request line was read (OpenAI's otherwise).
fn replacement_response(status: u16, api: Option<Api>) -> Vec<u8> {
    let error = automatic_error(status);
    let body = api
        .map_or_else(|| error.body(), |api| api.error_body(&error))
        .to_string();
    let reason = match status {
        431 => "Request Header Fields Too Large",
        414 => "URI Too Long",
        _ => "Bad Request",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The API of a request, from the start of its bytes (`METHOD SP path ...`), if its request line
/// is there.
fn api_of_request_start(start: &[u8]) -> Option<Api> {
    let line = start.split(|&b| b == b'\n').next()?;
    let target = line.split(|&b| b == b' ').nth(1)?;
    let path = target.split(|&b| b == b'?').next()?;
    Api::of_path(std::str::from_utf8(path).ok()?)
}

/// How much of a request's start is kept to find its request line.
const REQUEST_START: usize = 256;

/// The socket, with hyper's bodiless parse-error answers swapped for ones in the API's error shape
/// (and a ledger row written for them, since no handler ever saw the request).
pub(crate) struct ParseErrorBody<T> {
    inner: T,
    state: Arc<AppState>,
    /// A replacement response still being written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
    /// The first bytes of the request being read (its request line, when hyper fails on a header),
    /// and whether the next bytes read start a new request: true at first and after each write,
    /// since an HTTP/1 client sends its next request once the answer is out.
    request_start: Vec<u8>,
    at_request_start: bool,
}

impl<T> ParseErrorBody<T> {
    pub(crate) fn new(inner: T, state: Arc<AppState>) -> Self {
        ParseErrorBody {
            inner,
            state,
            pending: None,
            request_start: Vec::new(),
            at_request_start: true,
        }
    }

    fn saw_read(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if std::mem::take(&mut self.at_request_start) {
            self.request_start.clear();
        }
        // Only until the request line is whole: body bytes are none of our business.
        if self.request_start.len() < REQUEST_START && !self.request_start.contains(&b'\n') {
            let room = REQUEST_START - self.request_start.len();
            self.request_start.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
}

impl<T: AsyncWrite + Unpin> ParseErrorBody<T> {
    /// Writes out the replacement, if one is pending.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ParseErrorBody<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        self.saw_read(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ParseErrorBody<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(status) = automatic_error_status(buf) {
            let api = api_of_request_start(&self.request_start);
            let id = uuid::Uuid::new_v4().simple().to_string();
            RequestCtx::new(&self.state, api.map_or("", Api::path), &id).rejected(
                None,
                "rejected: not a parsable HTTP request",
                status,
                automatic_error(status).to_string(),
            );
            self.pending = Some((replacement_response(status, api), 0));
            // hyper's bytes count as written: the replacement goes out in their place.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.at_request_start = true;
        Poll::Ready(Ok(written))
    }

    // Vectored writes pass straight through (hyper then sends head and body in one system call);
    // hyper's own error answers are a bare head in the first buffer.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(first) = bufs.first().filter(|b| automatic_error_status(b).is_some()) {
            return self.poll_write(cx, first);
        }
        ready!(self.poll_pending(cx))?;
        let written = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs))?;
        self.at_request_start = true;
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_parse_errors_are_recognised() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Fri, 27 Nov 2026 17:00:00 GMT\r\n\r\n";
        assert_eq!(automatic_error_status(hyper_431), Some(431));
        let hyper_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(automatic_error_status(hyper_400), Some(400));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 97\r\n\r\n";
        assert_eq!(automatic_error_status(ours), None, "a handler's 400 has a body");
        let passed = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-ecoroute-route: llm\r\nx-request-id: r1\r\ndate: x\r\n\r\n";
        assert_eq!(
            automatic_error_status(passed),
            None,
            "an upstream's empty 400, passed through"
        );
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(automatic_error_status(ok), None);
        assert_eq!(automatic_error_status(b"HTTP/1.1 4"), None);
    }

    #[test]
    fn the_replacement_is_a_complete_openai_error() {
        let bytes = replacement_response(431, None);
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["type"], "invalid_request_error");
    }
}
