//! A local Lambda Runtime API (the 2018-06-01 interface a function's runtime polls), so
//! function binaries run here exactly as Lambda runs them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Mutex};

/// What a function told the API.
#[derive(Debug)]
pub enum Outcome {
    Response { at: Instant, body: Bytes },
    Error { body: Bytes },
    InitError { body: Bytes },
}

struct Shared {
    queue: Mutex<mpsc::UnboundedReceiver<(String, Bytes)>>,
    first_poll: std::sync::Mutex<Option<oneshot::Sender<Instant>>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    queue: mpsc::UnboundedSender<(String, Bytes)>,
    pub first_poll: Option<oneshot::Receiver<Instant>>,
    pub outcomes: mpsc::UnboundedReceiver<Outcome>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves the API on a fresh loopback port.
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let (first_tx, first_rx) = oneshot::channel();
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(queue_rx),
            first_poll: std::sync::Mutex::new(Some(first_tx)),
            outcomes: out_tx,
        });
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(RuntimeApi {
            addr,
            queue: queue_tx,
            first_poll: Some(first_rx),
            outcomes: out_rx,
            server,
        })
    }

    /// Hands `event` to the function's pending (or next) `GET /next`.
    pub fn invoke(&self, id: String, event: Bytes) {
        let _ = self.queue.send((id, event));
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn reply(status: u16, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let at = Instant::now();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        if let Some(tx) = shared.first_poll.lock().ok().and_then(|mut f| f.take()) {
            let _ = tx.send(at);
        }
        let next = shared.queue.lock().await.recv().await;
        let Some((id, event)) = next else {
            return Ok(reply(503, "shutting down"));
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() + 15_000)
            .unwrap_or_default();
        let response = Response::builder()
            .header("lambda-runtime-aws-request-id", id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .header("content-type", "application/json")
            .body(Full::new(event))
            .unwrap_or_else(|_| reply(500, "bad event"));
        return Ok(response);
    }
    if method != Method::POST {
        return Ok(reply(404, "not found"));
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let outcome = if path == "/2018-06-01/runtime/init/error" {
        Outcome::InitError { body }
    } else if path.starts_with("/2018-06-01/runtime/invocation/") && path.ends_with("/response") {
        Outcome::Response { at, body }
    } else if path.starts_with("/2018-06-01/runtime/invocation/") && path.ends_with("/error") {
        Outcome::Error { body }
    } else {
        return Ok(reply(404, "not found"));
    };
    let _ = shared.outcomes.send(outcome);
    Ok(reply(202, r#"{"status":"OK"}"#))
}

/// A stand-in for OpenAI on a fresh loopback port: every request gets the same small chat
/// completion at once, so that the AI scenario measures the proxy, not a model.
pub async fn fake_openai() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let answer = Bytes::from(
        serde_json::json!({
            "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Entregamos sim!"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}
        })
        .to_string(),
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let answer = answer.clone();
                    async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(answer))
                                .unwrap_or_default(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}
