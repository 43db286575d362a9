/**
 * The worker threads' module in the compiled binary. A compiled binary holds only the entry
 * points it was built from, and tandem's workers load their module by the name "worker.ts" next
 * to the code that starts them (runtimes/bun/platform.ts), which inside the binary is its root.
 *
 * @module
 */
import "../../runtimes/bun/worker.ts";
