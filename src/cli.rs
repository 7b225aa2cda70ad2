//! Command-line front doors that are more than a line of `main.rs`: `loquent sync`, the
//! call-history sync of the dashboard with a terminal progress bar per number.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use chrono::NaiveDate;
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::app::App;
use crate::call_sync::start::{SyncRequest, Syncer};
use crate::call_sync::{PROGRESS_EVENT, Phase};
use crate::entity::organization;
use crate::realtime::Event;

/// Syncs run at a time.
const AT_ONCE: usize = 3;

/// `loquent sync --org ORG [--number E164]... [--since DATE]`: imports the history of the
/// organization's numbers (all of them without `--number`), runs their recordings' jobs in this
/// process, and returns once every sync is done. Fails naming what is wrong: an unknown
/// organization or number, or the syncs that failed.
pub async fn sync(
    app: Arc<App>,
    org: &str,
    numbers: &[String],
    since: Option<NaiveDate>,
) -> anyhow::Result<()> {
    let org = find_org(&app, org).await?;
    let mut all = crate::phone_numbers::list(&app.db, org.id).await?;
    if !numbers.is_empty() {
        let unknown: Vec<&String> = numbers
            .iter()
            .filter(|n| !all.iter().any(|p| &p.number == *n))
            .collect();
        if !unknown.is_empty() {
            bail!(
                "{} has no number {}; its numbers: {}",
                org.name,
                unknown
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                all.iter()
                    .map(|p| p.number.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        all.retain(|p| numbers.contains(&p.number));
    }
    if all.is_empty() {
        bail!(
            "{} has no phone numbers yet: import them first (Settings → Twilio)",
            org.name
        );
    }

    // This process runs the recordings too, so the sync ends even with no server running.
    let runner = crate::worker::runner(&app);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    #[expect(
        clippy::disallowed_methods,
        reason = "the runner lives exactly as long as this command, which waits for it"
    )]
    let runner = tokio::spawn(async move {
        runner.run(stopped, crate::worker::SHUTDOWN_GRACE).await;
    });
    let mut events = app.events.subscribe(org.id);

    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix:>16} {wide_msg} {pos}/{len}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let mut by_id: HashMap<Uuid, (ProgressBar, String)> = HashMap::new();
    for n in &all {
        let bar = bars.add(ProgressBar::new(0).with_style(style.clone()));
        bar.set_prefix(n.number.clone());
        bar.set_message("waiting");
        by_id.insert(n.id, (bar, n.number.clone()));
    }

    let syncer = Syncer {
        db: &app.db,
        accounts: &app.twilio,
        events: &app.events,
        wake: &app.jobs_wake,
    };
    let org_id = org.id;
    let ids: Vec<Uuid> = all.iter().map(|n| n.id).collect();
    let mut requests = futures_util::stream::iter(ids.into_iter().map(move |id| async move {
        let request = SyncRequest {
            phone_number_id: id,
            since,
            recording_batch_size: None,
        };
        (id, syncer.sync_number(org_id, &request).await)
    }))
    .buffer_unordered(AT_ONCE);

    let mut open: HashMap<Uuid, ()> = by_id.keys().map(|id| (*id, ())).collect();
    let mut failures = Vec::new();
    let mut imported: HashMap<Uuid, (u64, u64)> = HashMap::new();
    let mut answered = 0;
    // Events are this process's when its runner ends the sync; on SQLite another process's
    // runner may end it instead, so the stored rows are read too.
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    while !open.is_empty() || answered < by_id.len() {
        tokio::select! {
            _ = tick.tick() => {
                let ids: Vec<Uuid> = open.keys().copied().collect();
                for id in ids {
                    let Some((bar, number)) = by_id.get(&id) else { continue };
                    let Some(row) = crate::call_sync::start::latest_of(&app.db, id).await? else { continue };
                    if !imported.contains_key(&id) && row.finished_at.is_none() {
                        continue;
                    }
                    let payload = serde_json::to_value(crate::call_sync::Progress::of(&row))?;
                    if imported.contains_key(&id) && progressed(bar, number, &payload, &mut failures) {
                        open.remove(&id);
                    }
                }
            }
            Some((id, result)) = requests.next(), if answered < by_id.len() => {
                answered += 1;
                if let Ok(r) = &result {
                    imported.insert(id, (r.imported, r.skipped));
                }
                if let Err(error) = result {
                    if let Some((bar, number)) = by_id.get(&id) {
                        bar.abandon_with_message(format!("failed: {error}"));
                        failures.push(format!("{number}: {error}"));
                    }
                    open.remove(&id);
                }
            }
            event = events.recv() => match event {
                Ok(text) => {
                    let Ok(event) = serde_json::from_str::<Event>(&text) else { continue };
                    if event.kind != PROGRESS_EVENT {
                        continue;
                    }
                    let Some(id) = event.payload["phone_number_id"].as_str().and_then(|s| s.parse().ok()) else { continue };
                    let Some((bar, number)) = by_id.get(&id) else { continue };
                    if progressed(bar, number, &event.payload, &mut failures) {
                        open.remove(&id);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    drop(requests);
    let _ = stop.send(true);
    runner.await.context("the job runner stopped abnormally")?;
    // A plain line per number as well: the bars draw only on a terminal.
    for n in &all {
        if let Some((new, skipped)) = imported.get(&n.id) {
            println!(
                "{}: {new} imported, {skipped} already here; recordings processed",
                n.number
            );
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", failures.join("\n")))
    }
}

/// Shows one state of a number's sync; true when it is over (Done, or Error with the reason
/// added to `failures`).
fn progressed(
    bar: &ProgressBar,
    number: &str,
    payload: &serde_json::Value,
    failures: &mut Vec<String>,
) -> bool {
    let phase = payload["phase"].as_str().and_then(Phase::parse);
    show(bar, payload, phase);
    match phase {
        Some(Phase::Done) => {
            bar.finish();
            true
        }
        Some(Phase::Error) => {
            let message = payload["message"].as_str().unwrap_or("failed").to_owned();
            bar.abandon();
            failures.push(format!("{number}: {message}"));
            true
        }
        _ => false,
    }
}

/// A bar's words and counters for one progress event.
fn show(bar: &ProgressBar, payload: &serde_json::Value, phase: Option<Phase>) {
    let n = |key: &str| payload[key].as_u64().unwrap_or(0);
    match phase {
        Some(Phase::Fetching) => {
            bar.set_length(n("fetched"));
            bar.set_position(n("fetched"));
        }
        Some(Phase::ProcessingRecordings | Phase::Done) if payload["total"].is_u64() => {
            bar.set_length(n("total"));
            bar.set_position(n("completed"));
        }
        _ => {}
    }
    let words = phase.map_or("", Phase::label);
    let counts = if payload["new_count"].is_u64() {
        format!(
            " · {} imported, {} already here",
            n("new_count"),
            n("skipped")
        )
    } else {
        String::new()
    };
    bar.set_message(format!("{words}{counts}"));
}

/// The organization named by its id or its exact name (case aside).
async fn find_org(app: &App, wanted: &str) -> anyhow::Result<organization::Model> {
    if let Ok(id) = wanted.parse::<Uuid>() {
        return organization::Entity::find_by_id(id)
            .one(&app.db)
            .await?
            .ok_or_else(|| anyhow!("no organization has the id {id}"));
    }
    let all = organization::Entity::find().all(&app.db).await?;
    let mut found = all
        .into_iter()
        .filter(|o| o.name.eq_ignore_ascii_case(wanted.trim()));
    match (found.next(), found.next()) {
        (Some(org), None) => Ok(org),
        (Some(_), Some(_)) => bail!("several organizations are named {wanted:?}: use its id"),
        (None, _) => bail!("no organization is named {wanted:?}"),
    }
}
