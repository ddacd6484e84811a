/**
 * Text helpers for error messages: edit distance and did-you-mean suggestions.
 */

/** The Levenshtein distance between `a` and `b` (insertions, deletions and substitutions cost 1). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/**
 * The candidate `word` most likely meant, ignoring case: the closest by edit distance when close
 * enough to be a typo (at most `max(2, ⌊length/3⌋)` edits), else the shortest candidate that the
 * word abbreviates (`battery.pct` → `battery.percent`); `undefined` when none fits.
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const list = [...candidates];
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of list) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  if (best !== undefined) return best;
  const abbreviated = list.filter((c) => c[0]?.toLowerCase() === w[0] && isSubsequence(w, c.toLowerCase()));
  return abbreviated.sort((a, b) => a.length - b.length)[0];
}

/** The `n` candidates closest to `word` by edit distance, ignoring case; ties in alphabetical order. */
export function closestWords(word: string, candidates: Iterable<string>, n: number): string[] {
  const w = word.toLowerCase();
  return [...candidates]
    .map((c) => ({ c, d: editDistance(w, c.toLowerCase()) }))
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, n)
    .map((x) => x.c);
}

/** Whether the characters of `short` appear in `long` in order. */
export function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (const ch of long) if (ch === short[i]) i++;
  return i === short.length;
}
