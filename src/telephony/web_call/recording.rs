//! A web call's recording, made here (Twilio records the phone calls): the caller on the left
//! channel, the agent on the right, PCM16 at 24 kHz, a WAV file once the call ends.
//!
//! Time is counted in the caller's samples: the page sends its microphone without a break
//! (silence included), so the caller's position is "now". The agent's audio is placed where the
//! page plays it: right after the agent's audio before it, or now when that has all played; a
//! barge-in silences what was queued after now, which the caller never heard.
//!
//! Memory per call stays small: audio goes in one-second blocks to a writer task that writes
//! each at its place in one of two temporary files (unnamed: the OS deletes them when they are
//! closed, a crash included), and the WAV is put together from them at the end. The loop never
//! waits for the writer: a block that finds its queue full is dropped and counted (silence where
//! it was); a barge-in's silencing is never dropped, but kept until the queue has room, and
//! nothing is sent before it (a later block may lie in the range it silences).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub const SAMPLE_RATE: u32 = 24_000;
/// A second of PCM16 at 24 kHz: few enough writes to cost little at hundreds of calls.
const BLOCK_BYTES: usize = 48_000;
/// Blocks waiting for the writer: 32 s of audio.
const QUEUE: usize = 32;
/// Longest recording per channel, in bytes: four hours, so the WAV's 32-bit sizes hold it.
const MAX_CHANNEL_BYTES: u64 = 4 * 3600 * 2 * SAMPLE_RATE as u64;
/// Bytes of the channels read at a time while the WAV is put together.
const JOIN_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
enum Channel {
    Caller,
    Agent,
}

enum Write {
    /// PCM at byte `at` of the channel.
    Block {
        channel: Channel,
        at: u64,
        bytes: Vec<u8>,
    },
    /// The agent's audio from `from` to `to` was never heard.
    Silence {
        from: u64,
        to: u64,
    },
    Finish(oneshot::Sender<io::Result<Option<Vec<u8>>>>),
}

/// One channel's audio on its way to the writer: a block being filled, and where it goes.
#[derive(Default)]
struct Pending {
    at: u64,
    bytes: Vec<u8>,
}

impl Pending {
    fn end(&self) -> u64 {
        self.at + self.bytes.len() as u64
    }
}

pub struct Recorder {
    tx: mpsc::Sender<Write>,
    /// Bytes of caller audio so far: now, on the recording's clock.
    caller_at: u64,
    caller: Pending,
    /// Where the agent's next audio goes.
    agent_at: u64,
    agent: Pending,
    /// Silencing the queue had no room for, oldest first: sent before anything else.
    owed: Vec<Write>,
    dropped: u64,
}

