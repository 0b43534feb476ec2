/**
 * Hand playback from one <video> to another without a visible break.
 *
 * A direct-played original (a progressive file) cannot share a MediaSource with HLS, so moving
 * it to the finished ladder means a second element: the ladder is loaded into a hidden standby
 * element a little ahead of the playhead, and the standby starts playing at the moment the
 * original's playhead reaches the standby's position. Changing the source of one element instead
 * empties it: measured 160–200 ms of a stalled picture while hls.js loads the master, a playlist
 * and the first segment.
 */

/** How far ahead of the playhead the standby waits: time to load a master, a playlist and a segment. */
export const HANDOVER_LEAD_SECONDS = 2;
const HANDOVER_TIMEOUT_MS = 20_000;
/** The standby is sought again when the playhead passed it by more than this (a slow load). */
const LATE_SECONDS = 0.05;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function bufferedAt(v: HTMLVideoElement, t: number): boolean {
  for (let i = 0; i < v.buffered.length; i++) if (v.buffered.start(i) <= t && t < v.buffered.end(i) - 0.5) return true;
  return false;
}

/** Until the standby has a decodable frame at its position (readyState ≥ HAVE_FUTURE_DATA, not seeking). */
async function ready(v: HTMLVideoElement, until: number): Promise<boolean> {
  while (Date.now() < until) {
    if (v.error) return false;
    if (v.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA && !v.seeking) return true;
    await sleep(20);
  }
  return false;
}

/** The next presented frame of ``v`` (its clock's resolution), or a short sleep where unsupported. */
function nextFrame(v: HTMLVideoElement): Promise<void> {
  if ("requestVideoFrameCallback" in v) return new Promise((resolve) => v.requestVideoFrameCallback(() => resolve()));
  return sleep(10);
}

/**
 * Start ``standby`` in place of ``current``: once its first frame is ready, wait for ``current``'s
 * playhead to reach it (re-seeking the standby if the load was slower than the lead), then play it
 * with ``current``'s volume and rate and pause ``current``. A paused ``current`` hands over at its
 * own position. True when ``standby`` now plays (or holds the paused position); false — nothing
 * changed for the viewer — when it was not ready in time or the browser refused to play it.
 */
export async function handOver(current: HTMLVideoElement, standby: HTMLVideoElement, aborted: () => boolean): Promise<boolean> {
  const until = Date.now() + HANDOVER_TIMEOUT_MS;
  standby.muted = true;
  standby.playbackRate = current.playbackRate;
  standby.volume = current.volume;
  if (!(await ready(standby, until)) || aborted()) return false;
  if (current.paused || current.ended) {
    standby.currentTime = current.currentTime;
    if (!(await ready(standby, until)) || aborted()) return false;
    standby.muted = current.muted;
    return true;
  }
  for (;;) {
    if (aborted() || Date.now() > until) return false;
    if (current.paused) return handOver(current, standby, aborted); // paused meanwhile: hand over there
    const lag = current.currentTime - standby.currentTime;
    if (lag > LATE_SECONDS) {
      // the playhead passed the standby's frame: seek it a little ahead again, within what it has
      const target = current.currentTime + 0.5 * current.playbackRate;
      if (!bufferedAt(standby, target)) return false;
      standby.currentTime = target;
      if (!(await ready(standby, until))) return false;
      continue;
    }
    if (lag >= -1 / 60) break; // the playhead is at the standby's frame
    await nextFrame(current);
  }
  try {
    await standby.play();
  } catch {
    return false;
  }
  // unmuting needs the page's (sticky) user activation, e.g. the click that opened the viewer;
  // a browser that pauses the standby for it leaves the original playing
  standby.muted = current.muted;
  await sleep(0);
  if (standby.paused) {
    standby.muted = true;
    return false;
  }
  current.pause();
  return true;
}

/** What the new hls.js instance re-fetches after a MediaSource hand-over, measured from the playhead (wall seconds). */
export const REFRESH_MARGIN_SECONDS = 3;

/** The buffered range holding ``t`` (with hls.js's 0.5 s hole tolerance), or null. */
function rangeAt(v: HTMLVideoElement, t: number): [number, number] | null {
  for (let i = 0; i < v.buffered.length; i++) {
    if (v.buffered.start(i) - 0.5 <= t && t <= v.buffered.end(i)) return [v.buffered.start(i), v.buffered.end(i)];
  }
  return null;
}

/**
 * After a MediaSource hand-over (hls.js ``transferMedia``) the new instance knows nothing of the
 * buffer it inherited: it would play the old rung's buffer out (up to ``maxBufferLength``) before
 * its better rungs, and — never having appended the last segment itself — would never end the
 * stream, so playback would wait at the last frame instead of ending. So, once its playlist is
 * loaded: drop what is buffered beyond a safe margin ahead of the playhead (the new instance loads
 * it again, on its own rung, to the end); when the playhead is already within that margin of a
 * buffer that reaches the end, end the stream as it is.
 */
export function refreshAfterTransfer(
  media: HTMLVideoElement,
  totalDuration: number,
  flush: (from: number) => void,
  endOfStream: () => void,
): void {
  const t = media.currentTime;
  const range = rangeAt(media, t);
  if (!range) return; // nothing inherited around the playhead: the new instance loads from here
  const from = t + REFRESH_MARGIN_SECONDS * Math.max(media.playbackRate, 0.25);
  if (from < range[1] - 0.5) flush(from);
  else if (range[1] >= totalDuration - 0.5) endOfStream();
}
