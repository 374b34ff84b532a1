//! wiizo: the operator's command line.
//!
//!   wiizo migrate                                  apply the store's migrations
//!   wiizo company create <name>                    create a company, print its id
//!   wiizo token --company <name> [--role <role>] [--user <id>] [--hours <n>]
//!                                                  print a JWT for the company (created if needed)
//!   wiizo analytics rebuild --company <name>       make the company's analytics tallies again
//!                                                  from its records; print what was corrected
//!
//! It reads the same environment as the functions (`WIIZO_STORE`, `JWT_SECRET`, …).

use std::process::ExitCode;

use shared::auth::{mint, Role, TokenClaims};
use shared::config::Config;
use shared::store::{self, StoreError};

const USAGE: &str = "usage:
  wiizo migrate
  wiizo company create <name>
  wiizo token --company <name> [--role owner|admin|agent|viewer] [--user <id>] [--hours <n>]
  wiizo analytics rebuild --company <name>";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wiizo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

async fn run(args: &[String]) -> Result<String, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    if args.first().map(String::as_str) == Some("migrate") {
        store::migrate(&config.store)
            .await
            .map_err(|e| format!("cannot migrate the store: {e}"))?;
        return Ok("migrations applied".into());
    }
    let store = store::open(&config.store)
        .await
        .map_err(|e| format!("cannot open the store: {e}"))?;
    match args.first().map(String::as_str) {
        Some("company") if args.get(1).map(String::as_str) == Some("create") => {
            let name = args.get(2).ok_or(USAGE)?;
            let company = store.create_company(name).await.map_err(|e| match e {
                StoreError::Duplicate { existing_id, .. } => {
                    format!("a company named {name:?} already exists: {existing_id}")
                }
                e => e.to_string(),
            })?;
            Ok(company.id.to_string())
        }
        Some("token") => {
            let name = flag(args, "--company")
                .filter(|n| !n.trim().is_empty())
                .ok_or(USAGE)?;
            let role = match flag(args, "--role").unwrap_or("owner") {
                r @ ("owner" | "admin" | "agent" | "viewer") => Role::parse(r),
                other => return Err(format!("unknown role {other:?}\n{USAGE}")),
            };
            let hours: i64 = flag(args, "--hours")
                .unwrap_or("24")
                .parse()
                .map_err(|_| "--hours must be a whole number".to_string())?;
            let company = match store
                .find_company_by_name(name)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(c) => c,
                None => store
                    .create_company(name)
                    .await
                    .map_err(|e| e.to_string())?,
            };
            let user = flag(args, "--user")
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}-{}", role.as_str(), company.id));
            let claims = TokenClaims::new(&user, &company.id, role, hours * 3600);
            mint(&config.jwt.secret, &claims).map_err(|e| e.to_string())
        }
        Some("analytics") if args.get(1).map(String::as_str) == Some("rebuild") => {
            let name = flag(args, "--company").ok_or(USAGE)?;
            let company = store
                .find_company_by_name(name)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no company named {name:?}"))?;
            let app = shared::App::new("wiizo", config, store);
            let corrections = shared::usecase::analytics::rebuild(&app, &company.id)
                .await
                .map_err(|e| e.to_string())?;
            let mut out = format!("{} tallies corrected", corrections.len());
            for c in &corrections {
                out.push_str(&format!("\n{} {}: {} -> {}", c.day, c.metric, c.was, c.now));
            }
            Ok(out)
        }
        _ => Err(USAGE.into()),
    }
}
