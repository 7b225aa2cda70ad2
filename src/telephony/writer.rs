//! Call-row writes from live calls, off the audio path: the bridge hands them to a bounded
//! channel and one task applies them through `calls` (which owns the row). A full channel (the database is stalled) never blocks a
//! call; the write waits with a deadline, and is logged and dropped past it: audio matters
//! more than bookkeeping that the status callback and the recording pipeline redo anyway.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::calls::CallError;
use crate::calls::end::{StreamEnd, end_stream};
use crate::calls::transcript::Segment;

/// Writes queued before the writer falls behind.
const QUEUE: usize = 4096;
/// How long a bridge waits for room in a full queue before giving up on one write.
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum CallWrite {
    /// The media stream ended: record how long it lasted, the live transcript, and close the
    /// status if Twilio has not reported a final one yet.
    StreamEnded {
        call_id: Uuid,
        duration_secs: i32,
        /// In time order.
        transcript: Vec<Segment>,
    },
}

#[derive(Clone)]
pub struct CallWriter {
    tx: mpsc::Sender<CallWrite>,
}

impl CallWriter {
    pub fn start(db: DatabaseConnection) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        #[expect(
            clippy::disallowed_methods,
            reason = "the live calls' write queue lives with the process; the status callback and the recording pipeline redo what a crash loses"
        )]
        tokio::spawn(run(db, rx));
        Self { tx }
    }

    pub async fn write(&self, write: CallWrite) {
        match self.tx.send_timeout(write, ENQUEUE_TIMEOUT).await {
            Ok(()) => {}
            Err(e) => tracing::error!(write = ?e, "call writer is stalled; write dropped"),
        }
    }
}

async fn run(db: DatabaseConnection, mut rx: mpsc::Receiver<CallWrite>) {
    while let Some(write) = rx.recv().await {
        if let Err(error) = apply(&db, &write).await {
            tracing::error!(%error, ?write, "call write failed");
        }
    }
}

async fn apply(db: &DatabaseConnection, write: &CallWrite) -> Result<(), CallError> {
    match write {
        CallWrite::StreamEnded {
            call_id,
            duration_secs,
            transcript,
        } => {
            end_stream(
                db,
                StreamEnd {
                    call_id: *call_id,
                    duration_secs: *duration_secs,
                    transcript,
                },
            )
            .await
        }
    }
}
