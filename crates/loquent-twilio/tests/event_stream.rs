//! Event Streams deliveries shaped like Twilio's documented examples (PROTOCOLS.md §4 and
//! the event-type pages), with realistic SIDs.

use loquent_twilio::event_stream::{
    CallStage, EventStreamError, SummaryState, TwilioEvent, parse_delivery,
};

const CA: &str = "CA5f1e2d3c4b5a69788796a5b4c3d2e1f0";
const AC: &str = "AC0123456789abcdef0123456789abcdef";

fn voice_event(ty: &str, params: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0",
        "type": ty,
        "source": "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls/CA5f1e2d3c4b5a69788796a5b4c3d2e1f0.json",
        "id": "EZ0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "dataschema": "https://events-schemas.twilio.com/Voice.WebhookEvent/2",
        "datacontenttype": "application/json",
        "time": "2026-03-01T10:00:05.000Z",
        "data": {
            "sid": CA,
            "requestDateCreated": "Sun, 01 Mar 2026 10:00:05 +0000",
            "timestamp": "2026-03-01T10:00:05.000Z",
            "eventSid": "VW0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "request": {
                "method": "POST",
                "url": "https://app.example.com/twilio/call-status",
                "parameters": params
            },
            "response": {
                "responseCode": 200,
                "requestDuration": 31,
                "contentType": "text/plain",
                "responseBody": "",
                "dateCreated": "Sun, 01 Mar 2026 10:00:05 +0000"
            }
        }
    })
}

fn single(body: &serde_json::Value) -> TwilioEvent {
    let mut events = parse_delivery(body.to_string().as_bytes()).unwrap();
    assert_eq!(events.len(), 1);
    events.remove(0).into_typed().unwrap()
}

#[test]
fn answered_call_in_a_batch() {
    let answered = voice_event(
        "com.twilio.voice.status-callback.call.answered",
        serde_json::json!({
            "AccountSid": AC, "CallSid": CA, "From": "+14155550100", "To": "+14155550199",
            "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01",
            "CallbackSource": "call-progress-events", "SequenceNumber": "1",
            "Timestamp": "Sun, 01 Mar 2026 10:00:05 +0000"
        }),
    );
    let mut second = answered.clone();
    second["id"] = "EZ-second".into();
    let body = serde_json::Value::Array(vec![answered, second]);
    let events = parse_delivery(format!("  \n{body}").as_bytes()).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].id, "EZ0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    assert_eq!(events[1].id, "EZ-second");

    let TwilioEvent::CallStatus { stage, event } = events[0].clone().into_typed().unwrap() else {
        panic!()
    };
    assert_eq!(stage, CallStage::Answered);
    assert_eq!(event.call_sid().unwrap().as_str(), CA);
    assert_eq!(event.account_sid().unwrap().as_str(), AC);
    assert_eq!(event.from_number().unwrap().as_str(), "+14155550100");
    assert_eq!(event.to(), Some("+14155550199"));
    assert_eq!(event.call_status(), Some("in-progress"));
    assert_eq!(event.direction(), Some("inbound"));
    assert_eq!(
        event.request.url.as_deref(),
        Some("https://app.example.com/twilio/call-status")
    );
}

#[test]
fn completed_call_as_a_bare_object_and_seed_alias() {
    for ty in [
        "com.twilio.voice.status-callback.call.completed",
        "com.twilio.voice.webhook.status-callback.call.completed",
        "com.twilio.voice.status.completed",
    ] {
        let body = voice_event(
            ty,
            serde_json::json!({"CallSid": CA, "CallStatus": "completed", "CallDuration": "73", "From": "client:alice"}),
        );
        let TwilioEvent::CallStatus { stage, event } = single(&body) else {
            panic!("{ty}")
        };
        assert_eq!(stage, CallStage::Completed, "{ty}");
        assert_eq!(event.call_duration_secs(), Some(73));
        // Not a phone number: raw value available, typed accessor says no.
        assert_eq!(event.from(), Some("client:alice"));
        assert_eq!(event.from_number(), None);
    }
}

