#!/usr/bin/env python3
"""Regenerate the sandbox's recording fixtures (crates/loquent-sandbox/fixtures/*.mp3).

A recording in the sandbox is one of these 3.6 s loops repeated for as long as the call lasted.
The dual-channel loop has the caller on the left channel (the "hello" tone, 400 Hz, 0.0-1.0 s)
and the agent on the right (its voice, 1800 Hz, 1.4-3.0 s), the way Twilio lays out a dual
recording of an inbound call; the mono loop is the two mixed. The tones are the vocabulary of
crates/loquent-sandbox/src/speech.rs, so a transcriber can tell who spoke.

Needs `lame` (Debian package `lame`). Encoded as constant-bitrate MPEG-2.5 Layer III at 8 kHz
without a Xing header or ID3 tag, so every frame is 576 samples (72 ms) and the same size, and the
loop is exactly 50 frames: the sandbox can cut and repeat it frame by frame.
"""
import math
import os
import struct
import subprocess
import tempfile
import wave

RATE = 8000
SECONDS = 3.6
AMPLITUDE = 10000
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "crates", "loquent-sandbox", "fixtures")


def tone(hz, start, end, t):
    return AMPLITUDE * math.sin(2 * math.pi * hz * t) if start <= t < end else 0.0


def samples():
    for i in range(int(RATE * SECONDS)):
        t = i / RATE
        yield tone(400, 0.0, 1.0, t), tone(1800, 1.4, 3.0, t)


def write_wav(path, channels):
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(RATE)
        frames = bytearray()
        for caller, agent in samples():
            if channels == 2:
                frames += struct.pack("<hh", int(caller), int(agent))
            else:
                frames += struct.pack("<h", int((caller + agent) / 2))
        w.writeframes(bytes(frames))


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, channels, mode, kbps in (("dual", 2, "s", "16"), ("mono", 1, "m", "8")):
            wav = os.path.join(tmp, f"{name}.wav")
            write_wav(wav, channels)
            mp3 = os.path.join(OUT, f"recording-loop-{name}.mp3")
            subprocess.run(
                ["lame", "--quiet", "-t", "--cbr", "-b", kbps, "-m", mode,
                 "--resample", "8", wav, mp3],
                check=True,
            )
            print(mp3, os.path.getsize(mp3), "bytes")


if __name__ == "__main__":
    main()