impl Recorder {
    /// A recorder with its writer task.
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        #[expect(
            clippy::disallowed_methods,
            reason = "the recording's writer lives with the web call; its files die with the process"
        )]
        tokio::spawn(write_files(rx));
        Self {
            tx,
            caller_at: 0,
            caller: Pending::default(),
            agent_at: 0,
            agent: Pending::default(),
            owed: Vec::new(),
            dropped: 0,
        }
    }

    /// The caller's next frame (PCM16 LE, an even number of bytes).
    pub fn caller(&mut self, pcm: &[u8]) {
        if self.caller.bytes.is_empty() {
            self.caller.at = self.caller_at;
        }
        self.caller.bytes.extend_from_slice(pcm);
        self.caller_at += pcm.len() as u64;
        if self.caller.bytes.len() >= BLOCK_BYTES {
            self.send_block(Channel::Caller);
        }
    }

    /// A chunk of the agent's audio the page will play after what it holds.
    pub fn agent(&mut self, pcm: &[u8]) {
        let pcm = &pcm[..pcm.len() & !1];
        let at = self.agent_at.max(self.caller_at);
        if !self.agent.bytes.is_empty() && self.agent.end() != at {
            self.send_block(Channel::Agent);
        }
        if self.agent.bytes.is_empty() {
            self.agent.at = at;
        }
        self.agent.bytes.extend_from_slice(pcm);
        self.agent_at = at + pcm.len() as u64;
        if self.agent.bytes.len() >= BLOCK_BYTES {
            self.send_block(Channel::Agent);
        }
    }

    /// A barge-in: the page dropped the agent's audio it had not played.
    pub fn cut(&mut self) {
        let now = self.caller_at;
        if self.agent_at <= now {
            return;
        }
        let kept = now.saturating_sub(self.agent.at);
        if (self.agent.bytes.len() as u64) > kept {
            self.agent.bytes.truncate(kept as usize);
        }
        let sent_end = self.agent.at.min(self.agent_at);
        if !self.agent.bytes.is_empty() {
            self.send_block(Channel::Agent);
        }
        if sent_end > now {
            self.send(Write::Silence {
                from: now,
                to: sent_end,
            });
        }
        self.agent_at = now;
    }

    /// The whole recording as a stereo WAV; `None` when nothing was said either way. What is
    /// still pending goes to the writer first, waiting for room.
    pub async fn finish(mut self) -> io::Result<Option<Vec<u8>>> {
        let stopped = || io::Error::other("the recording's writer stopped");
        let mut last = std::mem::take(&mut self.owed);
        for channel in [Channel::Caller, Channel::Agent] {
            if let Some(block) = self.take_block(channel) {
                last.push(block);
            }
        }
        for write in last {
            self.tx.send(write).await.map_err(|_| stopped())?;
        }
        if self.dropped > 0 {
            tracing::warn!(
                blocks = self.dropped,
                "the recording's writer fell behind; one-second blocks are missing"
            );
        }
        let (done, wav) = oneshot::channel();
        self.tx
            .send(Write::Finish(done))
            .await
            .map_err(|_| stopped())?;
        wav.await.map_err(|_| stopped())?
    }

    /// The channel's pending audio as a block for the writer, if it has any.
    fn take_block(&mut self, channel: Channel) -> Option<Write> {
        let pending = match channel {
            Channel::Caller => &mut self.caller,
            Channel::Agent => &mut self.agent,
        };
        if pending.bytes.is_empty() {
            return None;
        }
        let bytes = std::mem::replace(&mut pending.bytes, Vec::with_capacity(BLOCK_BYTES));
        let at = pending.at;
        pending.at += bytes.len() as u64;
        Some(Write::Block { channel, at, bytes })
    }

    fn send_block(&mut self, channel: Channel) {
        if let Some(block) = self.take_block(channel) {
            self.send(block);
        }
    }

    fn send(&mut self, write: Write) {
        // Silencing owed goes first, in order; while some is still owed, nothing passes it.
        while !self.owed.is_empty() {
            match self.tx.try_send(self.owed.remove(0)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(back)) => {
                    self.owed.insert(0, back);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => self.owed.clear(),
            }
        }
        let silence = matches!(write, Write::Silence { .. });
        if !self.owed.is_empty() {
            if silence {
                self.owed.push(write);
            } else {
                self.dropped += 1;
            }
            return;
        }
        match self.tx.try_send(write) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(write)) if silence => self.owed.push(write),
            Err(_) => self.dropped += 1,
        }
    }
}

