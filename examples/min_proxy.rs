//! The floor for the load benchmark: the smallest proxy built from ecoroute's own parts (tokio,
//! hyper's HTTP/1 server, reqwest), with none of ecoroute's work. It reads a request body whole,
//! sends it to the upstream and sends the answer back. `scripts/bench/load.py` runs it next to
//! nginx and ecoroute, so the gap between ecoroute and nginx splits into what the HTTP stack
//! costs and what ecoroute adds on top of it.
//!
//! `min_proxy LISTEN UPSTREAM_BASE [threads] [reqwest|hyper]`: threads 0 (the default) is one per
//! core; the client is reqwest (ecoroute's) or hyper-util's own pooled client.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

type Reply = hyper::Response<Full<Bytes>>;
type Failure = Box<dyn std::error::Error + Send + Sync>;

enum Client {
    Reqwest(reqwest::Client),
    Hyper(Box<hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>>),
}

async fn forward(
    client: &Client,
    base: &str,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<Reply, Failure> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let url = format!("{base}{}", parts.uri.path());
    let (status, kind, bytes) = match client {
        Client::Reqwest(client) => {
            let upstream = client
                .request(parts.method, url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await?;
            let kind = upstream.headers().get(http::header::CONTENT_TYPE).cloned();
            (upstream.status(), kind, upstream.bytes().await?)
        }
        Client::Hyper(client) => {
            let request = hyper::Request::builder()
                .method(parts.method)
                .uri(url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body))?;
            let upstream = client.request(request).await?;
            let kind = upstream.headers().get(http::header::CONTENT_TYPE).cloned();
            let status = upstream.status();
            (status, kind, upstream.into_body().collect().await?.to_bytes())
        }
    };
    let mut reply = hyper::Response::builder().status(status);
    if let Some(kind) = kind {
        reply = reply.header(http::header::CONTENT_TYPE, kind);
    }
    Ok(reply.body(Full::new(bytes))?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9200".into());
    let base = args.next().unwrap_or_else(|| "http://127.0.0.1:9100".into());
    let threads: usize = args.next().map_or(Ok(0), |t| t.parse())?;
    let hyper_client = args.next().is_some_and(|c| c == "hyper");
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        builder.worker_threads(threads);
    }
    builder.enable_all().build()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        let client = Arc::new(if hyper_client {
            let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
            connector.set_nodelay(true);
            Client::Hyper(Box::new(
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector),
            ))
        } else {
            Client::Reqwest(reqwest::Client::builder().tcp_nodelay(true).build()?)
        });
        let base = Arc::new(base);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let (client, base) = (Arc::clone(&client), Arc::clone(&base));
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let (client, base) = (Arc::clone(&client), Arc::clone(&base));
                    async move {
                        Ok::<_, Infallible>(forward(&client, &base, request).await.unwrap_or_else(|e| {
                            let mut reply = hyper::Response::new(Full::new(Bytes::from(e.to_string())));
                            *reply.status_mut() = http::StatusCode::BAD_GATEWAY;
                            reply
                        }))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
