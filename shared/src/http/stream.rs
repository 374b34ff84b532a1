//! The body of an answer under the streaming runner: a whole body, or the chunks of a
//! stream as its producer sends them.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use lambda_http::Body;
use tokio::sync::mpsc::Receiver;

pub struct Streamed {
    whole: Option<Bytes>,
    chunks: Option<Receiver<Bytes>>,
}

impl Streamed {
    pub fn new(body: Body, chunks: Option<Receiver<Bytes>>) -> Streamed {
        let whole = match body {
            Body::Empty => None,
            Body::Text(t) => Some(Bytes::from(t)),
            Body::Binary(b) => Some(Bytes::from(b)),
            _ => None,
        };
        Streamed { whole, chunks }
    }
}

impl http_body::Body for Streamed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(whole) = self.whole.take() {
            return Poll::Ready(Some(Ok(Frame::data(whole))));
        }
        match self.chunks.as_mut() {
            None => Poll::Ready(None),
            Some(rx) => rx.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b)))),
        }
    }
}
