/** Type-level helpers. */

/**
 * `true` when `A` and `B` are mutually assignable, else `false`: used as
 * `true satisfies SameType<Interface, z.infer<typeof Schema>>` to keep a plain public interface
 * and the zod schema that validates it in step.
 */
export type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
