//! `POST /api/twilio/sync-call-history`: the part of a sync the request waits for, from the first
//! page fetched to the last call inserted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use loquent_twilio::calls::{CallFilter, CallStatus, MAX_PAGE_SIZE};
use loquent_twilio::{TwilioClient, calls::Call};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Statement, Value,
};
use tokio::sync::Notify;
use uuid::Uuid;

use super::{DEFAULT_BATCH, MAX_BATCH, Phase, SyncError, kind, publish};
use crate::db::in_strings;
use crate::entity::{call, call_sync, contact, contact_phone, phone_number};
use crate::jobs::{self, NewJob};
use crate::orgs::twilio::{TwilioAccounts, TwilioFailure, reload};
use crate::realtime::EventHub;

/// Rows per statement when inserting.
pub const BATCH: usize = 500;
/// Insert statements per transaction. Each batch of calls lands in the pages of the call table's
/// indexes (Call SID, contact, organization and start) all over, and a commit writes every page
/// it touched (to SQLite's WAL, or PostgreSQL's): fewer, larger transactions write each such
/// page once for many rows instead of once per batch.
const STATEMENTS_PER_TRANSACTION: usize = 10;
/// Values per list when reading (one JSON parameter, see [`in_strings`]).
const READ_BATCH: usize = 10_000;
/// A sync whose request-bound phases have not moved for this long was cut off (its process
/// died): it no longer blocks a new sync, and its follower takes its recordings over.
pub const STALE_AFTER: Duration = Duration::from_secs(5 * 60);
/// Progress while fetching is published at most this often.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// What a person asks for.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub phone_number_id: Uuid,
    pub since: Option<NaiveDate>,
    pub recording_batch_size: Option<i32>,
}

/// What `POST /api/twilio/sync-call-history` answers once the calls are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SyncResult {
    pub sync_id: Uuid,
    pub imported: u64,
    pub skipped: u64,
}

/// What a sync needs of the server.
#[derive(Clone, Copy)]
pub struct Syncer<'a> {
    pub db: &'a DatabaseConnection,
    pub accounts: &'a TwilioAccounts,
    pub events: &'a EventHub,
    /// This process's job runner, woken when the recordings are queued.
    pub wake: &'a Notify,
}

/// A completed call as Twilio lists it, reduced to what is imported.
#[derive(Debug, Clone)]
struct Fetched {
    sid: String,
    direction: &'static str,
    from: String,
    to: String,
    started_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    duration_secs: Option<i32>,
}

impl Fetched {
    fn of(call: Call, outbound: bool) -> Option<Self> {
        let sid = call.sid?.as_str().to_owned();
        let parse = |s: &Option<String>| {
            s.as_deref()
                .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
                .map(|d| d.with_timezone(&Utc))
        };
        let started_at = parse(&call.start_time);
        Some(Self {
            sid,
            direction: if outbound { "outbound" } else { "inbound" },
            from: call.from.unwrap_or_default(),
            to: call.to.unwrap_or_default(),
            started_at,
            created_at: parse(&call.date_created)
                .or(started_at)
                .unwrap_or_else(Utc::now),
            duration_secs: call.duration.as_deref().and_then(|d| d.parse().ok()),
        })
    }

    /// The other party's number: the contact (seed 000: `from` inbound, `to` outbound).
    fn external(&self) -> &str {
        if self.direction == "inbound" {
            &self.from
        } else {
            &self.to
        }
    }
}

