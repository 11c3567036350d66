/** Security settings shared by the Electron main process and its test, so both use the same values. */

/**
 * CSP header for the Electron window. index.html carries the same policy as a meta tag, except
 * that the meta tag also lets browser mode reach its loopback WebSocket.
 */
export const ELECTRON_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');
