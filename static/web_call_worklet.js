// Audio worklets of a web call (loaded by app.js into an AudioContext running at 24 kHz).
//
// loquent-capture: the microphone as 20 ms frames of PCM16 little-endian (480 samples, 960
// bytes), posted to the page without a break: silence too, so the server knows the page is alive.
//
// loquent-playback: the agent's audio, played in the order it came, with the server's marks
// between the chunks. A mark is posted back ({played: name}) once the audio before it has
// played; on `clear` the unplayed audio is dropped and every pending mark posted back at once,
// as Twilio does on a phone call.
const FRAME = 480;

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.frame = new Int16Array(FRAME);
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    const n = input ? input.length : 128;
    for (let i = 0; i < n; i++) {
      const s = input ? Math.max(-1, Math.min(1, input[i])) : 0;
      this.frame[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.filled === FRAME) {
        const out = new Int16Array(this.frame);
        this.port.postMessage(out.buffer, [out.buffer]);
        this.filled = 0;
      }
    }
    return true;
  }
}

class Playback extends AudioWorkletProcessor {
  constructor() {
    super();
    // Float32Array chunks and {mark} entries, oldest first; `at` is the read position in the
    // first chunk.
    this.queue = [];
    this.at = 0;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.audio) {
        const pcm = new Int16Array(m.audio);
        const chunk = new Float32Array(pcm.length);
        for (let i = 0; i < pcm.length; i++) chunk[i] = pcm[i] / 0x8000;
        this.queue.push(chunk);
      } else if (m.mark !== undefined) {
        this.queue.push({mark: m.mark});
      } else if (m.clear) {
        for (const entry of this.queue) {
          if (entry.mark !== undefined) this.port.postMessage({played: entry.mark});
        }
        this.queue = [];
        this.at = 0;
      }
    };
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head.mark !== undefined) {
        this.port.postMessage({played: head.mark});
        this.queue.shift();
        continue;
      }
      if (i === out.length) break;
      const n = Math.min(out.length - i, head.length - this.at);
      out.set(head.subarray(this.at, this.at + n), i);
      i += n;
      this.at += n;
      if (this.at === head.length) {
        this.queue.shift();
        this.at = 0;
      }
    }
    out.fill(0, i);
    return true;
  }
}

registerProcessor('loquent-capture', Capture);
registerProcessor('loquent-playback', Playback);
