// Plays a piece in the browser with the Web Audio API: each note a short
// triangle-wave voice with an attack/release envelope, scheduled on the
// audio clock. No samples, no downloads: enough to hear the structure.

let context = null;
let current = null;

function audio() {
  if (!context) context = new AudioContext();
  return context;
}

const frequency = (pitch) => 440 * 2 ** ((pitch - 69) / 12);

// notes: [[pitch, velocity, onset s, offset s, ...]]. onTick(t or null) is
// called with the playback position, and null once it ends or is stopped.
// Returns a handle with stop(); starting another piece stops this one.
export async function play(notes, onTick) {
  stop();
  const ctx = audio();
  await ctx.resume();
  const start = ctx.currentTime + 0.05;
  const master = ctx.createGain();
  master.gain.value = 0.2;
  master.connect(ctx.destination);
  // Seconds from `start` until the last note has faded.
  let end = 0;
  const voices = [];
  for (const [pitch, velocity, onset, offset] of notes) {
    const oscillator = ctx.createOscillator();
    const gain = ctx.createGain();
    oscillator.type = "triangle";
    oscillator.frequency.value = frequency(pitch);
    const on = start + onset;
    const off = start + Math.max(offset, onset + 0.05);
    const peak = 0.2 + 0.8 * (velocity / 127);
    gain.gain.setValueAtTime(0, on);
    gain.gain.linearRampToValueAtTime(peak, on + 0.01);
    gain.gain.setTargetAtTime(0, off, 0.05);
    oscillator.connect(gain).connect(master);
    oscillator.start(on);
    oscillator.stop(off + 0.3);
    voices.push(oscillator);
    end = Math.max(end, off + 0.3 - start);
  }
  const handle = {
    scheduled: notes.length,
    stopped: false,
    stop() {
      if (handle.stopped) return;
      handle.stopped = true;
      clearInterval(handle.timer);
      // Stop every voice now, not at its scheduled end.
      for (const voice of voices) {
        try {
          voice.stop();
        } catch {
          // already stopped
        }
      }
      master.disconnect();
      onTick(null);
      if (current === handle) current = null;
    },
  };
  handle.timer = setInterval(() => {
    const t = ctx.currentTime - start;
    if (t >= end) handle.stop();
    else onTick(Math.max(0, t));
  }, 50);
  current = handle;
  return handle;
}

export function stop() {
  if (current) current.stop();
}
