use clap::Parser;
use ruvuma::cli::{self, Cli, Command};
use ruvuma::logging::LogFormat;
use std::process::ExitCode;

/// mimalloc, built with `override`: it also takes the C `malloc` and `free` of this process, so
/// the plugins' libraries and the C code they call allocate from it too (one allocator for all).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (log_level, log_format) = match &cli.command {
        Command::Run {
            log_level, log_format, ..
        } => (log_level.as_deref(), *log_format),
        _ => (None, LogFormat::Text),
    };
    let max_level = match ruvuma::logging::init(log_level, log_format) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Validate { config, plugins } => cli::validate(&config, &plugins),
        Command::Plugins { plugins } => cli::list_plugins(&plugins),
        Command::Messages { command } => ruvuma::messages::run(command),
        Command::Failures { command } => ruvuma::failures::run(command),
        Command::Run {
            config, plugins, watch, ..
        } => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("ruvuma")
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            runtime.block_on(cli::run(&config, &plugins, max_level, watch))
        }
    }
}