#[test]
fn call_sid_falls_back_to_parameters() {
    // Twilio's doc examples carry a placeholder sid of the wrong length.
    let mut body = voice_event(
        "com.twilio.voice.status-callback.call.ringing",
        serde_json::json!({"CallSid": CA}),
    );
    body["data"]["sid"] = "CA0000000000000000000000000000001".into();
    let TwilioEvent::CallStatus { stage, event } = single(&body) else {
        panic!()
    };
    assert_eq!(stage, CallStage::Ringing);
    assert_eq!(event.call_sid().unwrap().as_str(), CA);

    // The documented examples have empty parameters: still parses.
    let empty = voice_event(
        "com.twilio.voice.status-callback.call.initiated",
        serde_json::json!({}),
    );
    let TwilioEvent::CallStatus { event, .. } = single(&empty) else {
        panic!()
    };
    assert_eq!(event.call_sid().unwrap().as_str(), CA);
    assert_eq!(event.from(), None);
}

#[test]
fn seed_recording_processed_alias() {
    let body = voice_event(
        "com.twilio.voice.status.recording.processed",
        serde_json::json!({
            "AccountSid": AC, "CallSid": CA,
            "RecordingSid": "RE0123456789abcdef0123456789abcdef",
            "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef0123456789abcdef",
            "RecordingStatus": "completed", "RecordingDuration": "73", "RecordingChannels": "2",
            "RecordingSource": "StartCallRecordingAPI", "ErrorCode": "0"
        }),
    );
    let TwilioEvent::RecordingStatus(event) = single(&body) else {
        panic!()
    };
    assert_eq!(event.recording_status(), Some("completed"));
    assert_eq!(
        event.recording_sid().unwrap().as_str(),
        "RE0123456789abcdef0123456789abcdef"
    );
    assert!(
        event
            .recording_url()
            .unwrap()
            .ends_with("RE0123456789abcdef0123456789abcdef")
    );
}

#[test]
fn insights_call_summary() {
    let body = serde_json::json!([{
        "specversion": "1.0",
        "type": "com.twilio.voice.insights.call-summary.complete",
        "source": "/v1/Voice/CA5f1e2d3c4b5a69788796a5b4c3d2e1f0/Summary",
        "id": "EZ1",
        "dataschema": "https://events-schemas.twilio.com/VoiceInsights.CallSummary/1",
        "datacontenttype": "application/json",
        "time": "2026-03-01T10:30:00.000Z",
        "data": {
            "account_sid": AC, "call_sid": CA,
            "call_type": "trunking", "call_state": "completed", "answered_by": "unknown",
            "processing_state": "complete",
            "created_time": "2026-03-01T10:00:00Z", "start_time": "2026-03-01T10:00:01Z",
            "end_time": "2026-03-01T10:01:14Z", "duration": 74, "connect_duration": 73,
            "from": {"caller": "+14155550100", "carrier": "Example Wireless", "connection": "mobile",
                     "number_prefix": "1415", "country_code": "US", "country_subdivision": "California",
                     "location": {"lat": 37.7, "lon": -122.4}},
            "to": {"callee": "+14155550199", "carrier": "Twilio", "connection": "voip", "country_code": "US"},
            "carrier_edge": {}, "sip_edge": null, "client_edge": null, "sdk_edge": null,
            "tags": ["silence"], "attributes": {"conference_participant": false}, "properties": {"direction": "inbound"},
            "trust": {}, "annotation": null,
            "url": "https://insights.twilio.com/v1/Voice/CA5f1e2d3c4b5a69788796a5b4c3d2e1f0/Summary"
        }
    }]);
    let TwilioEvent::CallSummary { state, summary } = single(&body) else {
        panic!()
    };
    assert_eq!(state, SummaryState::Complete);
    assert_eq!(summary.call_sid().unwrap().as_str(), CA);
    assert_eq!(summary.account_sid().unwrap().as_str(), AC);
    assert_eq!(summary.call_state.as_deref(), Some("completed"));
    assert_eq!(summary.connect_duration, Some(73));
    let from = summary.from.as_ref().unwrap();
    assert_eq!(from.number().unwrap().as_str(), "+14155550100");
    assert!(from.other.contains_key("location"));
    assert_eq!(summary.to.as_ref().unwrap().address(), Some("+14155550199"));
    assert_eq!(summary.tags, vec!["silence"]);
}

