use futures_util::{StreamExt, TryStreamExt};
use loquent_twilio::calls::CallFilter;
use loquent_twilio::recordings::{RecordingMedia, RequestedChannels};
use serde_json::json;

use crate::common::*;

async fn bytes(media: RecordingMedia) -> Vec<u8> {
    let mut body = media.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[tokio::test]
async fn recordings_list_download_and_delete() {
    let sandbox = start().await;
    let seeded = seed(
        &sandbox,
        json!({"numbers": 1, "calls_per_number": 6, "recording_share": 1.0, "seed": 21}),
    )
    .await;
    assert_eq!(seeded.recordings, 6);
    let c = seeded_client(&sandbox, &seeded);
    let calls: Vec<_> = c
        .list_calls(&CallFilter::new())
        .try_collect()
        .await
        .unwrap();
    let mut mono = None;
    let mut dual = None;
    for call in &calls {
        let recordings: Vec<_> = c
            .list_call_recordings(call.sid.as_ref().unwrap())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(recordings.len(), 1);
        let r = &recordings[0];
        assert_eq!(r.call_sid, call.sid);
        match r.channels {
            Some(1) => mono = r.sid.clone(),
            Some(2) => dual = r.sid.clone(),
            other => panic!("channels {other:?}"),
        }
    }
    let mono = mono.expect("a mono recording among 6");
    let dual = dual.expect("a dual recording among 6");

    let recording = c.fetch_recording(&dual).await.unwrap();
    let media_url = recording.media_url.unwrap();
    assert!(
        media_url.starts_with(&sandbox.twilio_api_base()),
        "{media_url}"
    );
    assert!(media_url.ends_with(dual.as_str()));

    let media = c
        .download_recording(&dual, RequestedChannels::Dual)
        .await
        .unwrap();
    assert_eq!(media.content_type.as_deref(), Some("audio/mpeg"));
    let audio = bytes(media).await;
    assert_eq!(
        &audio[..4],
        &[0xFF, 0xE3, 0x28, 0x04],
        "MPEG-2.5 layer III, 8 kHz, 16 kbit/s, two channels"
    );
    let seconds: usize = recording.duration.unwrap().parse().unwrap();
    assert!(audio.len() >= seconds * 2000, "16 kbit/s");
    let downmixed = bytes(
        c.download_recording(&dual, RequestedChannels::Mono)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(downmixed[3] >> 6, 0b11, "mono");
    let err = c
        .download_recording(&mono, RequestedChannels::Dual)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));

    c.delete_recording(&mono).await.unwrap();
    assert!(c.fetch_recording(&mono).await.unwrap_err().is_not_found());
    assert!(
        c.download_recording(&mono, RequestedChannels::AsRecorded)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(c.delete_recording(&mono).await.unwrap_err().is_not_found());
    let deletes: Vec<_> = logged(&sandbox, &seeded.account_sid, true).await;
    assert_eq!(deletes.len(), 2);
    assert!(deletes.iter().all(|r| r["method"] == "DELETE"));
}
