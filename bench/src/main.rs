//! wiizo-bench: measures the release function binaries the way Lambda runs them, beside a
//! hello-world floor built the same way, in one run, so ratios hold on a noisy machine.
//!
//!   wiizo-bench --bin-dir target/release --events events --out target/bench/latest.json
//!               [--lambda-dir target/lambda]
//!               [--store sqlite|dynamodb|postgres] [--invocations 2000] [--inits 20] [--leads N]
//!               [--log info|off]
//!
//! `--leads` defaults to 10 000 on SQLite and 300 on DynamoDB: the local emulator takes
//! tens of milliseconds per transactional write, slowing as the table grows, and past a few
//! hundred leads its answers can outlast the SDK's 2 s attempt timeout. PostgreSQL reads
//! `DATABASE_URL` (`make bench STORE=postgres` starts a throw-away cluster).

mod driver;
mod report;
mod runtime_api;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

pub struct Options {
    pub bin_dir: PathBuf,
    pub events: PathBuf,
    pub out: PathBuf,
    /// Where `make build` leaves the arm64 bootstraps, reported beside the x86_64 figures.
    pub lambda_dir: PathBuf,
    pub store: String,
    pub invocations: usize,
    pub inits: usize,
    pub leads: usize,
    /// The functions' `RUST_LOG`: `info` as in production, `off` to see logging's cost.
    pub log: String,
}

fn options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let number = |name: &str, default: usize| -> Result<usize, String> {
        get(name).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("{name} must be a number"))
        })
    };
    let store = get("--store").unwrap_or_else(|| "sqlite".into());
    if !["sqlite", "dynamodb", "postgres"].contains(&store.as_str()) {
        return Err("--store must be sqlite, dynamodb or postgres".into());
    }
    Ok(Options {
        store: store.clone(),
        bin_dir: PathBuf::from(get("--bin-dir").unwrap_or_else(|| "target/release".into())),
        events: PathBuf::from(get("--events").unwrap_or_else(|| "events".into())),
        out: PathBuf::from(get("--out").unwrap_or_else(|| "target/bench/latest.json".into())),
        lambda_dir: PathBuf::from(get("--lambda-dir").unwrap_or_else(|| "target/lambda".into())),
        invocations: number("--invocations", 2000)?,
        inits: number("--inits", 20)?,
        leads: number("--leads", if store == "dynamodb" { 300 } else { 10_000 })?,
        log: get("--log").unwrap_or_else(|| "info".into()),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let opts = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("wiizo-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match scenarios::run(&opts).await {
        Ok(report) => {
            report.print();
            if let Err(e) = report.write(&opts.out) {
                eprintln!("wiizo-bench: cannot write {}: {e}", opts.out.display());
                return ExitCode::FAILURE;
            }
            println!("\nwritten to {}", opts.out.display());
            if report.all_ran() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("wiizo-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
