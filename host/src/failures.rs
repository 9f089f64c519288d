//! `ruvuma failures list|replay|purge`: the dead letters of a config's host. With an `admin:`
//! section the running host's admin server is asked (it replays onto its own bus); without one,
//! or when the host is not running, the store is read directly and a replay is published on
//! RabbitMQ (a memory bus lives only inside its host).

use crate::bus::AmqpBus;
use crate::config::{self, AdminAuth, BusSpec, ConfigFile};
use crate::store::failures::{self as kept, DeadLetter};
use crate::store::{self as store};
use crate::text::url_encode as encode;
use clap::{Args, Subcommand};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct ConfigArg {
    /// The config of the host whose failures these are.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Subcommand)]
pub enum FailuresCommand {
    /// Failures, newest first, as JSON lines.
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        component: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Puts a failure's message back on the routing key it came from, and forgets the failure.
    Replay {
        id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Forgets every failure (of one component, with --component).
    Purge {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        component: Option<String>,
    },
}

/// The running host's admin server, as the config names it.
struct AdminClient {
    base: String,
    auth: Option<AdminAuth>,
    client: reqwest::Client,
}

impl AdminClient {
    fn of(cfg: &ConfigFile) -> Option<Self> {
        let spec = cfg.admin.as_ref()?;
        let mut addr = spec.bind;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .ok()?;
        Some(Self {
            base: format!("http://{addr}"),
            auth: spec.auth.clone(),
            client,
        })
    }

    /// Sends a request; Err(None) when the server cannot be reached (the host is not running).
    async fn send(&self, method: reqwest::Method, path: &str) -> Result<Json, Option<String>> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        request = match &self.auth {
            Some(AdminAuth::Basic { username, password }) => request.basic_auth(username, Some(password)),
            Some(AdminAuth::Token(t)) => request.bearer_auth(t),
            None => request,
        };
        let response = request.send().await.map_err(|_| None)?;
        let status = response.status();
        let body: Json = response
            .json()
            .await
            .map_err(|e| Some(format!("the admin server answered {status}: {e}")))?;
        if status.is_success() {
            Ok(body)
        } else {
            let why = body["error"].as_str().unwrap_or("").to_owned();
            Err(Some(format!("the admin server answered {status}: {why}")))
        }
    }
}

fn query_part(component: &Option<String>) -> String {
    component
        .as_deref()
        .map_or(String::new(), |c| format!("component={}", encode(c)))
}

fn load(path: &Path) -> Result<ConfigFile, String> {
    config::load(path).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        format!("the config has problems:\n{}", lines.join("\n"))
    })
}

fn with_store<T>(
    cfg: &ConfigFile,
    f: impl FnOnce(&mut dyn store::Db) -> Result<T, store::DbError>,
) -> Result<T, String> {
    let spec = cfg.store.as_ref().ok_or_else(|| {
        format!(
            "{} has no admin: section and no store: section, so its failures are not kept where this command can read them",
            cfg.path.display()
        )
    })?;
    let mut db = store::connect(&spec.backend, false).map_err(|e| e.to_string())?;
    let out = f(db.as_mut()).map_err(|e| e.to_string());
    db.leave();
    out
}

async fn list(cfg: &ConfigFile, component: Option<String>, limit: usize) -> Result<(), String> {
    if let Some(admin) = AdminClient::of(cfg) {
        let path = format!("/api/failures?limit={limit}&{}", query_part(&component));
        match admin.send(reqwest::Method::GET, &path).await {
            Ok(body) => {
                for f in body["failures"].as_array().into_iter().flatten() {
                    println!("{f}");
                }
                return Ok(());
            }
            Err(Some(e)) => return Err(e),
            Err(None) => eprintln!("the admin server at {} does not answer; reading the store", admin.base),
        }
    }
    for f in with_store(cfg, |db| kept::list(db, component.as_deref(), limit))? {
        println!("{}", f.to_json());
    }
    Ok(())
}

async fn replay(cfg: &ConfigFile, id: &str) -> Result<(), String> {
    if let Some(admin) = AdminClient::of(cfg) {
        let path = format!("/api/failures/{}/replay", encode(id));
        match admin.send(reqwest::Method::POST, &path).await {
            Ok(body) => {
                println!("{body}");
                return Ok(());
            }
            Err(Some(e)) => return Err(e),
            Err(None) => eprintln!(
                "the admin server at {} does not answer; replaying from the store",
                admin.base
            ),
        }
    }
    let BusSpec::Amqp {
        url,
        exchange,
        prefetch,
    } = &cfg.bus
    else {
        return Err(
            "the host runs on the memory bus, which lives inside it: replay through its admin server \
                    (add admin: to the config, and run the host)"
                .into(),
        );
    };
    let key = id.to_owned();
    let letter: DeadLetter =
        with_store(cfg, move |db| kept::get(db, &key))?.ok_or_else(|| format!("no failure {id:?}"))?;
    let payload = ruvuma_plugin_api::vumi_json::decode_payload(letter.body.as_bytes()).map_err(|e| e.to_string())?;
    let bus = AmqpBus::connect(url, exchange, *prefetch)
        .await
        .map_err(|e| e.to_string())?;
    bus.publisher(&letter.origin)
        .publish(payload)
        .await
        .map_err(|e| e.to_string())?;
    let key = id.to_owned();
    with_store(cfg, move |db| kept::delete(db, &key))?;
    println!("{{\"replayed\": {:?}, \"on\": {:?}}}", letter.failure_id, letter.origin);
    Ok(())
}

async fn purge(cfg: &ConfigFile, component: Option<String>) -> Result<(), String> {
    if let Some(admin) = AdminClient::of(cfg) {
        let path = format!("/api/failures/purge?{}", query_part(&component));
        match admin.send(reqwest::Method::POST, &path).await {
            Ok(body) => {
                println!("{body}");
                return Ok(());
            }
            Err(Some(e)) => return Err(e),
            Err(None) => eprintln!("the admin server at {} does not answer; purging the store", admin.base),
        }
    }
    let n = with_store(cfg, |db| kept::purge(db, component.as_deref()))?;
    println!("{{\"purged\": {n}}}");
    Ok(())
}

pub fn run(command: FailuresCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match command {
            FailuresCommand::List {
                config,
                component,
                limit,
            } => list(&load(&config.config)?, component, limit).await,
            FailuresCommand::Replay { id, config } => replay(&load(&config.config)?, &id).await,
            FailuresCommand::Purge { config, component } => purge(&load(&config.config)?, component).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
