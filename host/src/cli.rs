//! The command line: `ruvuma run`, `ruvuma validate`, `ruvuma plugins`, `ruvuma messages`.

use crate::app;
use crate::config::{Problem, LIMITS};
use crate::error::HostError;
use crate::logging::LogFormat;
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
    /// Run a config until SIGINT or SIGTERM; SIGHUP reloads it.
    Run {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        #[command(flatten)]
        plugins: PluginArgs,
        /// Log filter, e.g. `debug` or `info,ruvuma::plugin=debug` (default: RUST_LOG, else info).
        #[arg(long, value_name = "FILTER")]
        log_level: Option<String>,
        /// How log lines are written to stderr: `text`, or `json` (one object per line, with
        /// the `component` each line is about).
        #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Reload the config when its file changes (as SIGHUP does).
        #[arg(long)]
        watch: bool,
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
    /// Look up what the message store kept (the config must have a `store:`).
    Messages {
        #[command(subcommand)]
        command: crate::messages::MessagesCommand,
    },
    /// List, replay and purge what components gave up on (through the running host's admin
    /// server when the config has one, else from the store).
    Failures {
        #[command(subcommand)]
        command: crate::failures::FailuresCommand,
    },
}

fn print_problems(problems: &[Problem]) {
    let n = problems.len();
    eprintln!("{n} problem{} found:", if n == 1 { "" } else { "s" });
    let shown = n.min(LIMITS.max_problems);
    for p in &problems[..shown] {
        eprintln!("  {p}");
    }
    if n > shown {
        eprintln!("  ... and {} more", n - shown);
    }
}

pub fn validate(path: &Path, plugins: &PluginArgs) -> ExitCode {
    match app::prepare(path, &plugins.plugin_dirs) {
        Ok(prepared) => {
            println!("{}", prepared.plan.summary());
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

pub async fn run(path: &Path, plugins: &PluginArgs, max_level: LogLevel, watch: bool) -> ExitCode {
    let options = app::RunOptions {
        extra_plugin_dirs: &plugins.plugin_dirs,
        max_level,
        watch,
    };
    match app::run(path, options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(HostError::Config(problems)) => {
            print_problems(&problems);
            ExitCode::from(1)
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}
