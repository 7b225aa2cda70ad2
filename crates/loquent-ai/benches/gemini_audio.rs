//! CPU cost of the Gemini Live audio path per second of call audio, each direction, as the
//! session runs it:
//!
//! - **uplink**: 50 Twilio frames (base64 µ-law 8 kHz, 20 ms) → base64 decode → µ-law decode
//!   and ×2 resampling (`MulawToPcm16k`) → base64 of one 60 ms batch (the session's default).
//! - **downlink**: 10 Gemini chunks (base64 PCM16 24 kHz, 100 ms, the size the sandbox sends)
//!   → base64 decode → ÷3 resampling and µ-law encode (`Pcm24kToMulaw`) → base64 for Twilio.
//!
//! JSON framing is left out: it is the same for every provider. Plain `Instant` timing, no
//! harness: `cargo bench -p loquent-ai --bench gemini_audio`. Prints the median over samples.

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use loquent_ai::audio::{MulawToPcm16k, Pcm24kToMulaw, mulaw};
use loquent_sandbox::speech::{Phrase, Tone};

/// Call-seconds converted per timed sample.
const SECONDS_PER_SAMPLE: usize = 20;
const SAMPLES: usize = 41;
const WARM_UP: usize = 3;
/// Frames per uplink batch: 60 ms.
const BATCH_FRAMES: usize = 3;

/// One second of caller speech as Twilio sends it: 50 base64 µ-law frames.
fn caller_second() -> Vec<String> {
    let mut tone = Tone::new(Phrase::Question.frequency_hz(), 8_000);
    (0..50)
        .map(|_| STANDARD.encode(tone.mulaw_frame()))
        .collect()
}

/// One second of model speech as Gemini sends it: 10 base64 chunks of 100 ms PCM16 24 kHz.
fn model_second() -> Vec<String> {
    let mut tone = Tone::new(loquent_sandbox::speech::AGENT_VOICE_HZ, 24_000);
    (0..10)
        .map(|_| {
            let mut pcm = Vec::new();
            tone.pcm(2_400, &mut pcm);
            STANDARD.encode(
                pcm.iter()
                    .flat_map(|s| s.to_le_bytes())
                    .collect::<Vec<u8>>(),
            )
        })
        .collect()
}

fn uplink(
    frames: &[String],
    converter: &mut MulawToPcm16k,
    scratch: &mut Vec<u8>,
    batch: &mut Vec<u8>,
    out: &mut String,
) {
    for (index, frame) in frames.iter().enumerate() {
        scratch.clear();
        STANDARD.decode_vec(frame, scratch).expect("base64");
        converter.process(scratch, batch);
        if (index + 1) % BATCH_FRAMES == 0 || index + 1 == frames.len() {
            out.clear();
            STANDARD.encode_string(&*batch, out);
            black_box(&out);
            batch.clear();
        }
    }
}

fn downlink(chunks: &[String], converter: &mut Pcm24kToMulaw, out: &mut String) {
    for chunk in chunks {
        out.clear();
        converter.process_base64(chunk, out).expect("base64");
        black_box(&out);
    }
}

/// Median microseconds of CPU per call-second of `run`.
fn measure(mut run: impl FnMut()) -> f64 {
    let mut samples: Vec<Duration> = Vec::with_capacity(SAMPLES);
    for sample in 0..WARM_UP + SAMPLES {
        let started = Instant::now();
        for _ in 0..SECONDS_PER_SAMPLE {
            run();
        }
        if sample >= WARM_UP {
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    samples[SAMPLES / 2].as_secs_f64() * 1e6 / SECONDS_PER_SAMPLE as f64
}

fn main() {
    let frames = caller_second();
    let chunks = model_second();

    // Sanity: both paths produce the right amount of audio.
    let mut check = MulawToPcm16k::new();
    let mut pcm = Vec::new();
    let mut scratch = Vec::new();
    for frame in &frames {
        scratch.clear();
        STANDARD.decode_vec(frame, &mut scratch).unwrap();
        check.process(&scratch, &mut pcm);
    }
    assert_eq!(pcm.len(), 16_000 * 2, "one second at 16 kHz");
    let mut down = Pcm24kToMulaw::new();
    let mut bytes = 0;
    for chunk in &chunks {
        let mut out = String::new();
        down.process_base64(chunk, &mut out).unwrap();
        bytes += STANDARD.decode(out).unwrap().len();
    }
    assert_eq!(bytes, 8_000, "one second at 8 kHz");
    black_box(mulaw::SILENCE);

    let mut up = MulawToPcm16k::new();
    let (mut batch, mut out) = (Vec::new(), String::new());
    let uplink_us = measure(|| uplink(&frames, &mut up, &mut scratch, &mut batch, &mut out));
    let mut down = Pcm24kToMulaw::new();
    let downlink_us = measure(|| downlink(&chunks, &mut down, &mut out));
    let total = uplink_us + downlink_us;

    println!(
        "Gemini audio path, CPU per second of call audio (median of {SAMPLES} samples of {SECONDS_PER_SAMPLE} s):"
    );
    println!("  uplink   µ-law 8k → PCM16 16k (+base64): {uplink_us:8.1} µs");
    println!("  downlink PCM16 24k → µ-law 8k (+base64): {downlink_us:8.1} µs");
    println!(
        "  both directions:                          {total:8.1} µs = {:.3} % of one core per call",
        total / 1e4
    );
    for calls in [1, 10, 100, 500, 1_000] {
        println!(
            "  {calls:5} concurrent calls: {:7.2} % of one core",
            total * calls as f64 / 1e4
        );
    }
}
