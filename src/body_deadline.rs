//! Request bodies have a deadline: a client that sends full headers and then a body slowly
//! (or never finishes a chunked one) must not hold a connection, a file descriptor and a
//! request slot for as long as it likes.
//!
//! - The whole body must arrive within `[server] body_timeout_secs` of the request head;
//!   past it the request is answered `408` (JSON, SPEC §5) and the connection closed.
//! - Any response to a request whose body was not read to its end (a 401 or 413 before the
//!   body, a handler that ignores it) closes the connection after it, instead of waiting
//!   for the rest of a body nobody will read. (actix-http drains a chunked body whose reader
//!   was dropped, however long it takes; while the reader is alive after the response went
//!   out, it closes instead. So a local task keeps the reader until the body's deadline.)

use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage as _;
use actix_web::{web, HttpResponse};
use futures_util::Stream;

use crate::error::ErrorBody;

/// The deadline for a whole request body (app data for [`body_deadline`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// What became of a request's body.
#[derive(Debug, Default)]
struct BodyState {
    finished: AtomicBool,
    timed_out: AtomicBool,
}

/// The request's payload, shared with the response that may have to keep it alive.
type Shared = std::rc::Rc<std::cell::RefCell<Payload>>;

/// The request's payload, ended with an error once the deadline passes.
struct Deadline {
    inner: Shared,
    sleep: Pin<Box<tokio::time::Sleep>>,
    state: Arc<BodyState>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.state.finished.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut *self.inner.borrow_mut()).poll_next(cx);
        match polled {
            Poll::Ready(None) => {
                self.state.finished.store(true, Ordering::Relaxed);
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.state.timed_out.store(true, Ordering::Relaxed);
                    self.state.finished.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "request body timed out",
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// Whether the request announces a body.
fn has_body(req: &ServiceRequest) -> bool {
    let h = req.headers();
    h.contains_key(header::TRANSFER_ENCODING)
        || h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// The middleware (see the module docs).
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let timeout = req.app_data::<web::Data<BodyTimeout>>().map(|t| t.0);
    let (Some(timeout), true) = (timeout, has_body(&req)) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let state = Arc::new(BodyState::default());
    let inner: Shared = std::rc::Rc::new(std::cell::RefCell::new(req.take_payload()));
    let deadline = tokio::time::Instant::now() + timeout;
    let payload = Deadline {
        inner: inner.clone(),
        sleep: Box::pin(tokio::time::sleep_until(deadline)),
        state: state.clone(),
    };
    req.set_payload(Payload::from(
        Box::pin(payload) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
    let mut res = next.call(req).await?.map_into_boxed_body();
    let timed_out = state.timed_out.load(Ordering::Relaxed);
    if timed_out || !state.finished.load(Ordering::Relaxed) {
        // Keep the reader alive while the response goes out, so that actix closes the
        // connection instead of draining the rest of the body (see the module docs).
        actix_web::rt::spawn(async move {
            tokio::time::sleep_until(deadline.max(tokio::time::Instant::now()) + GRACE).await;
            drop(inner);
        });
    }
    if timed_out {
        let (req, old) = res.into_parts();
        let body = ErrorBody {
            error: "Request Timeout".into(),
            message: format!(
                "The request body did not arrive within {} seconds",
                timeout.as_secs()
            ),
            code: "request_timeout".into(),
            details: None,
        };
        let mut res = HttpResponse::RequestTimeout().force_close().json(body);
        // Keep what the inner layers set (X-Request-Id, CORS, nosniff, no-store).
        for (k, v) in old.headers() {
            if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                res.headers_mut().insert(k.clone(), v.clone());
            }
        }
        return Ok(ServiceResponse::new(req, res));
    }
    if !state.finished.load(Ordering::Relaxed) {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}

/// How long past the deadline an unread body's reader is kept, for its response to go out.
const GRACE: Duration = Duration::from_secs(5);
