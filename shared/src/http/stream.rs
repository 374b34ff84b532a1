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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    fn frames(mut body: Streamed) -> Vec<Bytes> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            if let Ok(data) = frame.into_data() {
                out.push(data);
            }
        }
        out
    }

    #[test]
    fn a_whole_answer_is_one_frame_and_an_empty_one_none() {
        assert_eq!(
            frames(Streamed::new(Body::Text("{}".into()), None)),
            vec![Bytes::from("{}")]
        );
        assert!(frames(Streamed::new(Body::Empty, None)).is_empty());
    }

    #[test]
    fn a_stream_goes_out_chunk_by_chunk_until_its_sender_is_gone() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.try_send(Bytes::from("data: 1\n\n")).unwrap();
        tx.try_send(Bytes::from("data: [DONE]\n\n")).unwrap();
        drop(tx);
        assert_eq!(frames(Streamed::new(Body::Empty, Some(rx))).len(), 2);
    }
}