#[test]
fn partial_summary_with_sparse_data() {
    let body = serde_json::json!({
        "specversion": "1.0", "type": "com.twilio.voice.insights.call-summary.partial",
        "source": "x", "id": "EZ2", "data": {"call_sid": CA, "from": {}, "to": {}}
    });
    let TwilioEvent::CallSummary { state, summary } = single(&body) else {
        panic!()
    };
    assert_eq!(state, SummaryState::Partial);
    assert_eq!(summary.from.unwrap().address(), None);
}

#[test]
fn messaging_status_and_inbound() {
    let status = serde_json::json!({
        "specversion": "1.0", "type": "com.twilio.messaging.message.delivered",
        "source": "AB00000000000000000000000001", "id": "NO1",
        "dataschema": "https://events-schemas.twilio.com/Messaging.MessageStatus/8",
        "datacontenttype": "2025-10-08T07:17:02.363Z",
        "data": {
            "messageSid": "SM0000000000000000000000000000001", "timestamp": "2025-01-01T00:00:00.000Z",
            "accountSid": "AC0000000000000000000000000000001",
            "eventName": "com.twilio.messaging.message.delivered", "apiVersion": "2010-04-01",
            "from": "+11234567890", "to": "+12345678901", "messageStatus": "DELIVERED",
            "messagingServiceSid": "MG0000000000000000000000000000001", "errorCode": 30003,
            "body": "Ahoy!", "numberOfSegments": 1, "dateUpdated": "2025-01-01T00:00:00.000Z"
        }
    });
    let TwilioEvent::MessageStatus(m) = single(&status) else {
        panic!()
    };
    assert_eq!(m.message_status.as_deref(), Some("DELIVERED"));
    assert_eq!(m.error_code, Some(30003));
    assert_eq!(m.number_of_segments, Some(1));

    let inbound = serde_json::json!({
        "specversion": "1.0", "type": "com.twilio.messaging.inbound-message.received",
        "source": "AB00000000000000000000000001", "id": "NO2",
        "data": {
            "messageSid": "SM0000000000000000000000000000001", "accountSid": "AC0000000000000000000000000000001",
            "from": "+11234567890", "to": "+12345678901", "numMedia": 0, "body": "Ahoy!",
            "toCountry": "US", "fromCity": "NASHUA", "mcc": "310"
        }
    });
    let TwilioEvent::InboundMessage(m) = single(&inbound) else {
        panic!()
    };
    assert_eq!(m.body.as_deref(), Some("Ahoy!"));
    assert_eq!(m.num_media, Some(0));
    assert_eq!(m.other["fromCity"], "NASHUA");
}

#[test]
fn unknown_types_are_kept_whole() {
    let body = serde_json::json!({
        "specversion": "1.0", "type": "com.twilio.voice.status-callback.amd.detected",
        "source": "s", "id": "EZ3", "data": {"sid": CA, "anything": [1, 2]}
    });
    let TwilioEvent::Unknown { event_type, data } = single(&body) else {
        panic!()
    };
    assert_eq!(event_type, "com.twilio.voice.status-callback.amd.detected");
    assert_eq!(data["anything"][1], 2);

    // No data at all is fine for unknown types too.
    let bare = serde_json::json!({"type": "com.example.other", "id": "x"});
    assert!(matches!(single(&bare), TwilioEvent::Unknown { .. }));
}

#[test]
fn malformed_deliveries_are_errors() {
    for bad in [
        "",
        "[",
        "{}",
        "[{\"type\":\"t\"}]",
        "42",
        "[1]",
        "{\"id\":\"x\"}",
    ] {
        assert!(
            matches!(
                parse_delivery(bad.as_bytes()),
                Err(EventStreamError::Envelope(_))
            ),
            "{bad:?}"
        );
    }
    assert!(parse_delivery(b"[]").unwrap().is_empty());
    // A known type with the wrong data shape is an error naming the type.
    let body = serde_json::json!({"type": "com.twilio.voice.insights.call-summary.complete", "id": "x", "data": {"duration": "long"}});
    let err = parse_delivery(body.to_string().as_bytes())
        .unwrap()
        .remove(0)
        .into_typed()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("com.twilio.voice.insights.call-summary.complete"),
        "{err}"
    );
}
