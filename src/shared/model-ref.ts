/** Model references as users write them, mapped to the Replicate create route that serves them. Pure. */

export type CreateTarget =
  /** `POST /v1/predictions` with `{version}` */
  | { route: 'version'; version: string; model: string | null }
  /** `POST /v1/models/{owner}/{name}/predictions` (official models, latest version) */
  | { route: 'model'; owner: string; name: string }
  /** `POST /v1/deployments/{owner}/{name}/predictions` */
  | { route: 'deployment'; owner: string; name: string };

const NAME = '[a-zA-Z0-9][a-zA-Z0-9._-]*';
const VERSION = '[a-f0-9]{64}';
const OWNER_NAME = new RegExp(`^(${NAME})/(${NAME})$`);
const OWNER_NAME_VERSION = new RegExp(`^(${NAME})/(${NAME}):(${VERSION})$`);
const BARE_VERSION = new RegExp(`^${VERSION}$`);

const FORMS = 'owner/name, owner/name:<64-hex version>, or a bare 64-hex version id';

/** Parse `ref`; returns an error message naming the problem and the accepted forms instead of throwing. */
export function parseModelRef(ref: unknown, deployment = false): CreateTarget | { error: string } {
  if (ref !== undefined && ref !== null && typeof ref !== 'string') {
    return { error: `model: must be a string (${FORMS}), got ${typeof ref}` };
  }
  if (typeof ref !== 'string' || ref.trim() === '') {
    return { error: `model: missing; give ${deployment ? 'a deployment as owner/name' : FORMS}` };
  }
  if (deployment) {
    const m = OWNER_NAME.exec(ref);
    if (!m) {
      return {
        error: `model: "${ref}" is not a deployment name; deployments are written owner/name (no version)`,
      };
    }
    return { route: 'deployment', owner: m[1]!, name: m[2]! };
  }
  let m = OWNER_NAME.exec(ref);
  if (m) return { route: 'model', owner: m[1]!, name: m[2]! };
  m = OWNER_NAME_VERSION.exec(ref);
  if (m) return { route: 'version', version: m[3]!, model: `${m[1]}/${m[2]}` };
  if (BARE_VERSION.test(ref)) return { route: 'version', version: ref, model: null };
  if (ref.includes(':')) {
    return { error: `model: "${ref}" has a malformed version; a version id is 64 lowercase hex characters` };
  }
  return { error: `model: "${ref}" is not a model reference; use ${FORMS}` };
}

export function isCreateTarget(x: CreateTarget | { error: string }): x is CreateTarget {
  return !('error' in x);
}
