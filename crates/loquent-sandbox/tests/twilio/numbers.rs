use futures_util::TryStreamExt;
use loquent_twilio::phone_numbers::{BuyNumber, NumberSearch, VoiceConfig};
use loquent_twilio::{E164, PhoneNumberSid};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_bought_number_is_listed_and_no_longer_offered() {
    let sandbox = start().await;
    let seeded = seed_small(&sandbox, 11).await;
    let c = seeded_client(&sandbox, &seeded);
    let search = NumberSearch {
        area_code: Some(212),
        ..NumberSearch::default()
    };
    let offer = c.search_local_numbers("US", &search).await.unwrap();
    assert_eq!(offer.len(), 50);
    let first = offer[0].phone_number.clone().unwrap();
    assert!(first.as_str().starts_with("+1212"));
    assert_eq!(offer[0].region.as_deref(), Some("NY"));
    assert!(offer[0].capabilities.unwrap().voice);
    // Deterministic.
    let again = c.search_local_numbers("US", &search).await.unwrap();
    assert_eq!(again[0].phone_number, offer[0].phone_number);

    let bought = c
        .buy_phone_number(&BuyNumber {
            phone_number: first.clone(),
            voice: VoiceConfig::webhook("https://example.org/voice"),
        })
        .await
        .unwrap();
    assert_eq!(bought.phone_number.as_ref(), Some(&first));
    assert_eq!(
        bought.voice_url.as_deref(),
        Some("https://example.org/voice")
    );
    let listed: Vec<_> = c
        .list_incoming_phone_numbers(Some(&first))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sid, bought.sid);
    let all: Vec<_> = c
        .list_incoming_phone_numbers(None)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 3);

    let offer = c.search_local_numbers("US", &search).await.unwrap();
    assert!(
        offer
            .iter()
            .all(|n| n.phone_number.as_ref() != Some(&first))
    );

    // Buying it again, or a number that is not for sale, fails with 21422.
    for number in [first.clone(), "+12125559876".parse::<E164>().unwrap()] {
        let err = c
            .buy_phone_number(&BuyNumber {
                phone_number: number,
                voice: VoiceConfig::default(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400), "{err}");
        assert_eq!(err.code(), Some(21422));
    }
    let contains = c
        .search_local_numbers(
            "US",
            &NumberSearch {
                contains: Some("5550111".into()),
                ..NumberSearch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(contains.len(), 1);
    assert_eq!(
        contains[0].phone_number.as_ref().unwrap().as_str(),
        "+14155550111"
    );
}

#[tokio::test]
async fn voice_urls_are_set_shown_and_cleared() {
    let sandbox = start().await;
    let seeded = seed_small(&sandbox, 12).await;
    let c = seeded_client(&sandbox, &seeded);
    let (status, with_url) = control(
        &sandbox,
        reqwest::Method::POST,
        "/sandbox/numbers",
        Some(json!({"account_sid": seeded.account_sid, "phone_number": "+15125550999", "voice_url": "https://old.example/voice"})),
    )
    .await;
    assert_eq!(status, 201, "{with_url}");
    let with_url: PhoneNumberSid = with_url["sid"].as_str().unwrap().parse().unwrap();
    let without: PhoneNumberSid = seeded.numbers[0].sid.parse().unwrap();

    let fetched = c.fetch_incoming_phone_number(&without).await.unwrap();
    assert_eq!(fetched.voice_url, None);
    let fetched = c.fetch_incoming_phone_number(&with_url).await.unwrap();
    assert_eq!(
        fetched.voice_url.as_deref(),
        Some("https://old.example/voice")
    );

    for sid in [&with_url, &without] {
        let updated = c
            .update_incoming_phone_number(
                sid,
                &VoiceConfig {
                    status_callback: Some("https://new.example/status".into()),
                    ..VoiceConfig::webhook("https://new.example/voice")
                },
            )
            .await
            .unwrap();
        assert_eq!(
            updated.voice_url.as_deref(),
            Some("https://new.example/voice")
        );
        let fetched = c.fetch_incoming_phone_number(sid).await.unwrap();
        assert_eq!(
            fetched.voice_url.as_deref(),
            Some("https://new.example/voice")
        );
        assert_eq!(fetched.voice_method.as_deref(), Some("POST"));
        assert_eq!(
            fetched.status_callback.as_deref(),
            Some("https://new.example/status")
        );
    }

    c.update_incoming_phone_number(&with_url, &VoiceConfig::cleared())
        .await
        .unwrap();
    let fetched = c.fetch_incoming_phone_number(&with_url).await.unwrap();
    assert_eq!(fetched.voice_url.as_deref(), Some(""));
    // Fields not sent are left alone.
    assert_eq!(
        fetched.status_callback.as_deref(),
        Some("https://new.example/status")
    );

    let unknown: PhoneNumberSid = format!("PN{}", "2".repeat(32)).parse().unwrap();
    assert!(
        c.update_incoming_phone_number(&unknown, &VoiceConfig::cleared())
            .await
            .unwrap_err()
            .is_not_found()
    );
}
