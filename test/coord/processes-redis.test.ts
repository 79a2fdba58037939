/** Cross-process guarantees of sluice/coord on redis that hold under any load, run with the other files (see cross-process.ts). */
import { crossProcessSuite } from "./cross-process.js";

crossProcessSuite("redis", "contention");
