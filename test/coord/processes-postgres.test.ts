/** Cross-process guarantees of sluice/coord on postgres that hold under any load, run with the other files (see cross-process.ts). */
import { crossProcessSuite } from "./cross-process.js";

crossProcessSuite("postgres", "contention");
