/**
 * tandem's version, from package.json: what `tandem version` prints and `tandem_build_info` says.
 *
 * @module
 */
import packageJson from "../package.json" with { type: "json" };

export const VERSION: string = packageJson.version;
