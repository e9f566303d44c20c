/**
 * A function that blanks secrets out of text: each of `secrets`, and the password of any URL
 * (`nats://user:password@host` becomes `nats://user:***@host`). The CLI's output and the
 * dashboard's responses both go through it.
 */
export function redactor(secrets: readonly string[]): (text: string) => string {
  const sorted = [...secrets].filter((secret) => secret.length > 0).sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@"'\\]*):([^\s@/"'\\]+)@/gi, '$1:***@');
    for (const secret of sorted) out = out.split(secret).join('***');
    return out;
  };
}
