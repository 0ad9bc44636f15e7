/**
 * CRI list filters' label selector: every key of the selector must be
 * present with the same value (an empty selector selects everything).
 */
export function matchesLabels(labels: Record<string, string>, selector: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector)) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  return true;
}
