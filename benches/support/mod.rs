//! What the benchmarks share: their runtime and exit code, and a throwaway PostgreSQL database
//! per run.

use std::process::ExitCode;

use sea_orm::ConnectionTrait;

/// A multi-threaded runtime, the process's crypto provider installed first.
pub fn runtime() -> tokio::runtime::Runtime {
    loquent::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The exit code of a run (2 on failure), its error on stderr under the benchmark's `name`.
pub fn exit(name: &str, outcome: Result<(), String>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(2)
        }
    }
}

/// A new database on `server` (`postgres://user@host:port`): its URL and its name.
pub async fn fresh_pg(server: &str) -> Result<(String, String), String> {
    let admin = sea_orm::Database::connect(format!("{server}/postgres"))
        .await
        .map_err(|e| format!("PostgreSQL at {server}: {e}"))?;
    let name = format!("loquent_bench_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .map_err(|e| e.to_string())?;
    Ok((format!("{server}/{name}"), name))
}

/// Drops the database `fresh_pg` made, whoever is still connected to it.
pub async fn drop_pg(server: &str, name: &str) {
    if let Ok(admin) = sea_orm::Database::connect(format!("{server}/postgres")).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}
