//! An [`Error`] as the response a client gets: the status and OpenAI-shaped body the error type
//! maps it to, the headers some errors call for, and the [`ProxyError`] mark the stack reads to
//! give the body the shape of the API the request was sent to.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};

use crate::error::ProxyError;
use crate::Error;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, status = status.as_u16(), "request failed");
        }
        let body = self.body();
        let mut response = (status, axum::Json(&body)).into_response();
        response.extensions_mut().insert(ProxyError {
            status: status.as_u16(),
            body,
        });
        let headers = response.headers_mut();
        match self {
            Error::Overloaded | Error::ShuttingDown => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Error::TooManyAttempts { retry_after_s } | Error::RateLimited { retry_after_s, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            }
            Error::InvalidApiKey(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"ecoroute\""),
                );
            }
            Error::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"ecoroute admin\""),
                );
            }
            // The rest of a slow or unreadable body may still be on its way: this connection
            // cannot carry another request.
            Error::ClientTimeout { .. } | Error::BodyRead(_) | Error::PayloadTooLarge { .. } => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}
