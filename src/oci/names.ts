/**
 * The one grammar of image names and tags (after distribution/reference's reference.go),
 * shared by registry references, output specs, docker-archive RepoTags and --tag.
 */

/** A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. */
export const TAG_SOURCE = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
/** One lowercase path component of a repository name. */
export const NAME_COMPONENT_SOURCE = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";

export const TAG = new RegExp(`^${TAG_SOURCE}$`);
export const NAME_COMPONENT = new RegExp(`^${NAME_COMPONENT_SOURCE}$`);
/** A repository path without a registry: components joined by `/`. */
export const REPOSITORY_PATH = new RegExp(`^${NAME_COMPONENT_SOURCE}(?:/${NAME_COMPONENT_SOURCE})*$`);

/**
 * The one rule for `X[:tag]` (output specs, -t, IMAGE arguments): the part after the last ":" is the tag,
 * whatever it holds. So `oci:out/app:$BRANCH` with a branch `feature/x` is a bad tag, never the folder
 * `out/app:feature/x`; a path or name that holds ":" is followed by its tag (`oci:out/a:b:latest`).
 */
export function splitTag(s: string): { head: string; tag?: string } {
  const i = s.lastIndexOf(":");
  return i < 0 ? { head: s } : { head: s.slice(0, i), tag: s.slice(i + 1) };
}

export const TAG_RULE = `the part after the last ":" is the tag, ${TAG_SOURCE}`;

/** Why `tag` is not a tag, for a message; undefined when it is one. */
export function tagProblem(tag: string): string | undefined {
  return TAG.test(tag) ? undefined : `invalid tag ${JSON.stringify(tag)}`;
}

/** Why `name` is not a repository path (lowercase components joined by "/", no "." or ".." components). */
export function nameProblem(name: string): string | undefined {
  return REPOSITORY_PATH.test(name) ? undefined : `invalid image name ${JSON.stringify(name)}: expected lowercase name[/path]`;
}
