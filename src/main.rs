//! The `loquent` command: `serve` (default), `worker`, `migrate`, `sync`, `user create`,
//! `user reset-password`, `sandbox`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use loquent::config::Config;
use loquent::{App, telemetry};

#[derive(Parser)]
#[command(
    name = "loquent",
    version,
    about = "Self-hostable AI phone agents on your own Twilio account",
    long_about = "Self-hostable AI phone agents on your own Twilio account.\n\n\
        With no arguments, serves the dashboard, API and Twilio webhooks on \
        http://127.0.0.1:8080 with an embedded SQLite database under ./data. \
        Settings come from loquent.toml and LOQUENT_* environment variables (see README)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard, JSON API and Twilio webhooks (the default).
    Serve,
    /// Run background jobs only (recordings, analyses, reports), beside `serve` processes that
    /// share the database (`LOQUENT_RUN_JOBS=false` keeps them from running jobs themselves).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Run the emulators (Twilio, OpenAI, Gemini Live) for tests and demos; prints their base URLs
    /// as one JSON line, usable as the LOQUENT_*_BASE / _BASE_URL settings.
    Sandbox {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
    },
    /// Import the call history of an organization's numbers from its Twilio account (read-only
    /// on Twilio), with a progress bar per number; returns once their recordings are processed.
    Sync {
        /// The organization: its id, or its exact name.
        #[arg(long)]
        org: String,
        /// Only this number (E.164, e.g. +15551234567); repeat for several. Default: all.
        #[arg(long = "number")]
        numbers: Vec<String>,
        /// Only calls that started on or after this day (YYYY-MM-DD).
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an organization and its owner.
    Create {
        /// The owner's e-mail address (their sign-in name).
        #[arg(long)]
        email: String,
        /// The owner's password (at least 8 characters).
        #[arg(long, env = "LOQUENT_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// The organization's name.
        #[arg(long)]
        org: String,
    },
    /// Set a user's password (for one who forgot theirs) and sign them out everywhere.
    ResetPassword {
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
        /// The new password (at least 8 characters).
        #[arg(long, env = "LOQUENT_USER_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    loquent::install_crypto_provider();
    if let Some(Command::Sandbox { listen }) = cli.command {
        // The emulator needs no configuration, database or data directory.
        return run_sandbox(listen);
    }
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loquent: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(config.server.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loquent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loquent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_sandbox(listen: std::net::SocketAddr) -> ExitCode {
    telemetry::init_logging(loquent::config::LogFormat::Human);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loquent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(loquent_sandbox::serve_forever(listen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loquent sandbox: cannot listen on {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Sandbox { .. } => unreachable!("handled before configuration is loaded"),
        Command::Serve => {
            let listen = config.server.listen;
            let public = config.server.public_url.clone();
            let app = App::start(config).await?;
            let listener = TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (LOQUENT_LISTEN): {e}"))?;
            tracing::info!(%listen, public_url = %public, "Loquent is serving: open {public}");
            loquent::serve(app, listener, shutdown_signal()).await?;
            tracing::info!("stopped");
            Ok(())
        }
        Command::Worker => {
            let app = App::start(config).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            tracing::info!("Loquent worker is running jobs");
            let signal = async move {
                shutdown_signal().await;
                let _ = stop.send(true);
            };
            tokio::join!(signal, loquent::worker::run(app, stopped));
            tracing::info!("stopped");
            Ok(())
        }
        Command::Sync {
            org,
            numbers,
            since,
        } => {
            let app = App::start(config).await?;
            loquent::cli::sync(app, &org, &numbers, since).await
        }
        Command::Migrate => {
            let db = loquent::db::connect(&config).await?;
            loquent::db::migrate(&db).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    password,
                    org,
                },
        } => {
            let app = App::start(config).await?;
            let account = loquent::users::signup::sign_up(&app.db, &email, &password, &org)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created organization {} ({}) owned by {}",
                account.organization.name, account.organization.id, account.user.email
            );
            Ok(())
        }
        Command::User {
            command: UserCommand::ResetPassword { email, password },
        } => {
            let db = loquent::db::connect(&config).await?;
            loquent::db::migrate(&db).await?;
            let (user, ended) = loquent::users::password::reset(&db, &email, &password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "set a new password for {}; ended {ended} session(s)",
                user.email
            );
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, so in-flight requests can finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
