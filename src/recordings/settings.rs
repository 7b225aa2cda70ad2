//! The organization's telephony switches: whether calls are recorded (off unless turned on) and
//! whether a stored recording is deleted from Twilio (on unless turned off). They take effect on
//! the next call: the voice webhook and the processing job read them when they run.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::organization_twilio_settings as settings;

/// What `GET /api/twilio/telephony-settings` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TelephonySettings {
    pub call_recording_enabled: bool,
    pub delete_recordings_from_twilio: bool,
}

impl TelephonySettings {
    /// An organization without a settings row: nothing recorded, recordings deleted.
    pub const DEFAULT: Self = Self {
        call_recording_enabled: false,
        delete_recordings_from_twilio: true,
    };
}

/// A change to some of the switches; what is absent stays as it is.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    pub call_recording_enabled: Option<bool>,
    pub delete_recordings_from_twilio: Option<bool>,
}

/// The organization's switches (the defaults when it has no settings row).
pub async fn read(db: &impl ConnectionTrait, org_id: Uuid) -> Result<TelephonySettings, DbErr> {
    Ok(settings::Entity::find_by_id(org_id).one(db).await?.map_or(
        TelephonySettings::DEFAULT,
        |row| TelephonySettings {
            call_recording_enabled: row.call_recording_enabled,
            delete_recordings_from_twilio: row.delete_recordings_from_twilio,
        },
    ))
}

/// Applies `change` to the organization's switches, creating its settings row if needed, and
/// returns the switches as they now are.
pub async fn update(
    db: &impl ConnectionTrait,
    org_id: Uuid,
    change: SettingsChange,
) -> Result<TelephonySettings, DbErr> {
    let now = Utc::now();
    let mut update = settings::Entity::update_many()
        .col_expr(settings::Column::UpdatedAt, Expr::value(now))
        .filter(settings::Column::OrganizationId.eq(org_id));
    if let Some(on) = change.call_recording_enabled {
        update = update.col_expr(settings::Column::CallRecordingEnabled, Expr::value(on));
    }
    if let Some(on) = change.delete_recordings_from_twilio {
        update = update.col_expr(
            settings::Column::DeleteRecordingsFromTwilio,
            Expr::value(on),
        );
    }
    if update.exec(db).await?.rows_affected == 0 {
        let defaults = TelephonySettings::DEFAULT;
        settings::ActiveModel {
            organization_id: Set(org_id),
            call_recording_enabled: Set(change
                .call_recording_enabled
                .unwrap_or(defaults.call_recording_enabled)),
            delete_recordings_from_twilio: Set(change
                .delete_recordings_from_twilio
                .unwrap_or(defaults.delete_recordings_from_twilio)),
            event_sink_sid: Set(None),
            sms_subscription_sid: Set(None),
            call_subscription_sid: Set(None),
            sms_events_active: Set(false),
            call_events_active: Set(false),
            caller_lookup_url: Set(None),
            caller_lookup_auth: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
    }
    read(db, org_id).await
}