/// The writer task: blocks to their places in the two files, then the WAV.
async fn write_files(mut rx: mpsc::Receiver<Write>) {
    let mut files: Option<Arc<[File; 2]>> = None;
    while let Some(write) = rx.recv().await {
        let result = match write {
            Write::Finish(done) => {
                let wav = match files.take() {
                    Some(files) => blocking(move || join(&files).map(Some)).await,
                    None => Ok(None),
                };
                let _ = done.send(wav);
                return;
            }
            write => {
                let files = match &files {
                    Some(files) => Arc::clone(files),
                    None => match blocking(|| Ok([tempfile::tempfile()?, tempfile::tempfile()?]))
                        .await
                    {
                        Ok(made) => Arc::clone(files.insert(Arc::new(made))),
                        Err(error) => {
                            tracing::warn!(%error, "cannot make the recording's files");
                            continue;
                        }
                    },
                };
                blocking(move || put(&files, write)).await
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, "cannot write the recording");
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

fn put(files: &[File; 2], write: Write) -> io::Result<()> {
    match write {
        Write::Block { channel, at, bytes } => {
            let room = MAX_CHANNEL_BYTES.saturating_sub(at);
            let len = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            files[channel as usize].write_all_at(&bytes[..len], at)
        }
        Write::Silence { from, to } => {
            let zeros = [0u8; 4096];
            let to = to.min(MAX_CHANNEL_BYTES);
            let mut at = from;
            while at < to {
                let n = usize::try_from(to - at).map_or(zeros.len(), |n| n.min(zeros.len()));
                files[Channel::Agent as usize].write_all_at(&zeros[..n], at)?;
                at += n as u64;
            }
            Ok(())
        }
        Write::Finish(_) => Ok(()),
    }
}

/// The two channels, interleaved into a 16-bit stereo WAV as long as the longer one.
fn join(files: &[File; 2]) -> io::Result<Vec<u8>> {
    let lens = [files[0].metadata()?.len(), files[1].metadata()?.len()];
    let samples = lens[0].max(lens[1]) / 2;
    let data_len = u32::try_from(samples * 4).map_err(io::Error::other)?;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&2u16.to_le_bytes()); // caller, agent
    wav.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    wav.extend_from_slice(&(SAMPLE_RATE * 4).to_le_bytes());
    wav.extend_from_slice(&4u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    let mut left = vec![0u8; JOIN_CHUNK];
    let mut right = vec![0u8; JOIN_CHUNK];
    let mut at = 0u64;
    let end = samples * 2;
    while at < end {
        let n = usize::try_from(end - at).map_or(JOIN_CHUNK, |n| n.min(JOIN_CHUNK));
        for (file, (buf, len)) in files
            .iter()
            .zip([(&mut left, lens[0]), (&mut right, lens[1])])
        {
            buf[..n].fill(0);
            // Past a channel's end (or in a gap never written) it is silent.
            let have = usize::try_from(len.saturating_sub(at)).map_or(n, |h| h.min(n));
            if have > 0 {
                file.read_exact_at(&mut buf[..have], at)?;
            }
        }
        for i in (0..n).step_by(2) {
            wav.extend_from_slice(&left[i..i + 2]);
            wav.extend_from_slice(&right[i..i + 2]);
        }
        at += n as u64;
    }
    Ok(wav)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(wav: &[u8], channel: usize) -> Vec<i16> {
        wav[44..]
            .chunks_exact(4)
            .map(|f| i16::from_le_bytes([f[channel * 2], f[channel * 2 + 1]]))
            .collect()
    }

    fn pcm(value: i16, samples: usize) -> Vec<u8> {
        value.to_le_bytes().repeat(samples)
    }

    #[tokio::test]
    async fn the_agent_plays_after_what_it_queued_and_a_barge_in_silences_the_rest() {
        let mut recorder = Recorder::start();
        // 0.1 s of the caller, then 0.2 s of agent audio queued at once, then the caller talks
        // over it 0.05 s in.
        recorder.caller(&pcm(1, 2400));
        recorder.agent(&pcm(7, 2400));
        recorder.agent(&pcm(8, 2400));
        recorder.caller(&pcm(2, 1200));
        recorder.cut();
        // The agent answers again, from now.
        recorder.agent(&pcm(9, 1200));
        recorder.caller(&pcm(3, 2400));
        let wav = recorder.finish().await.unwrap().expect("audio");
        let recording = loquent_ai::transcription::Recording::parse(wav.clone()).unwrap();
        assert_eq!(recording.channels(), 2);
        let caller = samples(&wav, 0);
        let agent = samples(&wav, 1);
        assert_eq!(caller.len(), 6000);
        assert_eq!(&caller[..2400], &[1; 2400][..]);
        assert_eq!(&caller[3600..], &[3; 2400][..]);
        // Silent while only the caller spoke, then the first chunk for the 0.05 s heard...
        assert_eq!(&agent[..2400], &[0; 2400][..]);
        assert_eq!(&agent[2400..3600], &[7; 1200][..]);
        // ...then the next answer, at the barge-in's end (caller 3600), and nothing unheard.
        assert_eq!(&agent[3600..4800], &[9; 1200][..]);
        assert!(agent[4800..].iter().all(|&s| s == 0));
    }

    #[tokio::test]
    async fn a_barge_in_silences_agent_audio_already_written() {
        let mut recorder = Recorder::start();
        // A whole second of the agent goes to the writer at once; the caller interrupts 0.2 s in.
        recorder.agent(&pcm(5, 24_000));
        recorder.caller(&pcm(1, 4800));
        recorder.cut();
        recorder.caller(&pcm(1, 19_200));
        let wav = recorder.finish().await.unwrap().expect("audio");
        let agent = samples(&wav, 1);
        assert_eq!(agent.len(), 24_000);
        assert_eq!(&agent[..4800], &[5; 4800][..]);
        assert!(agent[4800..].iter().all(|&s| s == 0), "unheard audio kept");
    }

    #[tokio::test]
    async fn a_call_where_nothing_was_said_has_no_recording() {
        assert!(Recorder::start().finish().await.unwrap().is_none());
    }
}
