//! Schemas of answer types whose files could not take a `#[derive(ToSchema)]` when the document
//! was written (`calls/list.rs` was being changed in parallel): each is a
//! mirror with the same fields, and the type itself implements `ToSchema` by handing over the
//! mirror's. `tests/it/openapi.rs` holds the two together: a real answer with a field the mirror
//! lacks, or of another type, fails it. Move each to a derive on the type when its file is free.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use crate::calls::list::{CallContact, CallItem, CallNumber, CallPage};

/// `impl ToSchema for $real` with the schema (and nested schemas) of `$mirror`, under `$name`.
macro_rules! schema_of {
    ($real:ty => $mirror:ty, $name:literal) => {
        impl PartialSchema for $real {
            fn schema() -> RefOr<Schema> {
                <$mirror as PartialSchema>::schema()
            }
        }

        impl ToSchema for $real {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                <$mirror as ToSchema>::schemas(schemas);
            }
        }
    };
}

schema_of!(CallItem => CallItemSchema, "CallItem");
schema_of!(CallPage => CallPageSchema, "CallPage");
schema_of!(CallContact => CallContactSchema, "CallContact");
schema_of!(CallNumber => CallNumberSchema, "CallNumber");

/// One call in a list: seed 003's `Call` and what a list shows beside it.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "a schema only: `CallItem` is what is answered")]
struct CallItemSchema {
    id: Uuid,
    /// `"{from} -> {to}"`: the caller's number, then the callee's, as Twilio reports them (for
    /// an inbound call the contact's number comes first, for an outbound call ours does), the
    /// same whether the call was live, synced from history or made by a Twilio event.
    from_to_number: String,
    from_number: String,
    to_number: String,
    call_sid: String,
    /// `inbound` or `outbound`.
    direction: String,
    /// Twilio's status: `ringing`, `in-progress`, `completed`, `no-answer`, ...
    status: String,
    duration_secs: Option<i32>,
    started_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// The recording is stored here (`GET /api/calls/{id}/recording` serves it).
    has_recording: bool,
    /// At least one analyzer run is stored for the call.
    has_analysis: bool,
    contact: Option<CallContact>,
    phone_number: Option<CallNumber>,
}

/// One page of calls.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "a schema only: `CallPage` is what is answered")]
struct CallPageSchema {
    items: Vec<CallItem>,
    /// Where the next page starts (the `cursor` of the next request); `null` on the last page.
    next_cursor: Option<String>,
}

/// A call's contact, as lists show it.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "a schema only: `CallContact` is what is answered")]
struct CallContactSchema {
    id: Uuid,
    name: Option<String>,
}

/// The organization's number a call came in on (or went out from).
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "a schema only: `CallNumber` is what is answered")]
struct CallNumberSchema {
    id: Uuid,
    /// E.164.
    number: String,
}
