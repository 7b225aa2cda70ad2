use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use loquent_sandbox::speech::{self, Phrase};
use serde_json::{Value, json};

use crate::common::*;

const PATH: &str = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";

async fn live(sandbox: &loquent_sandbox::SandboxHandle) -> Raw {
    let url = ws_url(
        &sandbox.gemini_base_url(),
        &format!("{PATH}?key=sandbox-key"),
    );
    connect(&url, &[]).await.expect("upgrade")
}

fn setup(model: &str) -> Value {
    json!({ "setup": {
        "model": model,
        "generationConfig": { "responseModalities": ["AUDIO"] },
        "realtimeInputConfig": { "automaticActivityDetection": { "silenceDurationMs": 200 } },
        "tools": [{ "functionDeclarations": [{ "name": "transfer_call", "description": "Transfer",
            "parameters": { "type": "object", "properties": { "department": { "type": "string", "enum": ["sales", "support"] } } } }] }],
        "inputAudioTranscription": {},
        "outputAudioTranscription": {},
        "sessionResumption": {}
    } })
}

fn audio(phrase: Phrase, ms: usize, silence_ms: usize) -> Value {
    json!({ "realtimeInput": { "audio": { "mimeType": "audio/pcm;rate=16000", "data": pcm16k(phrase, ms, silence_ms) } } })
}

/// The next message, asserting it came in a binary frame as Gemini sends them.
async fn binary(ws: &mut Raw) -> Value {
    match ws.frame().await {
        Frame::Json(value, binary) => {
            assert!(binary, "Gemini sends JSON in binary frames: {value}");
            value
        }
        Frame::Closed(code, reason) => panic!("closed with {code}: {reason}"),
    }
}

async fn until(ws: &mut Raw, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let message = binary(ws).await;
        let done = wanted(&message);
        seen.push(message);
        if done {
            return seen;
        }
    }
}

fn turn_complete(message: &Value) -> bool {
    message["serverContent"]["turnComplete"] == true
}

#[tokio::test]
async fn the_key_is_required() {
    let sandbox = sandbox().await;
    let url = ws_url(&sandbox.gemini_base_url(), PATH);
    assert_eq!(
        refused_status(&connect(&url, &[]).await.err().unwrap()),
        403
    );
    let empty = format!("{url}?key=");
    assert_eq!(
        refused_status(&connect(&empty, &[]).await.err().unwrap()),
        403
    );
}

#[tokio::test]
async fn setup_must_come_first_and_be_valid() {
    let sandbox = sandbox().await;
    let mut ws = live(&sandbox).await;
    ws.send(audio(Phrase::Hello, 100, 0)).await;
    assert_eq!(ws.closed().await.0, 1007);

    let mut ws = live(&sandbox).await;
    ws.send(setup("gemini-2.5-flash")).await; // no models/ prefix
    assert_eq!(ws.closed().await.0, 1008);

    let mut ws = live(&sandbox).await;
    let mut resume = setup("models/gemini-sandbox");
    resume["setup"]["sessionResumption"]["handle"] = json!("made-up");
    ws.send(resume).await;
    assert_eq!(ws.closed().await.0, 1007);

    let mut ws = live(&sandbox).await;
    ws.send(setup("models/gemini-sandbox")).await;
    assert_eq!(binary(&mut ws).await, json!({ "setupComplete": {} }));
    ws.send(setup("models/gemini-sandbox")).await;
    assert_eq!(ws.closed().await.0, 1007, "setup only once");
}

