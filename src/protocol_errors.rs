//! JSON for requests the HTTP library refuses before any of our code runs (SPEC §5: every
//! error is JSON).
//!
//! actix-http's HTTP/1 decoder answers a malformed request head itself, with a bare 400 or
//! 431 and no body (a URI over 64 KiB, control bytes or a raw `\xff`/CRLF in a header or the
//! path, an absurd `Content-Length`, more than 96 headers, a head over 128 KiB), and offers no
//! hook to change that. So each connection is wrapped: a shadow copy of the same decoder
//! (`actix_http::h1::Codec`, the type the dispatcher uses) sees every byte read before actix
//! does. When it rejects a request head, actix is handed only the bytes before that request,
//! then end-of-file; it answers any earlier pipelined requests and shuts the connection down,
//! and at that shutdown the wrapper writes our JSON error and closes.
//!
//! Cost: each request head is parsed twice and body bytes are copied once more. Not JSON
//! still: the 408 for a request head that never completes (`request_timeout_secs`), answered
//! by actix's own timer; a client that resets mid-request gets nothing. A malformed chunked
//! *body* reaches the handler as an incomplete payload and is answered by our own JSON errors.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_codec::Decoder as _;
use actix_http::error::ParseError;
use actix_http::h1::{Codec, Message, MessageType};
use actix_http::StatusCode;
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose malformed requests are answered in JSON (see the module docs).
pub struct JsonErrorsIo<T> {
    io: T,
    shadow: Codec,
    /// Bytes read but not yet consumed by the shadow decoder.
    buf: BytesMut,
    /// Bytes read so far.
    fed: usize,
    /// Whether the shadow decoder is inside a request body.
    in_body: bool,
    failed: bool,
    /// The JSON answer to write when actix shuts the connection down.
    reply: Option<Bytes>,
}

impl<T> JsonErrorsIo<T> {
    pub fn new(io: T) -> Self {
        Self {
            io,
            shadow: Codec::default(),
            buf: BytesMut::new(),
            fed: 0,
            in_body: false,
            failed: false,
            reply: None,
        }
    }
}

/// The whole HTTP response for a head the decoder refused.
fn render(err: &ParseError) -> Bytes {
    let (status, code, message) = match err {
        ParseError::TooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "The request head is too large or has too many header fields",
        ),
        ParseError::Uri(e) if e.to_string() == "uri too long" => (
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            "The request URI is too long",
        ),
        ParseError::Uri(_) => (
            StatusCode::BAD_REQUEST,
            "invalid_uri",
            "The request URI is malformed",
        ),
        ParseError::Method => (
            StatusCode::BAD_REQUEST,
            "invalid_method",
            "The request method is malformed",
        ),
        ParseError::Version => (
            StatusCode::BAD_REQUEST,
            "invalid_version",
            "The HTTP version is malformed",
        ),
        ParseError::Header => (
            StatusCode::BAD_REQUEST,
            "invalid_header",
            "The request line or a header is malformed",
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "The request could not be parsed",
        ),
    };
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = serde_json::json!({"error": reason, "message": message, "code": code}).to_string();
    Bytes::from(format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\n\r\n{body}",
        status.as_u16(),
        body.len()
    ))
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrorsIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Ok(())); // end-of-file for actix: no more requests here
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        if new.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let fed_before = this.fed;
        this.fed += new.len();
        this.buf.extend_from_slice(new);
        loop {
            // Bytes the shadow decoder has fully accepted.
            let good = this.fed - this.buf.len();
            match this.shadow.decode(&mut this.buf) {
                Ok(Some(Message::Item(_))) => {
                    this.in_body = this.shadow.message_type() != MessageType::None;
                }
                Ok(Some(Message::Chunk(Some(_)))) => {}
                Ok(Some(Message::Chunk(None))) => this.in_body = false,
                Ok(None) => break,
                Err(err) => {
                    log::debug!("malformed request ({err})");
                    this.failed = true;
                    // A broken head: nobody answered, we will. A broken chunked body: the
                    // request was dispatched; its handler sees an incomplete payload.
                    if !this.in_body {
                        this.reply = Some(render(&err));
                    }
                    buf.set_filled(before + good.saturating_sub(fed_before));
                    this.buf = BytesMut::new();
                    break;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrorsIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, b)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, b)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while let Some(reply) = this.reply.as_mut() {
            if reply.is_empty() {
                this.reply = None;
                break;
            }
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, reply))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            reply.advance(n);
        }
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
