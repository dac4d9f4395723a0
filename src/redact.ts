/**
 * The one place URLs lose their secrets before they reach a message, `--json`, a label or an
 * annotation: userinfo (`user:pw@`), the fragment, and query parameters that carry tokens
 * (GitLab's `private_token`, GitHub's `access_token`, signed-URL signatures, …).
 */

/** Query parameter names that carry credentials, compared case-insensitively. */
const SECRET_PARAM = /^(access_token|token|private_token|auth|authorization|password|passwd|pwd|secret|client_secret|api_key|apikey|key|sig|signature|x-amz-signature|x-amz-security-token|x-amz-credential|x-goog-signature|x-goog-credential|_authtoken|code|state|_state)$/i;

export interface RedactOptions {
  /** Drop the whole query string (registry URLs: upload session state is nobody's business). */
  dropQuery?: boolean;
}

/** A URL without credentials; text that does not parse as a URL is redacted as free text. */
export function redactUrl(url: URL | string, options: RedactOptions = {}): string {
  let u: URL;
  try {
    u = new URL(url.toString());
  } catch {
    return redactText(url.toString());
  }
  u.username = "";
  u.password = "";
  u.hash = "";
  if (options.dropQuery) u.search = "";
  else for (const name of [...u.searchParams.keys()]) if (SECRET_PARAM.test(name)) u.searchParams.delete(name);
  return u.toString();
}

/** A VCS remote as it may appear in an image: scp-style `git@host:path` kept, userinfo and tokens dropped. */
export function redactVcsUrl(remote: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(remote)) return redactUrl(remote);
  // scp-like syntax: `user@host:path` (the user is a login name, not a secret, but drop a `user:pw@`).
  return remote.replace(/^[^@/]*:[^@/]*@/, "").replace(/\?.*$/, "");
}

/** Free text with every URL in it redacted (npm's stderr, error causes). */
export function redactText(text: string): string {
  return text
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (m) => {
      const trail = /[.,;:)\]]+$/.exec(m)?.[0] ?? "";
      const core = trail ? m.slice(0, -trail.length) : m;
      try {
        return redactUrl(new URL(core)) + trail;
      } catch {
        return core.replace(/\/\/[^/@\s]*@/, "//") + trail;
      }
    });
}
