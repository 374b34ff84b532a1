//! Figures, ratios to the floor, the performance budgets, as a table and as JSON.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::driver::{Cold, Failure, Warm};
use crate::Options;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub per_second: f64,
    pub init_p50: Duration,
    pub init_p95: Duration,
    /// The first invocation of a freshly started process (median over the cold starts).
    pub first_p50: Duration,
    pub rss_mb: Option<f64>,
    /// The floor's median over the same window, invocation for invocation.
    pub floor_p50: Option<Duration>,
    /// The floor's median init over the same cold starts, start for start.
    pub floor_init_p50: Option<Duration>,
}

impl Figures {
    /// Init against the floor's: the floor's starts paired with this scenario's when there
    /// were any, else the floor scenario's own.
    pub fn init_ratio(&self, floor: &Figures) -> (f64, Duration) {
        let base = self.floor_init_p50.unwrap_or(floor.init_p50);
        (ms(self.init_p50) / ms(base).max(1e-9), base)
    }
}

pub struct Row {
    pub name: String,
    pub function: String,
    pub size_mb: Option<f64>,
    pub figures: Result<Figures, String>,
}

impl Row {
    pub fn new(
        name: &str,
        function: &str,
        size: Option<u64>,
        cold: Result<Cold, Failure>,
        warm: Result<Warm, Failure>,
        paired_floor: Option<Vec<Duration>>,
    ) -> Row {
        let figures = match (cold, warm) {
            (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
            (Ok(cold), Ok(mut warm)) => {
                let Cold {
                    mut inits,
                    mut firsts,
                    mut floor_inits,
                } = cold;
                inits.sort();
                firsts.sort();
                floor_inits.sort();
                warm.latencies.sort();
                Ok(Figures {
                    p50: percentile(&warm.latencies, 50.0),
                    p95: percentile(&warm.latencies, 95.0),
                    p99: percentile(&warm.latencies, 99.0),
                    per_second: warm.latencies.len() as f64 / warm.wall.as_secs_f64().max(1e-9),
                    init_p50: percentile(&inits, 50.0),
                    init_p95: percentile(&inits, 95.0),
                    first_p50: percentile(&firsts, 50.0),
                    rss_mb: warm.peak_rss_kb.map(|kb| kb as f64 / 1024.0),
                    floor_p50: paired_floor.map(|mut f| {
                        f.sort();
                        percentile(&f, 50.0)
                    }),
                    floor_init_p50: (!floor_inits.is_empty())
                        .then(|| percentile(&floor_inits, 50.0)),
                })
            }
        };
        Row {
            name: name.into(),
            function: function.into(),
            size_mb: size.map(|b| b as f64 / 1_048_576.0),
            figures,
        }
    }
}

pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, passed: bool, detail: String) -> Check {
        Check {
            name: name.into(),
            passed,
            detail,
        }
    }
}

pub struct Budget {
    pub name: String,
    pub measured: String,
    /// None when the scenario could not be measured.
    pub met: Option<bool>,
}

pub struct Report {
    pub store: String,
    pub invocations: usize,
    pub inits: usize,
    pub leads: usize,
    pub rows: Vec<Row>,
    pub checks: Vec<Check>,
    pub budgets: Vec<Budget>,
    /// The arm64 bootstraps `make build` left, as deployed: (function, MB).
    pub arm64: Vec<(String, f64)>,
}

/// The functions `make build` makes a bootstrap of.
const DEPLOYED: [&str; 7] = [
    "leads-management",
    "whatsapp-api",
    "webhooks",
    "openai-proxy",
    "analytics",
    "accounts",
    "events-worker",
];

/// The sizes of the arm64 bootstraps under `lambda_dir` (`<target>/lambda/<function>/bootstrap`).
fn arm64_sizes(lambda_dir: &Path) -> Vec<(String, f64)> {
    DEPLOYED
        .iter()
        .filter_map(|f| {
            let meta = std::fs::metadata(lambda_dir.join(f).join("bootstrap")).ok()?;
            Some((f.to_string(), meta.len() as f64 / 1_048_576.0))
        })
        .collect()
}

impl Report {
    pub fn new(opts: &Options, rows: Vec<Row>, checks: Vec<Check>) -> Report {
        let mut report = Report {
            store: opts.store.clone(),
            invocations: opts.invocations,
            inits: opts.inits,
            leads: opts.leads,
            rows,
            checks,
            budgets: Vec::new(),
            arm64: arm64_sizes(&opts.lambda_dir),
        };
        report.budgets = report.judge();
        report
    }

