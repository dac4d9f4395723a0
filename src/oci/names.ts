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
