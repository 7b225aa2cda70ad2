//! Live calls: the voice webhook, the media-stream bridge to the agent, call status.
//!
//! The walk of a call: `voice::answer` (TwiML, pre-warm) → `stream::open` (signed upgrade,
//! `start`, call and contact rows) → `bridge::Bridge::run` (audio both ways, barge-in, tools)
//! → `status::update` (the `<Connect action>` and status callbacks).

pub mod bridge;
pub mod events;
pub mod load;
pub mod media_socket;
pub mod recording;
pub mod session;
pub mod status;
pub mod stream;
pub mod tools;
pub mod voice;
pub mod wake;
pub mod web_call;
pub mod webhook;
pub mod writer;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use load::Load;
use session::{Prewarmed, Providers};
use writer::CallWriter;

/// Process-wide state of live calls.
pub struct LiveCalls {
    pub prewarmed: Arc<Prewarmed>,
    pub writer: CallWriter,
    pub load: Load,
}

impl LiveCalls {
    /// `light_load_calls_per_core`: see [`Load`].
    pub fn start(
        db: DatabaseConnection,
        providers: Providers,
        light_load_calls_per_core: usize,
    ) -> Self {
        Self {
            prewarmed: Arc::new(Prewarmed::new(providers)),
            writer: CallWriter::start(db),
            load: Load::new(light_load_calls_per_core),
        }
    }
}