    fn floor(&self) -> Option<&Figures> {
        self.rows.first().and_then(|r| r.figures.as_ref().ok())
    }

    fn figures(&self, name_starts: &str) -> Option<&Figures> {
        self.rows
            .iter()
            .find(|r| r.name.starts_with(name_starts))
            .and_then(|r| r.figures.as_ref().ok())
    }

    /// The performance budgets (`docs/architecture.md`, "Performance budgets"), against this
    /// run's figures.
    fn judge(&self) -> Vec<Budget> {
        let mut out = Vec::new();
        let floor = self.floor().cloned();
        let init_limit = if self.store == "dynamodb" { 2.0 } else { 1.5 };
        for row in self.rows.iter().skip(1) {
            if let (Ok(f), Some(fl)) = (&row.figures, &floor) {
                let (ratio, base) = f.init_ratio(fl);
                out.push(Budget {
                    name: format!(
                        "init of {} ≤ {init_limit}× floor ({})",
                        row.function, row.name
                    ),
                    measured: format!(
                        "{ratio:.2}× ({:.2} ms vs {:.2} ms)",
                        ms(f.init_p50),
                        ms(base)
                    ),
                    met: Some(ratio <= init_limit),
                });
            }
        }
        let overhead = self
            .figures("auth + routing")
            .zip(floor.as_ref())
            .map(|(f, fl)| us(f.p50) - us(fl.p50));
        out.push(Budget {
            name: "warm overhead (auth, validation, envelope, routing) < 50 µs above floor".into(),
            measured: overhead.map_or("n/a".into(), |o| format!("{o:.1} µs")),
            met: overhead.map(|o| o < 50.0),
        });
        let first = self
            .figures("lead: GET one")
            .map(|f| (ms(f.first_p50), ms(f.p50)));
        out.push(Budget {
            name: "a lead read's first invocation after a cold start ≤ 1.5× a warm one".into(),
            measured: first.map_or("n/a".into(), |(c, w)| {
                format!("{:.2}× ({c:.3} ms vs {w:.3} ms)", c / w.max(1e-9))
            }),
            met: first.map(|(c, w)| c <= 1.5 * w),
        });
        let read = self.figures("lead: GET one").map(|f| ms(f.p50));
        out.push(Budget {
            name: format!("lead read on {} < 0.3 ms end to end (p50)", self.store),
            measured: read.map_or("n/a".into(), |r| format!("{r:.3} ms")),
            met: read.map(|r| r < 0.3),
        });
        let ingest = self.figures("webhooks: ingest").map(|f| ms(f.p50));
        out.push(Budget {
            name: "webhook ingest of a 10-message batch < 2 ms".into(),
            measured: ingest.map_or("not measured (route not built yet)".into(), |r| {
                format!("{r:.3} ms")
            }),
            met: ingest.map(|r| r < 2.0),
        });
        // The stand-in upstream answers at once: what is above the floor is the proxy's own
        // work (reserve, call, settle) plus one loopback round trip.
        let ai = self
            .figures("ai: completion")
            .zip(floor.as_ref())
            .map(|(f, fl)| (us(f.p50) - us(fl.p50)) / 1000.0);
        out.push(Budget {
            name: "a non-streamed AI completion adds < 1 ms to the upstream's time".into(),
            measured: ai.map_or("n/a".into(), |r| format!("{r:.3} ms")),
            met: ai.map(|r| r < 1.0),
        });
        // Size and peak RSS once per function: the largest peak over its scenarios.
        let mut per_function: std::collections::BTreeMap<&str, (Option<f64>, Option<f64>)> =
            Default::default();
        for row in self.rows.iter().skip(1) {
            let entry = per_function.entry(row.function.as_str()).or_default();
            entry.0 = entry.0.or(row.size_mb);
            if let Ok(Figures {
                rss_mb: Some(rss), ..
            }) = &row.figures
            {
                entry.1 = Some(entry.1.map_or(*rss, |r: f64| r.max(*rss)));
            }
        }
        for (function, (size, rss)) in per_function {
            if let Some(size) = size {
                out.push(Budget {
                    name: format!("{function} release binary < 15 MB"),
                    measured: format!("{size:.1} MB"),
                    met: Some(size < 15.0),
                });
            }
            if let Some(rss) = rss {
                out.push(Budget {
                    name: format!("{function} peak RSS < 30 MB"),
                    measured: format!("{rss:.1} MB"),
                    met: Some(rss < 30.0),
                });
            }
        }
        out
    }

