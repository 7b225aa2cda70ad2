//! This process's job runner: every job kind with its handler and concurrency limit, built from
//! the `App`. `serve` runs it beside the web server (unless `LOQUENT_RUN_JOBS=false`) and
//! `loquent worker` runs it alone.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::jobs::Runner;

/// How long running jobs may finish after a shutdown signal; the rest run again after their
/// lease, in this process's next life or in another one.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The runner of this process, with a handler for every job kind.
pub fn runner(app: &App) -> Runner {
    let name = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
    let ai = &app.config.ai;
    // No key: the steps that need the model fail, each saying so, rather than vanish.
    let structured = ai.openai_api_key.as_ref().map(|key| {
        loquent_ai::structured::StructuredClient::new(
            ai.openai_base_url.as_str(),
            key.expose().clone(),
        )
    });
    let steps = app.config.jobs.post_call_concurrency;
    let recordings = Arc::new(crate::recordings::process::ProcessRecording::new(
        app.db.clone(),
        app.twilio.clone(),
        app.storage.clone(),
        crate::recordings::process::transcriber(&app.config.ai),
        Arc::clone(&app.jobs_wake),
    ));
    Runner::new(app.db.clone(), name)
        .lease(app.config.jobs.lease())
        .waker_from(Arc::clone(&app.jobs_wake))
        .events(app.events.clone())
        .handler_with_limit(
            crate::calls::after::kind::PROCESS_RECORDING,
            Arc::clone(&recordings) as Arc<dyn crate::jobs::Handler>,
            app.config.jobs.recording_concurrency,
        )
        // A sync's follower keeps each sync within its own `recording_batch_size`; this is only
        // the process's ceiling.
        .handler_with_limit(
            crate::call_sync::kind::RECORDING,
            Arc::new(crate::call_sync::recording::SyncedRecording::new(
                app.db.clone(),
                app.twilio.clone(),
                recordings,
            )),
            usize::try_from(crate::call_sync::MAX_BATCH).unwrap_or(50),
        )
        .handler_with_limit(
            crate::call_sync::kind::FOLLOW,
            Arc::new(crate::call_sync::follow::FollowSync::new(
                app.db.clone(),
                app.events.clone(),
                Arc::clone(&app.jobs_wake),
            )),
            steps,
        )
        .handler_with_limit(
            crate::event_streams::handle::kind::EVENTS,
            Arc::new(crate::event_streams::handle::HandleEvent::new(
                app.db.clone(),
                app.twilio.clone(),
                Arc::clone(&app.jobs_wake),
                app.events.clone(),
            )),
            steps,
        )
        .handler_with_limit(
            crate::calls::after::kind::RUN_ANALYZER,
            Arc::new(
                crate::analyzers::run::RunAnalyzer::from_config(app.db.clone(), &app.config.ai)
                    .with_events(app.events.clone()),
            ),
            app.config.jobs.post_call_concurrency,
        )
        .handler_with_limit(
            crate::calls::after::kind::EXTRACT_TODOS,
            Arc::new(crate::todos::extract::ExtractTodos::new(
                app.db.clone(),
                structured.clone(),
                ai.analysis_model.clone(),
            )),
            steps,
        )
        .handler_with_limit(
            crate::calls::after::kind::ENRICH_CONTACT,
            Arc::new(crate::contacts::enrich::EnrichContact::new(
                app.db.clone(),
                structured,
                ai.analysis_model.clone(),
            )),
            steps,
        )
        .handler(
            crate::orgs::invitations::KIND,
            Arc::new(crate::orgs::invitations::SendInvitation {
                db: app.db.clone(),
                mailer: app.mailer.clone(),
                public_url: app.config.server.public_url.clone(),
            }),
        )
        .handler(
            crate::users::reset::KIND,
            Arc::new(crate::users::reset::SendResetLink {
                db: app.db.clone(),
                mailer: app.mailer.clone(),
                public_url: app.config.server.public_url.clone(),
            }),
        )
        .handler_with_limit(
            crate::calls::after::kind::SEND_REPORT,
            Arc::new(crate::reports::send::SendReport {
                db: app.db.clone(),
                mailer: app.mailer.clone(),
                public_url: app.config.server.public_url.clone(),
            }),
            app.config.jobs.post_call_concurrency,
        )
}

/// Runs `app`'s jobs until `shutdown` turns true, then lets running ones finish for up to
/// [`SHUTDOWN_GRACE`].
pub async fn run(app: Arc<App>, shutdown: watch::Receiver<bool>) {
    let runner = runner(&app);
    drop(app);
    runner.run(shutdown, SHUTDOWN_GRACE).await;
}
