/**
 * Moving what plays to the finished HLS ladder without a visible break (see Player.switchToHls).
 *
 * * From the growing first rung (hls.js): the MediaSource itself goes to the ladder's hls.js
 *   instance (``transferMedia``); :func:`planTransfer` decides what of the inherited buffer to keep.
 * * From a direct-played original (a progressive file, which cannot share a MediaSource with
 *   HLS): the ladder loads into a hidden standby element a little ahead of the playhead, and the
 *   standby starts playing the moment the original's playhead reaches its frame (:func:`handOver`).
 *
 * Changing the source of one element instead empties it: measured 160–200 ms of a stalled picture
 * while hls.js loads the master, a playlist and the first segment.
 */

/** How far ahead of the playhead the standby waits: time to load a master, a playlist and a segment. */
export const HANDOVER_LEAD_SECONDS = 2;
const HANDOVER_TIMEOUT_MS = 20_000;
/** The standby is sought again when the playhead passed it by more than this (a slow load). */
const LATE_SECONDS = 0.05;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Until the standby has a decodable frame at its position (readyState ≥ HAVE_FUTURE_DATA, not seeking). */
async function ready(v: HTMLVideoElement, until: number): Promise<boolean> {
  while (Date.now() < until) {
    if (v.error) return false;
    if (v.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA && !v.seeking) return true;
    await sleep(20);
  }
  return false;
}

/** The next presented frame of ``v`` (its clock's resolution) — or 100 ms, if it paused meanwhile. */
function nextFrame(v: HTMLVideoElement): Promise<void> {
  if (!("requestVideoFrameCallback" in v)) return sleep(10);
  return Promise.race([new Promise<void>((resolve) => v.requestVideoFrameCallback(() => resolve())), sleep(100)]);
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
      if ((bufferedEndAt(standby, target, 0) ?? -Infinity) <= target + 0.5) return false;
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

/** Kept of the inherited buffer ahead of the playhead, in wall seconds: time to load the ladder's first segment. */
export const REFRESH_MARGIN_SECONDS = 3;
/**
 * Added to that margin (media seconds): longer than any segment of the ladder (6 s today). The new
 * instance loads the segment *holding* the cut, which starts up to one segment earlier; appended
 * over frames at or behind the playhead, it would make the browser re-decode from its keyframe.
 */
export const SEGMENT_OVERLAP_SECONDS = 8;

/**
 * What to do with the growing rung's buffer when the ladder's hls.js instance takes the
 * MediaSource over (``transferMedia``) at playhead ``t``. The new instance knows nothing of what
 * it inherits: it loads on from the end of that buffer — and hls.js buffers a low rung far
 * beyond ``maxBufferLength`` (up to ``maxBufferSize``: minutes of 480p), so the better rungs would
 * show only after all of it — and it ends the stream only after appending the last segment
 * itself, so a buffer reaching the end would leave playback waiting at the last frame.
 *
 * * ``trim``: drop the inherited buffer from ``from`` on; the new instance loads it again, on its
 *   own rungs, to the end (and ends the stream). The cut is mid-second: every rendition's
 *   segments start on whole seconds (keyframes forced every 1 or 2 s, audio cut with them), so
 *   the segment holding the cut overlaps what is kept instead of leaving a hole at a boundary
 *   that would stall playback until hls.js's gap watchdog (2 s) nudges over it.
 * * ``defer``: the playhead is within the margin of a buffer that reaches the end: let the old
 *   instance play to the end; the ladder takes over then (ready for a replay).
 * * ``as-is``: a short buffer that does not reach the end: the new instance loads on from its end.
 */
export type TransferPlan = { kind: "trim"; from: number } | { kind: "defer" } | { kind: "as-is" };

export function planTransfer(t: number, rate: number, bufferedEnd: number | null, streamEnd: number): TransferPlan {
  if (bufferedEnd === null) return { kind: "as-is" };
  const from = Math.floor(t + REFRESH_MARGIN_SECONDS * Math.max(rate, 0.25) + SEGMENT_OVERLAP_SECONDS) + 0.5;
  if (from < bufferedEnd - 0.5) return { kind: "trim", from };
  if (bufferedEnd >= streamEnd - 0.5) return { kind: "defer" };
  return { kind: "as-is" };
}

/** The end of the buffered range holding ``t`` (by default with hls.js's 0.5 s hole tolerance), or null. */
export function bufferedEndAt(v: HTMLMediaElement, t: number, holeTolerance = 0.5): number | null {
  for (let i = 0; i < v.buffered.length; i++) {
    if (v.buffered.start(i) - holeTolerance <= t && t <= v.buffered.end(i)) return v.buffered.end(i);
  }
  return null;
}

const updated = (sb: SourceBuffer) => new Promise<void>((resolve) => sb.addEventListener("updateend", () => resolve(), { once: true }));

/** Remove everything from ``from`` on in every SourceBuffer of a MediaSource no player owns right now. */
export async function trimSourceBuffers(ms: MediaSource, from: number): Promise<void> {
  for (const sb of Array.from(ms.sourceBuffers)) {
    if (sb.updating) await updated(sb);
    const end = sb.buffered.length ? sb.buffered.end(sb.buffered.length - 1) : 0;
    if (end <= from) continue;
    const done = updated(sb);
    sb.remove(from, end);
    await done;
  }
}
