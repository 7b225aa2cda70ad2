//! Phone numbers: the ones we own (incoming phone numbers), pointing them at our webhooks,
//! searching for and buying new ones.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::calls::page_size;
use crate::client::operations::{
    CREATE_INCOMING_PHONE_NUMBER, FETCH_INCOMING_PHONE_NUMBER, LIST_AVAILABLE_PHONE_NUMBER_LOCAL,
    LIST_INCOMING_PHONE_NUMBER, UPDATE_INCOMING_PHONE_NUMBER,
};
use crate::client::{TwilioClient, TwilioError, TwilioStream, number_or_string, v2010_page};
use crate::phone_number::E164;
use crate::sid::{AccountSid, PhoneNumberSid};
use crate::twiml::Method;

/// `api.v2010.account.incoming_phone_number`.
#[derive(Debug, Clone, Deserialize)]
pub struct IncomingPhoneNumber {
    pub account_sid: Option<AccountSid>,
    pub address_sid: Option<String>,
    pub address_requirements: Option<String>,
    pub api_version: Option<String>,
    pub beta: Option<bool>,
    pub capabilities: Option<Capabilities>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    pub friendly_name: Option<String>,
    pub identity_sid: Option<String>,
    pub phone_number: Option<E164>,
    pub origin: Option<String>,
    pub sid: Option<PhoneNumberSid>,
    pub sms_application_sid: Option<String>,
    pub sms_fallback_method: Option<String>,
    pub sms_fallback_url: Option<String>,
    pub sms_method: Option<String>,
    pub sms_url: Option<String>,
    pub status_callback: Option<String>,
    pub status_callback_method: Option<String>,
    pub trunk_sid: Option<String>,
    pub uri: Option<String>,
    pub voice_receive_mode: Option<String>,
    pub voice_application_sid: Option<String>,
    pub voice_caller_id_lookup: Option<bool>,
    pub voice_fallback_method: Option<String>,
    pub voice_fallback_url: Option<String>,
    pub voice_method: Option<String>,
    /// `None` or `""` when no voice webhook is set.
    pub voice_url: Option<String>,
    pub emergency_status: Option<String>,
    pub emergency_address_sid: Option<String>,
    pub emergency_address_status: Option<String>,
    pub bundle_sid: Option<String>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub number_type: Option<String>,
    pub subresource_uris: Option<BTreeMap<String, String>>,
}

/// What a number can do. Twilio spells the keys `sms`/`mms` on owned numbers and
/// `SMS`/`MMS` on search results; both are accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Capabilities {
    #[serde(default)]
    pub voice: bool,
    #[serde(default, alias = "SMS")]
    pub sms: bool,
    #[serde(default, alias = "MMS")]
    pub mms: bool,
    #[serde(default, alias = "FAX")]
    pub fax: bool,
}

/// `api.v2010.account.available_phone_number_country.available_phone_number_local`.
#[derive(Debug, Clone, Deserialize)]
pub struct AvailablePhoneNumber {
    pub friendly_name: Option<String>,
    pub phone_number: Option<E164>,
    pub lata: Option<String>,
    pub locality: Option<String>,
    pub rate_center: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub latitude: Option<f64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub longitude: Option<f64>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub iso_country: Option<String>,
    pub address_requirements: Option<String>,
    pub beta: Option<bool>,
    pub capabilities: Option<Capabilities>,
}

/// Where a number sends its calls. Unset fields are left unchanged by an update;
/// `voice_url: Some("")` clears the number's voice webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoiceConfig {
    pub voice_url: Option<String>,
    pub voice_method: Option<Method>,
    pub status_callback: Option<String>,
    pub status_callback_method: Option<Method>,
    pub friendly_name: Option<String>,
}

impl VoiceConfig {
    /// Send incoming calls to `url` with POST.
    pub fn webhook(url: impl Into<String>) -> Self {
        Self {
            voice_url: Some(url.into()),
            voice_method: Some(Method::Post),
            ..Self::default()
        }
    }

    /// Clear the voice webhook (an empty `VoiceUrl`).
    pub fn cleared() -> Self {
        Self {
            voice_url: Some(String::new()),
            ..Self::default()
        }
    }
}

/// Search filters for [`TwilioClient::search_local_numbers`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberSearch {
    /// US/Canada area code, e.g. 415.
    pub area_code: Option<u16>,
    /// A pattern of digits and `*`, or letters, the number must contain.
    pub contains: Option<String>,
    pub voice_enabled: Option<bool>,
    pub sms_enabled: Option<bool>,
    pub mms_enabled: Option<bool>,
    /// State/province abbreviation.
    pub in_region: Option<String>,
    pub in_postal_code: Option<String>,
    /// At most 1000; Twilio returns a single page of candidates.
    pub page_size: Option<u32>,
}

