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

/** Reads the header lines after the first line; stops at the blank line or where the snippet ends. */
function readHeaders(text: string, from: number, wanted: ReadonlySet<string>, out: { host: string }): HTTPHeader[] {
  const headers: HTTPHeader[] = [];
  let pos = from;
  for (;;) {
    const eol = text.indexOf('\r\n', pos);
    if (eol < 0 || eol === pos) break; // cut short, or the blank line
    const colon = text.indexOf(':', pos);
    if (colon > pos && colon < eol) {
      const name = text.slice(pos, colon);
      const lower = name.toLowerCase();
      const value = text.slice(colon + 1, eol).trim();
      if (lower === 'host') out.host = value;
      if (wanted.has(lower)) headers.push({ key: name, value });
    }
    pos = eol + 2;
  }
  return headers;
}

/** `wanted`: lower-case names of the headers to keep. */
export function parseHttp(buf: Buffer, wanted: ReadonlySet<string>): HttpParse {
  if (buf.length < 4) return 'skip';
  const text = buf.toString('latin1');
  if (text.startsWith('HTTP/')) {
    const eol = text.indexOf('\r\n');
    const line = eol < 0 ? text : text.slice(0, eol);
    const m = /^(HTTP\/1\.[01]) (\d{3})(?: |$)/.exec(line);
    if (!m) return eol < 0 && line.length < 13 ? 'truncated' : 'malformed';
    const headers = eol < 0 ? [] : readHeaders(text, eol + 2, wanted, { host: '' });
    return { kind: 'response', protocol: m[1]!, code: Number(m[2]), headers };
  }
  const sp = text.indexOf(' ');
  if (sp < 3 || sp > 7 || !METHODS.has(text.slice(0, sp))) return 'skip';
  const eol = text.indexOf('\r\n');
  if (eol < 0) return 'truncated';
  const m = /^([A-Z]+) (\S+) (HTTP\/1\.[01])$/.exec(text.slice(0, eol));
  if (!m) return 'malformed';
  const found = { host: '' };
  const headers = readHeaders(text, eol + 2, wanted, found);
  return { kind: 'request', method: m[1]!, target: m[2]!, protocol: m[3]!, host: found.host, headers };
}

/** Hubble's HTTP.url: the absolute URL, built from the Host header (or the server address) and the target. */
export function requestUrl(req: HttpRequest, serverIp: string, serverPort: number): string {
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(req.target)) return req.target;
  let host = req.host;
  if (!host) {
    const ip = serverIp.includes(':') ? `[${serverIp}]` : serverIp;
    host = serverPort === 80 ? ip : `${ip}:${serverPort}`;
  }
  return `http://${host}${req.target.startsWith('/') ? req.target : `/${req.target}`}`;
}
