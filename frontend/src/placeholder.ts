/** ThumbHash placeholders (base64 from the API) → small PNG data URLs, cached. */

import { thumbHashToApproximateAspectRatio, thumbHashToAverageRGBA, thumbHashToDataURL } from "thumbhash";

const cache = new Map<string, string | null>();
const MAX = 4000;

export function decodeBase64(b64: string): Uint8Array {
  const binary = atob(b64.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function placeholderUrl(hash: string | null | undefined): string | null {
  if (!hash) return null;
  const hit = cache.get(hash);
  if (hit !== undefined) return hit;
  let url: string | null = null;
  try {
    url = thumbHashToDataURL(decodeBase64(hash));
  } catch {
    url = null;
  }
  if (cache.size >= MAX) cache.delete(cache.keys().next().value as string);
  cache.set(hash, url);
  return url;
}

export function placeholderColor(hash: string | null | undefined): string | null {
  if (!hash) return null;
  try {
    const { r, g, b } = thumbHashToAverageRGBA(decodeBase64(hash));
    return `rgb(${Math.round(r * 255)} ${Math.round(g * 255)} ${Math.round(b * 255)})`;
  } catch {
    return null;
  }
}

export function placeholderAspect(hash: string | null | undefined): number | null {
  if (!hash) return null;
  try {
    return thumbHashToApproximateAspectRatio(decodeBase64(hash));
  } catch {
    return null;
  }
}
