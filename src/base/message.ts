/** The message of an unknown thrown value: `Error.message`, else its string form. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
