//! Runs a function binary under the local Runtime API and measures it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::process::{Child, Command};

use crate::runtime_api::{Outcome, RuntimeApi};

const INIT_TIMEOUT: Duration = Duration::from_secs(10);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A function binary and the environment it runs with.
#[derive(Clone)]
pub struct Function {
    pub name: String,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Function {
    async fn spawn(&self, api: &RuntimeApi) -> std::io::Result<Child> {
        let mut cmd = Command::new(&self.binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.name),
            )
            .env("AWS_REGION", "us-east-1")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn()
    }
}

/// Why a run stopped short.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The process exited (or reported an init error) before polling for work.
    InitCrash(String),
    /// The process died while serving.
    Crashed(String),
    /// No answer within the timeout.
    Hung(String),
    /// The function answered with an error, or with another status than expected.
    BadAnswer(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::InitCrash(m) => write!(f, "crashed at init: {m}"),
            Failure::Crashed(m) => write!(f, "crashed while serving: {m}"),
            Failure::Hung(m) => write!(f, "hung: {m}"),
            Failure::BadAnswer(m) => write!(f, "wrong answer: {m}"),
        }
    }
}

async fn exit_report(child: &mut Child) -> String {
    let status = match tokio::time::timeout(Duration::from_millis(500), child.wait()).await {
        Ok(Ok(s)) => s.to_string(),
        _ => "still running".into(),
    };
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ =
            tokio::time::timeout(Duration::from_millis(200), err.read_to_string(&mut stderr)).await;
    }
    let tail: String = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
    format!(
        "{status}{}",
        if tail.is_empty() {
            String::new()
        } else {
            format!(" ({tail})")
        }
    )
}

/// Starts the function and waits for its first `GET /next`: the init time.
async fn start(f: &Function) -> Result<(RuntimeApi, Child, Duration), Failure> {
    let mut api = RuntimeApi::start()
        .await
        .map_err(|e| Failure::InitCrash(format!("cannot serve the Runtime API: {e}")))?;
    let first_poll = api
        .first_poll
        .take()
        .ok_or_else(|| Failure::InitCrash("no poll channel".into()))?;
    let started = Instant::now();
    let mut child = f
        .spawn(&api)
        .await
        .map_err(|e| Failure::InitCrash(format!("cannot start {}: {e}", f.binary.display())))?;
    tokio::select! {
        polled = first_poll => match polled {
            Ok(at) => {
                let init = at.duration_since(started);
                Ok((api, child, init))
            }
            Err(_) => Err(Failure::InitCrash("the Runtime API stopped".into())),
        },
        outcome = api.outcomes.recv() => {
            let detail = match outcome {
                Some(Outcome::InitError { body }) => String::from_utf8_lossy(&body).into_owned(),
                other => format!("{other:?}"),
            };
            Err(Failure::InitCrash(format!("{detail}; {}", exit_report(&mut child).await)))
        }
        _ = child.wait() => Err(Failure::InitCrash(exit_report(&mut child).await)),
        _ = tokio::time::sleep(INIT_TIMEOUT) => Err(Failure::Hung(format!("no GET /next within {INIT_TIMEOUT:?}"))),
    }
}

/// Init times of `runs` fresh processes.
pub async fn measure_init(f: &Function, runs: usize) -> Result<Vec<Duration>, Failure> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (_api, mut child, init) = start(f).await?;
        times.push(init);
        let _ = child.kill().await;
    }
    Ok(times)
}

pub struct Warm {
    pub latencies: Vec<Duration>,
    pub wall: Duration,
    pub peak_rss_kb: Option<u64>,
}

/// `n` invocations of one warm process, events taken in turn; each answer's status must be
/// `expect`. `kill_after` kills the process after that many invocations (the crash check).
pub async fn measure_warm(
    f: &Function,
    events: &[Bytes],
    n: usize,
    expect: u16,
    kill_after: Option<usize>,
) -> Result<Warm, Failure> {
    let (mut api, mut child, _) = start(f).await?;
    let pid = child.id();
    let mut latencies = Vec::with_capacity(n);
    let began = Instant::now();
    for i in 0..n {
        if kill_after == Some(i) {
            let _ = child.start_kill();
        }
        let event = events[i % events.len()].clone();
        let sent = Instant::now();
        api.invoke(uuid::Uuid::new_v4().to_string(), event);
        let outcome = tokio::select! {
            o = api.outcomes.recv() => o,
            _ = child.wait() => return Err(Failure::Crashed(format!("after {i} invocations: {}", exit_report(&mut child).await))),
            _ = tokio::time::sleep(INVOKE_TIMEOUT) => return Err(Failure::Hung(format!("invocation {i} unanswered after {INVOKE_TIMEOUT:?}"))),
        };
        match outcome {
            Some(Outcome::Response { at, body }) => {
                let status = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["statusCode"].as_u64())
                    .unwrap_or_default();
                if status != u64::from(expect) {
                    return Err(Failure::BadAnswer(format!(
                        "invocation {i}: status {status}, expected {expect}: {}",
                        String::from_utf8_lossy(&body)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    )));
                }
                latencies.push(at.duration_since(sent));
            }
            Some(Outcome::Error { body }) => {
                return Err(Failure::BadAnswer(format!(
                    "invocation {i} reported an error: {}",
                    String::from_utf8_lossy(&body)
                )))
            }
            Some(Outcome::InitError { body }) => {
                return Err(Failure::Crashed(format!(
                    "init error after {i} invocations: {}",
                    String::from_utf8_lossy(&body)
                )))
            }
            None => return Err(Failure::Crashed("the Runtime API stopped".into())),
        }
    }
    let wall = began.elapsed();
    let peak_rss_kb = pid.and_then(peak_rss_kb);
    let _ = child.kill().await;
    Ok(Warm {
        latencies,
        wall,
        peak_rss_kb,
    })
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}