#[tokio::test]
async fn a_turn_a_tool_call_and_a_barge_in() {
    let sandbox = sandbox().await;
    let mut ws = live(&sandbox).await;
    ws.send(setup("models/gemini-sandbox")).await;
    assert_eq!(binary(&mut ws).await, json!({ "setupComplete": {} }));
    let handle = binary(&mut ws).await;
    assert_eq!(handle["sessionResumptionUpdate"]["resumable"], true);

    // A spoken turn: caller transcript, PCM16 24 kHz of the agent's voice, its transcript.
    ws.send(audio(Phrase::Hello, 300, 300)).await;
    let turn = until(&mut ws, turn_complete).await;
    assert_eq!(
        turn[0]["serverContent"]["inputTranscription"]["text"],
        "Hello."
    );
    let mut pcm = Vec::new();
    for message in &turn {
        for part in message["serverContent"]["modelTurn"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(part["inlineData"]["mimeType"], "audio/pcm;rate=24000");
            let bytes = STANDARD
                .decode(part["inlineData"]["data"].as_str().unwrap())
                .unwrap();
            pcm.extend(
                bytes
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]])),
            );
        }
    }
    assert_eq!(pcm.len(), 600 * 24, "600 ms at 24 kHz");
    assert!(speech::is_agent_voice(&pcm, 24_000));
    let said: String = turn
        .iter()
        .filter_map(|m| m["serverContent"]["outputTranscription"]["text"].as_str())
        .collect();
    assert_eq!(said, "Hi! How can I help you today?");
    assert!(
        turn.iter()
            .any(|m| m["serverContent"]["generationComplete"] == true)
    );
    let next_handle = binary(&mut ws).await; // usage first, then a new handle
    let next_handle = if next_handle.get("usageMetadata").is_some() {
        binary(&mut ws).await
    } else {
        next_handle
    };
    assert_ne!(
        next_handle["sessionResumptionUpdate"]["newHandle"],
        handle["sessionResumptionUpdate"]["newHandle"]
    );

    // A tool phrase: toolCall with an id and args object from the declared parameters.
    ws.send(audio(Phrase::Transfer, 300, 300)).await;
    let call = until(&mut ws, |m| m.get("toolCall").is_some()).await;
    let call = &call.last().unwrap()["toolCall"]["functionCalls"][0];
    assert_eq!(call["name"], "transfer_call");
    assert_eq!(call["args"], json!({ "department": "sales" }));
    // The result (an object, as Gemini requires) gets a spoken reply.
    ws.send(json!({ "toolResponse": { "functionResponses": [{ "id": call["id"], "name": "transfer_call", "response": { "ok": true } }] } }))
        .await;
    let reply = until(&mut ws, |m| m["serverContent"].get("modelTurn").is_some()).await;
    assert!(!reply.is_empty());
    // The caller talks over it: interrupted, then turnComplete without generationComplete.
    ws.send(audio(Phrase::Question, 100, 0)).await;
    let cut = until(&mut ws, turn_complete).await;
    let interrupted = cut
        .iter()
        .position(|m| m["serverContent"]["interrupted"] == true)
        .expect("interrupted");
    assert_eq!(interrupted, cut.len() - 2);
    assert!(
        !cut.iter()
            .any(|m| m["serverContent"]["generationComplete"] == true)
    );

    // A string response is refused the way Gemini refuses it: a close frame.
    let mut ws = live(&sandbox).await;
    ws.send(setup("models/gemini-sandbox")).await;
    binary(&mut ws).await;
    ws.send(json!({ "toolResponse": { "functionResponses": [{ "id": "x", "name": "transfer_call", "response": "done" }] } }))
        .await;
    assert_eq!(ws.closed().await.0, 1007);
}

#[tokio::test]
async fn go_away_then_close_and_resumption_with_the_handle() {
    let sandbox = sandbox().await;
    let mut ws = live(&sandbox).await;
    ws.send(setup("models/sandbox-go-away")).await;
    binary(&mut ws).await;
    let handle = binary(&mut ws).await["sessionResumptionUpdate"]["newHandle"].clone();
    let go_away = binary(&mut ws).await;
    assert_eq!(go_away["goAway"]["timeLeft"], "1s");
    assert_eq!(
        ws.closed().await.0,
        1000,
        "the server closes once the time is up"
    );

    // Resuming with the handle works, and the resumed connection is not sent away again.
    let mut ws = live(&sandbox).await;
    let mut resume = setup("models/sandbox-go-away");
    resume["setup"]["sessionResumption"]["handle"] = handle;
    ws.send(resume).await;
    assert_eq!(binary(&mut ws).await, json!({ "setupComplete": {} }));
    binary(&mut ws).await;
    ws.quiet(Duration::from_millis(1_300)).await;
}

#[tokio::test]
async fn echo_mode_sends_input_back_at_24k() {
    let sandbox = sandbox().await;
    let mut ws = live(&sandbox).await;
    ws.send(setup("models/sandbox-echo")).await;
    binary(&mut ws).await;
    binary(&mut ws).await;
    ws.send(audio(Phrase::Question, 100, 0)).await;
    let echoed = binary(&mut ws).await;
    let data = echoed["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"]
        .as_str()
        .unwrap();
    assert_eq!(
        STANDARD.decode(data).unwrap().len(),
        100 * 24 * 2,
        "100 ms at 24 kHz"
    );
}
