//! Event Streams deliveries: the body Twilio POSTs to our sink (after its signature is
//! checked, but from a sink anyone can reach). A batch and each event's typed reading may fail,
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loquent_twilio::event_stream::{TwilioEvent, parse_delivery};

fuzz_target!(|data: &[u8]| {
    let Ok(events) = parse_delivery(data) else {
        return;
    };
    for event in events {
        match event.into_typed() {
            Ok(TwilioEvent::CallStatus { event: voice, .. } | TwilioEvent::RecordingStatus(voice)) => {
                let _ = (voice.call_sid(), voice.account_sid(), voice.from_number());
                let _ = (voice.to_number(), voice.call_duration_secs(), voice.recording_sid());
                let _ = (voice.call_status(), voice.recording_url(), voice.direction());
            }
            Ok(TwilioEvent::CallSummary { summary, .. }) => {
                let _ = (summary.call_sid(), summary.account_sid());
            }
            Ok(_) | Err(_) => {}
        }
    }
});
