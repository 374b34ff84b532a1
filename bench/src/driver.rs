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
    measure_cold(f, runs, None, None)
        .await
        .map(|cold| cold.inits)
}

/// What `runs` cold starts of a function measured.
pub struct Cold {
    pub inits: Vec<Duration>,
    /// The first invocation each fresh process served.
    pub firsts: Vec<Duration>,
    /// The floor's inits, each started right before one of the function's.
    pub floor_inits: Vec<Duration>,
}

/// Cold starts of `runs` fresh processes: each one's init, and, given an event, the latency
/// of the first invocation it serves (what the customer whose request woke it waits for
/// after init: lazy connections, first statements, caches still empty). Given a floor,
/// each cold start follows one of the floor's, so that a ratio of the two compares starts
/// made under the same conditions on a noisy machine.
pub async fn measure_cold(
    f: &Function,
    runs: usize,
    first: Option<(&Bytes, u16)>,
    floor: Option<&Function>,
) -> Result<Cold, Failure> {
    let mut cold = Cold {
        inits: Vec::with_capacity(runs),
        firsts: Vec::with_capacity(runs),
        floor_inits: Vec::with_capacity(runs),
    };
    for _ in 0..runs {
        if let Some(floor) = floor {
            let (_api, mut child, init) = start(floor).await?;
            cold.floor_inits.push(init);
            let _ = child.kill().await;
        }
        let (api, child, init) = start(f).await?;
        cold.inits.push(init);
        let pid = child.id();
        let mut running = Running { api, child, pid };
        if let Some((event, expect)) = first {
            cold.firsts
                .push(running.invoke(0, event.clone(), expect).await?);
        }
        let _ = running.child.kill().await;
    }
    Ok(cold)
}

pub struct Warm {
    pub latencies: Vec<Duration>,
    pub wall: Duration,
    pub peak_rss_kb: Option<u64>,
}

/// A started function, polling for work.
struct Running {
    api: RuntimeApi,
    child: Child,
    pid: Option<u32>,
}

impl Running {
    async fn start(f: &Function) -> Result<Running, Failure> {
        let (api, child, _) = start(f).await?;
        let pid = child.id();
        Ok(Running { api, child, pid })
    }

    /// Hands out the `i`-th event and waits for its answer, which must have status `expect`.
    async fn invoke(&mut self, i: usize, event: Bytes, expect: u16) -> Result<Duration, Failure> {
        let sent = Instant::now();
        self.api.invoke(uuid::Uuid::new_v4().to_string(), event);
        let outcome = tokio::select! {
            o = self.api.outcomes.recv() => o,
            _ = self.child.wait() => return Err(Failure::Crashed(format!("after {i} invocations: {}", exit_report(&mut self.child).await))),
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
                Ok(at.duration_since(sent))
            }
            Some(Outcome::Error { body }) => Err(Failure::BadAnswer(format!(
                "invocation {i} reported an error: {}",
                String::from_utf8_lossy(&body)
            ))),
            Some(Outcome::InitError { body }) => Err(Failure::Crashed(format!(
                "init error after {i} invocations: {}",
                String::from_utf8_lossy(&body)
            ))),
            None => Err(Failure::Crashed("the Runtime API stopped".into())),
        }
    }

    async fn finish(mut self, latencies: Vec<Duration>, wall: Duration) -> Warm {
        let peak_rss_kb = self.pid.and_then(peak_rss_kb);
        let _ = self.child.kill().await;
        Warm {
            latencies,
            wall,
            peak_rss_kb,
        }
    }
}

/// What one warm run measures against: the events, in turn, and the status each must get.
pub struct Load<'a> {
    pub function: &'a Function,
    pub events: &'a [Bytes],
    pub expect: u16,
}

/// `n` invocations of one warm process. `kill_after` kills it after that many (the crash check).
pub async fn measure_warm(
    load: &Load<'_>,
    n: usize,
    kill_after: Option<usize>,
) -> Result<Warm, Failure> {
    let mut run = Running::start(load.function).await?;
    let mut latencies = Vec::with_capacity(n);
    let began = Instant::now();
    for i in 0..n {
        if kill_after == Some(i) {
            let _ = run.child.start_kill();
        }
        let event = load.events[i % load.events.len()].clone();
        latencies.push(run.invoke(i, event, load.expect).await?);
    }
    let wall = began.elapsed();
    Ok(run.finish(latencies, wall).await)
}

/// `n` invocations of `load`, each right after one of `floor` by a second warm process,
/// so that both are measured under the same conditions on a noisy machine. Returns the
/// load's figures and the floor's latencies of the same window.
pub async fn measure_paired(
    floor: &Load<'_>,
    load: &Load<'_>,
    n: usize,
) -> Result<(Warm, Vec<Duration>), Failure> {
    let mut base = Running::start(floor.function).await?;
    let mut run = Running::start(load.function).await?;
    let mut latencies = Vec::with_capacity(n);
    let mut floor_latencies = Vec::with_capacity(n);
    let mut wall = Duration::ZERO;
    for i in 0..n {
        floor_latencies.push(
            base.invoke(
                i,
                floor.events[i % floor.events.len()].clone(),
                floor.expect,
            )
            .await?,
        );
        let began = Instant::now();
        latencies.push(
            run.invoke(i, load.events[i % load.events.len()].clone(), load.expect)
                .await?,
        );
        wall += began.elapsed();
    }
    let _ = base.finish(Vec::new(), Duration::ZERO).await;
    Ok((run.finish(latencies, wall).await, floor_latencies))
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