impl Syncer<'_> {
    /// Imports the completed calls of the organization's number `req.phone_number_id`.
    pub async fn sync_number(
        &self,
        org_id: Uuid,
        req: &SyncRequest,
    ) -> Result<SyncResult, SyncError> {
        let batch = req.recording_batch_size.unwrap_or(DEFAULT_BATCH);
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(SyncError::BadBatchSize);
        }
        let number = phone_number::Entity::find_by_id(req.phone_number_id)
            .filter(phone_number::Column::OrganizationId.eq(org_id))
            .one(self.db)
            .await?
            .ok_or(SyncError::NumberNotFound)?;
        let org = reload(self.db, org_id).await?;
        let client = self.accounts.client_for(&org)?;
        let mut row = self.begin(&number, req.since, batch).await?;
        publish(self.events, &row).await;
        match self.run(&client, &number, req.since, &mut row).await {
            Ok(result) => Ok(result),
            Err(error) => {
                let message = error.to_string();
                tracing::warn!(sync_id = %row.id, %message, "call sync failed");
                if let Ok(failed) = self
                    .set(&row, |r| {
                        r.phase = Set(Phase::Error.as_str().to_owned());
                        r.message = Set(Some(message.clone()));
                        r.finished_at = Set(Some(Utc::now()));
                    })
                    .await
                {
                    publish(self.events, &failed).await;
                }
                Err(error)
            }
        }
    }

    /// The sync's row, refused while another sync of the number is unfinished (a stale one, cut
    /// off with its process, is closed first).
    async fn begin(
        &self,
        number: &phone_number::Model,
        since: Option<NaiveDate>,
        batch: i32,
    ) -> Result<call_sync::Model, SyncError> {
        let now = Utc::now();
        let row = call_sync::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(number.organization_id),
            phone_number_id: Set(number.id),
            since: Set(since),
            recording_batch_size: Set(batch),
            phase: Set(Phase::Fetching.as_str().to_owned()),
            fetched: Set(0),
            imported: Set(0),
            skipped: Set(0),
            recordings_total: Set(0),
            recordings_completed: Set(0),
            message: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            finished_at: Set(None),
        };
        for _ in 0..2 {
            match row.clone().insert(self.db).await {
                Ok(row) => return Ok(row),
                Err(error) => {
                    let Some(running) = unfinished(self.db, number.id).await? else {
                        return Err(error.into());
                    };
                    if !is_stale(&running, now) {
                        return Err(SyncError::AlreadyRunning);
                    }
                    // Cut off mid-request: its imported calls stay, and its follower (if it
                    // got that far) still processes their recordings under its own id.
                    let mut closed = running.into_active_model();
                    closed.phase = Set(Phase::Error.as_str().to_owned());
                    closed.message = Set(Some(
                        "the sync was interrupted (the server stopped); start it again".to_owned(),
                    ));
                    closed.finished_at = Set(Some(now));
                    closed.updated_at = Set(now);
                    closed.update(self.db).await?;
                }
            }
        }
        Err(SyncError::AlreadyRunning)
    }

    async fn set(
        &self,
        row: &call_sync::Model,
        change: impl FnOnce(&mut call_sync::ActiveModel),
    ) -> Result<call_sync::Model, DbErr> {
        set_on(self.db, row, change).await
    }

    async fn phase(&self, row: &mut call_sync::Model, phase: Phase) -> Result<(), DbErr> {
        *row = self
            .set(row, |r| r.phase = Set(phase.as_str().to_owned()))
            .await?;
        publish(self.events, row).await;
        Ok(())
    }

    async fn run(
        &self,
        client: &TwilioClient,
        number: &phone_number::Model,
        since: Option<NaiveDate>,
        row: &mut call_sync::Model,
    ) -> Result<SyncResult, SyncError> {
        // Fetching: both directions at once (one's page is parsed while the other's is on the
        // way), largest pages, newest first.
        let started = Instant::now();
        let mut took = Vec::with_capacity(5);
        let mut fetched: Vec<Fetched> = Vec::new();
        let mut last_published = Instant::now();
        let direction = |outbound: bool| {
            let mut filter = CallFilter::new()
                .status(CallStatus::Completed)
                .page_size(MAX_PAGE_SIZE);
            filter = if outbound {
                filter.from(number.number.clone())
            } else {
                filter.to(number.number.clone())
            };
            if let Some(day) = since {
                filter = filter.started_on_or_after(day);
            }
            client.list_calls(&filter).map(move |call| (outbound, call))
        };
        let mut calls = futures_util::stream::select(direction(false), direction(true));
        while let Some((outbound, call)) = calls.next().await {
            let call = call.map_err(TwilioFailure::to("list the number's calls"))?;
            fetched.extend(Fetched::of(call, outbound));
            if last_published.elapsed() >= PUBLISH_EVERY {
                let count = to_i32(fetched.len());
                *row = self.set(row, |r| r.fetched = Set(count)).await?;
                publish(self.events, row).await;
                last_published = Instant::now();
            }
        }
        let count = to_i32(fetched.len());
        *row = self.set(row, |r| r.fetched = Set(count)).await?;

        // Deduplicating: across the two directions, then against the calls already here.
        took.push(started.elapsed());
        self.phase(row, Phase::Deduplicating).await?;
        // The directions arrive interleaved: a call listed in both keeps its inbound copy, as
        // when they were fetched one after the other.
        fetched.sort_by_key(|c| c.direction == "outbound");
        let mut seen = HashSet::with_capacity(fetched.len());
        fetched.retain(|c| seen.insert(c.sid.clone()));
        drop(seen);
        let unique = fetched.len() as u64;
        let known = existing_sids(self.db, &fetched).await?;
        fetched.retain(|c| !known.contains(&c.sid));

        // ResolvingContacts: the other party of every new call, found or created.
        took.push(started.elapsed());
        self.phase(row, Phase::ResolvingContacts).await?;
        let numbers: BTreeSet<&str> = fetched
            .iter()
            .map(Fetched::external)
            .filter(|n| !n.is_empty())
            .collect();
        let contacts = resolve_contacts(self.db, number.organization_id, numbers).await?;

        // Inserting: batches, each with its calls' recording jobs, waiting for the follower.
        took.push(started.elapsed());
        self.phase(row, Phase::Inserting).await?;
        let mut imported = 0u64;
        let mut affected: BTreeSet<Uuid> = BTreeSet::new();
        // Where the inserting phase's time goes: waiting for the write lock, the call rows, their
        // jobs, the commit (logged with the phase times).
        let mut spent = [Duration::ZERO; 4];
        for (i, group) in fetched
            .chunks(BATCH * STATEMENTS_PER_TRANSACTION)
            .enumerate()
        {
            let mut lap = Instant::now();
            let mut clock = |part: usize| {
                spent[part] += lap.elapsed();
                lap = Instant::now();
            };
            let txn = crate::db::begin_write(self.db).await?;
            clock(0);
            for (j, chunk) in group.chunks(BATCH).enumerate() {
                let inserted = insert_calls(&txn, number, chunk, &contacts).await?;
                clock(1);
                if i == 0 && j == 0 && !inserted.is_empty() {
                    follow(&txn, row).await?;
                }
                let jobs = inserted
                    .iter()
                    .map(|(call_id, sid)| NewJob {
                        kind: kind::RECORDING.to_owned(),
                        organization_id: Some(number.organization_id),
                        call_id: Some(*call_id),
                        payload: serde_json::json!({ "call_id": call_id, "sync_id": row.id }),
                        dedupe_key: Some(format!("{}:{sid}", kind::RECORDING)),
                        run_at: Utc::now(),
                        max_attempts: crate::recordings::completed::ATTEMPTS,
                    })
                    .collect();
                jobs::enqueue_group(&txn, row.id, jobs).await?;
                imported += inserted.len() as u64;
                clock(2);
            }
            let count = to_i64_i32(imported);
            *row = set_on(&txn, row, |r| r.imported = Set(count)).await?;
            txn.commit().await?;
            clock(3);
            for c in group {
                if let Some(id) = contacts.get(c.external()) {
                    affected.insert(*id);
                }
            }
            if last_published.elapsed() >= PUBLISH_EVERY {
                publish(self.events, row).await;
                last_published = Instant::now();
            }
        }
        let skipped = unique - imported;
        *row = self
            .set(row, |r| {
                r.imported = Set(to_i64_i32(imported));
                r.skipped = Set(to_i64_i32(skipped));
            })
            .await?;

        // UpdatingTimestamps: one statement per batch of contacts, forward only.
        took.push(started.elapsed());
        self.phase(row, Phase::UpdatingTimestamps).await?;
        let affected: Vec<Uuid> = affected.into_iter().collect();
        for chunk in affected.chunks(BATCH) {
            touch_contacts(self.db, number.organization_id, chunk).await?;
        }

        // The recordings go on in the background; without new calls the sync is over.
        if imported == 0 {
            *row = self
                .set(row, |r| {
                    r.phase = Set(Phase::Done.as_str().to_owned());
                    r.finished_at = Set(Some(Utc::now()));
                })
                .await?;
        } else {
            *row = self
                .set(row, |r| {
                    r.phase = Set(Phase::ProcessingRecordings.as_str().to_owned());
                    r.recordings_total = Set(to_i64_i32(imported));
                })
                .await?;
            self.wake.notify_one();
        }
        publish(self.events, row).await;
        took.push(started.elapsed());
        let ms = |i: usize| took.get(i).map_or(0, std::time::Duration::as_millis);
        tracing::info!(
            sync_id = %row.id, imported, skipped,
            fetched_ms = ms(0), deduplicated_ms = ms(1), contacts_ms = ms(2), inserted_ms = ms(3),
            total_ms = ms(4),
            insert_lock_ms = spent[0].as_millis(), insert_calls_ms = spent[1].as_millis(),
            insert_jobs_ms = spent[2].as_millis(), insert_commit_ms = spent[3].as_millis(),
            "call history imported (times since the start; the inserting phase's parts)"
        );
        Ok(SyncResult {
            sync_id: row.id,
            imported,
            skipped,
        })
    }
}

