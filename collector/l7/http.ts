/**
 * HTTP/1.x request and status lines with selected headers, from the first bytes of a TCP segment. A segment that
 * does not start like a request or a response (a body, the rest of a large header) is 'skip', not an error; one
 * that starts like one but is cut before the end of its first line is 'truncated'; garbage after a valid start is
 * 'malformed'.
 */
import type { HTTPHeader } from '../../schemas/flow-types.js';

export interface HttpRequest {
  kind: 'request';
  method: string;
  /** The request target as sent (origin form '/path?q', or absolute form). */
  target: string;
  protocol: string;
  host: string;
  headers: HTTPHeader[];
}

export interface HttpResponse {
  kind: 'response';
  protocol: string;
  code: number;
  headers: HTTPHeader[];
}

export type HttpParse = HttpRequest | HttpResponse | 'skip' | 'malformed' | 'truncated';

const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE']);

/**
 * Reads the header lines after the first line; stops at the blank line or where the snippet ends. `out` (requests)
 * gets the Host header. Only the headers that can matter are cut out of the text: with no wanted headers (the
 * default) a response reads none, and a request only the 4-letter names.
 */
function readHeaders(text: string, from: number, wanted: ReadonlySet<string>, out: { host: string } | null): HTTPHeader[] {
  const headers: HTTPHeader[] = [];
  const any = wanted.size > 0;
  if (!any && out === null) return headers;
  let pos = from;
  for (;;) {
    const eol = text.indexOf('\r\n', pos);
    if (eol < 0 || eol === pos) break; // cut short, or the blank line
    const colon = text.indexOf(':', pos);
    if (colon > pos && colon < eol && (any || colon - pos === 4)) {
      const name = text.slice(pos, colon);
      const lower = name.toLowerCase();
      if (out !== null && lower === 'host') out.host = text.slice(colon + 1, eol).trim();
      if (any && wanted.has(lower)) headers.push({ key: name, value: text.slice(colon + 1, eol).trim() });
    }
    pos = eol + 2;
  }
  return headers;
}

const HTTP_10 = 'HTTP/1.0';
const HTTP_11 = 'HTTP/1.1';
const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** `wanted`: lower-case names of the headers to keep. */
export function parseHttp(buf: Buffer, wanted: ReadonlySet<string>): HttpParse {
  if (buf.length < 4) return 'skip';
  const n = buf.length;
  if (n >= 5 && buf[0] === 72 && buf[1] === 84 && buf[2] === 84 && buf[3] === 80 && buf[4] === 47) {
    // "HTTP/": the status line, /^(HTTP\/1\.[01]) (\d{3})(?: |$)/ checked by hand on the bytes (latin1: one byte,
    // one character). No text is made unless headers are wanted.
    let eol = -1;
    for (let i = 5; i + 1 < n; i++) {
      if (buf[i] === 13 && buf[i + 1] === 10) {
        eol = i;
        break;
      }
    }
    const end = eol < 0 ? n : eol;
    const minor = buf[7]!;
    const ok = end >= 12 && buf[5] === 49 && buf[6] === 46 && (minor === 48 || minor === 49) && buf[8] === 32
      && isDigit(buf[9]!) && isDigit(buf[10]!) && isDigit(buf[11]!) && (end === 12 || buf[12] === 32);
    if (!ok) return eol < 0 && end < 13 ? 'truncated' : 'malformed';
    const code = (buf[9]! - 48) * 100 + (buf[10]! - 48) * 10 + (buf[11]! - 48);
    const headers = eol < 0 || wanted.size === 0 ? [] : readHeaders(buf.toString('latin1'), eol + 2, wanted, null);
    return { kind: 'response', protocol: minor === 49 ? HTTP_11 : HTTP_10, code, headers };
  }
  const text = buf.toString('latin1');
  const sp = text.indexOf(' ');
  if (sp < 3 || sp > 7 || !METHODS.has(text.slice(0, sp))) return 'skip';
  const eol = text.indexOf('\r\n');
  if (eol < 0) return 'truncated';
  // The request line, /^([A-Z]+) (\S+) (HTTP\/1\.[01])$/ checked by hand: the method (a known one, so [A-Z]+) and
  // its space are checked above; the target runs to the next whitespace, which must be the space before the
  // version that ends the line.
  let t = sp + 1;
  while (t < eol && !isSpace(text.charCodeAt(t))) t++;
  if (t === sp + 1 || t !== eol - 9 || text.charCodeAt(t) !== 32 || !text.startsWith('HTTP/1.', t + 1)) return 'malformed';
  const minor = text.charCodeAt(eol - 1);
  if (minor !== 48 && minor !== 49) return 'malformed';
  const found = { host: '' };
  const headers = readHeaders(text, eol + 2, wanted, found);
  // The protocol as one of two constant strings: metrics look it up by value, and a constant's hash is known.
  return { kind: 'request', method: text.slice(0, sp), target: text.slice(sp + 1, t), protocol: minor === 49 ? HTTP_11 : HTTP_10, host: found.host, headers };
}

/** What \s matches among latin1 characters: tab, LF, VT, FF, CR, space and no-break space. */
function isSpace(c: number): boolean {
  return (c >= 9 && c <= 13) || c === 32 || c === 160;
}

/** Hubble's HTTP.url: the absolute URL, built from the Host header (or the server address) and the target. */
export function requestUrl(req: HttpRequest, serverIp: string, serverPort: number): string {
  // (An origin-form target starts with '/', never with the scheme's letter: no need to try the pattern.)
  if (req.target.charCodeAt(0) !== 47 && /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(req.target)) return req.target;
  let host = req.host;
  if (!host) {
    const ip = serverIp.includes(':') ? `[${serverIp}]` : serverIp;
    host = serverPort === 80 ? ip : `${ip}:${serverPort}`;
  }
  return `http://${host}${req.target.startsWith('/') ? req.target : `/${req.target}`}`;
}