    /// Every scenario was measured and every failure check held.
    pub fn all_ran(&self) -> bool {
        self.rows.iter().all(|r| r.figures.is_ok()) && self.checks.iter().all(|c| c.passed)
    }

    pub fn print(&self) {
        let floor = self.floor().cloned();
        println!(
            "\nwiizo-bench on {} — store {}, {} warm invocations and {} cold starts per scenario, {} leads\n",
            machine(),
            self.store,
            self.invocations,
            self.inits,
            self.leads
        );
        println!(
            "{:<40} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>7} {:>7} {:>11} {:>9}",
            "scenario",
            "p50 µs",
            "p95 µs",
            "p99 µs",
            "inv/s",
            "init ms",
            "init p95",
            "1st µs",
            "RSS MB",
            "size MB",
            "+µs/floor",
            "init ×"
        );
        for r in &self.rows {
            match &r.figures {
                Ok(f) => {
                    let (over, ratio) =
                        floor.as_ref().map_or((String::new(), String::new()), |fl| {
                            (
                                format!("{:+.1}", us(f.p50) - us(fl.p50)),
                                format!("{:.2}", f.init_ratio(fl).0),
                            )
                        });
                    println!(
                        "{:<40} {:>9.1} {:>9.1} {:>9.1} {:>8.0} {:>9.2} {:>9.2} {:>9.1} {:>7.1} {:>7.1} {:>11} {:>9}",
                        r.name,
                        us(f.p50),
                        us(f.p95),
                        us(f.p99),
                        f.per_second,
                        ms(f.init_p50),
                        ms(f.init_p95),
                        us(f.first_p50),
                        f.rss_mb.unwrap_or_default(),
                        r.size_mb.unwrap_or_default(),
                        over,
                        ratio
                    );
                }
                Err(e) => println!("{:<40} {e}", r.name),
            }
        }
        println!("\nbudgets (docs/architecture.md, \"Performance budgets\"):");
        for b in &self.budgets {
            let verdict = match b.met {
                Some(true) => "met",
                Some(false) => "NOT MET",
                None => "n/a",
            };
            println!("  [{verdict:^7}] {}: {}", b.name, b.measured);
        }
        println!(
            "\narm64 bootstraps (make build, as deployed; the store is make build's DEPLOY_STORE):"
        );
        if self.arm64.is_empty() {
            println!("  none found: run make build first");
        }
        for (f, mb) in &self.arm64 {
            println!("  {f:<18} {mb:>6.1} MB");
        }
        println!("\nfailure handling:");
        for c in &self.checks {
            println!(
                "  [{}] {}: {}",
                if c.passed { "ok" } else { "FAILED" },
                c.name,
                c.detail
            );
        }
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| match &r.figures {
                Ok(f) => json!({
                    "scenario": r.name, "function": r.function,
                    "p50_us": us(f.p50), "p95_us": us(f.p95), "p99_us": us(f.p99),
                    "invocations_per_s": f.per_second,
                    "init_p50_ms": ms(f.init_p50), "init_p95_ms": ms(f.init_p95),
                    "first_invocation_p50_us": us(f.first_p50),
                    "peak_rss_mb": f.rss_mb, "binary_mb": r.size_mb,
                    "overhead_vs_floor_us": self.floor().map(|fl| overhead_us(f, fl)),
                    "paired_floor_p50_us": f.floor_p50.map(us),
                    "init_vs_floor": self.floor().map(|fl| f.init_ratio(fl).0),
                    "paired_floor_init_p50_ms": f.floor_init_p50.map(ms),
                }),
                Err(e) => json!({"scenario": r.name, "function": r.function, "error": e}),
            })
            .collect();
        let doc = json!({
            "machine": machine(),
            "store": self.store,
            "invocations": self.invocations,
            "arm64_bootstrap_mb": self.arm64.iter().map(|(f, mb)| json!({"function": f, "mb": mb})).collect::<Vec<_>>(),
            "cold_starts": self.inits,
            "leads": self.leads,
            "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default(),
            "scenarios": rows,
            "budgets": self.budgets.iter().map(|b| json!({"budget": b.name, "measured": b.measured, "met": b.met})).collect::<Vec<_>>(),
            "failure_checks": self.checks.iter().map(|c| json!({"check": c.name, "passed": c.passed, "detail": c.detail})).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap_or_default())
    }
}

/// A scenario's median above the floor's: the floor of its own window when it was paired.
fn overhead_us(f: &Figures, floor: &Figures) -> f64 {
    us(f.p50) - us(f.floor_p50.unwrap_or(floor.p50))
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} × {model}")
}