async fn set_on(
    conn: &impl ConnectionTrait,
    row: &call_sync::Model,
    change: impl FnOnce(&mut call_sync::ActiveModel),
) -> Result<call_sync::Model, DbErr> {
    let mut active = row.clone().into_active_model();
    change(&mut active);
    active.updated_at = Set(Utc::now());
    active.update(conn).await
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn to_i64_i32(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The number's latest sync, if it was ever synced.
pub async fn latest_of(
    db: &impl ConnectionTrait,
    phone_number_id: Uuid,
) -> Result<Option<call_sync::Model>, DbErr> {
    use sea_orm::QueryOrder;
    call_sync::Entity::find()
        .filter(call_sync::Column::PhoneNumberId.eq(phone_number_id))
        .order_by_desc(call_sync::Column::CreatedAt)
        .one(db)
        .await
}

/// The number's unfinished sync, if any.
pub async fn unfinished(
    db: &impl ConnectionTrait,
    phone_number_id: Uuid,
) -> Result<Option<call_sync::Model>, DbErr> {
    call_sync::Entity::find()
        .filter(call_sync::Column::PhoneNumberId.eq(phone_number_id))
        .filter(call_sync::Column::FinishedAt.is_null())
        .one(db)
        .await
}

/// Whether an unfinished sync was cut off: still in a request-bound phase, unchanged for
/// [`STALE_AFTER`]. A sync processing recordings belongs to its follower job, never stale.
pub fn is_stale(row: &call_sync::Model, now: DateTime<Utc>) -> bool {
    let request_bound = !matches!(
        Phase::parse(&row.phase),
        Some(Phase::ProcessingRecordings | Phase::Done | Phase::Error)
    );
    let quiet = chrono::Duration::from_std(STALE_AFTER).unwrap_or(chrono::Duration::MAX);
    request_bound && row.updated_at + quiet < now
}

/// The sync's follower job, enqueued with its first inserted calls: it waits while the request
/// is still inserting, and takes over if the request was cut off.
async fn follow(conn: &impl ConnectionTrait, row: &call_sync::Model) -> Result<(), SyncError> {
    jobs::enqueue(
        conn,
        NewJob {
            kind: kind::FOLLOW.to_owned(),
            organization_id: Some(row.organization_id),
            call_id: None,
            payload: serde_json::json!({ "sync_id": row.id }),
            dedupe_key: Some(format!("{}:{}", kind::FOLLOW, row.id)),
            run_at: Utc::now(),
            max_attempts: 20,
        },
    )
    .await?;
    Ok(())
}

/// The Call SIDs of `calls` that are already here (in any organization: a Call SID is global).
async fn existing_sids(
    db: &DatabaseConnection,
    calls: &[Fetched],
) -> Result<BTreeSet<String>, DbErr> {
    let mut known = BTreeSet::new();
    for chunk in calls.chunks(READ_BATCH) {
        let found: Vec<String> = call::Entity::find()
            .select_only()
            .column(call::Column::CallSid)
            .filter(in_strings(
                db.get_database_backend(),
                "call_sid",
                chunk.iter().map(|c| c.sid.as_str()),
            ))
            .into_tuple()
            .all(db)
            .await?;
        known.extend(found);
    }
    Ok(known)
}

/// Number → contact id for every number, creating stub contacts (`source=call_sync`) for the
/// numbers no contact has, in batches.
async fn resolve_contacts(
    db: &DatabaseConnection,
    org_id: Uuid,
    numbers: BTreeSet<&str>,
) -> Result<HashMap<String, Uuid>, DbErr> {
    let numbers: Vec<&str> = numbers.into_iter().collect();
    let mut found = HashMap::with_capacity(numbers.len());
    for chunk in numbers.chunks(READ_BATCH) {
        found.extend(contacts_of(db, org_id, chunk).await?);
    }
    let missing: Vec<&str> = numbers
        .iter()
        .copied()
        .filter(|n| !found.contains_key(*n))
        .collect();
    for missing in missing.chunks(BATCH) {
        let now = Utc::now();
        let created: BTreeMap<&str, Uuid> = missing.iter().map(|n| (*n, Uuid::now_v7())).collect();
        let txn = crate::db::begin_write(db).await?;
        contact::Entity::insert_many(created.values().map(|id| contact::ActiveModel {
            id: Set(*id),
            organization_id: Set(org_id),
            name: Set(None),
            email: Set(None),
            notes: Set(None),
            company: Set(None),
            source: Set(crate::contacts::source::CALL_SYNC.to_owned()),
            last_contacted_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }))
        .exec_without_returning(&txn)
        .await?;
        contact_phone::Entity::insert_many(created.iter().map(|(number, id)| {
            contact_phone::ActiveModel {
                id: Set(Uuid::now_v7()),
                organization_id: Set(org_id),
                contact_id: Set(*id),
                number: Set((*number).to_owned()),
                created_at: Set(now),
            }
        }))
        // A live call may have created the contact of one of these numbers meanwhile.
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
        let now_found = contacts_of(&txn, org_id, missing).await?;
        // Stubs whose number another contact took in the meantime are not kept.
        let orphans: Vec<Uuid> = created
            .iter()
            .filter(|(number, id)| now_found.get(**number) != Some(*id))
            .map(|(_, id)| *id)
            .collect();
        if !orphans.is_empty() {
            contact::Entity::delete_many()
                .filter(contact::Column::Id.is_in(orphans))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        found.extend(now_found);
    }
    Ok(found)
}

async fn contacts_of(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    numbers: &[&str],
) -> Result<HashMap<String, Uuid>, DbErr> {
    let rows: Vec<(String, Uuid)> = contact_phone::Entity::find()
        .select_only()
        .column(contact_phone::Column::Number)
        .column(contact_phone::Column::ContactId)
        .filter(contact_phone::Column::OrganizationId.eq(org_id))
        .filter(in_strings(
            db.get_database_backend(),
            "number",
            numbers.iter().copied(),
        ))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Inserts `calls` that are not here yet; returns the (id, Call SID) of those inserted.
async fn insert_calls(
    conn: &impl ConnectionTrait,
    number: &phone_number::Model,
    calls: &[Fetched],
    contacts: &HashMap<String, Uuid>,
) -> Result<Vec<(Uuid, String)>, DbErr> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let mut ids: HashMap<Uuid, &str> = HashMap::with_capacity(calls.len());
    let rows: Vec<call::ActiveModel> = calls
        .iter()
        .map(|c| {
            let id = Uuid::now_v7();
            ids.insert(id, c.sid.as_str());
            call::ActiveModel {
                id: Set(id),
                organization_id: Set(number.organization_id),
                phone_number_id: Set(Some(number.id)),
                call_sid: Set(c.sid.clone()),
                direction: Set(c.direction.to_owned()),
                from_number: Set(c.from.clone()),
                to_number: Set(c.to.clone()),
                from_to_number: Set(c.external().to_owned()),
                contact_id: Set(contacts.get(c.external()).copied()),
                status: Set(CallStatus::Completed.as_str().to_owned()),
                started_at: Set(c.started_at),
                duration_secs: Set(c.duration_secs),
                recording_sid: Set(None),
                recording_url: Set(None),
                transcription: Set(None),
                transcript_segments: Set(None),
                transcript_source: Set(None),
                source: Set(Some(crate::calls::source::IMPORTED.to_owned())),
                created_at: Set(c.created_at),
                updated_at: Set(now),
            }
        })
        .collect();
    let inserted = call::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(call::Column::CallSid)
                .do_nothing()
                .to_owned(),
        )
        .exec_with_returning_keys(conn)
        .await;
    let keys = match inserted {
        Ok(keys) => keys,
        Err(DbErr::RecordNotInserted) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(keys
        .into_iter()
        .filter_map(|id| ids.get(&id).map(|sid| (id, (*sid).to_owned())))
        .collect())
}

/// Moves each contact's `last_contacted_at` to the start of its most recent call, only forward.
async fn touch_contacts(
    db: &DatabaseConnection,
    org_id: Uuid,
    contacts: &[Uuid],
) -> Result<(), DbErr> {
    if contacts.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let mut values: Vec<Value> = Vec::with_capacity(contacts.len() + 2);
    let mut bind = |v: Value| {
        values.push(v);
        match backend {
            sea_orm::DatabaseBackend::Postgres => format!("${}", values.len()),
            _ => "?".to_owned(),
        }
    };
    let updated = bind(Utc::now().into());
    let org = bind(org_id.into());
    let ids: Vec<String> = contacts.iter().map(|id| bind((*id).into())).collect();
    let latest = "(SELECT MAX(c.started_at) FROM call c WHERE c.contact_id = contact.id)";
    let sql = format!(
        "UPDATE contact SET last_contacted_at = {latest}, updated_at = {updated} \
         WHERE organization_id = {org} AND id IN ({ids}) \
         AND (last_contacted_at IS NULL OR last_contacted_at < {latest})",
        ids = ids.join(", "),
    );
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}
