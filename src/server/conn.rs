//! Client connections: the accept loop and what it promises about slow or hostile clients.
//!
//! - At most `server.max_connections` open at once: past it the loop stops accepting (the kernel's
//!   backlog holds newcomers) instead of letting every socket cost memory and a file descriptor.
//! - A connection must send its first byte, and each request its whole header block, within
//!   `server.header_read_timeout` (hyper's header timer for HTTP/1.1 keep-alive requests, a peek
//!   before hyper for the first one, which hyper's version sniffing would otherwise wait on forever).
//! - The body's deadline is the [`super::stack`] layer that reads it before a concurrency slot is
//!   taken.
//! - hyper answers a request it cannot parse (bad request line, too many or too large headers) by
//!   itself, with an empty body. [`ParseErrorBody`] gives those answers OpenAI's error shape and a
//!   ledger row, so every client, whatever it sent, reads the same kind of error.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower::ServiceExt;

use super::{AppState, PendingRecord};
use crate::config::ServerConfig;
use crate::Error;

/// The HTTP/1 and HTTP/2 connection settings from the config.
pub fn http_builder(server: &ServerConfig) -> auto::Builder<TokioExecutor> {
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
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// Serves one accepted connection until it closes, the graceful shutdown ends it, or it misses the
/// first-byte deadline.
pub async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: axum::Router,
    state: Arc<AppState>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    header_read_timeout: Duration,
) {
    let _ = stream.set_nodelay(true);
    // hyper-util reads the first bytes to tell HTTP/1 from HTTP/2 without a deadline of its own.
    let mut first = [0u8; 1];
    match tokio::time::timeout(header_read_timeout, stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => {}
        // Closed, failed or silent: nothing to answer.
        _ => return,
    }
    let io = TokioIo::new(ParseErrorBody::new(stream, Arc::clone(&state)));
    let service = hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let connection = builder.serve_connection(io, service);
    if let Err(e) = watcher.watch(connection.into_owned()).await {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
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

/// The bytes of a full response that replaces hyper's bodiless one.
fn replacement_response(status: u16) -> Vec<u8> {
    let body = automatic_error(status).body().to_string();
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

/// The socket, with hyper's bodiless parse-error answers swapped for OpenAI-shaped ones (and a
/// ledger row written for them, since no handler ever saw the request).
pub struct ParseErrorBody<T> {
    inner: T,
    state: Arc<AppState>,
    /// A replacement response still being written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> ParseErrorBody<T> {
    pub fn new(inner: T, state: Arc<AppState>) -> Self {
        ParseErrorBody {
            inner,
            state,
            pending: None,
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
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ParseErrorBody<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(status) = automatic_error_status(buf) {
            let mut pending = PendingRecord::new(&self.state, "", "");
            pending.record.request_id = uuid::Uuid::new_v4().simple().to_string();
            pending.record.status = status;
            pending.record.reason = "rejected: not a parsable HTTP request".into();
            pending.record.error = Some(automatic_error(status).to_string());
            pending.finish();
            self.pending = Some((replacement_response(status), 0));
            // hyper's bytes count as written: the replacement goes out in their place.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
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
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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
        let bytes = replacement_response(431);
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["type"], "invalid_request_error");
    }
}