/// Numbers to buy: `PhoneNumber` (normally from a search) plus where its calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyNumber {
    pub phone_number: E164,
    pub voice: VoiceConfig,
}

v2010_page!(
    IncomingPhoneNumberPage,
    incoming_phone_numbers,
    IncomingPhoneNumber
);
v2010_page!(
    AvailablePhoneNumberPage,
    available_phone_numbers,
    AvailablePhoneNumber
);

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn check_country(code: &str) -> Result<(), TwilioError> {
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(TwilioError::InvalidRequest(
            "country code must be two uppercase letters (ISO 3166-1 alpha-2, e.g. US)".into(),
        ))
    }
}

impl TwilioClient {
    /// `ListIncomingPhoneNumber`: the numbers this account owns, optionally only those
    /// matching `phone_number`.
    pub fn list_incoming_phone_numbers(
        &self,
        phone_number: Option<&E164>,
    ) -> TwilioStream<IncomingPhoneNumber> {
        let account = self.account_sid().clone();
        let request = self
            .request(
                &LIST_INCOMING_PHONE_NUMBER,
                &[("AccountSid", account.as_str())],
            )
            .opt_param("PhoneNumber", phone_number.map(E164::as_str));
        self.paginate::<IncomingPhoneNumberPage>(request)
    }

    /// `FetchIncomingPhoneNumber`.
    pub async fn fetch_incoming_phone_number(
        &self,
        sid: &PhoneNumberSid,
    ) -> Result<IncomingPhoneNumber, TwilioError> {
        let account = self.account_sid().clone();
        let request = self.request(
            &FETCH_INCOMING_PHONE_NUMBER,
            &[("AccountSid", account.as_str()), ("Sid", sid.as_str())],
        );
        self.send_json(&request).await
    }

    /// `UpdateIncomingPhoneNumber`: change where a number's calls and status callbacks go.
    pub async fn update_incoming_phone_number(
        &self,
        sid: &PhoneNumberSid,
        config: &VoiceConfig,
    ) -> Result<IncomingPhoneNumber, TwilioError> {
        let account = self.account_sid().clone();
        let request = self.request(
            &UPDATE_INCOMING_PHONE_NUMBER,
            &[("AccountSid", account.as_str()), ("Sid", sid.as_str())],
        );
        let request = voice_params(request, config);
        self.send_json(&request).await
    }

    /// `CreateIncomingPhoneNumber`: buy a number. Not retried unless the request provably
    /// never reached Twilio, so a purchase is never made twice by the client.
    pub async fn buy_phone_number(
        &self,
        order: &BuyNumber,
    ) -> Result<IncomingPhoneNumber, TwilioError> {
        let account = self.account_sid().clone();
        let request = self
            .request(
                &CREATE_INCOMING_PHONE_NUMBER,
                &[("AccountSid", account.as_str())],
            )
            .param("PhoneNumber", order.phone_number.as_str());
        let request = voice_params(request, &order.voice);
        self.send_json(&request).await
    }

    /// `ListAvailablePhoneNumberLocal`: local numbers for sale in `country` (e.g. `US`).
    pub async fn search_local_numbers(
        &self,
        country: &str,
        search: &NumberSearch,
    ) -> Result<Vec<AvailablePhoneNumber>, TwilioError> {
        check_country(country)?;
        let account = self.account_sid().clone();
        let request = self
            .request(
                &LIST_AVAILABLE_PHONE_NUMBER_LOCAL,
                &[("AccountSid", account.as_str()), ("CountryCode", country)],
            )
            .opt_param("AreaCode", search.area_code.map(|c| c.to_string()))
            .opt_param("Contains", search.contains.clone())
            .opt_param("VoiceEnabled", search.voice_enabled.map(bool_str))
            .opt_param("SmsEnabled", search.sms_enabled.map(bool_str))
            .opt_param("MmsEnabled", search.mms_enabled.map(bool_str))
            .opt_param("InRegion", search.in_region.clone())
            .opt_param("InPostalCode", search.in_postal_code.clone())
            .opt_param("PageSize", page_size(search.page_size));
        let page: AvailablePhoneNumberPage = self.send_json(&request).await?;
        Ok(crate::client::ListPage::into_parts(page).0)
    }
}

fn voice_params(
    request: crate::client::ApiRequest,
    config: &VoiceConfig,
) -> crate::client::ApiRequest {
    request
        .opt_param("VoiceUrl", config.voice_url.clone())
        .opt_param("VoiceMethod", config.voice_method.map(Method::as_str))
        .opt_param("StatusCallback", config.status_callback.clone())
        .opt_param(
            "StatusCallbackMethod",
            config.status_callback_method.map(Method::as_str),
        )
        .opt_param("FriendlyName", config.friendly_name.clone())
}
