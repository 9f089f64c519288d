//! The command line: `ruvuma run`, `ruvuma validate`, `ruvuma plugins`.

use crate::compile::{compile, Plan};
use crate::config::{self, Problem};
use crate::engine::Engine;
use crate::plugins::{plugin_dirs, Catalogue};
use clap::{Args, Parser, Subcommand};
use ruvuma_plugin_api::abi::LogLevel;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ruvuma",
    version,
    about = "Multi-channel messaging host: transports, applications and routers as plugins."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct PluginArgs {
    /// A folder of plugin libraries (repeatable). Also: RUVUMA_PLUGIN_PATH, the config's
    /// plugin_dirs; with none of these, the folder the ruvuma executable is in.
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a config until SIGINT or SIGTERM.
    Run {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        #[command(flatten)]
        plugins: PluginArgs,
        /// Log filter, e.g. `debug` or `info,ruvuma::plugin=debug` (default: RUST_LOG, else info).
        #[arg(long, value_name = "FILTER")]
        log_level: Option<String>,
    },
    /// Check a config without starting anything.
    Validate {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// List the plugin libraries found and the components each exports.
    Plugins {
        #[command(flatten)]
        plugins: PluginArgs,
    },
}

fn print_problems(problems: &[Problem]) {
    eprintln!(
        "{} problem{} found:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        eprintln!("  {p}");
    }
}

/// Reads, resolves and checks a config: the plan and the catalogue, or every problem.
fn prepare(path: &Path, plugins: &PluginArgs) -> Result<(Plan, Catalogue), Vec<Problem>> {
    let cfg = config::load(path)?;
    let catalogue = Catalogue::load(plugin_dirs(&cfg.plugin_dirs, &plugins.plugin_dirs));
    for e in &catalogue.errors {
        tracing::warn!("skipping plugin file {e}");
    }
    let plan = compile(cfg, &catalogue)?;
    Ok((plan, catalogue))
}

pub fn validate(path: &Path, plugins: &PluginArgs) -> ExitCode {
    match prepare(path, plugins) {
        Ok((plan, _)) => {
            println!("{}", plan.summary());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            print_problems(&problems);
            ExitCode::from(1)
        }
    }
}

pub fn list_plugins(plugins: &PluginArgs) -> ExitCode {
    let cat = Catalogue::load(plugin_dirs(&[], &plugins.plugin_dirs));
    let dirs: Vec<String> = cat.dirs.iter().map(|d| d.display().to_string()).collect();
    println!("plugin folders: {}", dirs.join(", "));
    for lib in &cat.libraries {
        println!(
            "{}\n  library {} {} (plugin ABI {}, {}, {})",
            lib.path.display(),
            lib.name,
            lib.version,
            lib.abi_version,
            lib.rustc_version,
            lib.target
        );
        for c in &lib.components {
            let aliases = if c.aliases.is_empty() {
                String::new()
            } else {
                format!(
                    " (also: {})",
                    c.aliases.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
                )
            };
            println!("  {:<11} {:<23} {}{aliases}", c.kind.as_str(), c.name, c.description);
        }
    }
    if cat.libraries.is_empty() {
        println!("no plugin libraries found");
    }
    for d in &cat.duplicates {
        eprintln!("error: {d}");
    }
    for e in &cat.errors {
        eprintln!("error: {e}");
    }
    if cat.errors.is_empty() && cat.duplicates.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub async fn run(path: &Path, plugins: &PluginArgs, max_level: LogLevel) -> ExitCode {
    let (plan, catalogue) = match prepare(path, plugins) {
        Ok(p) => p,
        Err(problems) => {
            print_problems(&problems);
            return ExitCode::from(1);
        }
    };
    let alias = if plan.config.system_alias.is_empty() {
        "ruvuma".to_owned()
    } else {
        plan.config.system_alias.clone()
    };
    let state = match Engine::open_state(&plan.config.state).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let bus = match Engine::open_bus(&plan.config.bus).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let engine = match Engine::build(&plan, &catalogue, bus, state, max_level) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = engine.start().await {
        tracing::error!("{e}");
        engine.shutdown(plan.config.shutdown_timeout).await;
        return ExitCode::from(1);
    }
    tracing::info!("{alias} running {} from {}", plan.counts(), plan.config.path.display());
    let signal = wait_for_signal().await;
    tracing::info!("{signal}: shutting down (no new input; finishing messages in flight)");
    engine.shutdown(plan.config.shutdown_timeout).await;
    tracing::info!("{alias} stopped");
    ExitCode::SUCCESS
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        let _ = tokio::signal::ctrl_c().await;
        return "interrupt";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
