// The browser's own checks of a provably-fair draw, with Web Crypto (never the server's word):
// SHA-256 and HMAC-SHA256 of ASCII text, as lowercase hex. Used by a virtual market's fair page
// and by the casino's bet verifier.

export const hex = (buffer: ArrayBuffer): string =>
  [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('')

export async function sha256(text: string): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
}

export async function hmacSha256(key: string, message: string): Promise<string> {
  const encoder = new TextEncoder()
  const imported = await crypto.subtle.importKey('raw', encoder.encode(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return hex(await crypto.subtle.sign('HMAC', imported, encoder.encode(message)))
}
